//! Rolling upgrades with real binaries of two versions on one real ZooKeeper (docs/design.md,
//! "Format history"): the 2026-12-05 release ([`common::compat::BASELINE`], records of format 0)
//! and this build (format 1).
//!
//! - an old `apply` after a new one is refused (exit 2), nothing written;
//! - a new `apply` after an old one upgrades the records (format 1, the marker, the applied
//!   record naming the version) and leaves the tree byte for byte the same;
//! - records of a newer format than this build knows: `diff`, `apply`, `status` exit 2 naming it,
//!   nothing written (`status` prints what it can first);
//! - old leader + new standby: the new one writes nothing while standby, then takes over and
//!   upgrades; new leader + old standby with the leader killed: the old one writes nothing;
//! - kill -9 of the new `apply` during the upgrading commit: records and tree are all old or all
//!   new, never a mix, and the next apply converges.
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::agent::{Agent, free_port};
use common::compat::baseline_zkstate;
use common::faults::{Rng, trials};
use common::raw::block;
use common::{Manifests, wait_for, zk};
use zookeeper_client as zkc;

const WAIT: Duration = Duration::from_secs(30);

fn tree(value: &str) -> String {
    let mut s = String::from(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: app}\nspec:\n  root: /app\n  prune: true\n  nodes:\n",
    );
    for i in 0..20 {
        s.push_str(&format!("    n{i:02}: {value}-{i}\n"));
    }
    s.push_str(&format!("    only-{value}: x\n"));
    s
}

/// Runs a zkstate binary; (exit code, stdout, stderr).
fn run(bin: &Path, hosts: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(bin)
        .args(["--zk", hosts])
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

fn new_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_zkstate"))
}

/// Every node under `root` (root included): path → (data, data version). Lock contenders
/// (ephemeral) are left out.
fn dump(hosts: &str, root: &str) -> BTreeMap<String, (Vec<u8>, i32)> {
    block(async {
        let c = common::raw::client(hosts).await;
        let mut out = BTreeMap::new();
        let mut queue = vec![root.to_string()];
        while let Some(p) = queue.pop() {
            let (data, stat) = match c.get_data(&p).await {
                Ok(x) => x,
                Err(zkc::Error::NoNode) => continue,
                Err(e) => panic!("read {p}: {e}"),
            };
            if stat.ephemeral_owner != 0 {
                continue;
            }
            out.insert(p.clone(), (data, stat.version));
            if let Ok(children) = c.list_children(&p).await {
                for ch in children {
                    queue.push(if p == "/" {
                        format!("/{ch}")
                    } else {
                        format!("{p}/{ch}")
                    });
                }
            }
        }
        out
    })
}

fn format_of(hosts: &str) -> Option<u64> {
    let (data, _) = common::raw::get(hosts, "/zkstate")?;
    if data.is_empty() {
        return Some(0);
    }
    let v: serde_json::Value = serde_json::from_slice(&data).expect("state node JSON");
    v["format"].as_u64()
}

/// `zkstate agent` of `bin` as a process, with `/status` on a free port.
fn agent(bin: &Path, hosts: &str, manifests: &Path, logs: &Path, name: &str) -> Agent {
    let port = free_port();
    let log = logs.join(format!("{name}.log"));
    let child = Command::new(bin)
        .args(["--zk", hosts, "--session-timeout", "2s", "agent", "-f"])
        .arg(manifests)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--host-id", name])
        .args(["--resync-interval", "2s"])
        .env("RUST_LOG", "zkstate=debug")
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn agent");
    Agent::adopt(child, log, port)
}

fn lock_holder(hosts: &str) -> Option<String> {
    let mut c = common::raw::children(hosts, "/zkstate/lock");
    c.sort_by_key(|n| n.rsplit("__").next().unwrap_or_default().to_owned());
    let first = c.first()?;
    common::raw::get(hosts, &format!("/zkstate/lock/{first}"))
        .map(|(d, _)| String::from_utf8_lossy(&d).into_owned())
}

