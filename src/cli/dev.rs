//! `zkstate dev -f PATH...`: the quick start. Starts a throwaway local ZooKeeper from the installed
//! `zookeeper` package on a free loopback port, applies the manifests through the engine, shows the
//! plan and the status, then runs the agent (`zkstate agent --listen 127.0.0.1:<free port>`) on it,
//! printing the `/status` and `/metrics` URLs: out-of-band changes are reverted at once, manifest
//! edits applied on save. Election hooks (`onElected`/`onRevoked`) are logged with their argv and
//! environment, not run, unless `--run-hooks` (docs/contract.md §2). Ctrl-C or SIGTERM cancel the token; the
//! agent stops (lock released, session closed), the server is stopped and its data removed. Exit 0
//! after Ctrl-C, 2 if ZooKeeper cannot start.
//!
//! `zkstate dev --git URL` runs the agent following that repository instead (docs/agent.md,
//! "Following Git"), fetching every 2s; `--git .` is the current branch of the repository in
//! the working directory, so committing an edit shows the whole loop. The clone goes to a temp
//! dir removed at the end.
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use super::common::{engine, fail, load_manifests, runtime};
use super::{ApplyArgs, DevArgs, Exit, GlobalArgs, PlanArgs, PlanOutput};
use crate::agent::host::Hooks;
use crate::engine::{CancellationToken, Engine};
use crate::localzk::{ServerOptions, ZkServer};

pub fn run(args: &DevArgs, global: &GlobalArgs) -> Exit {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return e,
    };
    // Signals first: a Ctrl-C at any moment from here on stops the loop and the server.
    let shutdown = CancellationToken::new();
    let signals = rt.block_on(async {
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    });
    let (mut int, mut term) = match signals {
        (Ok(i), Ok(t)) => (i, t),
        _ => return fail(Exit::Trouble, "failed to install signal handlers"),
    };
    let token = shutdown.clone();
    rt.spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        token.cancel();
    });
    let server = match ZkServer::start_with(ServerOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                Exit::Trouble,
                format!("failed to start a local ZooKeeper: {e}"),
            );
        }
    };
    let hosts = server.connect_string();
    println!(
        "Local ZooKeeper running: --zk {hosts}  (data in {})",
        server.data_dir().display()
    );
    println!("  e.g. ZKSTATE_ZK={hosts} zkstate status\n");
    let mut global = global.clone();
    global.zk = Some(hosts);
    rt.block_on(reconcile_loop(args, &global, &shutdown));
    drop(server);
    println!("\nStopped the local ZooKeeper and removed its data.");
    Exit::Ok
}

/// The apply flags `dev` uses.
fn apply_args(args: &DevArgs) -> ApplyArgs {
    ApplyArgs {
        plan: PlanArgs {
            files: super::FilesArgs {
                files: args.files.clone(),
            },
            output: PlanOutput::Text,
            prune_removed: false,
        },
        dry_run: false,
        revision: Some("dev".into()),
        max_deletes: 50,
        force: false,
        lock_timeout: Some(Duration::from_secs(10).into()),
        allow_split: true,
        max_request_bytes: crate::model::JUTE_MAXBUFFER,
        lock_format: super::apply::LockFormatArg::Kazoo,
    }
}

/// One engine pass over the manifests as they are on disk now; `print` false prints only changes
/// and errors.
async fn pass(
    engine: &mut Engine,
    apply: &ApplyArgs,
    global: &GlobalArgs,
    print: bool,
    shutdown: &CancellationToken,
) -> Exit {
    let m = match load_manifests(&apply.plan.files.files, global) {
        Ok(m) => m,
        Err(e) => return e,
    };
    engine.options_mut().digest = m.digest.clone();
    let result = engine
        .apply_once(&m.desired, &super::apply::lock_request(apply), shutdown)
        .await;
    if shutdown.is_cancelled() && result.is_err() {
        return Exit::Ok;
    }
    super::apply::render(&result, PlanOutput::Text, print, &engine.options().state)
}

