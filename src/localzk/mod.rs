//! Throwaway local ZooKeeper servers: a real `QuorumPeerMain` JVM from Debian's `zookeeper`
//! package, run as a child process on free loopback ports with its own temporary directory.
//! Used by `zkstate dev` and by the integration tests; it is not part of [`crate::zk`] (the code
//! that talks the ZooKeeper client protocol): the only wire traffic here is four-letter words
//! over a plain `TcpStream`.
//!
//! The rooms, by concern:
//! - [`config`]: a server's files: `zoo.cfg`, `log4j.properties`, `myid`, log tails.
//! - [`process`]: finding `java` and the jars, starting the JVM (no `zkServer.sh`, no systemd),
//!   stopping (SIGTERM, then SIGKILL), killing (SIGKILL, for fault tests), free ports.
//! - [`ready`]: four-letter words and waiting until `srvr` reports a `Mode:`.
//! - [`server`]: [`ZkServer`], one standalone server, what `dev` and most tests want. Quorums
//!   of several servers are built from the same parts by the tests (`tests/common/processes.rs`).
//!
//! # Notable behaviors
//! - Ports are taken from `20000..32000`, below Linux's ephemeral range, so that outgoing client
//!   connections cannot grab them; a start that loses a port race to another process is retried
//!   on fresh ports.
//! - Every server writes `zookeeper.log` (log4j) and `stdout.log` (JVM output) in its directory;
//!   errors quote their tail, and a server dropped while the thread panics prints it to stderr,
//!   so a failing test shows why its server misbehaved.
//! - A process that dies without unwinding (SIGKILL, abort) leaves its JVMs running: nothing here
//!   can catch that.
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

pub mod config;
pub mod process;
pub mod ready;
pub mod server;

pub use config::{Layout, Peer, temp_dir};
pub use process::{Instance, Runtime, pick_ports};
pub use ready::{four_letter, mode};
pub use server::ZkServer;

const INSTALL_HINT: &str = "install it with apt-get install -y zookeeper";
/// How often readiness and exit are polled while waiting.
pub const POLL: Duration = Duration::from_millis(25);
/// Attempts at starting on fresh ports when another process took a chosen port first.
pub const PORT_ATTEMPTS: usize = 5;

/// Errors of starting or controlling a local ZooKeeper.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No `java` executable was found.
    #[error("failed to find java (looked for {looked}); {INSTALL_HINT}")]
    JavaMissing { looked: String },
    /// The ZooKeeper jar is not installed.
    #[error("failed to find the zookeeper jar at {}; {INSTALL_HINT}", path.display())]
    JarMissing { path: PathBuf },
    /// A file or process operation failed.
    #[error("failed to {what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The JVM exited before it served.
    #[error(
        "zookeeper on port {port} exited during startup ({status}); last lines of {}:\n{tail}",
        log.display()
    )]
    Exited {
        port: u16,
        status: ExitStatus,
        log: PathBuf,
        tail: String,
    },
    /// The server did not serve before the deadline.
    #[error(
        "zookeeper on port {port} did not serve within {timeout:?}; last lines of {}:\n{tail}",
        log.display()
    )]
    Timeout {
        port: u16,
        timeout: Duration,
        log: PathBuf,
        tail: String,
    },
    /// Another process's server answered on the port chosen for this one.
    #[error("port {port} was taken by another process's zookeeper")]
    PortTaken { port: u16 },
    /// A member index outside the ensemble.
    #[error("no ensemble member {index} (the ensemble has {len})")]
    NoSuchMember { index: usize, len: usize },
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// How to run a server. `ServerOptions::default()` is what tests want; change fields with
/// struct update syntax: `ServerOptions { jute_maxbuffer: Some(4 << 20), ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// `tickTime`; session timeouts are clamped to `[2, 20]` ticks unless the min/max below say.
    pub tick_time: Duration,
    /// `minSessionTimeout`.
    pub min_session_timeout: Duration,
    /// `maxSessionTimeout`.
    pub max_session_timeout: Duration,
    /// Maximum JVM heap (`-Xmx`), in MiB. Below 1 GiB big multis can kill the server (OOM).
    pub heap_mb: u32,
    /// `-Djute.maxbuffer`: the largest request/znode in bytes (server default 1 MiB − 1).
    pub jute_maxbuffer: Option<u32>,
    /// Extra JVM system properties, e.g. `("zookeeper.extendedTypesEnabled", "true")` for TTL.
    pub system_properties: Vec<(String, String)>,
    /// Extra `zoo.cfg` lines (`key=value`), appended after the defaults (later lines win).
    pub config: Vec<(String, String)>,
    /// Extra jars (or directories) appended to the server's class path, e.g. Debian's
    /// `netty-codec.jar`, which the Netty connection factory (TLS) needs and `zookeeper.jar`'s
    /// manifest does not name.
    pub extra_classpath: Vec<PathBuf>,
    /// A fixed client port instead of a free one (standalone server only).
    pub port: Option<u16>,
    /// How long `start`/`restart` wait for the server (or the quorum) to serve.
    pub start_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            tick_time: Duration::from_millis(200),
            min_session_timeout: Duration::from_millis(400),
            max_session_timeout: Duration::from_secs(60),
            heap_mb: 1024,
            jute_maxbuffer: None,
            system_properties: Vec::new(),
            config: Vec::new(),
            extra_classpath: Vec::new(),
            port: None,
            start_timeout: Duration::from_secs(60),
        }
    }
}