#[test]
fn an_old_apply_after_a_new_one_is_refused_and_writes_nothing() {
    let old = baseline_zkstate();
    let z = zk();
    let h = z.connect_string();
    let v1 = Manifests::new(&[("t.yaml", &tree("v1"))]);
    let v2 = Manifests::new(&[("t.yaml", &tree("v2"))]);
    let r = run(new_bin(), &h, &["apply", "-f", v1.path().to_str().unwrap()]);
    assert_eq!(r.0, 0, "{}{}", r.1, r.2);
    assert_eq!(format_of(&h), Some(1));
    let before = dump(&h, "/");
    for args in [
        vec!["apply", "-f", v2.path().to_str().unwrap()],
        vec!["diff", "-f", v2.path().to_str().unwrap()],
        vec!["status"],
    ] {
        let r = run(&old, &h, &args);
        assert_eq!(r.0, 2, "old {args:?}: {}{}", r.1, r.2);
        assert!(
            r.2.contains("/zkstate/inventory/format"),
            "old {args:?} must name what it cannot read: {}",
            r.2
        );
    }
    assert_eq!(dump(&h, "/"), before, "the old release wrote something");
}

#[test]
fn a_new_apply_after_an_old_one_upgrades_the_records_and_keeps_the_tree() {
    let old = baseline_zkstate();
    let z = zk();
    let h = z.connect_string();
    let v1 = Manifests::new(&[("t.yaml", &tree("v1"))]);
    let f = v1.path().to_str().unwrap();
    let r = run(&old, &h, &["apply", "--revision", "old", "-f", f]);
    assert_eq!(r.0, 0, "{}{}", r.1, r.2);
    assert_eq!(format_of(&h), Some(0));
    let tree_before = dump(&h, "/app");
    let inventory_before: Vec<String> = common::raw::children(&h, "/zkstate/inventory");

    // The new release reads format 0: in sync, nothing to show.
    let r = run(new_bin(), &h, &["diff", "-f", f]);
    assert_eq!(r.0, 0, "{}{}", r.1, r.2);
    let r = run(new_bin(), &h, &["apply", "--revision", "new", "-f", f]);
    assert_eq!(r.0, 0, "{}{}", r.1, r.2);
    assert_eq!(format_of(&h), Some(1), "rewritten in the current format");
    assert!(common::raw::get(&h, "/zkstate/inventory/format").is_some());
    assert_eq!(
        dump(&h, "/app"),
        tree_before,
        "the tree is byte for byte the same"
    );
    let mut inventory_after = common::raw::children(&h, "/zkstate/inventory");
    inventory_after.retain(|c| c != "format");
    assert_eq!(inventory_after, inventory_before);
    let r = run(new_bin(), &h, &["status", "-f", f, "--output", "json"]);
    assert_eq!(r.0, 0, "{}", r.2);
    let st: serde_json::Value = serde_json::from_str(&r.1).expect("status JSON");
    assert_eq!(st["lastApply"]["revision"], "new");
    assert_eq!(st["lastApply"]["version"], zkstate::VERSION);
    assert_eq!(st["trees"][0]["inSync"], true);
    // And the next apply has nothing to do.
    let before = dump(&h, "/");
    let r = run(new_bin(), &h, &["apply", "-f", f]);
    assert_eq!(r.0, 0, "{}{}", r.1, r.2);
    assert_eq!(dump(&h, "/"), before);
}

