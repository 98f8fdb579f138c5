//! The JVM process of one local server: finding `java` and the jars, starting `QuorumPeerMain`
//! in its own process group, stopping (SIGTERM, then SIGKILL), killing, and choosing free ports.
use std::collections::HashSet;
use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use wait_timeout::ChildExt as _;

use super::{Layout, ServerError, ServerOptions, io_err};

/// Where Debian's `zookeeper` package puts its jars (override with `ZKSTATE_ZK_JAR_DIR`).
const DEFAULT_JAR_DIR: &str = "/usr/share/java";
const MAIN_CLASS: &str = "org.apache.zookeeper.server.quorum.QuorumPeerMain";
/// How long `stop` waits after SIGTERM before it sends SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The java executable and class path, found once per start.
#[derive(Debug, Clone)]
pub struct Runtime {
    java: PathBuf,
    classpath: OsString,
}

impl Runtime {
    pub fn detect() -> Result<Runtime, ServerError> {
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
    which::which("java").map_err(|_| ServerError::JavaMissing {
        looked: "$JAVA_HOME/bin/java and java on PATH".into(),
    })
}

/// A running (or stopped) server process with its files.
#[derive(Debug)]
pub struct Instance {
    pub(super) layout: Layout,
    runtime: Runtime,
    pub(super) options: ServerOptions,
    pub(super) child: Option<Child>,
    /// Set when another process's server answered on our client port.
    pub(super) port_taken: bool,
}

impl Instance {
    pub fn new(layout: Layout, runtime: Runtime, options: ServerOptions) -> Instance {
        Instance {
            layout,
            runtime,
            options,
            child: None,
            port_taken: false,
        }
    }

    /// Starts the JVM; [`Instance::wait_serving`] waits until it serves.
    ///
    /// # Errors
    /// [`ServerError::Io`] when its output file cannot be opened or the JVM cannot be started.
    pub fn spawn(&mut self) -> Result<(), ServerError> {
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
        for extra in &self.options.extra_classpath {
            classpath.push(":");
            classpath.push(extra);
        }

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

    /// The files of this server.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The options it was started with.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// The JVM's process id, `None` while stopped.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the JVM is still running (it may have died on its own).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
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

    /// SIGTERM, then SIGKILL after a grace period; no-op when not running.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the process cannot be signalled or reaped.
    pub fn stop(&mut self) -> Result<(), ServerError> {
        if !self.is_running() {
            self.child = None;
            return Ok(());
        }
        self.signal(libc::SIGTERM)?;
        if let Some(child) = &mut self.child {
            let exited = child
                .wait_timeout(STOP_GRACE)
                .map_err(io_err("wait for the zookeeper process"))?;
            if exited.is_some() {
                self.child = None;
                return Ok(());
            }
        }
        self.kill()
    }

    /// SIGKILL (as a crash would) and reap; no-op when not running.
    ///
    /// # Errors
    /// [`ServerError::Io`] when the process cannot be killed or reaped.
    pub fn kill(&mut self) -> Result<(), ServerError> {
        if let Some(mut child) = self.child.take() {
            // `Child::kill` sends SIGKILL, and does nothing harmful if it already exited.
            child.kill().map_err(io_err("kill the zookeeper process"))?;
            child.wait().map_err(io_err("reap the zookeeper process"))?;
        }
        Ok(())
    }

    /// [`Instance::kill`], ignoring errors (cleanup paths).
    pub fn kill_quietly(&mut self) {
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
pub fn pick_ports(n: usize) -> Result<Vec<u16>, ServerError> {
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
}
