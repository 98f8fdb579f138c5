//! The README's quick start: `zkstate dev -f examples/` starts a local ZooKeeper, applies the
//! examples, shows plan and status, keeps running; Ctrl-C stops the server and removes its data.
//! Election hooks are shown in the log, not run, unless `--run-hooks`.
mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::raw;

#[test]
fn dev_applies_the_examples_and_cleans_up_on_ctrl_c() {
    let mut child = common::zkstate()
        .args(["--auth", "digest:deployer:demo-only", "dev", "-f"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
        .args(["--resync-interval", "1s"])
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn zkstate dev");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let mut hosts = None;
    let mut data_dir = None;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("no ready line; got {lines:#?}"));
        if let Some(rest) = line.strip_prefix("Local ZooKeeper running: --zk ") {
            let (h, d) = rest.split_once("  (data in ").unwrap();
            hosts = Some(h.to_owned());
            data_dir = Some(d.trim_end_matches(')').to_owned());
        }
        let done = line.starts_with("Reconciling every");
        lines.push(line);
        if done {
            break;
        }
    }
    let text = lines.join("\n");
    assert!(text.contains("Plan: "), "{text}");
    assert!(text.contains("Applied "), "{text}");
    assert!(
        text.contains("Tree payments at /config/payments (enforce): in sync"),
        "{text}"
    );
    let hosts = hosts.unwrap();
    let data_dir = data_dir.unwrap();
    // The agent serves /status and /metrics on the printed address.
    let last = lines.last().unwrap();
    let url = last
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {last:?}"));
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/status");
    let get = |path: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").ok()?;
        let mut buf = String::new();
        s.read_to_string(&mut buf).ok()?;
        buf.starts_with("HTTP/1.0 200").then_some(buf)
    };
    assert!(
        common::wait_for(
            || get("/status").is_some_and(|b| b.contains("\"trees\"")),
            Duration::from_secs(30)
        ),
        "/status"
    );
    assert!(get("/metrics").is_some_and(|b| b.contains("zkstate_reconcile_total")));
    assert_eq!(
        raw::text(&hosts, "/config/payments/db/pool"),
        r#"{"idle":5,"max":20}"#
    );
    // Drift is reverted by the resync loop.
    raw::set(&hosts, "/queues/payments-jobs", b"drift");
    assert!(common::wait_for(
        || raw::get(&hosts, "/queues/payments-jobs").is_some_and(|(d, _)| d.is_empty()),
        Duration::from_secs(20)
    ));
    sigint(child.id());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(
        rest.iter()
            .any(|l| l.contains("Stopped the local ZooKeeper")),
        "{rest:?}"
    );
    assert!(
        !std::path::Path::new(&data_dir).exists(),
        "{data_dir} removed"
    );
    assert!(
        std::net::TcpStream::connect(&hosts).is_err(),
        "server stopped"
    );
}

fn sigint(pid: u32) {
    let ok = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// `zkstate dev` on a set whose election hooks would create marker files: without
/// `--run-hooks` the log shows each hook's argv and environment and no file appears; with it,
/// `onElected` runs once elected and `onRevoked` on Ctrl-C.
#[test]
fn dev_shows_election_hooks_and_runs_them_only_with_run_hooks() {
    for run_hooks in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let elected = dir.path().join("elected.marker");
        let revoked = dir.path().join("revoked.marker");
        let m = common::Manifests::new(&[(
            "election.yaml",
            &format!(
                "apiVersion: zkstate/v1\nkind: ElectionGroup\nmetadata: {{name: sched}}\nspec:\n  path: /elections/sched\n  format: kazoo\n  participate:\n    identifier: dev\n    onElected: [touch, {}]\n    onRevoked: [touch, {}]\n",
                elected.display(),
                revoked.display()
            ),
        )]);
        let log = dir.path().join("dev.log");
        let mut cmd = common::zkstate();
        cmd.args(["dev", "-f"])
            .arg(m.path())
            .env_remove("ZKSTATE_ZK")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        if run_hooks {
            cmd.arg("--run-hooks");
        }
        let mut child = cmd.spawn().expect("spawn zkstate dev");
        let logs = || std::fs::read_to_string(&log).unwrap_or_default();
        let wait = Duration::from_secs(90);
        if run_hooks {
            assert!(
                common::wait_for(|| elected.exists(), wait),
                "onElected ran\n{}",
                logs()
            );
        } else {
            assert!(
                common::wait_for(
                    || logs().contains(&format!("\"touch\", \"{}\"", elected.display())),
                    wait
                ),
                "the log names the hook's argv\n{}",
                logs()
            );
            let shown = logs();
            assert!(shown.contains("not run"), "{shown}");
            assert!(shown.contains("ZKSTATE_EVENT=elected"), "{shown}");
            assert!(shown.contains("ZKSTATE_ELECTION=sched"), "{shown}");
        }
        sigint(child.id());
        assert_eq!(child.wait().unwrap().code(), Some(0), "{}", logs());
        if run_hooks {
            assert!(
                common::wait_for(|| revoked.exists(), Duration::from_secs(10)),
                "onRevoked ran on Ctrl-C\n{}",
                logs()
            );
        } else {
            assert!(
                logs().contains(&format!("\"touch\", \"{}\"", revoked.display())),
                "onRevoked shown on Ctrl-C\n{}",
                logs()
            );
            assert!(!elected.exists() && !revoked.exists(), "a hook ran");
        }
    }
}
