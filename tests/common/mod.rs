//! Test support shared by every integration test file (`mod common;` at the top of a test).
//!
//! By job:
//! - [`processes`]: [`zk`] starts a real, private ZooKeeper for one test
//!   ([`zkstate::localzk`]); [`ZkEnsemble`] runs a quorum for fault tests.
//! - [`tools`]: [`kazoo`] and [`curator`] run one subcommand of `tests/support/kazoo_tool.py`
//!   (kazoo 2.11) or `tests/support/java/CuratorTool.java` (Apache Curator 5.4) and return its
//!   JSON answer; [`Holder`] runs their "hold" subcommands (locks, latches, registrations) in
//!   the background.
//! - [`curator_build`]: compiles CuratorTool once per change into
//!   `CARGO_TARGET_TMPDIR/curator-tool`, with a CDS archive for faster JVM start-up.
//! - [`raw`]: raw `zookeeper-client` reads and writes for assertions.
//! - [`desired`]: hand-built desired states for engine and executor tests.
//! - [`compat`]: the 2026-12-05 release built from this repository's history, for the
//!   mixed-version tests.
//! - [`agent`]: `zkstate agent` as a real process ([`agent::Agent`]), [`agent::free_port`],
//!   [`agent::http_get`].
//! - [`secure`]: secured real servers: a throwaway PKI ([`secure::Pki`]), TLS / mTLS /
//!   DIGEST-MD5 servers ([`secure::tls_zk`]), a real MIT KDC ([`secure::Kdc`]) and Kerberos
//!   servers ([`secure::kerberos_zk`]), Java's own ZooKeeper CLI as a client ([`secure::zkcli`]).
//! - [`faults`]: what the fault suites share: trial counts and a replayable seed from the
//!   environment, the old/new states of a large tree, reading it and the inventory back.
//! - Here: [`zkstate`] (a `Command` for the built binary), [`run`], [`Manifests`], [`wait_for`].
//!
//! Environment: `ZKSTATE_PYTHON` (default `python3`), `ZKSTATE_JAVA` / `JAVA_HOME` (default
//! `java`), `ZKSTATE_ZK_JAR_DIR` (default `/usr/share/java`), `ZKTOOL_SESSION_MS` (session
//! timeout of the tools, default 10 s). `scripts/install-deps` installs everything.
#![allow(dead_code)] // each test binary uses a different part of this module

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

#[allow(unused_imports)] // re-exported for the test files that need them
pub use zkstate::localzk::{ServerOptions, ZkServer};

pub mod agent;
pub mod compat;
pub mod curator_build;
pub mod desired;
pub mod faults;
pub mod processes;
pub mod raw;
pub mod secure;
pub mod tools;
#[allow(unused_imports)] // re-exported for the test files that need them
pub use curator_build::{CURATOR_JARS, CuratorToolBuild, curator_tool};
#[allow(unused_imports)] // re-exported for the test files that need them
pub use processes::{ZkEnsemble, zk};
#[allow(unused_imports)] // re-exported for the test files that need them
pub use tools::{
    Holder, ToolOutput, curator, curator_command, kazoo, kazoo_command, kazoo_with_env, run_tool,
};

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

    /// Replaces one file atomically (write a temp file beside it, then rename), as editors and
    /// git do: a watching agent never reads half a file.
    pub fn replace(&self, name: &str, content: &str) {
        let tmp = self.dir.path().join(format!(".{name}.tmp"));
        fs::write(&tmp, content).expect("write manifest");
        fs::rename(&tmp, self.dir.path().join(name)).expect("rename manifest");
    }
}

/// Runs `zkstate --zk HOSTS ARGS...` and returns (exit code, stdout, stderr).
pub fn run(hosts: &str, args: &[&str]) -> (i32, String, String) {
    run_with_env(hosts, args, &[])
}

/// [`run`] with extra environment variables (secrets for `env:` data sources).
pub fn run_with_env(hosts: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = zkstate()
        .arg("--zk")
        .arg(hosts)
        .args(args)
        .env_remove("ZKSTATE_ZK")
        .envs(env.iter().copied())
        .output()
        .expect("run zkstate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
