//! `diff`, `apply`, `export`, `status`, `suspend`/`resume` on the real binary against a real
//! ZooKeeper: exit codes 0/1/2/3/4, znode bytes and versions read back, secrets never printed.
mod common;

use std::time::{Duration, Instant};

use common::{Holder, Manifests, raw, run, zk};
use serde_json::Value;

const SECRET: &str = "s3cr3t-key-material";

fn payments(extra: &str) -> String {
    format!(
        r#"apiVersion: zkstate/v1
kind: ConfigTree
metadata: {{name: payments}}
spec:
  root: /config/payments
  prune: true
  nodes:
    db/url: postgres://db:5432/payments
    db/pool: {{json: {{max: 20, idle: 5}}}}
    blob: {{base64: AAEC}}
    marker: {{}}
    counter: {{value: "0", policy: create-only}}
    tls/key: {{env: ZKSTATE_TEST_SECRET, secret: true}}
{extra}"#
    )
}

fn run_env(hosts: &str, args: &[&str]) -> (i32, String, String) {
    common::run_with_env(hosts, args, &[("ZKSTATE_TEST_SECRET", SECRET)])
}

#[test]
fn diff_apply_diff_round_trip() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("payments.yaml", &payments(""))]);
    let dir = m.path().to_str().unwrap();

    let (code, out, err) = run_env(&hosts, &["diff", "-f", dir, "--output", "json"]);
    assert_eq!(code, 1, "diff with differences exits 1: {err}");
    let plan: Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(plan["summary"]["create"], 10, "{plan}");
    assert_eq!(plan["summary"]["update"], 0);
    let key = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == "/config/payments/tls/key")
        .unwrap();
    assert_eq!(key["op"], "create");
    assert_eq!(key["kind"], "ConfigTree");
    assert_eq!(key["name"], "payments");
    assert_eq!(key["after"], "(sensitive)");
    assert!(!out.contains(SECRET) && !err.contains(SECRET));
    // diff wrote nothing.
    assert_eq!(raw::get(&hosts, "/config"), None);

    let (code, out, err) = run_env(&hosts, &["-vv", "apply", "-f", dir, "--revision", "abc123"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("Plan: 10 to create, 0 to update, 0 to delete."),
        "{out}"
    );
    assert!(
        !out.contains(SECRET) && !err.contains(SECRET),
        "secret leaked"
    );
    assert_eq!(
        raw::text(&hosts, "/config/payments/db/url"),
        "postgres://db:5432/payments"
    );
    assert_eq!(
        raw::text(&hosts, "/config/payments/db/pool"),
        r#"{"idle":5,"max":20}"#
    );
    assert_eq!(
        raw::get(&hosts, "/config/payments/blob"),
        Some((vec![0, 1, 2], 0))
    );
    assert_eq!(
        raw::get(&hosts, "/config/payments/marker"),
        Some((vec![], 0))
    );
    assert_eq!(raw::text(&hosts, "/config/payments/tls/key"), SECRET);

    let (code, out, _) = run_env(&hosts, &["diff", "-f", dir]);
    assert_eq!(code, 0, "in sync after apply: {out}");
    assert!(out.contains("Plan: 0 to create, 0 to update, 0 to delete."));

    // create-only: the application owns the counter now.
    raw::set(&hosts, "/config/payments/counter", b"41");
    // Drift on an enforced node is reverted; the update carries a line diff.
    raw::set(&hosts, "/config/payments/db/url", b"postgres://evil:5432/x");
    let (code, out, _) = run_env(&hosts, &["diff", "-f", dir]);
    assert_eq!(code, 1);
    assert!(out.contains("~ /config/payments/db/url"), "{out}");
    assert!(
        out.contains("- postgres://evil:5432/x") && out.contains("+ postgres://db:5432/payments"),
        "{out}"
    );
    assert!(!out.contains("counter"), "{out}");
    let (code, _, _) = run_env(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0);
    assert_eq!(
        raw::get(&hosts, "/config/payments/db/url"),
        Some((b"postgres://db:5432/payments".to_vec(), 2))
    );
    assert_eq!(raw::text(&hosts, "/config/payments/counter"), "41");

    // status reports the revision and the tree in sync.
    let (code, out, _) = run_env(&hosts, &["status", "-f", dir, "--output", "json"]);
    assert_eq!(code, 0);
    let st: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["lastApply"]["revision"], "");
    assert_eq!(st["lock"]["holder"], Value::Null);
    assert_eq!(st["suspended"], false);
    assert_eq!(st["trees"][0]["name"], "payments");
    assert_eq!(st["trees"][0]["inSync"], true);
}

