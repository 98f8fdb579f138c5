//! The command line: clap types, one file per subcommand, rendering of plans and status.
//!
//! `main` calls [`main`], which parses the arguments, runs one command and maps its [`Exit`] to
//! the process exit code (docs/contract.md §2: 0 ok, 1 finding, 2 trouble, 3 refused, 4 lock timeout).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod agent;
pub mod apply;
pub mod common;
pub mod completions;
pub mod config;
pub mod dev;
pub mod diff;
pub mod export;
pub mod markdown;
pub mod render;
pub mod schema;
pub mod status;
pub mod suspend;
pub mod validate;

/// The exit-code scheme shared by every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success / in sync.
    Ok = 0,
    /// A finding: differences, invalid manifests.
    Finding = 1,
    /// Trouble: cannot connect, I/O error, conflict retries exhausted, internal error.
    Trouble = 2,
    /// Refused by a safety guard.
    Refused = 3,
    /// Lock not acquired within `--lock-timeout`.
    LockTimeout = 4,
}

#[derive(Debug, Parser)]
#[command(
    name = "zkstate",
    version = crate::VERSION,
    about = "Declarative config-sync and reconciliation for Apache ZooKeeper"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// ZooKeeper connection string `host:port,...[/chroot]`.
    #[arg(long, global = true, env = "ZKSTATE_ZK")]
    pub zk: Option<String>,
    /// Agent config YAML (keys are the long flag names); flags win over it.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// `digest:USER:PASSWORD`, repeatable (env ZKSTATE_AUTH, comma separated).
    #[arg(
        long,
        global = true,
        env = "ZKSTATE_AUTH",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub auth: Vec<String>,
    /// Use TLS to every host (as if each were written `tcp+tls://HOST:PORT`).
    #[arg(long, global = true, help_heading = "Secured ensembles")]
    pub tls: bool,
    /// PEM bundle of the CAs that sign the servers' certificates [default: the system's roots].
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Secured ensembles"
    )]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS: the server's `x509` scheme names the session
    /// by its subject DN.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        requires = "tls_key",
        help_heading = "Secured ensembles"
    )]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        requires = "tls_cert",
        help_heading = "Secured ensembles"
    )]
    pub tls_key: Option<PathBuf>,
    /// SASL: `digest-md5:USER:PASSWORD` or `gssapi` (Kerberos) (env ZKSTATE_SASL, never logged).
    #[arg(
        long,
        global = true,
        env = "ZKSTATE_SASL",
        hide_env_values = true,
        value_name = "MECH",
        help_heading = "Secured ensembles"
    )]
    pub sasl: Option<String>,
    /// Kerberos principal to authenticate as with `--sasl gssapi` [default: the keytab's first
    /// principal, or the credential cache's].
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Secured ensembles"
    )]
    pub sasl_principal: Option<String>,
    /// Kerberos keytab for `--sasl gssapi` [default: the credential cache, as after kinit].
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Secured ensembles"
    )]
    pub keytab: Option<PathBuf>,
    /// Service name of the server's Kerberos principal (SERVICE/HOST@REALM) [default: zookeeper].
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Secured ensembles"
    )]
    pub sasl_service: Option<String>,
    /// ZooKeeper session timeout, e.g. `10s` [default: 10s].
    #[arg(long, global = true)]
    pub session_timeout: Option<humantime::Duration>,
    /// Where zkstate keeps its lock, inventory and applied-state record [default: /zkstate].
    #[arg(long, global = true)]
    pub state_path: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More logging (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

/// `--output` of `diff` and `apply`: [`OutputFormat`] plus a pull-request comment body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanOutput {
    Text,
    Json,
    /// A pull-request comment: summary, a table per owner, changes in a collapsible block.
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, expand and check manifests; no ZooKeeper needed.
    Validate(FilesArgs),
    /// Print the JSON Schema of the manifests.
    Schema,
    /// Compare the manifests with the live tree and print the plan; writes nothing.
    Diff(PlanArgs),
    /// Plan and apply atomically, under the leader lock.
    Apply(ApplyArgs),
    /// Print a live subtree as a ConfigTree manifest.
    Export(ExportArgs),
    /// Leader lock, last apply, drift, queues, elections, services.
    Status(StatusArgs),
    /// Create `<state-path>/suspend`: the leader plans and reports but does not write.
    Suspend,
    /// Delete `<state-path>/suspend`.
    Resume,
    /// Quick start: a throwaway local ZooKeeper, the manifests applied and kept in sync.
    Dev(DevArgs),
    /// The long-running reconciler: leader lock, watches, self-heal, host registrations.
    Agent(Box<agent::AgentArgs>),
    /// Print a shell completion script (`bash`, `zsh` or `fish`).
    Completions(CompletionsArgs),
    /// Write man pages (zkstate.1 and one per subcommand) into a directory.
    #[command(hide = true)]
    Man(ManArgs),
}

/// `completions` flags.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: completions::Shell,
}

/// `man` flags.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing).
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

