//! `zkstate agent`: flags and config only. Resolves what the user typed (flags, then the
//! `--config` file, then defaults) into [`crate::agent::Settings`] and runs the agent until
//! SIGTERM/SIGINT. Exit 0 after a clean stop, 2 when it cannot start (bad flags or config,
//! `--listen` taken, unwatchable manifest paths).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::apply::LockFormatArg;
use super::common::{connect_options, fail, hostname, pass_options, runtime, state_paths};
use super::config::{self, ConfigFile, as_bool, as_string, as_strings};
use super::{Exit, GlobalArgs};
use crate::agent::{self, Settings};
use crate::zk::lock::LockFormat;

/// `agent` flags (docs/contract.md §4).
#[derive(Debug, Clone, Args, Default)]
pub struct AgentArgs {
    /// Manifest file or directory (repeatable; or `files:` in --config).
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Serve /metrics, /healthz, /readyz and /status on this address, e.g. 127.0.0.1:9464
    /// [default: off].
    #[arg(long)]
    pub listen: Option<String>,
    /// Report drift only; never write cluster-scoped nodes.
    #[arg(long)]
    pub observe: bool,
    /// Full resync period, the safety net for missed events [default: 60s].
    #[arg(long)]
    pub resync_interval: Option<humantime::Duration>,
    /// This host's name in lock data, registrations and status [default: the hostname].
    #[arg(long)]
    pub host_id: Option<String>,
    /// Layout of the leader lock node [default: kazoo].
    #[arg(long, value_enum)]
    pub lock_format: Option<LockFormatArg>,
    /// Delete what the inventory records for owners no longer in the manifest set.
    #[arg(long)]
    pub prune_removed: bool,
    /// Refuse a pass deleting more nodes than this (nothing is written) [default: 50].
    #[arg(long)]
    pub max_deletes: Option<usize>,
    /// Quiet time after a manifest file event before re-reading [default: 100ms].
    #[arg(long)]
    pub debounce: Option<humantime::Duration>,
    /// Apply a plan larger than one ZooKeeper request as ordered atomic batches, as
    /// `apply --allow-split` does; without it such a pass is refused and reported.
    #[arg(long)]
    pub allow_split: bool,
    /// The server's jute.maxbuffer: the largest request one transaction may be [default:
    /// 1048575].
    #[arg(long)]
    pub max_request_bytes: Option<usize>,
    /// Follow this Git repository instead of -f (https://, http://, ssh://, git://, file://;
    /// docs/contract.md §4a).
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// The branch, tag (refs/tags/...) or commit id to follow [default: main].
    #[arg(long, value_name = "REF")]
    pub git_ref: Option<String>,
    /// The manifest directory inside the repository [default: its root].
    #[arg(long, value_name = "DIR")]
    pub git_path: Option<PathBuf>,
    /// How often the leader fetches [default: 60s].
    #[arg(long, value_name = "DUR")]
    pub git_interval: Option<humantime::Duration>,
    /// Apply only commits with an SSH signature by a key in this allowed-signers file.
    #[arg(long, value_name = "FILE")]
    pub git_verify: Option<PathBuf>,
    /// Apply a commit that does not descend from the applied one (a force-push, a rollback).
    #[arg(long)]
    pub git_allow_rewrite: bool,
    /// Where the clone lives [default: $STATE_DIRECTORY/git, else a directory in the temp dir].
    #[arg(long, value_name = "DIR")]
    pub git_dir: Option<PathBuf>,
    /// A file holding the token for https:// (basic auth: the URL's user name or `git`, and
    /// the token as the password).
    #[arg(long, value_name = "FILE")]
    pub git_token_file: Option<PathBuf>,
    /// The private key for ssh:// URLs (a deploy key).
    #[arg(long, value_name = "FILE")]
    pub git_ssh_key: Option<PathBuf>,
    /// The known_hosts file for ssh:// URLs (only its keys are trusted).
    #[arg(long, value_name = "FILE")]
    pub git_known_hosts: Option<PathBuf>,
    /// Enable POST /hooks/git on --listen, signed with the secret in this file (GitHub
    /// X-Hub-Signature-256 or GitLab X-Gitlab-Token).
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
}

