//! What several commands share: resolving the connection, loading manifests, building pass
//! options, a runtime.
use std::path::PathBuf;

use super::{Exit, GlobalArgs};
use crate::engine::{Engine, Session};
use crate::model::{DesiredState, ZPath};
use crate::records::StatePaths;
use crate::zk::apply::ExecOptions;
use crate::zk::reconcile::PassOptions;
use crate::zk::security::{Sasl, Security, TlsSettings};
use crate::zk::session::ConnectOptions;

/// A loaded manifest set.
pub struct Manifests {
    pub desired: DesiredState,
    pub digest: String,
    pub documents: usize,
}

/// Prints an error line and returns the exit code.
pub fn fail(exit: Exit, msg: impl std::fmt::Display) -> Exit {
    eprintln!("error: {msg}");
    exit
}

/// Loads and validates manifests; prints diagnostics and returns the exit code on failure.
pub fn load_manifests(files: &[PathBuf], global: &GlobalArgs) -> Result<Manifests, Exit> {
    let set = super::validate::load_reporting(files, global)?;
    if set.documents.is_empty() {
        // Never "delete everything": an empty manifest set is an error.
        return Err(fail(
            Exit::Finding,
            "the manifest set has no documents; refusing to treat it as \"nothing is declared\"",
        ));
    }
    Ok(Manifests {
        documents: set.documents.len(),
        desired: set.state,
        digest: set.digest,
    })
}

/// The connection options from `--zk`, `--auth`, `--session-timeout`.
pub fn connect_options(global: &GlobalArgs) -> Result<ConnectOptions, Exit> {
    let Some(hosts) = global.zk.clone().filter(|h| !h.trim().is_empty()) else {
        return Err(fail(
            Exit::Trouble,
            "no ZooKeeper given: pass --zk HOST:PORT[,HOST:PORT...][/chroot] or set ZKSTATE_ZK",
        ));
    };
    let digest_auth =
        ConnectOptions::parse_auth(&global.auth).map_err(|e| fail(Exit::Trouble, e))?;
    Ok(ConnectOptions {
        hosts,
        digest_auth,
        session_timeout: global.session_timeout(),
        security: security(global).map_err(|e| fail(Exit::Trouble, e))?,
    })
}

/// TLS and SASL from `--tls*`, `--sasl*` and `--keytab` (docs/security.md).
///
/// # Errors
/// A malformed `--sasl`, or Kerberos flags without `--sasl gssapi` (the message never repeats
/// a password).
pub fn security(global: &GlobalArgs) -> Result<Security, String> {
    let tls =
        (global.tls || global.tls_ca.is_some() || global.tls_cert.is_some()).then(|| TlsSettings {
            all_hosts: global.tls,
            ca: global.tls_ca.clone(),
            identity: global.tls_cert.clone().zip(global.tls_key.clone()),
        });
    let sasl = match global.sasl.as_deref().filter(|s| !s.is_empty()) {
        Some(v) => Some(Sasl::parse(
            v,
            global.sasl_principal.clone(),
            global.keytab.clone(),
            global.sasl_service.clone(),
        )?),
        None => None,
    };
    let kerberos_flags =
        global.sasl_principal.is_some() || global.keytab.is_some() || global.sasl_service.is_some();
    if kerberos_flags && !matches!(sasl, Some(Sasl::Gssapi { .. })) {
        return Err("--sasl-principal, --keytab and --sasl-service need --sasl gssapi".into());
    }
    Ok(Security { tls, sasl })
}

/// [`connect_options`] and [`state_paths`] without printing anything: `None` when either is
/// wrong (the caller then takes the ordinary path, which reports it in the usual order).
pub fn quiet_session_args(global: &GlobalArgs) -> Option<(ConnectOptions, StatePaths)> {
    let hosts = global.zk.clone().filter(|h| !h.trim().is_empty())?;
    let digest_auth = ConnectOptions::parse_auth(&global.auth).ok()?;
    let root = ZPath::parse(global.state_path()).ok()?;
    let state = StatePaths::guarded(root, &digest_auth);
    Some((
        ConnectOptions {
            hosts,
            digest_auth,
            session_timeout: global.session_timeout(),
            security: security(global).ok()?,
        },
        state,
    ))
}

/// Loads the manifests on a thread of its own while `read` connects and reads ahead on this
/// one; the manifests' verdict comes first: when they are invalid, their exit code is returned
/// (whatever `read` found is dropped unreported) without waiting for `read`. Otherwise returns
/// both; `read`'s errors are for the caller to report.
static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// Notes when the command started, for the timeline [`load_while`] logs at `-vv`.
pub fn mark_start() {
    STARTED.get_or_init(std::time::Instant::now);
}

