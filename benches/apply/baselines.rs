//! The raw `zookeeper-client` baselines (A: pipelined creates, C: the `MultiReader` walk, D:
//! walk and version-checked sets, E: walk and deletes), the read-back check of every tree
//! written, and the child-process modes that run them (`__raw-*`, `__serve`).
use std::collections::{BTreeMap, VecDeque};
use std::io::Write as _;
use std::time::{Duration, Instant};

use zkstate::localzk::{ServerOptions, ZkServer};
use zkstate::model::AclEntry;
use zkstate::zk::apply::{MULTI_ENVELOPE_BYTES, create_op_size};
use zookeeper_client as zk;

use crate::env_usize;
use crate::workloads::{Shape, new_value, tree_nodes, value};

/// Largest multi request the raw baseline sends (jute.maxbuffer is 1,048,575).
const RAW_MULTI_BYTES: usize = 256 * 1024;
/// Raw multis in flight at once (the notes: 2–8 is the plateau).
const RAW_IN_FLIGHT: usize = 4;
/// Nodes per `MultiReader` request in the raw walk (two reads per node).
const WALK_BATCH: usize = 1000;
/// `MultiReader` requests in flight in the raw walk.
const WALK_IN_FLIGHT: usize = 4;

/// The runtime every raw client runs on (two workers).
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// A session to `hosts` (30 s timeout); panics when none can be made.
pub(crate) async fn connect(hosts: &str) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(30))
        .connect(hosts)
        .await
        .unwrap_or_else(|e| panic!("connect to {hosts}: {e}"))
}

/// One write of a raw baseline.
enum RawOp<'a> {
    Create(&'a str, &'a [u8]),
    Set(&'a str, &'a [u8], i32),
    Delete(&'a str),
}

/// Sends `ops` in order as pipelined multis of at most `ZKSTATE_BENCH_RAW_MULTI_BYTES`, a few in
/// flight (the server runs one session's requests in order). Returns the multis sent.
async fn pipelined<'a>(client: &zk::Client, ops: impl IntoIterator<Item = RawOp<'a>>) -> usize {
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let max_bytes = env_usize("ZKSTATE_BENCH_RAW_MULTI_BYTES", RAW_MULTI_BYTES);
    let max_in_flight = env_usize("ZKSTATE_BENCH_RAW_IN_FLIGHT", RAW_IN_FLIGHT);
    let mut in_flight = VecDeque::new();
    let mut multis = 0;
    let mut writer = client.new_multi_writer();
    // Sized with the executor's own formula, so both sides pack multis alike.
    let open = [AclEntry::open()];
    let (mut bytes, mut count) = (MULTI_ENVELOPE_BYTES, 0);
    for op in ops {
        let size = match &op {
            RawOp::Create(p, d) | RawOp::Set(p, d, _) => create_op_size(p, d.len(), &open, 0),
            RawOp::Delete(p) => create_op_size(p, 0, &[], 0),
        };
        if count > 0 && bytes + size > max_bytes {
            // Sent now; awaited later.
            in_flight.push_back(writer.commit());
            multis += 1;
            writer = client.new_multi_writer();
            (bytes, count) = (MULTI_ENVELOPE_BYTES, 0);
            if in_flight.len() >= max_in_flight {
                let front = in_flight.pop_front().expect("in flight");
                front.await.expect("raw multi");
            }
        }
        match op {
            RawOp::Create(p, d) => writer.add_create(p, d, &options),
            RawOp::Set(p, d, v) => writer.add_set_data(p, d, Some(v)),
            RawOp::Delete(p) => writer.add_delete(p, None),
        }
        .expect("add op");
        bytes += size;
        count += 1;
    }
    if count > 0 {
        in_flight.push_back(writer.commit());
        multis += 1;
    }
    for fut in in_flight {
        fut.await.expect("raw multi");
    }
    multis
}

/// Baseline A: creates the tree as pipelined multis. Returns (connect → last ack, multis).
async fn raw_create(hosts: &str, root: &str, shape: Shape, n: usize) -> (Duration, usize) {
    let nodes = tree_nodes(root, shape, n, value);
    let start = Instant::now();
    let client = connect(hosts).await;
    let multis = pipelined(
        &client,
        nodes
            .iter()
            .map(|(p, d)| RawOp::Create(p.as_str(), d.as_bytes())),
    )
    .await;
    (start.elapsed(), multis)
}

/// What a snapshot keeps: every node's data and version, by path.
type Walked = BTreeMap<String, (Vec<u8>, i32)>;

/// Reads the whole subtree level by level (data, stat, children of every node) in
/// `MultiReader` batches, several in flight.
async fn walk(client: &zk::Client, root: &str) -> Walked {
    let mut tree = Walked::new();
    let mut level = vec![root.to_owned()];
    while !level.is_empty() {
        let mut next = Vec::new();
        for group in level.chunks(WALK_BATCH * WALK_IN_FLIGHT) {
            let futures: Vec<_> = group
                .chunks(WALK_BATCH)
                .map(|batch| {
                    let mut reader = client.new_multi_reader();
                    for p in batch {
                        reader.add_get_data(p).expect("add get_data");
                        reader.add_get_children(p).expect("add get_children");
                    }
                    reader.commit()
                })
                .collect();
            for (batch, result) in group.chunks(WALK_BATCH).zip(futures) {
                let results = result.await.expect("multi read");
                for (p, pair) in batch.iter().zip(results.chunks(2)) {
                    match pair {
                        [
                            zk::MultiReadResult::Data { data, stat },
                            zk::MultiReadResult::Children { children },
                        ] => {
                            for c in children {
                                next.push(format!("{p}/{c}"));
                            }
                            tree.insert(p.clone(), (data.clone(), stat.version));
                        }
                        [
                            zk::MultiReadResult::Error {
                                err: zk::Error::NoNode,
                            },
                            ..,
                        ] => {}
                        other => panic!("unexpected multi-read result for {p}: {other:?}"),
                    }
                }
            }
        }
        level = next;
    }
    tree
}

