//! Issue 7 against a real ZooKeeper: an apply never deletes what it was not given (owners
//! missing from the set, moved roots), declared nodes are never silently dropped, zkstate's
//! state is guarded with `--auth`, and every outcome is read back from the znodes.
mod common;

use common::{Manifests, raw, run, zk};
use serde_json::Value;

fn tree(name: &str, root: &str, nodes: &[&str]) -> String {
    let mut s = format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {{name: {name}}}\nspec:\n  root: {root}\n  prune: true\n  nodes:\n"
    );
    for n in nodes {
        s.push_str(&format!("    {n}: v-{n}\n"));
    }
    s
}

const QUEUE: &str = "apiVersion: zkstate/v1
kind: Queue
metadata: {name: jobs}
spec:
  path: /queues/jobs
  format: kazoo
";

#[test]
fn a_partial_set_keeps_the_other_owners_until_prune_removed() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[
        ("a.yaml", &tree("a", "/a", &["x", "y"])),
        ("b.yaml", &tree("b", "/b", &["x", "y", "z"])),
        ("q.yaml", QUEUE),
    ]);
    let dir = m.path().to_str().unwrap();
    let a = m.path().join("a.yaml");
    let a = a.to_str().unwrap();
    let (code, out, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(raw::text(&hosts, "/b/z"), "v-z");
    assert!(raw::get(&hosts, "/queues/jobs").is_some());

    // `-f a.yaml` only: b and the queue are kept and named, in text and JSON, diff and apply.
    let (code, out, err) = run(&hosts, &["diff", "-f", a]);
    assert_eq!(code, 0, "nothing to change for a: {out}\n{err}");
    assert!(
        out.contains("kept ConfigTree b (root /b): 4 nodes recorded")
            && out.contains("--prune-removed"),
        "{out}"
    );
    assert!(out.contains("kept Queue jobs (root /queues/jobs)"), "{out}");
    let (code, out, _) = run(&hosts, &["diff", "-f", a, "--output", "json"]);
    assert_eq!(code, 0);
    let plan: Value = serde_json::from_str(&out).unwrap();
    let kept = plan["keptOwners"].as_array().unwrap();
    let b = kept.iter().find(|k| k["name"] == "b").expect("b kept");
    assert_eq!(b["kind"], "ConfigTree");
    assert_eq!(b["nodes"], 4, "{plan}");
    assert!(b["hint"].as_str().unwrap().contains("--prune-removed"));
    assert!(
        kept.iter()
            .any(|k| k["kind"] == "Queue" && k["name"] == "jobs")
    );
    assert_eq!(plan["summary"]["delete"], 0);

    let (code, out, err) = run(&hosts, &["apply", "-f", a]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("kept ConfigTree b"), "{out}");
    for p in ["/b", "/b/x", "/b/y", "/b/z", "/queues/jobs"] {
        assert!(raw::get(&hosts, p).is_some(), "{p} was deleted");
    }

    // --prune-removed previews the deletes in diff and counts them toward --max-deletes.
    let (code, out, _) = run(
        &hosts,
        &["diff", "-f", a, "--prune-removed", "--output", "json"],
    );
    assert_eq!(code, 1, "{out}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let deletes: Vec<&str> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["op"] == "delete")
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert!(
        deletes.contains(&"/b/z") && deletes.contains(&"/queues/jobs"),
        "{deletes:?}"
    );
    let (code, out, err) = run(
        &hosts,
        &["apply", "-f", a, "--prune-removed", "--max-deletes", "2"],
    );
    assert_eq!(code, 3, "{out}\n{err}");
    assert_eq!(raw::text(&hosts, "/b/z"), "v-z");
    let (code, out, err) = run(&hosts, &["apply", "-f", a, "--prune-removed"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(raw::get(&hosts, "/b/x"), None);
    assert_eq!(raw::get(&hosts, "/b"), None);
    assert_eq!(raw::get(&hosts, "/queues/jobs"), None);
    assert_eq!(raw::text(&hosts, "/a/x"), "v-x");
    // Nothing is recorded for them any more.
    // (`format` marks the records' format version, docs/design.md "Format history".)
    let inv = raw::children(&hosts, "/zkstate/inventory");
    assert_eq!(
        inv,
        vec!["ConfigTree.a".to_string(), "format".to_string()],
        "{inv:?}"
    );
}

#[test]
fn prune_removed_keeps_an_owner_whose_prune_was_off() {
    let zk = zk();
    let hosts = zk.connect_string();
    let off = tree("b", "/b", &["x"]).replace("prune: true", "prune: false");
    let m = Manifests::new(&[("a.yaml", &tree("a", "/a", &["x"])), ("b.yaml", &off)]);
    let (code, _, err) = run(&hosts, &["apply", "-f", m.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let a = m.path().join("a.yaml");
    let (code, out, err) = run(
        &hosts,
        &["apply", "-f", a.to_str().unwrap(), "--prune-removed"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("prune is off"), "{out}");
    assert_eq!(raw::text(&hosts, "/b/x"), "v-x");
}

#[test]
fn moving_a_root_in_any_direction_keeps_and_reports_the_old_nodes() {
    // (old root, new root): to the parent (issue 7 case 2), to a descendant, to a sibling.
    for (old, new) in [
        ("/x/app/v1", "/x/app"),
        ("/y/app", "/y/app/v1"),
        ("/z/v1", "/z/v2"),
    ] {
        let zk = zk();
        let hosts = zk.connect_string();
        let m = Manifests::new(&[("t.yaml", &tree("t", old, &["a", "v1/b"]))]);
        let dir = m.path().to_str().unwrap();
        let (code, out, err) = run(&hosts, &["apply", "-f", dir]);
        assert_eq!(code, 0, "{out}\n{err}");
        m.write("t.yaml", &tree("t", new, &["c"]));
        for round in 0..2 {
            let (code, out, err) = run(&hosts, &["apply", "-f", dir]);
            assert_eq!(code, 0, "{old} -> {new} round {round}: {out}\n{err}");
            assert!(
                !out.contains("  - "),
                "{old} -> {new}: deletes planned: {out}"
            );
            for n in ["a", "v1", "v1/b"] {
                assert_eq!(
                    raw::get(&hosts, &format!("{old}/{n}")).map(|(d, _)| d),
                    Some(if n == "v1" {
                        Vec::new()
                    } else {
                        format!("v-{n}").into_bytes()
                    }),
                    "{old}/{n} after moving to {new} (round {round})"
                );
            }
            assert_eq!(raw::text(&hosts, &format!("{new}/c")), "v-c");
        }
        for args in [
            vec!["status", "-f", dir, "--output", "json"],
            vec!["status", "--output", "json"],
        ] {
            let (code, out, err) = run(&hosts, &args);
            assert_eq!(code, 0, "{err}");
            let v: Value = serde_json::from_str(&out).unwrap();
            let t = &v["trees"][0];
            let orphaned: Vec<&str> = t["orphaned"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap())
                .collect();
            let a = format!("{old}/a");
            let b = format!("{old}/v1/b");
            assert!(
                orphaned.contains(&a.as_str()) && orphaned.contains(&b.as_str()),
                "{args:?}: {old} -> {new}: {orphaned:?}"
            );
        }
        let (code, out, _) = run(&hosts, &["status", "-f", dir]);
        assert_eq!(code, 0);
        assert!(out.contains(&format!("{old}/v1/b")), "{out}");
    }
}

#[test]
fn status_with_an_invalid_set_exits_2() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("bad.yaml", "apiVersion: zkstate/v1\nkind: Nope\n")]);
    let (code, _, err) = run(&hosts, &["status", "-f", m.path().to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_declared_node_is_created_or_rejected_never_dropped() {
    let zk = zk();
    let hosts = zk.connect_string();
    // Issue 7 case 3: `run/*` does not reach `run/sub/deep` (one matcher: `*` stays in a
    // segment), so the node is created.
    let m = Manifests::new(&[(
        "t.yaml",
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: t}\nspec:\n  root: /t\n  prune: true\n  ignore: [\"run/*\"]\n  nodes:\n    run/sub/deep: d\n",
    )]);
    let dir = m.path().to_str().unwrap();
    let (code, out, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(raw::text(&hosts, "/t/run/sub/deep"), "d");
    let (code, out, _) = run(&hosts, &["diff", "-f", dir]);
    assert_eq!(code, 0, "{out}");
    // A declared node the glob does match is rejected at validate time, with its place named.
    m.write(
        "t.yaml",
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: t}\nspec:\n  root: /t\n  prune: true\n  ignore: [\"run/**\"]\n  nodes:\n    run/sub/deep: e\n",
    );
    let (code, out, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("t.yaml:9:5") && err.contains("/t/run/sub/deep") && err.contains("ignore"),
        "{err}"
    );
    assert_eq!(raw::text(&hosts, "/t/run/sub/deep"), "d", "nothing written");
}

#[test]
fn an_unparsable_record_exits_2_naming_it_and_writes_nothing() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("t.yaml", &tree("t", "/t", &["a", "b"]))]);
    let dir = m.path().to_str().unwrap();
    let (code, _, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0, "{err}");
    m.write("t.yaml", &tree("t", "/t", &["a"]));
    let header = "/zkstate/inventory/ConfigTree.t";
    let seg = format!("{header}/{}", raw::children(&hosts, header)[0]);
    for (path, garbage) in [
        (header, &b"{not json"[..]),
        (
            header,
            br#"{"kind":"ConfigTree","name":"t","root":"/t","prune":"maybe"}"#,
        ),
        (seg.as_str(), b"@/t\n*b\n"),
        ("/zkstate/applied", b"\xff\x00"),
    ] {
        let (before, _) = raw::get(&hosts, path).unwrap();
        raw::set(&hosts, path, garbage);
        let (_, version) = raw::get(&hosts, path).unwrap();
        for args in [vec!["apply", "-f", dir], vec!["diff", "-f", dir]] {
            let (code, out, err) = run(&hosts, &args);
            assert_eq!(code, 2, "{path}: {args:?}: {out}\n{err}");
            assert!(err.contains(path) && err.contains("corrupt"), "{err}");
        }
        assert_eq!(raw::text(&hosts, "/t/b"), "v-b", "nothing deleted");
        assert_eq!(raw::get(&hosts, path), Some((garbage.to_vec(), version)));
        raw::set(&hosts, path, &before);
    }
    let (code, _, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        raw::get(&hosts, "/t/b"),
        None,
        "repaired: the prune goes ahead"
    );
}

/// Every write a foreign, unauthenticated kazoo client could forge the state with.
fn assert_state_guarded(hosts: &str, state: &str) {
    let header = format!("{state}/inventory/ConfigTree.t");
    let attempts = [
        ("try-set", format!("{state}/applied")),
        ("try-create", format!("{state}/inventory/ConfigTree.evil")),
        ("try-create", format!("{header}/seg-9999999999")),
        ("try-set", header.clone()),
        ("try-create", format!("{state}/suspend")),
        ("try-create", format!("{state}/lock/x__lock__0000000001")),
        ("try-set-acl", format!("{state}/applied")),
    ];
    for (cmd, path) in &attempts {
        let mut args = vec![*cmd, hosts, path.as_str()];
        if *cmd != "try-set-acl" {
            args.push("forged");
        }
        let v = common::kazoo(&args);
        assert_eq!(v["error"], "NoAuthError", "{cmd} {path}: {v}");
    }
    assert!(raw::get(hosts, &format!("{state}/suspend")).is_none());
    let applied = raw::text(hosts, &format!("{state}/applied"));
    assert!(applied.contains("\"revision\""), "{applied}");
}

#[test]
fn with_auth_the_state_is_written_only_by_its_identity() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("t.yaml", &tree("t", "/t", &["a"]))]);
    let dir = m.path().to_str().unwrap();
    let auth = ["--auth", "digest:deployer:pw"];

    // Created guarded from the start.
    let mut args = auth.to_vec();
    args.extend(["--state-path", "/guarded", "apply", "-f", dir]);
    let (code, out, err) = run(&hosts, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!err.contains("warning"), "{err}");
    assert_state_guarded(&hosts, "/guarded");
    let acl = raw::acl(&hosts, "/guarded/applied");
    assert!(
        acl.iter().any(|a| a.starts_with("digest:deployer:")),
        "{acl:?}"
    );

    // An open state (an apply without --auth warns) is tightened by the next guarded apply.
    let (code, _, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning:") && err.contains("open to any client"),
        "{err}"
    );
    assert_eq!(
        common::kazoo(&["try-set", &hosts, "/zkstate/applied", "forged-open"])["ok"],
        true,
        "the open state is writable by anyone (that is what the warning says)"
    );
    raw::set(&hosts, "/zkstate/applied", b"{}");
    m.write("t.yaml", &tree("t", "/t", &["a", "b"]));
    // The forged record is corrupt: exit 2 until repaired; repair it with a valid record.
    let (code, _, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 2, "{err}");
    raw::set(
        &hosts,
        "/zkstate/applied",
        br#"{"revision":"","time":"","digest":"","by":"","txn":"","counts":{"create":0,"update":0,"delete":0}}"#,
    );
    let mut args = auth.to_vec();
    args.extend(["apply", "-f", dir]);
    let (code, out, err) = run(&hosts, &args);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        err.contains("Tightened the ACL of") && err.contains("under /zkstate"),
        "{err}"
    );
    assert!(!err.contains("pw"), "password never printed: {err}");
    assert_state_guarded(&hosts, "/zkstate");
    // Once tight, nothing more to say; and the identity itself can still apply and suspend.
    m.write("t.yaml", &tree("t", "/t", &["a", "b", "c"]));
    let (code, _, err) = run(&hosts, &args);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("Tightened"), "{err}");
    assert_eq!(raw::text(&hosts, "/t/c"), "v-c");
    let mut sargs = auth.to_vec();
    sargs.push("suspend");
    assert_eq!(run(&hosts, &sargs).0, 0);
    assert_eq!(
        common::kazoo(&["try-set", &hosts, "/zkstate/suspend", "x"])["error"],
        "NoAuthError"
    );
}