/// Milliseconds since the command started.
fn since_start_ms() -> f64 {
    STARTED
        .get()
        .map_or(0.0, |t| t.elapsed().as_secs_f64() * 1e3)
}

pub fn load_while<T, E>(
    files: &[PathBuf],
    global: &GlobalArgs,
    read: impl std::future::Future<Output = Result<T, E>>,
    then: impl AsyncFnOnce(Manifests, Result<T, E>) -> Exit,
) -> Exit {
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            tracing::debug!(at_ms = since_start_ms(), "timeline: loading the manifests");
            let _ = tx.send(load_manifests(files, global));
            tracing::debug!(at_ms = since_start_ms(), "timeline: manifests loaded");
        });
        block_on(async move {
            tracing::debug!(
                at_ms = since_start_ms(),
                "timeline: connecting and reading ahead"
            );
            let mut read = std::pin::pin!(read);
            let mut early = None;
            let loaded = loop {
                tokio::select! {
                    biased;
                    m = &mut rx => break m,
                    r = &mut read, if early.is_none() => {
                        tracing::debug!(at_ms = since_start_ms(), "timeline: read ahead done");
                        early = Some(r);
                    }
                }
            };
            let m = match loaded {
                Ok(Ok(m)) => m,
                Ok(Err(exit)) => return exit,
                Err(_) => return fail(Exit::Trouble, "the manifest loader stopped unexpectedly"),
            };
            let r = match early {
                Some(r) => r,
                None => {
                    let r = read.await;
                    tracing::debug!(at_ms = since_start_ms(), "timeline: read ahead done");
                    r
                }
            };
            let exit = then(m, r).await;
            tracing::debug!(at_ms = since_start_ms(), "timeline: planned (and applied)");
            exit
        })
    })
}

/// The chroot part of a connection string, if any.
pub fn chroot_len(hosts: &str) -> usize {
    hosts
        .find('/')
        .map(|i| hosts.len() - i)
        .filter(|l| *l > 1)
        .unwrap_or(0)
}

/// The validated state path.
pub fn state_paths(global: &GlobalArgs) -> Result<StatePaths, Exit> {
    let creds = ConnectOptions::parse_auth(&global.auth).map_err(|e| fail(Exit::Trouble, e))?;
    ZPath::parse(global.state_path())
        .map(|root| StatePaths::guarded(root, &creds))
        .map_err(|e| {
            fail(
                Exit::Trouble,
                format!("invalid --state-path {:?}: {e}", global.state_path()),
            )
        })
}

/// This process's identifier in lock data and records: `host:pid`.
pub fn identifier() -> String {
    format!("{}:{}", hostname(), std::process::id())
}

/// The machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}

/// Pass options with the defaults of `diff`/`status` (apply overrides some).
pub fn pass_options(global: &GlobalArgs, state: StatePaths, digest: String) -> PassOptions {
    PassOptions {
        exec: ExecOptions {
            chroot_len: global.zk.as_deref().map(chroot_len).unwrap_or(0),
            progress_path: Some(state.progress().to_string()),
            progress_acl: state.acl.clone(),
            ..ExecOptions::default()
        },
        state,
        planner: crate::plan::Options::default(),
        max_deletes: 50,
        force: false,
        revision: None,
        identifier: identifier(),
        digest,
        max_attempts: 5,
    }
}

/// A current-thread runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Exit> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            fail(
                Exit::Trouble,
                format!("failed to start the async runtime: {e}"),
            )
        })
}

/// Prints a report as JSON on one line.
pub fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("error: failed to encode the report as JSON: {e}"),
    }
}

/// Resolves `--zk`/`--auth`/`--session-timeout`/`--state-path` and opens a session; prints the
/// error and returns the exit code (2) on failure.
pub async fn open(global: &GlobalArgs) -> Result<(Session, StatePaths), Exit> {
    let copts = connect_options(global)?;
    let state = state_paths(global)?;
    let session = Session::connect(&copts)
        .await
        .map_err(|e| fail(Exit::Trouble, e))?;
    Ok((session, state))
}

/// Opens a session and wraps it in an engine with the default pass options for `digest`.
pub async fn engine(global: &GlobalArgs, digest: String) -> Result<Engine, Exit> {
    let (session, state) = open(global).await?;
    Ok(Engine::new(session, pass_options(global, state, digest)))
}

/// Runs one command's async body on a runtime of its own.
pub fn block_on(body: impl std::future::Future<Output = Exit>) -> Exit {
    match runtime() {
        Ok(rt) => rt.block_on(body),
        Err(e) => e,
    }
}