/// Baseline C: [`walk`] from connecting. Returns (connect → done, nodes, data bytes).
async fn raw_walk(hosts: &str, root: &str) -> (Duration, usize, usize) {
    let start = Instant::now();
    let client = connect(hosts).await;
    let tree = walk(&client, root).await;
    let bytes = tree.values().map(|(d, _)| d.len()).sum();
    (start.elapsed(), tree.len(), bytes)
}

/// Baseline D: what zkstate's update does by hand — read the tree (to learn what differs and
/// each node's version), then set every node whose bytes differ, version-checked.
/// Returns (connect → last ack, of which the sets, sets).
async fn raw_update(
    hosts: &str,
    root: &str,
    shape: Shape,
    n: usize,
) -> (Duration, Duration, usize) {
    let want = tree_nodes(root, shape, n, new_value);
    let start = Instant::now();
    let client = connect(hosts).await;
    let have = walk(&client, root).await;
    let writes = Instant::now();
    let sets: Vec<(&str, &[u8], i32)> = want
        .iter()
        .filter_map(|(p, d)| {
            let (data, version) = have.get(p)?;
            (data.as_slice() != d.as_bytes()).then_some((p.as_str(), d.as_bytes(), *version))
        })
        .collect();
    let count = sets.len();
    pipelined(
        &client,
        sets.into_iter().map(|(p, d, v)| RawOp::Set(p, d, v)),
    )
    .await;
    (start.elapsed(), writes.elapsed(), count)
}

/// Baseline E: read the tree, then delete every node below the root, deepest first.
/// Returns (connect → last ack, of which the deletes, deletes).
async fn raw_prune(hosts: &str, root: &str) -> (Duration, Duration, usize) {
    let start = Instant::now();
    let client = connect(hosts).await;
    let have = walk(&client, root).await;
    let writes = Instant::now();
    let mut paths: Vec<&str> = have
        .keys()
        .map(String::as_str)
        .filter(|p| *p != root)
        .collect();
    paths.sort_by_key(|p| std::cmp::Reverse(p.matches('/').count()));
    let count = paths.len();
    pipelined(&client, paths.into_iter().map(RawOp::Delete)).await;
    (start.elapsed(), writes.elapsed(), count)
}

/// Checks that `root` holds exactly `want` (path → bytes).
pub(crate) async fn verify(hosts: &str, want: &[(String, String)]) -> Result<(), String> {
    let client = connect(hosts).await;
    let Some((root, _)) = want.first() else {
        return Ok(());
    };
    let have = walk(&client, root).await;
    if have.len() != want.len() {
        return Err(format!(
            "{root} holds {} nodes, expected {}",
            have.len(),
            want.len()
        ));
    }
    for (p, d) in want.iter().skip(1) {
        match have.get(p) {
            Some((data, _)) if data == d.as_bytes() => {}
            other => return Err(format!("{p}: expected {d:?}, read {other:?}")),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Child-process modes.

/// `__raw-create HOSTS ROOT SHAPE N`: prints `{"seconds":S,"multis":M}`.
pub(crate) fn raw_create_main(hosts: &str, root: &str, shape: Shape, n: usize) {
    let (elapsed, multis) = runtime().block_on(raw_create(hosts, root, shape, n));
    println!(
        "{{\"seconds\":{},\"multis\":{multis}}}",
        elapsed.as_secs_f64()
    );
}

/// `__raw-walk HOSTS ROOT`: prints `{"seconds":S,"nodes":N,"bytes":B}`.
pub(crate) fn raw_walk_main(hosts: &str, root: &str) {
    let (elapsed, nodes, bytes) = runtime().block_on(raw_walk(hosts, root));
    println!(
        "{{\"seconds\":{},\"nodes\":{nodes},\"bytes\":{bytes}}}",
        elapsed.as_secs_f64()
    );
}

/// `__serve`: a server (heap 2048 MiB) with `/bench`, until stdin closes.
pub(crate) fn serve_main() {
    let server = ZkServer::start_with(ServerOptions {
        heap_mb: 2048,
        ..Default::default()
    })
    .expect("start zookeeper");
    let hosts = server.connect_string();
    runtime().block_on(async {
        let client = connect(&hosts).await;
        let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        client
            .create("/bench", b"", &options)
            .await
            .expect("create /bench");
    });
    println!("{hosts}");
    let _ = std::io::stdout().flush();
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    drop(server);
}

/// `__raw-update HOSTS ROOT SHAPE N`: prints `{"seconds":S,"writes":S,"ops":K}`.
pub(crate) fn raw_update_main(hosts: &str, root: &str, shape: Shape, n: usize) {
    let (elapsed, writes, ops) = runtime().block_on(raw_update(hosts, root, shape, n));
    println!(
        "{{\"seconds\":{},\"writes\":{},\"ops\":{ops}}}",
        elapsed.as_secs_f64(),
        writes.as_secs_f64()
    );
}

/// `__raw-prune HOSTS ROOT`: prints `{"seconds":S,"writes":S,"ops":K}`.
pub(crate) fn raw_prune_main(hosts: &str, root: &str) {
    let (elapsed, writes, ops) = runtime().block_on(raw_prune(hosts, root));
    println!(
        "{{\"seconds\":{},\"writes\":{},\"ops\":{ops}}}",
        elapsed.as_secs_f64(),
        writes.as_secs_f64()
    );
}
