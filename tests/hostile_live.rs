//! Hostile live trees (issue 10), on a real ZooKeeper: a node with ~1 MB of data, 100k children
//! under one node (`ZKSTATE_WIDE_CHILDREN`, default 100,000), names with every kind of legal
//! character, and nodes deleted while `diff` / `export` read the tree. Each time: `export`
//! succeeds, applying its output back is a no-op, `diff` against it reports no change.
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Manifests, run, zk};
use zookeeper_client as zkc;

use common::raw::block;

async fn client(hosts: &str) -> zkc::Client {
    common::raw::client_with_session(hosts, Duration::from_secs(20)).await
}

/// Creates `parent` and then `names` under it with `data`, 500 requests in flight at a time.
fn create_many(hosts: &str, parent: &str, names: &[String], data: &[u8]) {
    block(async {
        let c = client(hosts).await;
        let opts = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
        match c.create(parent, b"", &opts).await {
            Ok(_) | Err(zkc::Error::NodeExists) => {}
            Err(e) => panic!("create {parent}: {e}"),
        }
        for chunk in names.chunks(500) {
            let futures: Vec<_> = chunk
                .iter()
                .map(|n| {
                    let path = format!("{parent}/{n}");
                    let c = &c;
                    let opts = &opts;
                    async move {
                        match c.create(&path, data, opts).await {
                            Ok(_) | Err(zkc::Error::NodeExists) => {}
                            Err(e) => panic!("create {path}: {e}"),
                        }
                    }
                })
                .collect();
            futures::future::join_all(futures).await;
        }
    })
}

/// `export --path ROOT` must succeed; its output, applied back, changes nothing.
fn export_round_trip(hosts: &str, root: &str) -> String {
    let started = Instant::now();
    let (code, yaml, err) = run(hosts, &["export", "--path", root]);
    assert_eq!(code, 0, "export {root}: {err}");
    println!(
        "HOSTILE-LIVE export {root}: {} bytes in {:.1} s",
        yaml.len(),
        started.elapsed().as_secs_f64()
    );
    let dir = Manifests::new(&[("export.yaml", &yaml)]);
    let f = dir.path().to_str().expect("utf-8 path").to_owned();
    let (code, out, err) = run(hosts, &["diff", "-f", &f]);
    assert_eq!(
        code, 0,
        "diff after export of {root} is not empty: {out}{err}"
    );
    let (code, out, err) = run(hosts, &["apply", "-f", &f, "--output", "json"]);
    assert_eq!(code, 0, "apply of the export of {root}: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("apply json");
    assert_eq!(
        v["summary"],
        serde_json::json!({"create": 0, "update": 0, "delete": 0}),
        "applying an export back must be a no-op: {out}"
    );
    yaml
}

#[test]
fn a_node_with_1_mb_of_data() {
    let server = zk();
    let hosts = server.connect_string();
    // 1,000,000 bytes of binary data (not UTF-8): under jute.maxbuffer with its request header.
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    create_many(&hosts, "/fat", &["blob".to_owned()], &data);
    export_round_trip(&hosts, "/fat");

    // A manifest changing it: diff shows one update, apply writes the exact bytes.
    let other: Vec<u8> = data.iter().map(|b| b ^ 0x55).collect();
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("blob.bin"), &other).expect("write");
    std::fs::write(
        dir.path().join("m.yaml"),
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata:\n  name: fat\nspec:\n  root: /fat\n  nodes:\n    blob: {file: blob.bin}\n",
    )
    .expect("write");
    let f = dir.path().to_str().expect("path");
    let (code, out, err) = run(&hosts, &["diff", "-f", f]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Plan: 0 to create, 1 to update, 0 to delete."),
        "{out}"
    );
    let (code, out, err) = run(&hosts, &["apply", "-f", f]);
    assert_eq!(code, 0, "{out}{err}");
    let (got, _) = common::raw::get(&hosts, "/fat/blob").expect("blob");
    assert!(got == other, "the 1 MB node holds other bytes");
}