/// `dev` flags.
#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Manifest file or directory (repeatable).
    #[arg(
        short = 'f',
        long = "file",
        required_unless_present = "git",
        conflicts_with = "git"
    )]
    pub files: Vec<PathBuf>,
    /// Follow a Git repository instead (docs/agent.md, "Following Git"); `.` (or a local
    /// path) is the current branch of the repository there.
    #[arg(long, value_name = "URL")]
    pub git: Option<String>,
    /// With --git: the branch, tag or commit id [default: the current branch for a local
    /// path, else main].
    #[arg(long, value_name = "REF", requires = "git")]
    pub git_ref: Option<String>,
    /// With --git: the manifest directory inside the repository [default: its root].
    #[arg(long, value_name = "DIR", requires = "git")]
    pub git_path: Option<PathBuf>,
    /// How often to re-apply the manifests.
    #[arg(long, default_value = "10s")]
    pub resync_interval: humantime::Duration,
    /// Run election hooks (`onElected`/`onRevoked`); by default they are only logged.
    #[arg(long)]
    pub run_hooks: bool,
}

/// `-f PATH...` and `--output`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub files: FilesArgs,
    /// Output format (`markdown`: a pull-request comment body, at most 60,000 characters).
    #[arg(short, long, value_enum, default_value_t = PlanOutput::Text)]
    pub output: PlanOutput,
    /// Delete what the inventory records for owners no longer in the manifest set (only those
    /// whose last recorded `prune` was on); counts toward --max-deletes.
    #[arg(long)]
    pub prune_removed: bool,
}

/// `apply` flags.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Plan only (same as `diff`).
    #[arg(long)]
    pub dry_run: bool,
    /// Recorded with the apply (e.g. a git commit).
    #[arg(long)]
    pub revision: Option<String>,
    /// Refuse (exit 3) a plan deleting more nodes than this, unless --force.
    #[arg(long, default_value_t = 50)]
    pub max_deletes: usize,
    /// Apply even above --max-deletes.
    #[arg(long)]
    pub force: bool,
    /// Give up waiting for the leader lock after this long (exit 4); default: wait forever.
    #[arg(long)]
    pub lock_timeout: Option<humantime::Duration>,
    /// Apply a plan larger than one ZooKeeper request as ordered atomic batches.
    #[arg(long)]
    pub allow_split: bool,
    /// The server's jute.maxbuffer: the largest request one transaction may be.
    #[arg(long, default_value_t = crate::model::JUTE_MAXBUFFER)]
    pub max_request_bytes: usize,
    /// Layout of the leader lock node.
    #[arg(long, value_enum, default_value_t = apply::LockFormatArg::Kazoo)]
    pub lock_format: apply::LockFormatArg,
}

/// `export` flags.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The subtree to export.
    #[arg(long)]
    pub path: String,
    /// `metadata.name` of the exported ConfigTree (default: derived from the path).
    #[arg(long)]
    pub name: Option<String>,
}

/// `status` flags.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Manifest file or directory (repeatable); without, reports what the inventory records.
    #[arg(short = 'f', long = "file")]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `-f PATH...`: files or directories (recursive, `*.yaml`/`*.yml`, sorted).
#[derive(Debug, Clone, Args)]
pub struct FilesArgs {
    /// Manifest file or directory (repeatable).
    #[arg(short = 'f', long = "file", required = true)]
    pub files: Vec<PathBuf>,
}

/// Parses the arguments, runs the command, maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let exit = run(cli);
    ExitCode::from(exit as u8)
}

impl GlobalArgs {
    /// `--session-timeout`, default 10 s.
    pub fn session_timeout(&self) -> std::time::Duration {
        self.session_timeout
            .map(Into::into)
            .unwrap_or(std::time::Duration::from_secs(10))
    }

    /// `--state-path`, default `/zkstate`.
    pub fn state_path(&self) -> &str {
        self.state_path.as_deref().unwrap_or("/zkstate")
    }
}

/// Runs one parsed command.
pub fn run(mut cli: Cli) -> Exit {
    common::mark_start();
    if let Err(e) = config::apply(&mut cli.global) {
        return e;
    }
    // Kerberos reads its keytab and cache from the environment: set it while this process
    // still has one thread (docs/security.md).
    if let Ok(security) = common::security(&cli.global)
        && let Err(e) = crate::zk::security::prepare_process(&security)
    {
        return common::fail(Exit::Trouble, e);
    }
    // The agent is a service: it logs what each pass did unless told to be quiet.
    let service = matches!(cli.command, Command::Agent(_) | Command::Dev(_));
    init_tracing(&cli.global, service);
    match &cli.command {
        Command::Validate(a) => validate::run(a, &cli.global),
        Command::Schema => schema::run(),
        Command::Diff(a) => diff::run(a, &cli.global),
        Command::Apply(a) => apply::run(a, &cli.global),
        Command::Export(a) => export::run(a, &cli.global),
        Command::Status(a) => status::run(a, &cli.global),
        Command::Suspend => suspend::run(true, &cli.global),
        Command::Resume => suspend::run(false, &cli.global),
        Command::Dev(a) => dev::run(a, &cli.global),
        Command::Agent(a) => agent::run(a, &cli.global),
        Command::Completions(a) => completions::print(a.shell),
        Command::Man(a) => completions::man(&a.dir),
    }
}

/// Logs go to stderr through `tracing`; `-v` raises the level, `-q` lowers it, `RUST_LOG` wins.
fn init_tracing(global: &GlobalArgs, service: bool) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) if service => "info",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("zkstate={level},zookeeper_client=error"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match global.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
