//! Throwaway local ZooKeeper servers: a real `QuorumPeerMain` JVM from Debian's `zookeeper`
//! package, run as a child process on free loopback ports with its own temporary directory.
//!
//! This module owns the whole life of those processes: choosing ports, writing `zoo.cfg`,
//! `log4j.properties` and `myid`, starting the JVM (no `zkServer.sh`, no systemd), waiting until
//! the `srvr` four-letter word reports a `Mode:`, stopping (SIGTERM, then SIGKILL), killing
//! (SIGKILL, for fault tests) and removing the directory on drop. It is used by `zkstate dev`
//! and by the integration tests: [`ZkServer`] for one standalone server, [`ZkEnsemble`] for a
//! quorum of several servers on one host.
//!
//! It must not talk the ZooKeeper client protocol (that is the rest of `zk/`); the only wire
//! traffic here is four-letter words over a plain [`TcpStream`].
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
use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Where Debian's `zookeeper` package puts its jars (override with `ZKSTATE_ZK_JAR_DIR`).
const DEFAULT_JAR_DIR: &str = "/usr/share/java";
const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
const INSTALL_HINT: &str = "install it with apt-get install -y zookeeper";
/// How often readiness and exit are polled while waiting.
const POLL: Duration = Duration::from_millis(25);
/// How long `stop` waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// Attempts at starting on fresh ports when another process took a chosen port first.
const PORT_ATTEMPTS: usize = 5;
/// Lines of the server's logs quoted in errors.
const TAIL_LINES: usize = 40;

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

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ServerError {
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
            port: None,
            start_timeout: Duration::from_secs(60),
        }
    }
}

/// One standalone ZooKeeper server on `127.0.0.1`, stopped and deleted on drop.
///
/// ```no_run
/// let zk = zkstate::zk::server::ZkServer::start()?;
/// println!("connect to {}", zk.connect_string());
/// # Ok::<(), zkstate::zk::server::ServerError>(())
/// ```
#[derive(Debug)]
pub struct ZkServer {
    instance: Instance,
    // Declared last: removed after the instance has stopped.
    _dir: tempfile::TempDir,
}

impl ZkServer {
    /// Starts a server with [`ServerOptions::default`] and waits until it serves.
    ///
    /// # Errors
    /// [`ServerError::JavaMissing`] / [`ServerError::JarMissing`] when the packages are not
    /// installed, [`ServerError::Exited`] / [`ServerError::Timeout`] when the JVM does not serve.
    pub fn start() -> Result<ZkServer, ServerError> {
        Self::start_with(ServerOptions::default())
    }

    /// Starts a server with the given options and waits until it serves.
    ///
    /// # Errors
    /// As [`ZkServer::start`].
    pub fn start_with(options: ServerOptions) -> Result<ZkServer, ServerError> {
        let runtime = Runtime::detect()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = match options.port {
                Some(port) => port,
                None => pick_ports(1)?[0],
            };
            let dir = temp_dir()?;
            let layout = Layout::new(dir.path().to_path_buf(), port, None);
            layout.write(&options, &[])?;
            let mut instance = Instance::new(layout, runtime.clone(), options.clone());
            instance.spawn()?;
            let deadline = Instant::now() + options.start_timeout;
            match instance.wait_serving(deadline) {
                Ok(()) => {
                    return Ok(ZkServer {
                        instance,
                        _dir: dir,
                    });
                }
                Err(err) => {
                    let retry = options.port.is_none()
                        && attempt < PORT_ATTEMPTS
                        && instance.lost_port_race();
                    instance.kill_quietly();
                    if !retry {
                        return Err(err);
                    }
                }
            }
        }
    }

    /// `127.0.0.1:PORT`, for a client's connect string.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.instance.layout.client_port)
    }

    /// The client port.
    pub fn port(&self) -> u16 {
        self.instance.layout.client_port
    }

    /// The JVM's process id, or `None` after [`stop`](Self::stop) or [`kill`](Self::kill).
    pub fn pid(&self) -> Option<u32> {
        self.instance.pid()
    }

    /// ZooKeeper's `dataDir` (snapshots and transaction logs under `version-2/`).
    pub fn data_dir(&self) -> PathBuf {
        self.instance.layout.data_dir()
    }

    /// The log4j log of the server.
    pub fn log_file(&self) -> PathBuf {
        self.instance.layout.log_file()
    }

    /// Sends a four-letter word (`srvr`, `mntr`, `wchc`, `cons`, ...) and returns the answer.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the server does not answer.
    pub fn four_letter(&self, word: &str) -> Result<String, ServerError> {
        four_letter(
            self.instance.layout.client_port,
            word,
            Duration::from_secs(5),
        )
        .map_err(io_err(format!("send {word} to zookeeper")))
    }

    /// Stops the server: SIGTERM, then SIGKILL if it is still running after a grace period.
    /// Its data stays; [`restart`](Self::restart) brings it back. No-op when not running.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the process cannot be signalled or reaped.
    pub fn stop(&mut self) -> Result<(), ServerError> {
        self.instance.stop()
    }

    /// Kills the server with SIGKILL (as a crash would) and reaps it. No-op when not running.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the process cannot be killed or reaped.
    pub fn kill(&mut self) -> Result<(), ServerError> {
        self.instance.kill()
    }

    /// Stops the server if it runs, then starts it again on the same port with the same data,
    /// and waits until it serves.
    ///
    /// # Errors
    /// As [`ZkServer::start`]; fails if another process took the port meanwhile.
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.instance.stop()?;
        self.instance.spawn()?;
        let deadline = Instant::now() + self.instance.options.start_timeout;
        self.instance.wait_serving(deadline)
    }

    /// Whether the JVM is still running (it may have died on its own).
    pub fn is_running(&mut self) -> bool {
        self.instance.is_running()
    }
}

