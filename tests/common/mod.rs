//! Test support shared by every integration test file (`mod common;` at the top of a test).
//!
//! - [`processes`]: [`zk`] starts a real, private ZooKeeper for one test
//!   ([`zkstate::localzk`]); [`ZkEnsemble`] runs a quorum for fault tests.
//! - [`zkstate`] is a `Command` for the built binary.
//! - [`kazoo`] and [`curator`] run one subcommand of `tests/support/kazoo_tool.py` (kazoo 2.11)
//!   or `tests/support/java/CuratorTool.java` (Apache Curator 5.4, compiled once per change into
//!   `CARGO_TARGET_TMPDIR/curator-tool`, with a CDS archive for faster JVM start-up) and
//!   return its JSON answer; [`Holder`] runs their "hold" subcommands (locks, latches,
//!   registrations) in the background.
//! - [`wait_for`] polls a condition.
//!
//! Environment: `ZKSTATE_PYTHON` (default `python3`), `ZKSTATE_JAVA` / `JAVA_HOME` (default
//! `java`), `ZKSTATE_ZK_JAR_DIR` (default `/usr/share/java`), `ZKTOOL_SESSION_MS` (session
//! timeout of the tools, default 10 s). `scripts/install-deps` installs everything.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
#[allow(unused_imports)] // re-exported for the test files that need them
pub use zkstate::localzk::{ServerOptions, ZkServer};

pub mod processes;
#[allow(unused_imports)] // re-exported for the test files that need them
pub use processes::{ZkEnsemble, zk};

/// How long a one-shot tool call may take before the test fails.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a [`Holder`] may take to print `READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A `Command` for the `zkstate` binary built by this `cargo test`.
pub fn zkstate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zkstate"))
}

/// Polls `cond` every 20 ms until it is true (returns true) or `timeout` passed (returns false).
pub fn wait_for(mut cond: impl FnMut() -> bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A `Command` running `kazoo_tool.py ARGS...` (first arg: subcommand, second: hosts).
pub fn kazoo_command(args: &[&str]) -> Command {
    let python = std::env::var_os("ZKSTATE_PYTHON").unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(python);
    cmd.arg(repo_path("tests/support/kazoo_tool.py")).args(args);
    cmd
}

/// A `Command` running `CuratorTool ARGS...` (first arg: subcommand, second: hosts); compiles
/// the tool first if needed.
pub fn curator_command(args: &[&str]) -> Command {
    let tool = curator_tool();
    let mut cmd = Command::new(&tool.java);
    cmd.args(JVM_FLAGS);
    if let Some(archive) = &tool.archive {
        // -Xlog:disable: a stale archive is then skipped silently instead of a warning on stdout.
        cmd.arg(format!("-XX:SharedArchiveFile={}", archive.display()))
            .arg("-Xlog:disable");
    }
    cmd.arg("-cp")
        .arg(&tool.classpath)
        .arg("CuratorTool")
        .args(args);
    cmd
}

/// JVM flags of every CuratorTool run.
const JVM_FLAGS: &[&str] = &[
    "-XX:+UseSerialGC",
    // C1 only: these JVMs live for a second or two, and start faster without C2.
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Xmx256m",
];

/// Runs a kazoo_tool subcommand and returns its JSON answer; panics (with its stderr) if it fails.
///
/// `kazoo(&["children", &zk.connect_string(), "/a"])`
pub fn kazoo(args: &[&str]) -> Value {
    run_json(
        kazoo_command(args),
        &format!("kazoo_tool {}", args.join(" ")),
    )
}

/// Runs a CuratorTool subcommand and returns its JSON answer; panics (with its stderr) if it fails.
///
/// `curator(&["latch-leader", &zk.connect_string(), "/election"])`
pub fn curator(args: &[&str]) -> Value {
    run_json(
        curator_command(args),
        &format!("CuratorTool {}", args.join(" ")),
    )
}

/// The outcome of a finished tool call.
pub struct ToolOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `cmd` to completion with a timeout (a hung tool fails the test instead of hanging it).
pub fn run_tool(mut cmd: Command, what: &str) -> ToolOutput {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to start {what}: {e}"));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tool") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {TOOL_TIMEOUT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    };
    ToolOutput {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

fn run_json(cmd: Command, what: &str) -> Value {
    let out = run_tool(cmd, what);
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            out.status, out.stderr, out.stdout
        );
    }
    let line = out.stdout.lines().rev().find(|l| !l.trim().is_empty());
    let line = line.unwrap_or_else(|| panic!("{what} printed nothing; stderr:\n{}", out.stderr));
    serde_json::from_str(line).unwrap_or_else(|e| {
        panic!(
            "{what} printed no JSON ({e}): {line}\nstderr:\n{}",
            out.stderr
        )
    })
}