#[test]
fn a_node_with_100k_children() {
    let n: usize = std::env::var("ZKSTATE_WIDE_CHILDREN")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let server = zk();
    let hosts = server.connect_string();
    let names: Vec<String> = (0..n).map(|i| format!("c{i:06}")).collect();
    let started = Instant::now();
    create_many(&hosts, "/wide", &names, b"v");
    println!(
        "HOSTILE-LIVE created {n} children in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let yaml = export_round_trip(&hosts, "/wide");
    assert!(
        yaml.contains(&format!("c{:06}", n - 1)),
        "last child missing"
    );
    assert_eq!(common::raw::children(&hosts, "/wide").len(), n);
}

#[test]
fn names_with_every_kind_of_legal_character() {
    let server = zk();
    let hosts = server.connect_string();
    // Everything ZooKeeper accepts in a name except `/`, NUL, control characters, `.`/`..`,
    // the surrogate and private-use ranges it rejects, and U+FFF0..U+FFFF.
    let mut names: Vec<String> = [
        "plain",
        "with space",
        " leading-space",
        "trailing-space ",
        "colon:x",
        "#hash",
        "-dash",
        "?question",
        "*star",
        "&amp",
        "!bang",
        "|pipe",
        ">gt",
        "'quote",
        "\"dquote",
        "%percent",
        "@at",
        "`tick",
        "{brace}",
        "[bracket]",
        ",comma",
        "${NOT_A_VAR}",
        "~",
        "null",
        "true",
        "123",
        "0x1F",
        "1e3",
        "...dots",
        ".hidden",
        "a..b",
        "back\\slash",
        "ünïcödé",
        "日本語",
        // Characters outside the BMP (emoji) are refused by ZooKeeper (Java surrogates).
        "rtl\u{202e}mark",
        "nbsp\u{a0}here",
        "zero\u{200b}width",
        "tab-less=equals",
        "<<",
        "- item",
        "key: value",
        "# comment",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Every printable ASCII character but `/`, one name each.
    for b in 0x20u8..0x7f {
        if b != b'/' {
            names.push(format!("ascii{}{}", b as char, b));
        }
    }
    create_many(&hosts, "/names", &names, b"data");
    let created = common::raw::children(&hosts, "/names");
    assert_eq!(created.len(), names.len(), "ZooKeeper refused some names");
    export_round_trip(&hosts, "/names");
}

#[test]
fn nodes_deleted_while_diff_and_export_read_the_tree() {
    let server = zk();
    let hosts = server.connect_string();
    let names: Vec<String> = (0..300).map(|i| format!("n{i:03}")).collect();
    create_many(&hosts, "/race", &names, b"x");
    create_many(&hosts, "/race", &["fixed".to_owned()], b"keep");
    let dir = Manifests::new(&[(
        "m.yaml",
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata:\n  name: race\nspec:\n  root: /race\n  nodes:\n    fixed: keep\n",
    )]);
    let f = dir.path().to_str().expect("path").to_owned();
    let (code, out, err) = run(&hosts, &["apply", "-f", &f]);
    assert_eq!(code, 0, "{out}{err}");
    let stop = Arc::new(AtomicBool::new(false));
    // A churner deletes and recreates the `n*` nodes as fast as it can (bounded by `stop` and
    // a deadline).
    let churn = {
        let (hosts, stop, names) = (hosts.clone(), stop.clone(), names.clone());
        thread::spawn(move || {
            block(async {
                let c = client(&hosts).await;
                let opts = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
                let deadline = Instant::now() + Duration::from_secs(120);
                let mut rounds = 0u32;
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let paths: Vec<String> = names.iter().map(|n| format!("/race/{n}")).collect();
                    futures::future::join_all(paths.iter().map(|p| c.delete(p, None))).await;
                    futures::future::join_all(paths.iter().map(|p| c.create(p, b"x", &opts))).await;
                    rounds += 1;
                }
                rounds
            })
        })
    };
    for i in 0..10 {
        let (code, yaml, err) = run(&hosts, &["export", "--path", "/race"]);
        assert_eq!(code, 0, "export {i} under churn: {err}");
        assert!(yaml.contains("fixed"), "export {i} lost the stable node");
        // Whatever subset of n* it saw, the export is a valid manifest.
        let m = Manifests::new(&[("e.yaml", &yaml)]);
        let (code, _, err) = run(
            &hosts,
            &["validate", "-f", m.path().to_str().expect("path")],
        );
        assert_eq!(code, 0, "export {i} under churn is not valid: {err}");
        // prune off: the churning nodes are not zkstate's; nothing to do.
        let (code, out, err) = run(&hosts, &["diff", "-f", &f]);
        assert_eq!(code, 0, "diff {i} under churn: {out}{err}");
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = churn.join().expect("churner");
    println!("HOSTILE-LIVE churn rounds during the reads: {rounds}");
    assert!(rounds > 0, "the churner never ran");
}