/// Several ZooKeeper servers forming one quorum on `127.0.0.1`, each with its own client,
/// quorum and election ports and `myid`. Members are indexed from 0; member `i` has `myid`
/// `i + 1`. Everything is stopped and deleted on drop.
#[derive(Debug)]
pub struct ZkEnsemble {
    members: Vec<Instance>,
    _dir: tempfile::TempDir,
}

impl ZkEnsemble {
    /// Starts an ensemble of `n` servers with [`ServerOptions::default`] and waits until every
    /// member serves.
    ///
    /// # Errors
    /// As [`ZkServer::start`].
    pub fn start(n: usize) -> Result<ZkEnsemble, ServerError> {
        Self::start_with(n, ServerOptions::default())
    }

    /// Starts an ensemble of `n` servers (`options.port` is ignored) and waits until every
    /// member serves.
    ///
    /// # Errors
    /// As [`ZkServer::start`].
    pub fn start_with(n: usize, options: ServerOptions) -> Result<ZkEnsemble, ServerError> {
        assert!(n > 0, "an ensemble needs at least one member");
        let runtime = Runtime::detect()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ports = pick_ports(3 * n)?;
            let peers: Vec<Peer> = (0..n)
                .map(|i| Peer {
                    myid: i + 1,
                    client_port: ports[3 * i],
                    quorum_port: ports[3 * i + 1],
                    election_port: ports[3 * i + 2],
                })
                .collect();
            let dir = temp_dir()?;
            let mut members = Vec::with_capacity(n);
            for peer in &peers {
                let root = dir.path().join(format!("member-{}", peer.myid));
                let layout = Layout::new(root, peer.client_port, Some(peer.myid));
                layout.write(&options, &peers)?;
                members.push(Instance::new(layout, runtime.clone(), options.clone()));
            }
            let mut ensemble = ZkEnsemble { members, _dir: dir };
            let started = ensemble.members.iter_mut().try_for_each(Instance::spawn);
            let deadline = Instant::now() + options.start_timeout;
            let result = started.and_then(|()| {
                ensemble
                    .members
                    .iter_mut()
                    .try_for_each(|m| m.wait_serving(deadline))
            });
            match result {
                Ok(()) => return Ok(ensemble),
                Err(err) => {
                    let retry = attempt < PORT_ATTEMPTS
                        && ensemble.members.iter().any(Instance::lost_port_race);
                    if !retry {
                        return Err(err);
                    }
                    // Dropping the ensemble kills the members and removes the directory.
                }
            }
        }
    }

    /// Number of members, running or not.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: an ensemble has at least one member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// `127.0.0.1:P1,127.0.0.1:P2,...`: every member, running or not.
    pub fn connect_string(&self) -> String {
        let hosts: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.layout.client_port))
            .collect();
        hosts.join(",")
    }

    /// The client port of member `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn port(&self, i: usize) -> u16 {
        self.members[i].layout.client_port
    }

    /// The process id of member `i`, `None` while it is stopped.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].pid()
    }

    /// The `dataDir` of member `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.members[i].layout.data_dir()
    }

    /// The log4j log of member `i`.
    ///
    /// # Panics
    /// When `i` is out of range.
    pub fn log_file(&self, i: usize) -> PathBuf {
        self.members[i].layout.log_file()
    }

    /// The `Mode:` member `i` reports (`leader`, `follower`), or `None` if it does not serve.
    pub fn mode(&self, i: usize) -> Option<String> {
        let member = self.members.get(i)?;
        mode(member.layout.client_port)
    }

    /// The index of the member that reports `Mode: leader`, if any.
    pub fn leader(&self) -> Option<usize> {
        (0..self.len()).find(|&i| self.mode(i).as_deref() == Some("leader"))
    }

    /// Kills member `i` with SIGKILL and reaps it.
    ///
    /// # Errors
    /// [`ServerError::NoSuchMember`], or [`ServerError::Io`] when it cannot be killed.
    pub fn kill(&mut self, i: usize) -> Result<(), ServerError> {
        self.member(i)?.kill()
    }

    /// Stops member `i` (SIGTERM, SIGKILL fallback).
    ///
    /// # Errors
    /// [`ServerError::NoSuchMember`], or [`ServerError::Io`] when it cannot be stopped.
    pub fn stop(&mut self, i: usize) -> Result<(), ServerError> {
        self.member(i)?.stop()
    }

    /// Starts a stopped or killed member `i` again with its data and waits until it serves
    /// (which needs a quorum). No-op when it runs.
    ///
    /// # Errors
    /// As [`ZkServer::start`].
    pub fn start_member(&mut self, i: usize) -> Result<(), ServerError> {
        let member = self.member(i)?;
        if member.is_running() {
            return Ok(());
        }
        member.spawn()?;
        let deadline = Instant::now() + member.options.start_timeout;
        member.wait_serving(deadline)
    }

    /// Waits until a majority of the members serve and one of them is the leader.
    ///
    /// Right after the leader died its followers still report `Mode: follower` for a moment,
    /// so counting serving members alone would not do.
    ///
    /// # Errors
    /// [`ServerError::Timeout`] (quoting member 0's log) when no quorum serves in time.
    pub fn wait_for_quorum(&self, timeout: Duration) -> Result<(), ServerError> {
        let deadline = Instant::now() + timeout;
        let majority = self.len() / 2 + 1;
        loop {
            let modes: Vec<String> = (0..self.len()).filter_map(|i| self.mode(i)).collect();
            let has_leader = modes.iter().any(|m| m == "leader" || m == "standalone");
            if has_leader && modes.len() >= majority {
                return Ok(());
            }
            if Instant::now() >= deadline {
                let layout = &self.members[0].layout;
                return Err(ServerError::Timeout {
                    port: layout.client_port,
                    timeout,
                    log: layout.log_file(),
                    tail: layout.tail(),
                });
            }
            thread::sleep(POLL);
        }
    }

    fn member(&mut self, index: usize) -> Result<&mut Instance, ServerError> {
        let len = self.members.len();
        self.members
            .get_mut(index)
            .ok_or(ServerError::NoSuchMember { index, len })
    }
}