/// Applies, shows the status, then re-applies every `--resync-interval` until `shutdown`.
async fn reconcile_loop(args: &DevArgs, global: &GlobalArgs, shutdown: &CancellationToken) {
    if args.git.is_some() {
        // The agent's first pass applies the commit and reports it.
        run_agent(args, global, shutdown).await;
        return;
    }
    let apply = apply_args(args);
    let mut engine = match engine(global, String::new()).await {
        Ok(e) => e,
        Err(_) => {
            // The error is printed; keep the server up until Ctrl-C, as the loop would.
            shutdown.cancelled().await;
            return;
        }
    };
    super::apply::pass_options(&apply, engine.options_mut());
    let first = pass(&mut engine, &apply, global, true, shutdown).await;
    if shutdown.is_cancelled() {
        return;
    }
    if first != Exit::Ok {
        eprintln!(
            "(the first apply exited {first:?}; fix the manifests: they are retried every resync)"
        );
    }
    println!();
    if let Ok(m) = load_manifests(&args.files, global) {
        match engine.status(Some(&m.desired)).await {
            Ok(report) => print!("{}", super::status::text(&report)),
            Err(e) => {
                let _ = fail(Exit::Trouble, e);
            }
        }
    }
    run_agent(args, global, shutdown).await;
}

/// The agent on the throwaway server, with `--listen` on a free loopback port.
async fn run_agent(args: &DevArgs, global: &GlobalArgs, shutdown: &CancellationToken) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9464);
    let git = match args.git.as_deref().map(local_git).transpose() {
        Ok(g) => g,
        Err(e) => {
            let _ = fail(Exit::Trouble, e);
            shutdown.cancelled().await;
            return;
        }
    };
    let clone = match git.as_ref().map(|_| tempfile::tempdir()).transpose() {
        Ok(c) => c,
        Err(e) => {
            let _ = fail(Exit::Trouble, format!("failed to create a temp dir: {e}"));
            shutdown.cancelled().await;
            return;
        }
    };
    if let Some((url, branch)) = &git {
        println!(
            "Following {url} (ref {}) every 2s",
            args.git_ref
                .as_deref()
                .or(branch.as_deref())
                .unwrap_or("main")
        );
    }
    let agent_args = super::agent::AgentArgs {
        files: args.files.clone(),
        git: git.as_ref().map(|(url, _)| url.clone()),
        git_ref: args
            .git_ref
            .clone()
            .or_else(|| git.as_ref().and_then(|(_, b)| b.clone())),
        git_path: args.git_path.clone(),
        git_interval: git.as_ref().map(|_| Duration::from_secs(2).into()),
        git_dir: clone.as_ref().map(|d| d.path().to_path_buf()),
        listen: Some(format!("127.0.0.1:{port}")),
        resync_interval: Some(args.resync_interval),
        host_id: Some("dev".into()),
        ..Default::default()
    };
    let mut settings = match super::agent::resolve(&agent_args, global) {
        Ok(s) => s,
        Err(_) => {
            shutdown.cancelled().await;
            return;
        }
    };
    // docs/contract.md §2: trying manifests out never starts or stops services on this machine.
    settings.hooks = if args.run_hooks {
        Hooks::Run
    } else {
        Hooks::Show
    };
    println!(
        "\nReconciling every {} and on every change; agent: http://127.0.0.1:{port}/status and /metrics. Ctrl-C stops ZooKeeper and removes its data.",
        args.resync_interval
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (_reload_tx, reload_rx) = tokio::sync::mpsc::unbounded_channel();
    let token = shutdown.clone();
    tokio::spawn(async move {
        token.cancelled().await;
        let _ = stop_tx.send(true);
    });
    let controls = crate::agent::signals::Controls {
        shutdown: stop_rx,
        reload: reload_rx,
    };
    if let Err(e) = crate::agent::run(settings, controls).await {
        let _ = fail(Exit::Trouble, e);
        shutdown.cancelled().await;
    }
}

/// `--git`: a URL as given (branch: none), or a local path (`.`): `file://` of its repository's
/// work tree and its current branch.
fn local_git(given: &str) -> Result<(String, Option<String>), String> {
    if given.contains("://") {
        return Ok((given.to_owned(), None));
    }
    let repo = gix::discover(given)
        .map_err(|e| format!("--git {given}: not inside a Git repository: {e}"))?;
    let dir = repo
        .workdir()
        .unwrap_or_else(|| repo.git_dir())
        .to_path_buf();
    let dir = std::path::absolute(&dir).map_err(|e| format!("--git {given}: {e}"))?;
    let branch = repo
        .head_name()
        .ok()
        .flatten()
        .map(|n| n.shorten().to_string());
    Ok((format!("file://{}", dir.display()), branch))
}
