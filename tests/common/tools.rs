//! The interop peers as processes: [`kazoo`] and [`curator`] run one subcommand of
//! `tests/support/kazoo_tool.py` (kazoo 2.11) or `CuratorTool` (Apache Curator 5.4) and return
//! its JSON answer; [`Holder`] runs their "hold" subcommands (locks, latches, registrations) in
//! the background; [`run_tool`] runs any command with a timeout.
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use wait_timeout::ChildExt as _;

use super::curator_build::{JVM_FLAGS, curator_tool};
use super::repo_path;

/// How long a one-shot tool call may take before the test fails.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a [`Holder`] may take to print `READY`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

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

/// Runs a kazoo_tool subcommand and returns its JSON answer; panics (with its stderr) if it fails.
///
/// `kazoo(&["children", &zk.connect_string(), "/a"])`
pub fn kazoo(args: &[&str]) -> Value {
    run_json(
        kazoo_command(args),
        &format!("kazoo_tool {}", args.join(" ")),
    )
}

/// [`kazoo`] with extra environment variables, e.g. the `ZKTOOL_TLS_*` / `ZKTOOL_SASL` security
/// settings that `common::secure` builds.
pub fn kazoo_with_env(args: &[&str], env: &[(String, String)]) -> Value {
    let mut cmd = kazoo_command(args);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    run_json(cmd, &format!("kazoo_tool {}", args.join(" ")))
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
pub fn run_tool(cmd: Command, what: &str) -> ToolOutput {
    run_tool_with_stdin(cmd, what, Stdio::null())
}

/// [`run_tool`] reading `stdin` (e.g. a script file) instead of nothing.
pub fn run_tool_with_stdin(mut cmd: Command, what: &str, stdin: Stdio) -> ToolOutput {
    let mut child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to start {what}: {e}"));
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = match child.wait_timeout(TOOL_TIMEOUT).expect("wait for tool") {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {TOOL_TIMEOUT:?}");
        }
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
        self.child.wait_timeout(timeout).ok().flatten()
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
