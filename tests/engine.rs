//! The engine API the agent stands on, against a real ZooKeeper: one session and one held
//! leadership across several passes, forced observe passes, suspend, cancellation of a lock
//! wait, typed reports.
mod common;

use std::time::Duration;

use common::desired::{desired, owner, p};

use zkstate::engine::{
    CancellationToken, ConnectOptions, Engine, EngineError, Leadership, LockRequest, Outcome,
    PassMode, PassOptions, Session,
};
use zkstate::localzk::ZkServer;
use zkstate::records::StatePaths;
use zkstate::zk::apply::ExecOptions;
use zkstate::zk::lock::LockFormat;
use zookeeper_client as zkc;

fn opts(identifier: &str) -> PassOptions {
    PassOptions {
        state: StatePaths::new(p("/zkstate")),
        planner: Default::default(),
        exec: ExecOptions::default(),
        max_deletes: 50,
        force: false,
        revision: Some("r1".into()),
        identifier: identifier.into(),
        digest: "d".into(),
        max_attempts: 3,
    }
}

fn connect_options(server: &ZkServer) -> ConnectOptions {
    ConnectOptions {
        hosts: server.connect_string(),
        digest_auth: vec![],
        session_timeout: Duration::from_secs(10),
        security: Default::default(),
    }
}

async fn engine(server: &ZkServer, identifier: &str) -> Engine {
    let session = Session::connect(&connect_options(server)).await.unwrap();
    Engine::new(session, opts(identifier))
}

/// A raw client, playing the operator who edits the tree out of band.
async fn raw(server: &ZkServer) -> zkc::Client {
    zkc::Client::connect(&server.connect_string())
        .await
        .unwrap()
}

async fn text(c: &zkc::Client, path: &str) -> Option<String> {
    match c.get_data(path).await {
        Ok((d, _)) => Some(String::from_utf8(d).unwrap()),
        Err(zkc::Error::NoNode) => None,
        Err(e) => panic!("{e}"),
    }
}

