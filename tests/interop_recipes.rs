//! docs/contract.md §6, row by row, with the real libraries in both directions: what zkstate writes, kazoo
//! 2.11 and Curator 5.4 read; what they write, zkstate reads (status, diff).
mod common;

use std::time::Duration;

use common::{Holder, Manifests, curator, kazoo, raw, run, wait_for, zk};
use serde_json::{Value, json};
use zkstate::zk::{lock, session};

fn status(hosts: &str, dir: Option<&str>) -> Value {
    let mut args = vec!["status", "--output", "json"];
    if let Some(d) = dir {
        args.extend(["-f", d]);
    }
    let (code, out, err) = run(hosts, &args);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn apply(hosts: &str, dir: &str) {
    let (code, out, err) = run(hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0, "{out}\n{err}");
}

/// `export --path` of a live subtree, applied back (as a ConfigTree), is a no-op.
fn export_round_trips(hosts: &str, path: &str) {
    let (code, out, err) = run(hosts, &["export", "--path", path]);
    assert_eq!(code, 0, "{err}");
    let m = Manifests::new(&[("export.yaml", &out)]);
    in_sync(hosts, m.path().to_str().unwrap());
}

fn in_sync(hosts: &str, dir: &str) {
    let (code, out, err) = run(hosts, &["diff", "-f", dir]);
    assert_eq!(code, 0, "expected no changes:\n{out}\n{err}");
}

// ---- service instance ----------------------------------------------------------------------

const CURATOR_SERVICE: &str = r#"apiVersion: zkstate/v1
kind: Service
metadata: {name: payments}
spec:
  format: curator
  basePath: /services
  scope: cluster
  instances:
    - id: inst-1
      address: 10.0.0.1
      port: 8080
      payload: {v: "1"}
    - id: inst-2
      address: 10.0.0.2
      port: 8081
      sslPort: 8443
"#;

#[test]
fn curator_discovery_reads_zkstate_registrations() {
    let zk = zk();
    let h = zk.connect_string();
    let m = Manifests::new(&[("svc.yaml", CURATOR_SERVICE)]);
    let dir = m.path().to_str().unwrap();
    apply(&h, dir);
    let found = curator(&["discovery-query", &h, "/services", "payments"]);
    let mut found = found.as_array().unwrap().clone();
    found.sort_by_key(|i| i["id"].as_str().unwrap().to_owned());
    assert_eq!(found.len(), 2, "{found:?}");
    assert_eq!(found[0]["name"], "payments");
    assert_eq!(found[0]["id"], "inst-1");
    assert_eq!(found[0]["address"], "10.0.0.1");
    assert_eq!(found[0]["port"], 8080);
    assert_eq!(found[0]["sslPort"], Value::Null);
    assert_eq!(found[0]["payload"]["v"], "1");
    assert_eq!(found[0]["serviceType"], "PERMANENT");
    assert_eq!(found[1]["sslPort"], 8443);
    assert!(found[0]["registrationTimeUTC"].as_i64().unwrap() > 1_700_000_000_000);
    // Re-applies are no-ops: the registration time stays.
    let before = raw::text(&h, "/services/payments/inst-1");
    in_sync(&h, dir);
    apply(&h, dir);
    assert_eq!(raw::text(&h, "/services/payments/inst-1"), before);
    export_round_trips(&h, "/services");
}

#[test]
fn zkstate_json_has_curators_exact_shape() {
    let zk = zk();
    let h = zk.connect_string();
    // Curator's own registration of the same instance, byte for byte.
    let reg = Holder::curator(&[
        "discovery-register",
        &h,
        "/services",
        "payments",
        "inst-9",
        "10.0.0.9",
        "8080",
        "--static",
    ]);
    let theirs = reg.ready()["data"].as_str().unwrap().to_owned();
    let m = Manifests::new(&[(
        "svc.yaml",
        "apiVersion: zkstate/v1\nkind: Service\nmetadata: {name: payments}\nspec:\n  format: curator\n  basePath: /services\n  instances:\n    - {id: inst-1, address: 10.0.0.9, port: 8080, payload: {v: \"1\"}}\n",
    )]);
    apply(&h, m.path().to_str().unwrap());
    let ours = raw::text(&h, "/services/payments/inst-1");
    let keys = |s: &str| -> Vec<String> {
        let v: serde_json::Map<String, Value> = serde_json::from_str(s).unwrap();
        v.keys().cloned().collect()
    };
    assert_eq!(keys(&ours), keys(&theirs), "ours {ours}\ntheirs {theirs}");
    let strip = |s: &str| {
        let mut v: Value = serde_json::from_str(s).unwrap();
        v["id"] = json!(null);
        v["registrationTimeUTC"] = json!(0);
        v["serviceType"] = json!(null);
        v.to_string()
    };
    assert_eq!(strip(&ours), strip(&theirs));
    assert!(!ours.contains("enabled"));
    assert!(
        ours.contains(r#""payload":{"@class":"java.util.LinkedHashMap","v":"1"}"#),
        "{ours}"
    );
    // Container parents, as Curator creates them.
    drop(reg);
}

#[test]
fn zkstate_status_reads_curator_registrations() {
    let zk = zk();
    let h = zk.connect_string();
    let m = Manifests::new(&[("svc.yaml", CURATOR_SERVICE)]);
    let dir = m.path().to_str().unwrap();
    apply(&h, dir);
    let reg = Holder::curator(&[
        "discovery-register",
        &h,
        "/services",
        "payments",
        "dyn-1",
        "10.0.0.7",
        "9090",
    ]);
    let st = status(&h, Some(dir));
    let svc = &st["services"][0];
    assert_eq!(svc["name"], "payments");
    assert_eq!(svc["basePath"], "/services");
    assert_eq!(svc["format"], "curator");
    let dynamic = svc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "dyn-1")
        .expect("curator's instance");
    assert_eq!(dynamic["address"], "10.0.0.7");
    assert_eq!(dynamic["port"], 9090);
    assert_eq!(dynamic["ephemeral"], true);
    let ours = svc["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "inst-1")
        .unwrap();
    assert_eq!(ours["ephemeral"], false);
    // Without manifests, status reports what the inventory records.
    let st = status(&h, None);
    assert_eq!(st["services"][0]["name"], "payments");
    assert_eq!(st["services"][0]["instances"].as_array().unwrap().len(), 3);
    reg.release();
}

#[test]
fn json_format_services_both_ways() {
    let zk = zk();
    let h = zk.connect_string();
    let m = Manifests::new(&[(
        "svc.yaml",
        "apiVersion: zkstate/v1\nkind: Service\nmetadata: {name: api}\nspec:\n  format: json\n  basePath: /svc\n  instances:\n    - {id: a, address: 10.1.1.1, port: 80}\n",
    )]);
    let dir = m.path().to_str().unwrap();
    apply(&h, dir);
    let got = kazoo(&["get", &h, "/svc/api/a"]);
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(got["data_b64"].as_str().unwrap())
        .unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["host"], "10.1.1.1");
    assert_eq!(v["port"], 80);
    assert_eq!(got["ephemeral"], false);
    let reg = Holder::kazoo(&[
        "json-register",
        &h,
        "/svc/api/b",
        r#"{"name":"api","host":"10.1.1.2","port":81}"#,
    ]);
    let st = status(&h, Some(dir));
    let inst = st["services"][0]["instances"].as_array().unwrap();
    let b = inst
        .iter()
        .find(|i| i["id"] == "b")
        .expect("kazoo's registration");
    assert_eq!(b["address"], "10.1.1.2");
    assert_eq!(b["ephemeral"], true);
    reg.release();
}

// ---- queues ---------------------------------------------------------------------------------

fn queue_doc(format: &str) -> String {
    format!(
        "apiVersion: zkstate/v1\nkind: Queue\nmetadata: {{name: jobs}}\nspec:\n  path: /queues/jobs\n  format: {format}\n  alertDepth: 2\n  seed: [job-a, job-b, job-c]\n"
    )
}

#[test]
fn kazoo_queue_consumes_seeds_in_order_and_status_counts_its_puts() {
    let zk = zk();
    let h = zk.connect_string();
    let m = Manifests::new(&[("q.yaml", &queue_doc("kazoo"))]);
    let dir = m.path().to_str().unwrap();
    apply(&h, dir);
    let st = status(&h, Some(dir));
    assert_eq!(st["queues"][0]["depth"], 3);
    assert_eq!(st["queues"][0]["alert"], true);
    assert_eq!(
        kazoo(&["queue-get", &h, "/queues/jobs", "3"]),
        json!(["job-a", "job-b", "job-c"])
    );
    // Drained: re-applies are no-ops (seeding happens once).
    in_sync(&h, dir);
    kazoo(&["queue-put", &h, "/queues/jobs", "from-kazoo"]);
    let st = status(&h, Some(dir));
    assert_eq!(st["queues"][0]["depth"], 1);
    assert_eq!(st["queues"][0]["alert"], false);
    in_sync(&h, dir);
}

#[test]
fn kazoo_locking_queue_consumes_seeds() {
    let zk = zk();
    let h = zk.connect_string();
    let m = Manifests::new(&[("q.yaml", &queue_doc("kazoo-locking"))]);
    let dir = m.path().to_str().unwrap();
    apply(&h, dir);
    assert_eq!(kazoo(&["lqueue-len", &h, "/queues/jobs"]), json!(3));
    assert_eq!(
        kazoo(&["lqueue-get", &h, "/queues/jobs", "3"]),
        json!(["job-a", "job-b", "job-c"])
    );
    kazoo(&["lqueue-put", &h, "/queues/jobs", "x"]);
    assert_eq!(status(&h, Some(dir))["queues"][0]["depth"], 1);
    in_sync(&h, dir);
}

#[test]
fn curator_distributed_queue_consumes_seeds_and_status_counts_its_puts() {
    let zk = zk();
    let h = zk.connect_string();
    let m = Manifests::new(&[("q.yaml", &queue_doc("curator"))]);
    let dir = m.path().to_str().unwrap();
    apply(&h, dir);
    let items = curator(&["queue-take", &h, "/queues/jobs", "3", "20000"]);
    assert_eq!(items, json!(["job-a", "job-b", "job-c"]));
    in_sync(&h, dir);
    curator(&["queue-put", &h, "/queues/jobs", "c1", "c2"]);
    assert_eq!(status(&h, Some(dir))["queues"][0]["depth"], 2);
    // Without manifests: the inventory remembers the queue and its format.
    let st = status(&h, None);
    assert_eq!(st["queues"][0]["format"], "curator");
    assert_eq!(st["queues"][0]["depth"], 2);
}

// ---- counters -------------------------------------------------------------------------------

#[test]
fn counters_read_by_kazoo_and_curator_and_written_back() {
    let zk = zk();
    let h = zk.connect_string();
    let doc = |a: i32, b: i64| {
        format!(
            "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {{name: counters}}\nspec:\n  root: /counters\n  nodes:\n    shared: {{int32: {a}}}\n    long: {{int64: {b}}}\n"
        )
    };
    let m = Manifests::new(&[("c.yaml", &doc(5, 5_000_000_000))]);
    let dir = m.path().to_str().unwrap();
    apply(&h, dir);
    assert_eq!(
        kazoo(&["counter-get", &h, "/counters/shared", "--curator"]),
        json!(5)
    );
    assert_eq!(
        curator(&["sharedcount-get", &h, "/counters/shared"]),
        json!(5)
    );
    assert_eq!(
        curator(&["atomiclong-get", &h, "/counters/long"]),
        json!(5_000_000_000i64)
    );
    // The libraries write; a manifest with the same values is byte-identical (in sync).
    curator(&["sharedcount-set", &h, "/counters/shared", "-7"]);
    curator(&["atomiclong-set", &h, "/counters/long", "42"]);
    m.write("c.yaml", &doc(-7, 42));
    in_sync(&h, dir);
    kazoo(&["counter-set", &h, "/counters/shared", "9", "--curator"]);
    m.write("c.yaml", &doc(9, 42));
    in_sync(&h, dir);
    export_round_trips(&h, "/counters");
}

// ---- elections and the leader lock ----------------------------------------------------------

fn election_doc(format: &str) -> String {
    format!(
        "apiVersion: zkstate/v1\nkind: ElectionGroup\nmetadata: {{name: scheduler}}\nspec:\n  path: /elections/scheduler\n  format: {format}\n"
    )
}

#[test]
fn kazoo_election_contenders_show_in_status_in_order() {
    let zk = zk();
    let h = zk.connect_string();
    let m = Manifests::new(&[("e.yaml", &election_doc("kazoo"))]);
    let dir = m.path().to_str().unwrap();
    apply(&h, dir);
    let a = Holder::kazoo(&["election-run", &h, "/elections/scheduler", "host-a"]);
    let b = Holder::kazoo(&["election-run", &h, "/elections/scheduler", "host-b"]);
    assert_eq!(
        kazoo(&["contenders", &h, "/elections/scheduler"]),
        json!(["host-a", "host-b"])
    );
    let e = &status(&h, Some(dir))["elections"][0];
    assert_eq!(e["leader"], "host-a");
    assert_eq!(e["contenders"], json!(["host-a", "host-b"]));
    a.release();
    assert!(wait_for(
        || status(&h, Some(dir))["elections"][0]["leader"] == "host-b",
        Duration::from_secs(20)
    ));
    b.release();
    in_sync(&h, dir);
    export_round_trips(&h, "/elections");
}

#[test]
fn curator_latch_participants_show_in_status_in_order() {
    let zk = zk();
    let h = zk.connect_string();
    let m = Manifests::new(&[("e.yaml", &election_doc("curator"))]);
    let dir = m.path().to_str().unwrap();
    apply(&h, dir);
    let a = Holder::curator(&["latch-run", &h, "/elections/scheduler", "node-a"]);
    let b = Holder::curator(&["latch-run", &h, "/elections/scheduler", "node-b"]);
    let leader = curator(&["latch-leader", &h, "/elections/scheduler"]);
    let e = &status(&h, Some(dir))["elections"][0];
    assert_eq!(e["leader"], leader["id"]);
    assert_eq!(e["contenders"], json!(["node-a", "node-b"]));
    a.release();
    b.release();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zkstates_lock_is_a_contender_for_kazoo_and_curator() {
    let zk = zk();
    let h = zk.connect_string();
    let c = session::connect(&session::ConnectOptions {
        hosts: h.clone(),
        digest_auth: vec![],
        session_timeout: Duration::from_secs(5),
        security: Default::default(),
    })
    .await
    .unwrap();
    // kazoo layout (default): kazoo's Lock sees zkstate as the holder and cannot take it.
    let held = lock::acquire(&c, "/zkstate", "agent-1:42", lock::LockFormat::Kazoo, None)
        .await
        .unwrap();
    let h2 = h.clone();
    let (contenders, tried) = tokio::task::spawn_blocking(move || {
        (
            kazoo(&["lock-contenders", &h2, "/zkstate/lock"]),
            kazoo(&["lock-try", &h2, "/zkstate/lock", "k", "1"]),
        )
    })
    .await
    .unwrap();
    assert_eq!(contenders, json!(["agent-1:42"]));
    assert_eq!(tried["acquired"], false);
    lock::release(&c, &held).await.unwrap();
    // Curator layout: Curator's mutex lists zkstate's node first.
    let held = lock::acquire(
        &c,
        "/zkstate-c",
        "agent-2:7",
        lock::LockFormat::Curator,
        None,
    )
    .await
    .unwrap();
    let h2 = h.clone();
    let parts = tokio::task::spawn_blocking(move || {
        curator(&["mutex-participants", &h2, "/zkstate-c/lock"])
    })
    .await
    .unwrap();
    assert_eq!(parts[0]["id"], "agent-2:7", "{parts}");
    lock::release(&c, &held).await.unwrap();
}

#[test]
fn a_curator_mutex_holder_blocks_apply_with_curator_layout() {
    let zk = zk();
    let h = zk.connect_string();
    let m = Manifests::new(&[("e.yaml", &election_doc("kazoo"))]);
    let dir = m.path().to_str().unwrap();
    let holder = Holder::curator(&["mutex-hold", &h, "/zkstate/lock", "curator-op"]);
    let (code, _, err) = run(
        &h,
        &[
            "apply",
            "-f",
            dir,
            "--lock-format",
            "curator",
            "--lock-timeout",
            "1s",
        ],
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("curator-op"), "{err}");
    assert_eq!(raw::get(&h, "/elections"), None);
    holder.release();
}
