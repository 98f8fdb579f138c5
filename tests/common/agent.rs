//! `zkstate agent` as a real process for the agent and fault tests: [`Agent`] (start, signal,
//! `/status`, `/healthz`, `/readyz`, its log), [`free_port`] and [`http_get`].
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback TCP port (bound once, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `GET path` on `127.0.0.1:port` (HTTP/1.0): `(status code, body)`, `None` on any error.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

/// How to start an agent: the global `--session-timeout`, the agent's `--resync-interval`,
/// extra agent flags and environment.
#[derive(Clone, Copy, Debug)]
pub struct AgentOptions<'a> {
    pub session_timeout: &'a str,
    pub resync_interval: &'a str,
    pub extra: &'a [&'a str],
    /// Extra environment variables of the agent process (e.g. `KRB5_CONFIG`).
    pub env: &'a [(String, String)],
}

impl Default for AgentOptions<'_> {
    fn default() -> Self {
        AgentOptions {
            session_timeout: "2s",
            resync_interval: "30s",
            extra: &[],
            env: &[],
        }
    }
}

/// A running agent; continued (if stopped) and killed on drop. Its stderr goes to a file,
/// shown when a test fails.
pub struct Agent {
    child: Option<Child>,
    log: PathBuf,
    port: u16,
}

impl Agent {
    /// `zkstate --zk HOSTS --session-timeout T agent -f MANIFESTS --listen 127.0.0.1:FREE
    /// --host-id NAME --resync-interval R EXTRA...`, logging at debug level to `LOGS/NAME.log`.
    /// `ZKSTATE_TEST_HOST` is NAME and `ZKSTATE_TEST_HOOKS` is `LOGS/NAME.hooks` (for
    /// manifests that use them).
    pub fn start(
        hosts: &str,
        manifests: &Path,
        logs: &Path,
        name: &str,
        options: AgentOptions<'_>,
    ) -> Agent {
        let port = free_port();
        let log = logs.join(format!("{name}.log"));
        let listen = format!("127.0.0.1:{port}");
        let child = crate::common::zkstate()
            .args(["--zk", hosts, "--session-timeout", options.session_timeout])
            .args(["agent", "-f"])
            .arg(manifests)
            .args([
                "--listen",
                &listen,
                "--host-id",
                name,
                "--resync-interval",
                options.resync_interval,
            ])
            .args(options.extra)
            .env("RUST_LOG", "zkstate=debug")
            .env("ZKSTATE_TEST_HOST", name)
            .env("ZKSTATE_TEST_HOOKS", logs.join(format!("{name}.hooks")))
            .env_remove("ZKSTATE_ZK")
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn zkstate agent");
        Agent::adopt(child, log, port)
    }

    /// An agent started by the test itself (its own flags), serving on `port`, logging to `log`.
    pub fn adopt(child: Child, log: PathBuf, port: u16) -> Agent {
        Agent {
            child: Some(child),
            log,
            port,
        }
    }

    fn child(&self) -> &Child {
        self.child.as_ref().expect("the agent process")
    }

    pub fn pid(&self) -> i32 {
        self.child().id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    pub fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on the agent's `--listen` address.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path)
    }

    pub fn status(&self) -> Option<Value> {
        let (code, body) = self.get("/status")?;
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    pub fn is_leader(&self) -> bool {
        self.status()
            .is_some_and(|s| s["agent"]["leader"] == Value::Bool(true))
    }

    pub fn ready(&self) -> bool {
        self.get("/readyz").is_some_and(|(c, _)| c == 200)
    }

    pub fn healthy(&self) -> bool {
        self.get("/healthz").is_some_and(|(c, _)| c == 200)
    }

    /// Whether the process still runs.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for the exit status (at most `timeout`).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_mut().expect("the agent process");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                return s.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// CPU seconds (user + system) the agent used so far, from `/proc/PID/stat`.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        ticks / hz.max(1.0)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if matches!(c.try_wait(), Ok(None)) {
                // SAFETY: signalling our own, unreaped child process (it may be stopped).
                unsafe {
                    libc::kill(c.id() as i32, libc::SIGCONT);
                }
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- agent log {} ---\n{}", self.log.display(), self.logs());
        }
    }
}