fn lock_request(timeout: Option<Duration>) -> LockRequest {
    LockRequest {
        format: LockFormat::Kazoo,
        timeout,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leadership_spans_many_passes_with_a_report_each() {
    let server = ZkServer::start().unwrap();
    let engine = engine(&server, "agent:1").await;
    let oob = raw(&server).await;
    let never = CancellationToken::new();
    let leader = Leadership::acquire(
        engine.session(),
        &engine.options().state,
        "agent:1",
        &lock_request(Some(Duration::from_secs(20))),
        &never,
    )
    .await
    .unwrap();
    let d = desired(&[("/c/a", b"1"), ("/c/b", b"2")]);

    let first = engine.pass(&d, PassMode::Apply(&leader)).await.unwrap();
    assert_eq!(
        first.outcome,
        Outcome::Applied {
            changes: 3,
            observe_only: 0
        }
    );
    assert_eq!((first.attempts, first.batches), (1, 1));
    assert!(first.ops >= 3 && first.bytes > 0, "{first:?}");
    assert!(first.timings.total >= first.timings.snapshot + first.timings.plan);
    assert_eq!(text(&oob, "/c/a").await.as_deref(), Some("1"));

    // Drift made by someone else: an observe pass reports it and writes nothing.
    oob.set_data("/c/a", b"drifted", None).await.unwrap();
    let seen = engine.pass(&d, PassMode::Observe).await.unwrap();
    assert_eq!(seen.outcome, Outcome::Planned);
    assert_eq!(seen.counts().update, 1);
    assert_eq!(seen.drift_by_owner()[&owner()].update, 1);
    assert_eq!(seen.ops, 0);
    assert_eq!(text(&oob, "/c/a").await.as_deref(), Some("drifted"));

    // The same leadership fences the next apply pass, which reverts the drift.
    let healed = engine.pass(&d, PassMode::Apply(&leader)).await.unwrap();
    assert!(matches!(
        healed.outcome,
        Outcome::Applied { changes: 1, .. }
    ));
    assert_eq!(text(&oob, "/c/a").await.as_deref(), Some("1"));
    let quiet = engine.pass(&d, PassMode::Apply(&leader)).await.unwrap();
    assert_eq!(quiet.outcome, Outcome::InSync);
    assert!(quiet.in_sync());

    // The lock node lives as long as the caller keeps the leadership.
    let node = leader.node().to_owned();
    assert!(oob.check_stat(&node).await.unwrap().is_some());
    let status = engine.status(Some(&d)).await.unwrap();
    assert_eq!(status.lock.holder.as_deref(), Some("agent:1"));
    assert!(status.trees[0].in_sync);
    assert_eq!(status.last_apply.as_ref().unwrap().revision, "r1");
    leader.release(engine.session()).await.unwrap();
    assert!(oob.check_stat(&node).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_is_read_and_honoured_by_apply_passes() {
    let server = ZkServer::start().unwrap();
    let engine = engine(&server, "agent:1").await;
    let oob = raw(&server).await;
    let never = CancellationToken::new();
    assert!(!engine.suspended().await.unwrap());
    assert!(engine.set_suspended(true).await.unwrap());
    assert!(
        !engine.set_suspended(true).await.unwrap(),
        "already suspended"
    );
    assert!(engine.suspended().await.unwrap());

    let d = desired(&[("/c/a", b"1")]);
    let r = engine
        .apply_once(&d, &lock_request(Some(Duration::from_secs(20))), &never)
        .await
        .unwrap();
    assert_eq!(r.outcome, Outcome::Suspended);
    assert!(r.suspended);
    assert_eq!(r.counts().create, 2);
    assert_eq!(text(&oob, "/c/a").await, None);

    assert!(engine.set_suspended(false).await.unwrap());
    assert!(!engine.set_suspended(false).await.unwrap());
    let r = engine
        .apply_once(&d, &lock_request(Some(Duration::from_secs(20))), &never)
        .await
        .unwrap();
    assert!(matches!(r.outcome, Outcome::Applied { .. }));
    assert_eq!(text(&oob, "/c/a").await.as_deref(), Some("1"));
    // apply_once released the lock.
    assert!(oob.list_children("/zkstate/lock").await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_wait_ends_on_cancel_or_timeout_and_writes_nothing() {
    let server = ZkServer::start().unwrap();
    let holder = engine(&server, "holder:1").await;
    let waiter = engine(&server, "waiter:2").await;
    let oob = raw(&server).await;
    let never = CancellationToken::new();
    let held = Leadership::acquire(
        holder.session(),
        &holder.options().state,
        "holder:1",
        &lock_request(None),
        &never,
    )
    .await
    .unwrap();
    let d = desired(&[("/c/a", b"1")]);

    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        waiter.apply_once(&d, &lock_request(None), &cancel),
    )
    .await
    .expect("cancel ends the wait");
    assert!(matches!(r, Err(EngineError::Cancelled)), "{r:?}");
    // The abandoned wait withdrew its contender: only the holder is queued.
    assert_eq!(oob.list_children("/zkstate/lock").await.unwrap().len(), 1);

    let r = waiter
        .apply_once(&d, &lock_request(Some(Duration::from_millis(300))), &never)
        .await;
    match r {
        Err(e @ EngineError::LockTimeout(_)) => assert!(e.to_string().contains("holder:1"), "{e}"),
        other => panic!("expected a lock timeout, got {other:?}"),
    }
    assert_eq!(text(&oob, "/c/a").await, None);
    held.release(holder.session()).await.unwrap();
    // Nothing of the abandoned waits is left in the queue: the waiter leads at once.
    let r = waiter
        .apply_once(&d, &lock_request(Some(Duration::from_secs(20))), &never)
        .await
        .unwrap();
    assert!(matches!(r.outcome, Outcome::Applied { .. }));
}

/// Runs the built `zkstate` binary against `hosts`.
fn zkstate(hosts: &str, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zkstate"))
        .arg("--zk")
        .arg(hosts)
        .args(args)
        .env_remove("ZKSTATE_ZK")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_recorded_recipe_format_is_an_error_never_kazoo() {
    let server = ZkServer::start().unwrap();
    let hosts = server.connect_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.yaml"),
        "apiVersion: zkstate/v1\nkind: Queue\nmetadata:\n  name: jobs\nspec:\n  path: /q/jobs\n  format: kazoo-locking\n  seed: [a, b]\n",
    )
    .unwrap();
    let f = dir.path().to_str().unwrap();
    let (code, _, err) = zkstate(&hosts, &["apply", "-f", f]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = zkstate(&hosts, &["status", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(r#""queues":[{"name":"jobs","path":"/q/jobs","format":"kazoo-locking","depth":2,"alert":false}]"#),
        "{out}"
    );

    // An inventory written by some other version, with a format this one does not know.
    let oob = raw(&server).await;
    let header = "/zkstate/inventory/Queue.jobs";
    let (data, _) = oob.get_data(header).await.unwrap();
    let text = String::from_utf8(data).unwrap();
    assert!(text.contains(r#""format":"kazoo-locking""#), "{text}");
    let edited = text.replace(r#""format":"kazoo-locking""#, r#""format":"kazoo-v9""#);
    oob.set_data(header, edited.as_bytes(), None).await.unwrap();

    let (code, out, err) = zkstate(&hosts, &["status"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("Queue jobs") && err.contains("kazoo-v9"),
        "{err}"
    );
    assert!(!out.contains("(kazoo)"), "{out}");
    // With the manifest, the declared format is read (parsed by the loader, not the inventory).
    let (code, out, err) = zkstate(&hosts, &["status", "-f", f]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Queue jobs at /q/jobs (kazoo-locking): depth 2"),
        "{out}"
    );
}
