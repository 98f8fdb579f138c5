//! The executor against a real ZooKeeper, through the library: atomicity, optimistic
//! concurrency, fencing, size limits, inventory bookkeeping.
mod common;

use std::time::Duration;

use common::desired::{desired, owner, p};

use zkstate::localzk::ZkServer;
use zkstate::model::*;
use zkstate::plan::{Change, Op};
use zkstate::records::StatePaths;
use zkstate::zk::apply::{ExecError, ExecOptions, execute};
use zkstate::zk::reconcile::{self, ApplyOutcome, PassOptions, plan_ops};
use zkstate::zk::{lock, session};
use zookeeper_client as zkc;

fn opts() -> PassOptions {
    PassOptions {
        state: StatePaths::new(p("/zkstate")),
        planner: Default::default(),
        exec: ExecOptions::default(),
        max_deletes: 50,
        force: false,
        revision: Some("r1".into()),
        identifier: "test:1".into(),
        digest: "d".into(),
        max_attempts: 3,
    }
}

async fn setup(server: &ZkServer) -> (zkc::Client, lock::LeaderLock) {
    let c = session::connect(&session::ConnectOptions {
        hosts: server.connect_string(),
        digest_auth: vec![],
        session_timeout: Duration::from_secs(5),
        security: Default::default(),
    })
    .await
    .unwrap();
    lock::ensure_path(&c, "/zkstate/inventory").await.unwrap();
    let l = lock::acquire(
        &c,
        "/zkstate",
        "test:1",
        lock::LockFormat::Kazoo,
        Some(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    (c, l)
}

async fn data(c: &zkc::Client, path: &str) -> Option<(Vec<u8>, i32)> {
    match c.get_data(path).await {
        Ok((d, s)) => Some((d, s.version)),
        Err(zkc::Error::NoNode) => None,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_lands_everything_then_is_a_no_op() {
    let server = ZkServer::start().unwrap();
    let (c, l) = setup(&server).await;
    let d = desired(&[("/c/a", b"1"), ("/c/b/deep", b"\x00\x01")]);
    let out = reconcile::apply(&c, &l, &d, &opts()).await.unwrap();
    let ApplyOutcome::Applied { report, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(report.batches, 1);
    assert_eq!(data(&c, "/c/a").await, Some((b"1".to_vec(), 0)));
    assert_eq!(data(&c, "/c/b/deep").await, Some((vec![0, 1], 0)));
    assert_eq!(data(&c, "/c/b").await, Some((vec![], 0)));
    // The applied-state record landed in the same transaction.
    let (rec, _) = data(&c, "/zkstate/applied").await.unwrap();
    let rec: serde_json::Value = serde_json::from_slice(&rec).unwrap();
    assert_eq!(rec["revision"], "r1");
    assert_eq!(rec["counts"]["create"], 4);
    let again = reconcile::apply(&c, &l, &d, &opts()).await.unwrap();
    assert!(matches!(again, ApplyOutcome::InSync(_)), "{again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_that_fails_half_way_leaves_nothing() {
    let server = ZkServer::start().unwrap();
    let (c, l) = setup(&server).await;
    let d = desired(&[("/c/a", b"1"), ("/c/z", b"2")]);
    let observed = reconcile::observe(&c, &d, &opts()).await.unwrap();
    // Another writer creates the last node between plan and commit.
    let other = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
    c.mkdir("/c", &other).await.unwrap();
    c.create("/c/z", b"theirs", &other).await.unwrap();
    let ops: Vec<_> = plan_ops(&observed.plan);
    let err = execute(&c, &l, &ops, &ExecOptions::default())
        .await
        .unwrap_err();
    match err {
        ExecError::Conflict { path, .. } => assert_eq!(path, "/c"),
        e => panic!("{e:?}"),
    }
    assert_eq!(data(&c, "/c/a").await, None);
    assert_eq!(data(&c, "/c/z").await, Some((b"theirs".to_vec(), 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_write_between_plan_and_apply_is_not_overwritten() {
    let server = ZkServer::start().unwrap();
    let (c, l) = setup(&server).await;
    let d1 = desired(&[("/c/u", b"v1")]);
    reconcile::apply(&c, &l, &d1, &opts()).await.unwrap();
    let d2 = desired(&[("/c/u", b"v2")]);
    let observed = reconcile::observe(&c, &d2, &opts()).await.unwrap();
    assert!(
        matches!(observed.plan.changes[0], Change::Update { version: 0, .. }),
        "{:?}",
        observed.plan.changes[0]
    );
    c.set_data("/c/u", b"theirs", None).await.unwrap();
    let err = execute(&c, &l, &plan_ops(&observed.plan), &ExecOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::Conflict { path, .. } if path == "/c/u"),
        "{err:?}"
    );
    assert_eq!(data(&c, "/c/u").await, Some((b"theirs".to_vec(), 1)));
    // A fresh pass re-reads (version 1) and converges.
    let out = reconcile::apply(&c, &l, &d2, &opts()).await.unwrap();
    assert!(matches!(out, ApplyOutcome::Applied { .. }));
    assert_eq!(data(&c, "/c/u").await, Some((b"v2".to_vec(), 2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_lost_the_lock_cannot_write() {
    let server = ZkServer::start().unwrap();
    let (c, l) = setup(&server).await;
    // The lock node vanishes (as on session expiry) before the commit.
    c.delete(&l.node, None).await.unwrap();
    let err = reconcile::apply(&c, &l, &desired(&[("/c/a", b"1")]), &opts())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("lost the leader lock"), "{err}");
    assert_eq!(data(&c, "/c/a").await, None);
    assert_eq!(data(&c, "/c").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_request_limit_is_refused_or_split() {
    let server = ZkServer::start().unwrap();
    let (c, l) = setup(&server).await;
    let big = vec![b'x'; 100_000];
    let names: Vec<String> = (0..15).map(|i| format!("/c/n{i:02}")).collect();
    let nodes: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &big[..])).collect();
    let d = desired(&nodes);
    let err = reconcile::apply(&c, &l, &d, &opts()).await.unwrap_err();
    assert!(err.to_string().contains("--allow-split"), "{err}");
    assert_eq!(data(&c, "/c").await, None, "nothing written when refused");
    let mut o = opts();
    o.exec.allow_split = true;
    let out = reconcile::apply(&c, &l, &d, &o).await.unwrap();
    let ApplyOutcome::Applied { report, .. } = out else {
        panic!()
    };
    assert!(report.batches >= 2, "{report:?}");
    assert!(
        report
            .batch_bytes
            .iter()
            .all(|b| *b <= zkstate::model::JUTE_MAXBUFFER)
    );
    for n in &names {
        assert_eq!(data(&c, n).await.unwrap().0.len(), 100_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_prunes_only_what_zkstate_applied() {
    let server = ZkServer::start().unwrap();
    let (c, l) = setup(&server).await;
    reconcile::apply(&c, &l, &desired(&[("/c/a", b"1"), ("/c/b", b"2")]), &opts())
        .await
        .unwrap();
    let other = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
    c.create("/c/foreign", b"f", &other).await.unwrap();
    let out = reconcile::apply(&c, &l, &desired(&[("/c/a", b"1")]), &opts())
        .await
        .unwrap();
    let ApplyOutcome::Applied { observed, .. } = out else {
        panic!()
    };
    let deletes: Vec<_> = observed
        .plan
        .changes
        .iter()
        .filter(|c| c.op() == Op::Delete)
        .map(|c| c.path().to_owned())
        .collect();
    assert_eq!(deletes, vec!["/c/b".to_owned()]);
    assert_eq!(data(&c, "/c/b").await, None);
    assert_eq!(data(&c, "/c/foreign").await, Some((b"f".to_vec(), 0)));
    let stored = reconcile::read_stored(&c, &opts().state).await.unwrap();
    let paths: Vec<_> = stored.inventory.owners[&owner()]
        .paths
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(paths, vec!["/c", "/c/a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_deletes_refuses_without_writing() {
    let server = ZkServer::start().unwrap();
    let (c, l) = setup(&server).await;
    reconcile::apply(
        &c,
        &l,
        &desired(&[("/c/a", b"1"), ("/c/b", b"2"), ("/c/k", b"k")]),
        &opts(),
    )
    .await
    .unwrap();
    let mut o = opts();
    o.max_deletes = 1;
    let out = reconcile::apply(&c, &l, &desired(&[("/c/k", b"k2")]), &o)
        .await
        .unwrap();
    assert!(matches!(out, ApplyOutcome::Refused { .. }), "{out:?}");
    assert_eq!(data(&c, "/c/a").await.unwrap().0, b"1");
    assert_eq!(data(&c, "/c/k").await.unwrap().0, b"k");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_batches_are_chained_so_a_failure_stops_every_later_batch() {
    let server = ZkServer::start().unwrap();
    let (c, l) = setup(&server).await;
    let big = vec![b'x'; 100_000];
    let names: Vec<String> = (0..16).map(|i| format!("/c/n{i:02}")).collect();
    let nodes: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &big[..])).collect();
    let d = desired(&nodes);
    let other = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
    c.create("/c", b"", &other).await.unwrap();
    let observed = reconcile::observe(&c, &d, &opts()).await.unwrap();
    let ops = plan_ops(&observed.plan);
    let exec = ExecOptions {
        allow_split: true,
        max_request_bytes: 250_000,
        progress_path: Some("/zkstate/progress".into()),
        ..ExecOptions::default()
    };
    let ranges = zkstate::zk::apply::batches(&ops, &l, &exec).unwrap();
    assert!(ranges.len() >= 6, "{ranges:?}");
    // Another writer takes a node of the fourth batch.
    let victim = ops[ranges[3].start].path().to_owned();
    c.create(&victim, b"theirs", &other).await.unwrap();
    let err = execute(&c, &l, &ops, &exec).await.unwrap_err();
    match &err {
        ExecError::Conflict { path, landed, .. } => {
            assert_eq!(path, &victim);
            assert_eq!(*landed, 3);
        }
        e => panic!("{e:?}"),
    }
    for (k, r) in ranges.iter().enumerate() {
        for op in &ops[r.clone()] {
            let exists = data(&c, op.path()).await.is_some();
            if k < 3 {
                assert!(exists, "batch {k} landed: {}", op.path());
            } else if op.path() != victim {
                assert!(!exists, "batch {k} must not land: {}", op.path());
            }
        }
    }
    // A fresh pass converges from there.
    let mut o = opts();
    o.exec = exec;
    let out = reconcile::apply(&c, &l, &d, &o).await.unwrap();
    assert!(matches!(out, ApplyOutcome::Applied { .. }), "{out:?}");
    for n in &names {
        assert_eq!(data(&c, n).await.unwrap().0.len(), 100_000);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_changes_check_the_lock_right_before_each_set_acl() {
    let server = ZkServer::start().unwrap();
    let (c, l) = setup(&server).await;
    let open = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
    c.create("/acl", b"", &open).await.unwrap();
    let read_only = vec![AclEntry {
        scheme: "world".into(),
        id: "anyone".into(),
        perms: Perms(Perms::READ.0 | Perms::ADMIN.0),
    }];
    // Holding the lock: the ACL is set.
    zkstate::zk::apply::set_acls(
        &c,
        &l,
        &[(
            zkstate::model::ZPath::parse("/acl").unwrap(),
            read_only.clone(),
            0,
        )],
    )
    .await
    .unwrap();
    let (_, stat) = c.get_acl("/acl").await.unwrap();
    assert_eq!(stat.aversion, 1);
    // Lost the lock (our node deleted, as an operator or an expired session would): refused.
    c.delete(&l.node, None).await.unwrap();
    let err = zkstate::zk::apply::set_acls(
        &c,
        &l,
        &[(zkstate::model::ZPath::parse("/acl").unwrap(), read_only, 1)],
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ExecError::LockLost { .. }), "{err:?}");
    let (_, stat) = c.get_acl("/acl").await.unwrap();
    assert_eq!(stat.aversion, 1, "nothing was set without the lock");
}