pub fn run(args: &AgentArgs, global: &GlobalArgs) -> Exit {
    let settings = match resolve(args, global) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return e,
    };
    agent::reload::set_source(reload_source(args.clone(), global.clone()));
    rt.block_on(async move {
        let controls = match agent::signals::install() {
            Ok(c) => c,
            Err(e) => {
                return fail(
                    Exit::Trouble,
                    format!("failed to install signal handlers: {e}"),
                );
            }
        };
        match agent::run(settings, controls).await {
            Ok(()) => Exit::Ok,
            Err(e) => fail(Exit::Trouble, e),
        }
    })
}

/// How SIGHUP resolves the settings: [`resolve`] again, as at start, so `files:` stay relative to
/// the config file whatever the working directory (`/` under systemd). Keys a reload does not
/// take ([`agent::reload::RELOADABLE_KEYS`]) are logged when they changed since start.
fn reload_source(args: AgentArgs, global: GlobalArgs) -> agent::reload::Source {
    let read_entries = |global: &GlobalArgs| -> Vec<(String, config::Value)> {
        global
            .config
            .as_deref()
            .and_then(|p| config::read(p).ok())
            .map(|f| f.entries.into_iter().map(|e| (e.key, e.value)).collect())
            .unwrap_or_default()
    };
    let at_start = read_entries(&global);
    Box::new(move || {
        let settings = resolve(&args, &global).ok()?;
        let now = read_entries(&global);
        let value = |entries: &[(String, config::Value)], key: &str| {
            entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let mut keys: Vec<&str> = at_start
            .iter()
            .chain(&now)
            .map(|(k, _)| k.as_str())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        for key in keys {
            if !agent::reload::RELOADABLE_KEYS.contains(&key)
                && value(&at_start, key) != value(&now, key)
            {
                tracing::warn!(
                    key,
                    "reload: this config key changed but takes effect only after a restart"
                );
            }
        }
        Some(settings)
    })
}

/// Flags over the config file over defaults. The one place `--config` becomes settings, at
/// start and on SIGHUP.
pub fn resolve(args: &AgentArgs, global: &GlobalArgs) -> Result<Settings, Exit> {
    let file = match &global.config {
        Some(p) => Some(config::read(p)?),
        None => None,
    };
    let get = |key: &str| file.as_ref().and_then(|f| f.get(key).map(|e| (f, e)));
    let duration = |key: &str,
                    flag: Option<humantime::Duration>,
                    default: Duration|
     -> Result<Duration, Exit> {
        if let Some(d) = flag {
            return Ok(d.into());
        }
        match get(key) {
            Some((f, e)) => as_string(&e.value)
                .and_then(|s| humantime::parse_duration(&s).ok())
                .ok_or_else(|| f.bad(e, "a duration like 60s")),
            None => Ok(default),
        }
    };
    let flag_or_bool = |key: &str, flag: bool| -> Result<bool, Exit> {
        if flag {
            return Ok(true);
        }
        match get(key) {
            Some((f, e)) => as_bool(&e.value).ok_or_else(|| f.bad(e, "true or false")),
            None => Ok(false),
        }
    };
    let string = |key: &str, flag: &Option<String>| -> Result<Option<String>, Exit> {
        if flag.is_some() {
            return Ok(flag.clone());
        }
        match get(key) {
            Some((f, e)) => as_string(&e.value)
                .map(Some)
                .ok_or_else(|| f.bad(e, "a string")),
            None => Ok(None),
        }
    };
    let files: Vec<PathBuf> = if !args.files.is_empty() {
        args.files.clone()
    } else {
        match get("files") {
            Some((f, e)) => as_strings(&e.value)
                .ok_or_else(|| f.bad(e, "a path or a list of paths"))?
                .into_iter()
                .map(|p| relative_to_config(f, p))
                .collect(),
            None => Vec::new(),
        }
    };
    let git = resolve_git(args, file.as_ref())?;
    if git.is_some() && !files.is_empty() {
        return Err(fail(
            Exit::Trouble,
            "-f (or `files:`) and --git (or `git:`) cannot be used together",
        ));
    }
    if files.is_empty() && git.is_none() {
        return Err(fail(
            Exit::Trouble,
            "no manifests given: pass -f PATH (repeatable), `files:` in --config, or --git URL",
        ));
    }
    let listen = match string("listen", &args.listen)? {
        Some(s) => Some(s.parse::<SocketAddr>().map_err(|e| {
            fail(
                Exit::Trouble,
                format!("invalid --listen {s:?}: {e} (expected e.g. 127.0.0.1:9464)"),
            )
        })?),
        None => None,
    };
    let lock_format = match args.lock_format {
        Some(f) => f.into(),
        None => match get("lock-format") {
            Some((f, e)) => match as_string(&e.value).as_deref() {
                Some("kazoo") => LockFormat::Kazoo,
                Some("curator") => LockFormat::Curator,
                _ => return Err(f.bad(e, "kazoo or curator")),
            },
            None => LockFormat::Kazoo,
        },
    };
    let number = |key: &str, flag: Option<usize>, default: usize| -> Result<usize, Exit> {
        match (flag, get(key)) {
            (Some(n), _) => Ok(n),
            (None, Some((f, e))) => as_string(&e.value)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| f.bad(e, "a number")),
            (None, None) => Ok(default),
        }
    };
    let max_deletes = number("max-deletes", args.max_deletes, 50)?;
    let max_request_bytes = number(
        "max-request-bytes",
        args.max_request_bytes,
        crate::model::JUTE_MAXBUFFER,
    )?;
    let host_id = string("host-id", &args.host_id)?.unwrap_or_else(hostname);
    if host_id.trim().is_empty() {
        return Err(fail(Exit::Trouble, "--host-id must not be empty"));
    }
    let resync_interval = duration(
        "resync-interval",
        args.resync_interval,
        Duration::from_secs(60),
    )?;
    if resync_interval < Duration::from_millis(100) {
        return Err(fail(
            Exit::Trouble,
            "--resync-interval must be at least 100ms",
        ));
    }
    let debounce = duration("debounce", args.debounce, Duration::from_millis(100))?;
    let connect = connect_options(global)?;
    let state = state_paths(global)?;
    let mut pass = pass_options(global, state, String::new());
    pass.identifier = host_id.clone();
    pass.max_deletes = max_deletes;
    pass.revision = Some("agent".into());
    // The same ordered, resumable batches as `apply --allow-split` (docs/design.md, "Apply").
    pass.exec.allow_split = flag_or_bool("allow-split", args.allow_split)?;
    pass.exec.max_request_bytes = max_request_bytes;
    let prune_removed = flag_or_bool("prune-removed", args.prune_removed)?;
    pass.planner.prune_removed = prune_removed;
    Ok(Settings {
        files,
        git,
        connect,
        pass,
        observe: flag_or_bool("observe", args.observe)?,
        resync_interval,
        host_id,
        lock_format,
        prune_removed,
        listen,
        debounce,
        hooks: agent::host::Hooks::Run,
        live_cache: std::env::var("ZKSTATE_LIVE_CACHE").map_or(true, |v| v != "off"),
    })
}