#[test]
fn apply_records_the_revision_and_prune_spares_foreign_nodes() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("p.yaml", &payments(""))]);
    let dir = m.path().to_str().unwrap();
    assert_eq!(
        run_env(&hosts, &["apply", "-f", dir, "--revision", "r1"]).0,
        0
    );
    raw::create(&hosts, "/config/payments/foreign", b"theirs");
    // Drop two declared nodes: only those are pruned.
    m.write(
        "p.yaml",
        &payments("")
            .replace("    blob: {base64: AAEC}\n", "")
            .replace("    marker: {}\n", ""),
    );
    let (code, out, err) = run_env(
        &hosts,
        &["apply", "-f", dir, "--revision", "r2", "--output", "json"],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["delete"], 2, "{v}");
    assert_eq!(v["applied"], true);
    assert_eq!(raw::get(&hosts, "/config/payments/blob"), None);
    assert_eq!(raw::get(&hosts, "/config/payments/marker"), None);
    assert_eq!(raw::text(&hosts, "/config/payments/foreign"), "theirs");
    let (_, out, _) = run_env(&hosts, &["status", "--output", "json"]);
    let st: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["lastApply"]["revision"], "r2");
    assert_eq!(st["trees"][0]["root"], "/config/payments");
}

#[test]
fn max_deletes_refuses_with_exit_3_and_force_applies() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("p.yaml", &payments(""))]);
    let dir = m.path().to_str().unwrap();
    assert_eq!(run_env(&hosts, &["apply", "-f", dir]).0, 0);
    m.write(
        "p.yaml",
        &payments("")
            .replace("    blob: {base64: AAEC}\n", "")
            .replace("    marker: {}\n", ""),
    );
    let (code, out, _) = run_env(&hosts, &["apply", "-f", dir, "--max-deletes", "1"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("--max-deletes"), "{out}");
    assert!(
        raw::get(&hosts, "/config/payments/blob").is_some(),
        "nothing written"
    );
    assert_eq!(
        run_env(
            &hosts,
            &["apply", "-f", dir, "--max-deletes", "1", "--force"]
        )
        .0,
        0
    );
    assert_eq!(raw::get(&hosts, "/config/payments/blob"), None);
}

/// 1,100 nodes of 1,000 bytes: more than one ZooKeeper request (jute.maxbuffer) may carry.
fn big_manifest() -> String {
    let value = "x".repeat(1000);
    let mut doc = String::from(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: big}\nspec:\n  root: /big\n  nodes:\n",
    );
    for i in 0..1100 {
        doc.push_str(&format!("    n{i:04}: {value}\n"));
    }
    doc
}