/// Sends a four-letter word to `127.0.0.1:port` and reads the answer until the server closes.
///
/// # Errors
/// The connection error, or a timeout when the server does not answer within `timeout`.
pub fn four_letter(port: u16, word: &str, timeout: Duration) -> io::Result<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// The `Mode:` a server on `port` reports through `srvr`, if it serves.
fn mode(port: u16) -> Option<String> {
    let answer = four_letter(port, "srvr", Duration::from_secs(2)).ok()?;
    answer
        .lines()
        .find_map(|line| line.strip_prefix("Mode:"))
        .map(|mode| mode.trim().to_string())
}

/// The java executable and class path, found once per start.
#[derive(Debug, Clone)]
struct Runtime {
    java: PathBuf,
    classpath: OsString,
}

impl Runtime {
    fn detect() -> Result<Runtime, ServerError> {
        let jar_dir = std::env::var_os("ZKSTATE_ZK_JAR_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_JAR_DIR));
        Runtime::with_jar_dir(&jar_dir)
    }

    fn with_jar_dir(jar_dir: &Path) -> Result<Runtime, ServerError> {
        let java = find_java()?;
        let zookeeper = jar_dir.join("zookeeper.jar");
        if !zookeeper.is_file() {
            return Err(ServerError::JarMissing { path: zookeeper });
        }
        // zookeeper.jar's manifest Class-Path brings the rest; the log4j 1.2 binding is optional
        // (without it there is no log file, but the server runs).
        let mut jars = vec![zookeeper];
        for optional in ["slf4j-log4j12.jar", "log4j-1.2.jar"] {
            let jar = jar_dir.join(optional);
            if jar.is_file() {
                jars.push(jar);
            }
        }
        // The per-server conf dir goes first at spawn time; see `Instance::spawn`.
        let classpath = std::env::join_paths(&jars).map_err(|e| ServerError::Io {
            what: "build the java class path".into(),
            source: io::Error::new(io::ErrorKind::InvalidInput, e),
        })?;
        Ok(Runtime { java, classpath })
    }
}

/// `ZKSTATE_JAVA`, else `$JAVA_HOME/bin/java`, else `java` on `PATH`.
fn find_java() -> Result<PathBuf, ServerError> {
    if let Some(java) = std::env::var_os("ZKSTATE_JAVA") {
        let java = PathBuf::from(java);
        return if java.is_file() {
            Ok(java)
        } else {
            Err(ServerError::JavaMissing {
                looked: format!("ZKSTATE_JAVA={}", java.display()),
            })
        };
    }
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let java = Path::new(&home).join("bin/java");
        if java.is_file() {
            return Ok(java);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("java"))
        .find(|java| java.is_file())
        .ok_or_else(|| ServerError::JavaMissing {
            looked: "$JAVA_HOME/bin/java and java on PATH".into(),
        })
}

/// One member's ports as every member's `zoo.cfg` lists them.
#[derive(Debug, Clone, Copy)]
struct Peer {
    myid: usize,
    client_port: u16,
    quorum_port: u16,
    election_port: u16,
}

/// The files of one server under its root directory.
#[derive(Debug)]
struct Layout {
    root: PathBuf,
    client_port: u16,
    myid: Option<usize>,
}

impl Layout {
    fn new(root: PathBuf, client_port: u16, myid: Option<usize>) -> Layout {
        Layout {
            root,
            client_port,
            myid,
        }
    }

