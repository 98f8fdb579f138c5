//! The command line: clap types, one file per subcommand, rendering of plans and status.
//!
//! `main` calls [`main`], which parses the arguments, runs one command and maps its [`Exit`] to
//! the process exit code (SPEC §2: 0 ok, 1 finding, 2 trouble, 3 refused, 4 lock timeout).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub mod schema;
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
    version,
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
    /// ZooKeeper session timeout, e.g. `10s`.
    #[arg(long, global = true, default_value = "10s")]
    pub session_timeout: humantime::Duration,
    /// Where zkstate keeps its lock, inventory and applied-state record.
    #[arg(long, global = true, default_value = "/zkstate")]
    pub state_path: String,
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, expand and check manifests; no ZooKeeper needed.
    Validate(FilesArgs),
    /// Print the JSON Schema of the manifests.
    Schema,
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

/// Runs one parsed command.
pub fn run(cli: Cli) -> Exit {
    match &cli.command {
        Command::Validate(a) => validate::run(a, &cli.global),
        Command::Schema => schema::run(),
    }
}