#[test]
fn oversized_plan_is_refused_unless_split() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("big.yaml", &big_manifest())]);
    let dir = m.path().to_str().unwrap();
    let (code, _, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("--allow-split"), "{err}");
    assert_eq!(raw::get(&hosts, "/big"), None, "nothing written");
    let (code, out, err) = run(&hosts, &["apply", "-f", dir, "--allow-split"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ordered atomic batches"), "{out}");
    assert_eq!(raw::children(&hosts, "/big").len(), 1100);
    assert_eq!(run(&hosts, &["diff", "-f", dir]).0, 0);
}

#[test]
fn trouble_exits_2() {
    // No --zk at all.
    let m = Manifests::new(&[("p.yaml", &payments(""))]);
    let dir = m.path().to_str().unwrap();
    let out = common::zkstate()
        .args(["diff", "-f", dir])
        .env_remove("ZKSTATE_ZK")
        .env("ZKSTATE_TEST_SECRET", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--zk"));
    // Nothing listens there: exit 2 within about the session timeout.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hosts = format!("127.0.0.1:{port}");
    let start = Instant::now();
    let (code, _, err) = run_env(&hosts, &["--session-timeout", "2s", "diff", "-f", dir]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&hosts), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn invalid_manifests_exit_1_and_nothing_is_written() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[
        ("good.yaml", &payments("")),
        (
            "bad.yaml",
            "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: bad}\nspec:\n  root: /bad\n  prnue: true\n",
        ),
    ]);
    let dir = m.path().to_str().unwrap();
    let (code, _, err) = run_env(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.yaml:6:3"), "{err}");
    assert_eq!(raw::get(&hosts, "/config"), None);
}

#[test]
fn apply_waits_for_a_kazoo_lock_holder_and_exits_4() {
    let zk = zk();
    let hosts = zk.connect_string();
    let holder = Holder::kazoo(&["lock-hold", &hosts, "/zkstate/lock", "operator-maintenance"]);
    let m = Manifests::new(&[("p.yaml", &payments(""))]);
    let dir = m.path().to_str().unwrap();
    let start = Instant::now();
    let (code, _, err) = run_env(&hosts, &["apply", "-f", dir, "--lock-timeout", "1s"]);
    assert_eq!(code, 4, "{err}");
    assert!(start.elapsed() >= Duration::from_secs(1));
    assert!(
        err.contains("operator-maintenance"),
        "names the holder: {err}"
    );
    assert_eq!(raw::get(&hosts, "/config"), None, "nothing written");
    // Our contender node is gone: only kazoo's remains.
    assert_eq!(raw::children(&hosts, "/zkstate/lock").len(), 1);
    // status shows the holder.
    let (_, out, _) = run(&hosts, &["status", "--output", "json"]);
    let st: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(st["lock"]["holder"], "operator-maintenance");
    holder.release();
    assert_eq!(
        run_env(&hosts, &["apply", "-f", dir, "--lock-timeout", "5s"]).0,
        0
    );
}

#[test]
fn apply_releases_the_lock_for_kazoo() {
    // zkstate holding the lock against kazoo is proven in interop_recipes.rs; here: after an
    // apply, no zkstate contender is left behind and kazoo takes the lock at once.
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("p.yaml", &payments(""))]);
    let dir = m.path().to_str().unwrap();
    assert_eq!(run_env(&hosts, &["apply", "-f", dir]).0, 0);
    // kazoo can take the lock zkstate released, and sees no stale contender.
    let v = common::kazoo(&["lock-try", &hosts, "/zkstate/lock", "k", "5"]);
    assert_eq!(v["acquired"], true);
    let v = common::kazoo(&["lock-contenders", &hosts, "/zkstate/lock"]);
    assert_eq!(v, serde_json::json!([]));
}

#[test]
fn suspend_plans_but_writes_nothing() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("p.yaml", &payments(""))]);
    let dir = m.path().to_str().unwrap();
    assert_eq!(run(&hosts, &["suspend"]).0, 0);
    assert!(raw::get(&hosts, "/zkstate/suspend").is_some());
    let (code, out, _) = run_env(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0);
    assert!(out.contains("Suspended"), "{out}");
    assert_eq!(raw::get(&hosts, "/config"), None);
    let (_, out, _) = run(&hosts, &["status", "--output", "json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["suspended"],
        true
    );
    assert_eq!(run(&hosts, &["resume"]).0, 0);
    assert_eq!(raw::get(&hosts, "/zkstate/suspend"), None);
    assert_eq!(run_env(&hosts, &["apply", "-f", dir]).0, 0);
    assert!(raw::get(&hosts, "/config/payments/db/url").is_some());
}