/// A background tool process holding something (a lock, a latch, an ephemeral registration)
/// until it is released or dropped.
///
/// Created once the tool printed `READY {json}`; [`ready`](Self::ready) is that JSON.
/// Dropping closes its stdin, which makes it release and exit (waited for, then SIGKILL).
pub struct Holder {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    ready: Value,
    stderr: Arc<Mutex<String>>,
}

impl Holder {
    /// Runs a kazoo_tool hold subcommand (`lock-hold`, `election-run`, `json-register`).
    pub fn kazoo(args: &[&str]) -> Holder {
        Holder::spawn(
            kazoo_command(args),
            &format!("kazoo_tool {}", args.join(" ")),
        )
    }

    /// Runs a CuratorTool hold subcommand (`discovery-register`, `latch-run`, `mutex-hold`).
    pub fn curator(args: &[&str]) -> Holder {
        Holder::spawn(
            curator_command(args),
            &format!("CuratorTool {}", args.join(" ")),
        )
    }

    /// Spawns `cmd` and waits until it prints a line starting with `READY`.
    pub fn spawn(mut cmd: Command, what: &str) -> Holder {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {what}: {e}"));
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        {
            let stderr = Arc::clone(&stderr);
            let pipe = child.stderr.take().expect("piped stderr");
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut buf = stderr.lock().unwrap();
                    buf.push_str(&line);
                    buf.push('\n');
                }
            });
        }
        let lines = stdout_lines(child.stdout.take().expect("piped stdout"));
        let mut holder = Holder {
            what: what.to_string(),
            child,
            stdin,
            ready: Value::Null,
            stderr,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix("READY") {
                        let rest = rest.trim();
                        if !rest.is_empty() {
                            holder.ready = serde_json::from_str(rest)
                                .unwrap_or_else(|e| panic!("{what}: bad READY line ({e}): {line}"));
                        }
                        return holder;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{what} not READY within {READY_TIMEOUT:?}; stderr:\n{}",
                        holder.stderr()
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = holder.child.wait().ok();
                    // Give the stderr reader a moment to collect the last lines.
                    thread::sleep(Duration::from_millis(50));
                    panic!(
                        "{what} exited ({status:?}) before READY; stderr:\n{}",
                        holder.stderr()
                    )
                }
            }
        }
    }

    /// The JSON the tool printed after `READY` (`Null` if none).
    pub fn ready(&self) -> &Value {
        &self.ready
    }

    /// What the tool wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// The tool's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the tool to release (a `release` line) and waits until it exited successfully.
    pub fn release(mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "release");
        }
        let status = self.wait(Duration::from_secs(30));
        assert!(
            status.is_some_and(|s| s.success()),
            "{} did not exit cleanly ({status:?}); stderr:\n{}",
            self.what,
            self.stderr()
        );
    }

    /// SIGKILLs the tool: its session (and ephemeral nodes) live on until the session expires.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => return None,
            }
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if self.wait(Duration::from_secs(30)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn stdout_lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The compiled CuratorTool: java executable, class path (tool jar + Curator jars) and, when
/// the JVM could make one, a class-data-sharing archive that halves its start-up time.
pub struct CuratorToolBuild {
    pub java: PathBuf,
    pub classpath: String,
    pub archive: Option<PathBuf>,
}

/// Jars CuratorTool needs at compile and run time, from Debian's `libcurator-*-java`,
/// `libzookeeper-java`, `libguava-java`, `libjackson2-*-java` and `libslf4j-java`.
/// (Their manifests' `Class-Path` would pull most of them in; listing them keeps it explicit.)
pub const CURATOR_JARS: &[&str] = &[
    "curator-x-discovery.jar",
    "curator-recipes.jar",
    "curator-framework.jar",
    "curator-client.jar",
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "guava.jar",
    "jackson-databind.jar",
    "jackson-core.jar",
    "jackson-annotations.jar",
    "slf4j-api.jar",
    // Silences SLF4J's "no binding" warning and the ZooKeeper client's logging.
    "slf4j-nop.jar",
];

/// Compiles `tests/support/java/CuratorTool.java` with `javac` into a jar, and dumps a CDS
/// archive from a `--warmup` run, when the source (or the jar list) changed since the last
/// build. A file lock makes concurrent test processes build it once; the result is cached for
/// the whole process.
pub fn curator_tool() -> &'static CuratorToolBuild {
    static BUILD: OnceLock<CuratorToolBuild> = OnceLock::new();
    BUILD.get_or_init(|| build_curator_tool().unwrap_or_else(|e| panic!("{e}")))
}