    fn conf_dir(&self) -> PathBuf {
        self.root.join("conf")
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.root.join("zookeeper.log")
    }

    fn stdout_file(&self) -> PathBuf {
        self.root.join("stdout.log")
    }

    fn write(&self, options: &ServerOptions, peers: &[Peer]) -> Result<(), ServerError> {
        let (conf, data) = (self.conf_dir(), self.data_dir());
        for dir in [&conf, &data] {
            fs::create_dir_all(dir).map_err(io_err(format!("create {}", dir.display())))?;
        }
        if let Some(myid) = self.myid {
            write_file(&data.join("myid"), &format!("{myid}\n"))?;
        }
        write_file(
            &conf.join("zoo.cfg"),
            &zoo_cfg(options, &data, self.client_port, peers),
        )?;
        write_file(
            &conf.join("log4j.properties"),
            &log4j_properties(&self.log_file()),
        )
    }

    /// The last lines of the JVM's output and of the log4j log.
    fn tail(&self) -> String {
        let mut out = String::new();
        for file in [self.stdout_file(), self.log_file()] {
            let text = fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let start = lines.len().saturating_sub(TAIL_LINES);
            if !lines.is_empty() {
                let _ = writeln!(out, "--- {}", file.display());
                for line in &lines[start..] {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out
    }

    fn logs_mention(&self, needle: &str) -> bool {
        [self.stdout_file(), self.log_file()]
            .iter()
            .any(|f| fs::read_to_string(f).is_ok_and(|text| text.contains(needle)))
    }
}

fn zoo_cfg(options: &ServerOptions, data_dir: &Path, client_port: u16, peers: &[Peer]) -> String {
    let ms = |d: Duration| d.as_millis();
    let mut cfg = String::new();
    let mut line = |key: &str, value: &dyn std::fmt::Display| {
        let _ = writeln!(cfg, "{key}={value}");
    };
    line("tickTime", &ms(options.tick_time));
    // In ticks: 50 × 200 ms = 10 s to sync with a leader, 10 × 200 ms = 2 s between pings; a
    // loaded 2-core machine must not make followers drop out.
    line("initLimit", &50);
    line("syncLimit", &10);
    line("dataDir", &data_dir.display());
    line("clientPort", &client_port);
    line("clientPortAddress", &"127.0.0.1");
    line("maxClientCnxns", &0);
    line("minSessionTimeout", &ms(options.min_session_timeout));
    line("maxSessionTimeout", &ms(options.max_session_timeout));
    line("admin.enableServer", &false);
    line("4lw.commands.whitelist", &"*");
    for peer in peers {
        line(
            &format!("server.{}", peer.myid),
            &format!("127.0.0.1:{}:{}", peer.quorum_port, peer.election_port),
        );
    }
    for (key, value) in &options.config {
        line(key, value);
    }
    cfg
}

fn log4j_properties(log_file: &Path) -> String {
    format!(
        "log4j.rootLogger=INFO, FILE\n\
         log4j.appender.FILE=org.apache.log4j.FileAppender\n\
         log4j.appender.FILE.File={}\n\
         log4j.appender.FILE.Append=true\n\
         log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} [myid:%X{{myid}}] %-5p [%t:%C{{1}}@%L] - %m%n\n",
        log_file.display()
    )
}

fn write_file(path: &Path, text: &str) -> Result<(), ServerError> {
    fs::write(path, text).map_err(io_err(format!("write {}", path.display())))
}

fn temp_dir() -> Result<tempfile::TempDir, ServerError> {
    tempfile::Builder::new()
        .prefix("zkstate-zk-")
        .tempdir()
        .map_err(io_err("create a temporary directory for zookeeper"))
}

/// A running (or stopped) server process with its files.
#[derive(Debug)]
struct Instance {
    layout: Layout,
    runtime: Runtime,
    options: ServerOptions,
    child: Option<Child>,
    /// Set when another process's server answered on our client port.
    port_taken: bool,
}

impl Instance {
    fn new(layout: Layout, runtime: Runtime, options: ServerOptions) -> Instance {
        Instance {
            layout,
            runtime,
            options,
            child: None,
            port_taken: false,
        }
    }

    fn spawn(&mut self) -> Result<(), ServerError> {
        let out_path = self.layout.stdout_file();
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&out_path)
            .map_err(io_err(format!("open {}", out_path.display())))?;
        let err = out
            .try_clone()
            .map_err(io_err(format!("open {}", out_path.display())))?;
        let conf = self.layout.conf_dir();
        let mut classpath = OsString::from(conf.as_os_str());
        classpath.push(":");
        classpath.push(&self.runtime.classpath);

        let mut cmd = Command::new(&self.runtime.java);
        cmd.arg(format!("-Xmx{}m", self.options.heap_mb))
            .arg("-XX:+UseSerialGC")
            // No hsperfdata files in /tmp.
            .arg("-XX:-UsePerfData")
            .arg(format!(
                "-Dlog4j.configuration=file:{}",
                conf.join("log4j.properties").display()
            ))
            .arg("-Dzookeeper.jmx.log4j.disable=true");
        if let Some(bytes) = self.options.jute_maxbuffer {
            cmd.arg(format!("-Djute.maxbuffer={bytes}"));
        }
        for (key, value) in &self.options.system_properties {
            cmd.arg(format!("-D{key}={value}"));
        }
        cmd.arg("-cp")
            .arg(classpath)
            .arg(MAIN_CLASS)
            .arg(conf.join("zoo.cfg"))
            .current_dir(&self.layout.root)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: a Ctrl-C at the terminal reaches only zkstate (`dev`),
            // which then stops the server itself, after the agent has closed its session.
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(io_err(format!("start {}", self.runtime.java.display())))?;
        self.child = Some(child);
        Ok(())
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Polls until `srvr` reports a `Mode:` line, the JVM exits, or the deadline passes.
    fn wait_serving(&mut self, deadline: Instant) -> Result<(), ServerError> {
        let started = Instant::now();
        let port = self.layout.client_port;
        loop {
            if let Some(child) = &mut self.child {
                let exited = child
                    .try_wait()
                    .map_err(io_err("check on the zookeeper process"))?;
                if let Some(status) = exited {
                    self.child = None;
                    return Err(ServerError::Exited {
                        port,
                        status,
                        log: self.layout.log_file(),
                        tail: self.layout.tail(),
                    });
                }
            }
            if mode(port).is_some() {
                // Make sure it is ours: between our port check and the JVM's bind another
                // process may have started a server there (ours then fails to bind and exits).
                let data_dir = format!("dataDir={}/", self.layout.data_dir().display());
                match four_letter(port, "conf", Duration::from_secs(2)) {
                    Ok(conf) if conf.contains(&data_dir) => return Ok(()),
                    Ok(_) => {
                        self.port_taken = true;
                        self.kill()?;
                        return Err(ServerError::PortTaken { port });
                    }
                    Err(_) => {} // not answering yet: poll again
                }
            }
            if Instant::now() >= deadline {
                return Err(ServerError::Timeout {
                    port,
                    timeout: started.elapsed(),
                    log: self.layout.log_file(),
                    tail: self.layout.tail(),
                });
            }
            thread::sleep(POLL);
        }
    }

    /// Whether a failed start was caused by a port that another process had taken.
    fn lost_port_race(&self) -> bool {
        self.port_taken || self.layout.logs_mention("Address already in use")
    }

    fn signal(&self, signal: libc::c_int) -> Result<(), ServerError> {
        let Some(child) = &self.child else {
            return Ok(());
        };
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory effects. The child is not reaped yet (we hold its
        // `Child` and only reap through it), so the pid cannot belong to another process.
        if unsafe { libc::kill(pid, signal) } == 0 {
            Ok(())
        } else {
            Err(ServerError::Io {
                what: format!("signal zookeeper process {pid}"),
                source: io::Error::last_os_error(),
            })
        }
    }

    fn stop(&mut self) -> Result<(), ServerError> {
        if !self.is_running() {
            self.child = None;
            return Ok(());
        }
        self.signal(libc::SIGTERM)?;
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if !self.is_running() {
                self.child = None;
                return Ok(());
            }
            thread::sleep(POLL);
        }
        self.kill()
    }

    fn kill(&mut self) -> Result<(), ServerError> {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL, and does nothing harmful if it already exited.
            child.kill().map_err(io_err("kill the zookeeper process"))?;
            child.wait().map_err(io_err("reap the zookeeper process"))?;
        }
        Ok(())
    }

    fn kill_quietly(&mut self) {
        let _ = self.kill();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!(
                "zookeeper on port {} ({}):\n{}",
                self.layout.client_port,
                self.layout.root.display(),
                self.layout.tail()
            );
        }
        if self.stop().is_err() {
            self.kill_quietly();
        }
    }
}

/// Picks `n` distinct ports on 127.0.0.1 that are free now, from `20000..32000` (below Linux's
/// default ephemeral range 32768–60999, so outgoing connections do not take them meanwhile).
/// Each process starts at a random offset and never hands out the same port twice, so parallel
/// tests in one process never collide; collisions with other processes are retried by callers.
fn pick_ports(n: usize) -> Result<Vec<u16>, ServerError> {
    const LOW: u32 = 20000;
    const SPAN: u32 = 12000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    // A random start per process: RandomState is seeded from the OS.
    let seed = (RandomState::new().build_hasher().finish() % u64::from(SPAN)) as u32;
    let _ = NEXT.compare_exchange(u32::MAX, seed, Ordering::SeqCst, Ordering::SeqCst);
    let mut ports = Vec::with_capacity(n);
    let mut seen = HashSet::new();
    for _ in 0..SPAN {
        if ports.len() == n {
            break;
        }
        let port = (LOW + NEXT.fetch_add(1, Ordering::SeqCst) % SPAN) as u16;
        if seen.insert(port) && TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            ports.push(port);
        }
    }
    if ports.len() == n {
        Ok(ports)
    } else {
        Err(ServerError::Io {
            what: format!("find {n} free loopback ports"),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zookeeper_client::{Acls, Client, CreateMode};

    async fn write_and_read(hosts: &str, path: &str) -> Vec<u8> {
        let client = Client::connector()
            .with_session_timeout(Duration::from_secs(5))
            .connect(hosts)
            .await
            .expect("connect");
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        client
            .create(path, b"hello", &options)
            .await
            .expect("create");
        client.get_data(path).await.expect("get").0
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn standalone_serves_a_real_client_and_stops() {
        let mut zk = ZkServer::start().expect("start zookeeper");
        assert_eq!(zk.connect_string(), format!("127.0.0.1:{}", zk.port()));
        assert!(zk.data_dir().join("version-2").is_dir() || zk.data_dir().is_dir());
        assert!(zk.four_letter("srvr").unwrap().contains("Mode: standalone"));
        let rt = runtime();
        assert_eq!(
            rt.block_on(write_and_read(&zk.connect_string(), "/a")),
            b"hello"
        );

        // Restart keeps port and data.
        let port = zk.port();
        zk.restart().expect("restart");
        assert_eq!(zk.port(), port);
        let data = rt.block_on(async {
            let client = Client::connect(&zk.connect_string()).await.unwrap();
            client.get_data("/a").await.unwrap().0
        });
        assert_eq!(data, b"hello");

        let pid = zk.pid().expect("running");
        zk.stop().expect("stop");
        assert_eq!(zk.pid(), None);
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "jvm is gone");
        assert!(four_letter(port, "srvr", Duration::from_millis(500)).is_err());
        assert!(zk.log_file().is_file(), "log4j wrote its file");
    }

    #[test]
    fn drop_removes_the_directory_and_kill_is_abrupt() {
        let mut zk = ZkServer::start().expect("start zookeeper");
        let dir = zk.data_dir();
        zk.kill().expect("kill");
        assert!(!zk.is_running());
        zk.restart().expect("restart after kill");
        assert!(zk.is_running());
        drop(zk);
        assert!(!dir.exists());
    }

    #[test]
    fn a_missing_package_says_how_to_install_it() {
        let err = Runtime::with_jar_dir(Path::new("/nonexistent")).unwrap_err();
        assert!(matches!(err, ServerError::JarMissing { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "failed to find the zookeeper jar at /nonexistent/zookeeper.jar; \
             install it with apt-get install -y zookeeper"
        );
    }

    #[test]
    fn a_port_held_by_another_server_is_refused() {
        let first = ZkServer::start().expect("start zookeeper");
        let second = ZkServer::start_with(ServerOptions {
            port: Some(first.port()),
            ..Default::default()
        });
        match second {
            Err(ServerError::PortTaken { port } | ServerError::Exited { port, .. }) => {
                assert_eq!(port, first.port())
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn options_reach_the_server() {
        let zk = ZkServer::start_with(ServerOptions {
            jute_maxbuffer: Some(4 << 20),
            system_properties: vec![("zookeeper.extendedTypesEnabled".into(), "true".into())],
            max_session_timeout: Duration::from_secs(30),
            ..Default::default()
        })
        .expect("start zookeeper");
        let conf = zk.four_letter("conf").unwrap();
        assert!(conf.contains("maxSessionTimeout=30000"), "{conf}");
        assert!(conf.contains("minSessionTimeout=400"), "{conf}");
        let rt = runtime();
        rt.block_on(async {
            let client = Client::connect(&zk.connect_string()).await.unwrap();
            // TTL nodes need zookeeper.extendedTypesEnabled.
            let ttl = CreateMode::Persistent
                .with_acls(Acls::anyone_all())
                .with_ttl(Duration::from_secs(60));
            client.create("/ttl", b"", &ttl).await.expect("ttl node");
            // 2 MiB in one request needs jute.maxbuffer above its 1 MiB default.
            let big = vec![b'x'; 2 << 20];
            let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
            client
                .create("/big", &big, &options)
                .await
                .expect("2 MiB node");
            assert_eq!(client.get_data("/big").await.unwrap().0.len(), 2 << 20);
        });
    }

    #[test]
    fn ensemble_survives_losing_its_leader() {
        let mut ens = ZkEnsemble::start(3).expect("start ensemble");
        assert_eq!(ens.connect_string().split(',').count(), 3);
        let leader = ens.leader().expect("a leader");
        let rt = runtime();
        assert_eq!(
            rt.block_on(write_and_read(&ens.connect_string(), "/before")),
            b"hello"
        );

        ens.kill(leader).expect("kill leader");
        assert_eq!(ens.pid(leader), None);
        ens.wait_for_quorum(Duration::from_secs(30))
            .expect("quorum again");
        let new_leader = ens.leader().expect("a new leader");
        assert_ne!(new_leader, leader);
        assert_eq!(
            rt.block_on(write_and_read(&ens.connect_string(), "/after")),
            b"hello"
        );

        ens.start_member(leader).expect("rejoin");
        assert!(ens.mode(leader).is_some());
    }
}