#[test]
fn observe_mode_reports_drift_and_never_writes() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("p.yaml", &payments("  mode: observe\n"))]);
    let dir = m.path().to_str().unwrap();
    let (code, out, _) = run_env(&hosts, &["diff", "-f", dir]);
    assert_eq!(code, 1);
    assert!(out.contains("observe"), "{out}");
    let (code, _, _) = run_env(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0);
    assert_eq!(raw::get(&hosts, "/config/payments"), None);
}

#[test]
fn export_then_diff_is_in_sync() {
    let zk = zk();
    let hosts = zk.connect_string();
    raw::create(&hosts, "/app/conf/name", b"svc \"quoted\"\nline2");
    raw::create(&hosts, "/app/conf/bin", &[0xff, 0x00, 0x10]);
    raw::create(&hosts, "/app/conf/empty", b"");
    raw::create(&hosts, "/app/conf/deep/er/x", b"1");
    let (code, out, err) = run(&hosts, &["export", "--path", "/app/conf"]);
    assert_eq!(code, 0, "{err}");
    let m = Manifests::new(&[("export.yaml", &out)]);
    let (code, plan, err) = run(&hosts, &["diff", "-f", m.path().to_str().unwrap()]);
    assert_eq!(code, 0, "export:\n{out}\nplan:\n{plan}\n{err}");
    assert_eq!(run(&hosts, &["export", "--path", "/nope"]).0, 2);
}

#[test]
fn chroot_and_digest_auth() {
    let zk = zk();
    let hosts = zk.connect_string();
    raw::create(&hosts, "/tenant", b"");
    let doc = r#"apiVersion: zkstate/v1
kind: ConfigTree
metadata: {name: locked}
spec:
  root: /locked
  acl:
    - {scheme: digest, id: "deployer:rZ0iSFDwgEH/VteCQTuhF4uDkwo=", perms: [all]}
    - {scheme: world, id: anyone, perms: [read]}
  nodes:
    a: "1"
"#;
    let m = Manifests::new(&[("l.yaml", doc)]);
    let dir = m.path().to_str().unwrap();
    let chrooted = format!("{hosts}/tenant");
    let (code, _, err) = run(
        &chrooted,
        &["--auth", "digest:deployer:pw", "apply", "-f", dir],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("pw"), "password never logged");
    assert_eq!(raw::text(&hosts, "/tenant/locked/a"), "1");
    let acl = raw::acl(&hosts, "/tenant/locked/a");
    assert!(acl.iter().any(|a| a.starts_with("world:anyone")), "{acl:?}");
    assert!(
        acl.iter().any(|a| a.starts_with("digest:deployer:")),
        "{acl:?}"
    );
    // In sync with the same credentials.
    assert_eq!(
        run(
            &chrooted,
            &["--auth", "digest:deployer:pw", "diff", "-f", dir]
        )
        .0,
        0
    );
}

#[test]
fn a_connection_lost_on_commit_is_resolved_by_rereading_not_by_guessing() {
    // Claiming a larger jute.maxbuffer than the server's makes the server drop the connection
    // on commit (ConnectionLoss): zkstate must re-read its applied record, see the multi did
    // not land, and never report success.
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("big.yaml", &big_manifest())]);
    let dir = m.path().to_str().unwrap();
    let (code, _, err) = run(
        &hosts,
        &["apply", "-f", dir, "--max-request-bytes", "4000000"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("connection"), "{err}");
    assert_eq!(
        raw::get(&hosts, "/big"),
        None,
        "nothing of the multi landed"
    );
    assert_eq!(raw::get(&hosts, "/zkstate/applied"), None);
}