fn build_curator_tool() -> Result<CuratorToolBuild, String> {
    let jar_dir = std::env::var_os("ZKSTATE_ZK_JAR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/java"));
    let mut jars = Vec::new();
    for jar in CURATOR_JARS {
        let path = jar_dir.join(jar);
        if !path.is_file() {
            return Err(format!(
                "missing {}: run scripts/install-deps (apt-get install -y zookeeper \
                 libcurator-framework-java libcurator-recipes-java libcurator-discovery-java)",
                path.display()
            ));
        }
        jars.push(path.display().to_string());
    }
    let jars = jars.join(":");
    let java_home = std::env::var_os("JAVA_HOME").map(PathBuf::from);
    let jdk_tool = |name: &str| match &java_home {
        Some(home) if home.join("bin").join(name).is_file() => home.join("bin").join(name),
        _ => PathBuf::from(name),
    };
    let java = std::env::var_os("ZKSTATE_JAVA")
        .map(PathBuf::from)
        .unwrap_or_else(|| jdk_tool("java"));

    let source = repo_path("tests/support/java/CuratorTool.java");
    let text =
        fs::read_to_string(&source).map_err(|e| format!("read {}: {e}", source.display()))?;
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("curator-tool");
    let tool_jar = cache.join("CuratorTool.jar");
    let archive = cache.join("CuratorTool.jsa");
    let stamp_file = cache.join("stamp");
    let stamp = format!("{}\n{jars}\n{text}", java.display());
    let classpath = format!("{}:{jars}", tool_jar.display());
    fs::create_dir_all(&cache).map_err(|e| format!("create {}: {e}", cache.display()))?;

    let lock = File::create(cache.join("lock")).map_err(|e| format!("create lock: {e}"))?;
    lock.lock()
        .map_err(|e| format!("lock {}: {e}", cache.display()))?;
    let fresh = fs::read_to_string(&stamp_file).is_ok_and(|s| s == stamp) && tool_jar.is_file();
    if !fresh {
        let classes = cache.join("classes");
        let _ = fs::remove_file(&stamp_file);
        let _ = fs::remove_file(&archive);
        let _ = fs::remove_dir_all(&classes);
        fs::create_dir_all(&classes).map_err(|e| format!("create {}: {e}", classes.display()))?;
        let mut javac = Command::new(jdk_tool("javac"));
        javac
            .args(["-encoding", "UTF-8", "-Xlint:all,-path", "-d"])
            .arg(&classes)
            .args(["-cp", &jars])
            .arg(&source);
        checked(javac, "javac CuratorTool.java")?;
        // CDS archives only class path entries that are jars, hence the jar.
        let mut jar = Command::new(jdk_tool("jar"));
        jar.arg("cf")
            .arg(&tool_jar)
            .arg("-C")
            .arg(&classes)
            .arg(".");
        checked(jar, "jar CuratorTool.jar")?;
        let mut warmup = Command::new(&java);
        warmup
            .args(JVM_FLAGS)
            .arg(format!("-XX:ArchiveClassesAtExit={}", archive.display()))
            .args([
                "-Xlog:disable",
                "-cp",
                &classpath,
                "CuratorTool",
                "--warmup",
            ]);
        if checked(warmup, "CuratorTool --warmup").is_err() {
            // Only slower without it.
            let _ = fs::remove_file(&archive);
        }
        fs::write(&stamp_file, &stamp).map_err(|e| format!("write stamp: {e}"))?;
    }
    drop(lock);
    Ok(CuratorToolBuild {
        java,
        classpath,
        archive: archive.is_file().then_some(archive),
    })
}