#[test]
fn exhausted_connection_loss_retries_say_the_connection_was_lost() {
    // Claiming a larger jute.maxbuffer than the server's makes it drop the connection on commit.
    let zk = zk();
    let hosts = zk.connect_string();
    let big = "x".repeat(700_000);
    let doc = format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {{name: big}}\nspec:\n  root: /big\n  nodes:\n    a: {big}\n    b: {big}\n"
    );
    let m = Manifests::new(&[("big.yaml", &doc)]);
    let (code, out, err) = run(
        &hosts,
        &[
            "apply",
            "-f",
            m.path().to_str().unwrap(),
            "--max-request-bytes",
            "4000000",
        ],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("the connection to ZooKeeper was lost") && !err.contains("kept changing"),
        "{err}"
    );
    assert_eq!(raw::get(&hosts, "/big"), None);
    assert_eq!(raw::get(&hosts, "/zkstate/applied"), None);
}

#[test]
fn a_first_apply_shows_the_nodes_it_adopts() {
    let zk = zk();
    let hosts = zk.connect_string();
    // Another writer (kazoo's peer, here a raw client) created a node the manifests declare.
    raw::create(&hosts, "/t/a", b"v-a");
    raw::create(&hosts, "/t/other", b"o");
    let m = Manifests::new(&[("t.yaml", &tree("t", "/t", &["a", "b"]))]);
    let dir = m.path().to_str().unwrap();
    let (code, out, _) = run(&hosts, &["diff", "-f", dir, "--output", "json"]);
    assert_eq!(code, 1);
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        plan["adopted"],
        serde_json::json!([{"path": "/t/a", "kind": "ConfigTree", "name": "t"}]),
        "{plan}"
    );
    let (code, out, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("= /t/a") && out.contains("adopted"), "{out}");
    assert!(!out.contains("= /t/other"), "{out}");
    // Owned now: removed from the manifests, it is pruned; the undeclared one never was.
    m.write("t.yaml", &tree("t", "/t", &["b"]));
    let (code, out, err) = run(&hosts, &["apply", "-f", dir]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(!out.contains("adopted"), "{out}");
    assert_eq!(raw::get(&hosts, "/t/a"), None);
    assert_eq!(raw::text(&hosts, "/t/other"), "o");
}