/// `files:` in a config file are relative to the config file's directory.
fn relative_to_config(file: &ConfigFile, p: String) -> PathBuf {
    let p = PathBuf::from(p);
    if p.is_absolute() {
        return p;
    }
    file.path.parent().map(|d| d.join(&p)).unwrap_or(p)
}

/// The `--git*` flags over their config keys (docs/contract.md §4a); `None` without `--git`.
fn resolve_git(
    args: &AgentArgs,
    file: Option<&ConfigFile>,
) -> Result<Option<agent::git::GitSettings>, Exit> {
    let get = |key: &str| file.and_then(|f| f.get(key).map(|e| (f, e)));
    let string = |key: &str, flag: &Option<String>| -> Result<Option<String>, Exit> {
        if flag.is_some() {
            return Ok(flag.clone());
        }
        match get(key) {
            Some((f, e)) => as_string(&e.value)
                .map(Some)
                .ok_or_else(|| f.bad(e, "a string")),
            None => Ok(None),
        }
    };
    let path = |key: &str, flag: &Option<PathBuf>| -> Result<Option<PathBuf>, Exit> {
        if flag.is_some() {
            return Ok(flag.clone());
        }
        match get(key) {
            Some((f, e)) => f.path_value(e).map(Some),
            None => Ok(None),
        }
    };
    let Some(url) = string("git", &args.git)? else {
        if args.webhook_secret_file.is_some() || get("webhook-secret-file").is_some() {
            return Err(fail(
                Exit::Trouble,
                "--webhook-secret-file needs --git: the webhook triggers a Git fetch",
            ));
        }
        return Ok(None);
    };
    let url = url.trim().to_owned();
    let redacted = agent::git::redact_url(&url);
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("file" | "git" | "ssh" | "http" | "https") => {}
        _ => {
            return Err(fail(
                Exit::Trouble,
                format!(
                    "--git {redacted}: expected an https://, http://, ssh://, git:// or file:// URL"
                ),
            ));
        }
    }
    let reference = string("git-ref", &args.git_ref)?.unwrap_or_else(|| "main".into());
    if reference.trim().is_empty() || reference.contains(char::is_whitespace) {
        return Err(fail(
            Exit::Trouble,
            "--git-ref must be a branch, tag or commit id",
        ));
    }
    let git_path = match &args.git_path {
        Some(p) => p.clone(),
        None => match get("git-path") {
            Some((f, e)) => PathBuf::from(as_string(&e.value).ok_or_else(|| f.bad(e, "a path"))?),
            None => PathBuf::new(),
        },
    };
    if git_path.is_absolute()
        || git_path
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(fail(
            Exit::Trouble,
            format!(
                "--git-path {}: must be a directory inside the repository",
                git_path.display()
            ),
        ));
    }
    let interval: Duration = match args.git_interval {
        Some(d) => d.into(),
        None => match get("git-interval") {
            Some((f, e)) => as_string(&e.value)
                .and_then(|s| humantime::parse_duration(&s).ok())
                .ok_or_else(|| f.bad(e, "a duration like 60s"))?,
            None => Duration::from_secs(60),
        },
    };
    if interval < Duration::from_millis(100) {
        return Err(fail(Exit::Trouble, "--git-interval must be at least 100ms"));
    }
    let allow_rewrite = args.git_allow_rewrite
        || match get("git-allow-rewrite") {
            Some((f, e)) => as_bool(&e.value).ok_or_else(|| f.bad(e, "true or false"))?,
            None => false,
        };
    let (dir, remove_dir) = match path("git-dir", &args.git_dir)? {
        Some(d) => (d, false),
        None => default_git_dir(),
    };
    let webhook_secret = match path("webhook-secret-file", &args.webhook_secret_file)? {
        Some(p) => {
            let secret = std::fs::read_to_string(&p).map_err(|e| {
                fail(
                    Exit::Trouble,
                    format!("failed to read --webhook-secret-file {}: {e}", p.display()),
                )
            })?;
            let secret = secret.trim_end().to_owned();
            if secret.is_empty() {
                return Err(fail(
                    Exit::Trouble,
                    format!("--webhook-secret-file {} is empty", p.display()),
                ));
            }
            Some(secret)
        }
        None => None,
    };
    let token = match path("git-token-file", &args.git_token_file)? {
        Some(p) => {
            let t = std::fs::read_to_string(&p).map_err(|e| {
                fail(
                    Exit::Trouble,
                    format!("failed to read --git-token-file {}: {e}", p.display()),
                )
            })?;
            Some(t.trim_end().to_owned()).filter(|t| !t.is_empty())
        }
        None => None,
    };
    Ok(Some(agent::git::GitSettings {
        remove_dir,
        token,
        ssh_key: path("git-ssh-key", &args.git_ssh_key)?,
        known_hosts: path("git-known-hosts", &args.git_known_hosts)?,
        webhook_secret,
        url,
        reference,
        path: git_path,
        interval,
        verify: path("git-verify", &args.git_verify)?,
        allow_rewrite,
        dir,
    }))
}

/// `$STATE_DIRECTORY/git` under systemd's `StateDirectory=` (kept), otherwise a directory of
/// this process under the temp dir (removed when the agent stops: true).
fn default_git_dir() -> (PathBuf, bool) {
    match std::env::var_os("STATE_DIRECTORY") {
        Some(d) if !d.is_empty() => {
            // systemd lists several directories separated by ':' when the unit names several.
            let first = d
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or_default()
                .to_owned();
            (PathBuf::from(first).join("git"), false)
        }
        _ => (
            std::env::temp_dir().join(format!("zkstate-git-{}", std::process::id())),
            true,
        ),
    }
}