fn checked(cmd: Command, what: &str) -> Result<(), String> {
    let out = run_tool(cmd, what);
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({}); is a JDK installed (scripts/install-deps)?\n{}{}",
            out.status, out.stdout, out.stderr
        ))
    }
}

/// Raw ZooKeeper access for assertions (the `zookeeper-client` crate, on a private runtime).
pub mod raw {
    use std::time::Duration;

    use zookeeper_client as zkc;

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    async fn client(hosts: &str) -> zkc::Client {
        zkc::Client::connector()
            .with_session_timeout(Duration::from_secs(5))
            .connect(hosts)
            .await
            .expect("connect")
    }

    /// `(data, version)` of a node, `None` when it does not exist.
    pub fn get(hosts: &str, path: &str) -> Option<(Vec<u8>, i32)> {
        block(async {
            match client(hosts).await.get_data(path).await {
                Ok((d, s)) => Some((d, s.version)),
                Err(zkc::Error::NoNode) => None,
                Err(e) => panic!("get {path}: {e}"),
            }
        })
    }

    /// Data of a node as UTF-8 (panics when missing).
    pub fn text(hosts: &str, path: &str) -> String {
        String::from_utf8(
            get(hosts, path)
                .unwrap_or_else(|| panic!("{path} missing"))
                .0,
        )
        .expect("utf-8")
    }

    /// Sorted child names (empty when the node does not exist).
    pub fn children(hosts: &str, path: &str) -> Vec<String> {
        block(async {
            match client(hosts).await.list_children(path).await {
                Ok(mut c) => {
                    c.sort();
                    c
                }
                Err(zkc::Error::NoNode) => Vec::new(),
                Err(e) => panic!("children {path}: {e}"),
            }
        })
    }

    /// Creates a persistent node (and its parents) with `data`.
    pub fn create(hosts: &str, path: &str, data: &[u8]) {
        block(async {
            let c = client(hosts).await;
            let opts = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
            if let Some(i) = path.rfind('/').filter(|i| *i > 0) {
                match c.mkdir(&path[..i], &opts).await {
                    Ok(()) | Err(zkc::Error::NodeExists) => {}
                    Err(e) => panic!("mkdir {path}: {e}"),
                }
            }
            c.create(path, data, &opts)
                .await
                .unwrap_or_else(|e| panic!("create {path}: {e}"));
        })
    }

    /// Sets data unconditionally.
    pub fn set(hosts: &str, path: &str, data: &[u8]) {
        block(async {
            client(hosts)
                .await
                .set_data(path, data, None)
                .await
                .unwrap_or_else(|e| panic!("set {path}: {e}"));
        })
    }

    /// The ACL of a node as `scheme:id:perms-bits` strings.
    pub fn acl(hosts: &str, path: &str) -> Vec<String> {
        block(async {
            let (acl, _) = client(hosts)
                .await
                .get_acl(path)
                .await
                .unwrap_or_else(|e| panic!("acl {path}: {e}"));
            acl.iter()
                .map(|a| format!("{}:{}:{}", a.scheme(), a.id(), a.permission()))
                .collect()
        })
    }
}

/// A temp dir holding manifest files.
pub struct Manifests {
    pub dir: tempfile::TempDir,
}

impl Manifests {
    /// Writes `files` (name, content) into a new temp dir.
    pub fn new(files: &[(&str, &str)]) -> Manifests {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, content) in files {
            let p = dir.path().join(name);
            if let Some(parent) = p.parent() {
                fs::create_dir_all(parent).expect("mkdir");
            }
            fs::write(p, content).expect("write manifest");
        }
        Manifests { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces one file.
    pub fn write(&self, name: &str, content: &str) {
        fs::write(self.dir.path().join(name), content).expect("write manifest");
    }
}

/// Runs `zkstate --zk HOSTS ARGS...` and returns (exit code, stdout, stderr).
pub fn run(hosts: &str, args: &[&str]) -> (i32, String, String) {
    let out = zkstate()
        .arg("--zk")
        .arg(hosts)
        .args(args)
        .env_remove("ZKSTATE_ZK")
        .output()
        .expect("run zkstate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