#[test]
fn records_of_a_newer_format_are_refused() {
    let z = zk();
    let h = z.connect_string();
    let v1 = Manifests::new(&[("t.yaml", &tree("v1"))]);
    let v2 = Manifests::new(&[("t.yaml", &tree("v2"))]);
    let r = run(new_bin(), &h, &["apply", "-f", v1.path().to_str().unwrap()]);
    assert_eq!(r.0, 0, "{}{}", r.1, r.2);
    common::raw::set(&h, "/zkstate", br#"{"format":99}"#);
    let before = dump(&h, "/");
    let r = run(new_bin(), &h, &["apply", "-f", v2.path().to_str().unwrap()]);
    assert_eq!(r.0, 2, "{}{}", r.1, r.2);
    assert!(r.2.contains("format 99"), "{}", r.2);
    let r = run(new_bin(), &h, &["diff", "-f", v2.path().to_str().unwrap()]);
    assert_eq!(r.0, 2, "{}{}", r.1, r.2);
    assert!(r.2.contains("format 99"), "{}", r.2);
    let r = run(new_bin(), &h, &["status"]);
    assert_eq!(r.0, 2, "{}{}", r.1, r.2);
    assert!(
        r.1.contains("Last apply:"),
        "status prints what it can: {}",
        r.1
    );
    assert!(r.2.contains("format 99"), "{}", r.2);
    assert_eq!(dump(&h, "/"), before, "nothing was written");
}

#[test]
fn old_leader_and_new_standby_then_the_new_one_takes_over() {
    let old = baseline_zkstate();
    let z = zk();
    let h = z.connect_string();
    let m = Manifests::new(&[("t.yaml", &tree("v1"))]);
    let logs = tempfile::tempdir().expect("tempdir");
    let mut old_agent = agent(&old, &h, m.path(), logs.path(), "old-host");
    assert!(
        wait_for(
            || common::raw::get(&h, "/app/n00").is_some_and(|(d, _)| d == b"v1-0"),
            WAIT
        ),
        "the old leader did not apply\n{}",
        old_agent.logs()
    );
    let new_agent = agent(new_bin(), &h, m.path(), logs.path(), "new-host");
    assert!(wait_for(|| new_agent.ready(), WAIT), "{}", new_agent.logs());
    assert_eq!(lock_holder(&h).as_deref(), Some("old-host"));
    // The old leader applies an edit; the new standby writes nothing (format stays 0).
    m.replace("t.yaml", &tree("v2"));
    assert!(
        wait_for(
            || common::raw::get(&h, "/app/n00").is_some_and(|(d, _)| d == b"v2-0"),
            WAIT
        ),
        "{}",
        old_agent.logs()
    );
    assert_eq!(format_of(&h), Some(0), "a standby must not write");
    let tree_before = dump(&h, "/app");
    // The old leader dies: the new agent takes over and upgrades, the tree stays the same.
    old_agent.signal(libc::SIGKILL);
    let _ = old_agent.wait_exit(Duration::from_secs(5));
    assert!(
        wait_for(|| format_of(&h) == Some(1), WAIT),
        "the new leader did not upgrade the records\n{}",
        new_agent.logs()
    );
    assert_eq!(lock_holder(&h).as_deref(), Some("new-host"));
    assert_eq!(dump(&h, "/app"), tree_before);
}

#[test]
fn new_leader_and_old_standby_with_the_leader_killed_the_old_one_writes_nothing() {
    let old = baseline_zkstate();
    let z = zk();
    let h = z.connect_string();
    let m = Manifests::new(&[("t.yaml", &tree("v1"))]);
    let logs = tempfile::tempdir().expect("tempdir");
    let mut new_agent = agent(new_bin(), &h, m.path(), logs.path(), "new-host");
    assert!(
        wait_for(|| format_of(&h) == Some(1), WAIT),
        "the new leader did not apply\n{}",
        new_agent.logs()
    );
    let mut old_agent = agent(&old, &h, m.path(), logs.path(), "old-host");
    assert!(
        wait_for(
            || common::raw::children(&h, "/zkstate/lock").len() == 2,
            WAIT
        ),
        "the old agent did not contend\n{}",
        old_agent.logs()
    );
    new_agent.signal(libc::SIGKILL);
    let _ = new_agent.wait_exit(Duration::from_secs(5));
    assert!(
        wait_for(|| lock_holder(&h).as_deref() == Some("old-host"), WAIT),
        "the old agent did not take the lock\n{}",
        old_agent.logs()
    );
    let before = dump(&h, "/");
    // An edit the old leader would apply if it misread the records.
    m.replace("t.yaml", &tree("v2"));
    let deadline = Instant::now() + Duration::from_secs(6);
    assert!(
        !wait_for(
            || common::raw::get(&h, "/app/n00").is_some_and(|(d, _)| d == b"v2-0"),
            deadline - Instant::now()
        ),
        "the old release applied over versioned records"
    );
    assert!(
        old_agent.logs().contains("/zkstate/inventory/format"),
        "the old agent must report what it cannot read\n{}",
        old_agent.logs()
    );
    assert_eq!(dump(&h, "/"), before, "the old leader wrote something");
    assert!(old_agent.alive(), "the old agent keeps running");
}

#[test]
fn kill_9_during_the_upgrading_commit_leaves_all_old_or_all_new() {
    let old = baseline_zkstate();
    let z = zk();
    let h = z.connect_string();
    let mut rng = Rng::from_env("upgrade kill");
    let v1 = Manifests::new(&[("t.yaml", &tree("v1"))]);
    let v2 = Manifests::new(&[("t.yaml", &tree("v2"))]);
    // How long a whole upgrading apply takes here: kill points are uniform over it.
    let r = run(&old, &h, &["apply", "-f", v1.path().to_str().unwrap()]);
    assert_eq!(r.0, 0, "{}", r.2);
    let started = Instant::now();
    let r = run(new_bin(), &h, &["apply", "-f", v2.path().to_str().unwrap()]);
    assert_eq!(r.0, 0, "{}", r.2);
    let span = started.elapsed();
    let (mut old_seen, mut new_seen) = (0, 0);
    for trial in 0..trials() {
        // Back to format 0 with the old tree: a fresh server state is simplest.
        let z = zk();
        let h = z.connect_string();
        let r = run(&old, &h, &["apply", "-f", v1.path().to_str().unwrap()]);
        assert_eq!(r.0, 0, "{}", r.2);
        let at = rng.below(span);
        let mut child = Command::new(new_bin())
            .args(["--zk", &h, "apply", "-f", v2.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn apply");
        std::thread::sleep(at);
        let _ = child.kill();
        let _ = child.wait();
        let format = format_of(&h);
        let n00 = common::raw::get(&h, "/app/n00").map(|(d, _)| d);
        let v2_only = common::raw::get(&h, "/app/only-v2").is_some();
        let v1_only = common::raw::get(&h, "/app/only-v1").is_some();
        match format {
            Some(0) => {
                assert_eq!(n00.as_deref(), Some(&b"v1-0"[..]), "trial {trial}");
                assert!(v1_only && !v2_only, "trial {trial}: a mixed tree");
                old_seen += 1;
            }
            Some(1) => {
                assert_eq!(n00.as_deref(), Some(&b"v2-0"[..]), "trial {trial}");
                assert!(v2_only && !v1_only, "trial {trial}: a mixed tree");
                assert!(common::raw::get(&h, "/zkstate/inventory/format").is_some());
                new_seen += 1;
            }
            other => panic!("trial {trial}: format {other:?}"),
        }
        let r = run(new_bin(), &h, &["apply", "-f", v2.path().to_str().unwrap()]);
        assert_eq!(r.0, 0, "trial {trial}: {}", r.2);
        assert_eq!(format_of(&h), Some(1));
        let r = run(new_bin(), &h, &["diff", "-f", v2.path().to_str().unwrap()]);
        assert_eq!(r.0, 0, "trial {trial}: converged: {}{}", r.1, r.2);
    }
    println!(
        "kill -9 during the upgrading apply: {} trials over {span:.0?}, {old_seen} all old, {new_seen} all new, 0 mixed",
        trials()
    );
}

#[test]
fn an_agent_on_records_of_a_newer_format_reports_it_writes_nothing_and_keeps_its_host_nodes() {
    let z = zk();
    let h = z.connect_string();
    let with_service = |value: &str| {
        format!(
            "{}---\napiVersion: zkstate/v1\nkind: Service\nmetadata: {{name: api}}\nspec:\n  format: json\n  basePath: /services\n  scope: host\n  instances:\n    - id: host-a-8080\n      address: 127.0.0.1\n      port: 8080\n",
            tree(value)
        )
    };
    let m = Manifests::new(&[("t.yaml", &with_service("v1"))]);
    let logs = tempfile::tempdir().expect("tempdir");
    let a = agent(new_bin(), &h, m.path(), logs.path(), "host-a");
    let reg = "/services/api/host-a-8080";
    assert!(
        wait_for(
            || format_of(&h) == Some(1) && common::raw::get(&h, reg).is_some(),
            WAIT
        ),
        "{}",
        a.logs()
    );
    // A newer zkstate upgraded the records meanwhile.
    common::raw::set(&h, "/zkstate", br#"{"format":7}"#);
    m.replace("t.yaml", &with_service("v2"));
    let reported = || {
        a.status().is_some_and(|s| {
            s["agent"]["lastPass"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("format 7"))
        })
    };
    assert!(wait_for(reported, WAIT), "{:?}\n{}", a.status(), a.logs());
    assert_eq!(
        common::raw::get(&h, "/app/n00").map(|(d, _)| d),
        Some(b"v1-0".to_vec()),
        "nothing of the new manifests was written"
    );
    assert!(
        common::raw::get(&h, reg).is_some(),
        "the host's own registration stays"
    );
    let metrics = a.get("/metrics").map(|(_, b)| b).unwrap_or_default();
    assert!(
        metrics.lines().any(
            |l| l.starts_with("zkstate_reconcile_total{result=\"error\"}") && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
    assert!(a.logs().contains("format 7"));
}
