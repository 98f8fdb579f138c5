//! `cargo bench --bench apply`: the figures of the performance target, measured in one run
//! against a real standalone ZooKeeper (never a mock), each a median of several repeats.
//!
//! For every tree shape (`flat`: 100 groups of leaves `gGGGG/nIIIIII`; `nested`: a complete
//! 10-ary tree `c3/c7/...` with every node declared), every size N (default 10,000 and 100,000;
//! `ZKSTATE_BENCH_QUICK=1` uses 1,000 and 5,000) and every repeat, a fresh server
//! (`heap_mb: 2048`) is started and warmed up, then:
//!
//! 1. `zkstate apply --allow-split` of a generated ConfigTree manifest (`prune: true`) of N new
//!    100-byte nodes: the release binary as a child process, whole-process wall time and peak RSS;
//! 2. baseline A: the same creates with the raw `zookeeper-client` as pipelined multis of at most
//!    256 KiB, 4 in flight (`/bench/raw`), timed from connect to the last ack;
//! 3. baseline B: kazoo 2.11 creating the same nodes one `create` at a time (`/bench/kazoo`),
//!    timed in the script after connecting; flat shape only, only up to `ZKSTATE_BENCH_KAZOO_MAX` nodes
//!    (default 10,000), larger sizes are extrapolated from the largest measured size and
//!    labelled so;
//! 4. a no-op `zkstate diff` of the tree just applied (exit 0 asserted) against baseline C, a raw
//!    level-by-level `MultiReader` walk of the same tree;
//! 5. `zkstate apply` of the manifest with every tenth node's data changed against baseline D,
//!    the raw walk followed by version-checked `setData` multis of the nodes that differ;
//! 6. `zkstate apply --force` of the document with `nodes: {}` (prunes every node) against
//!    baseline E, the raw walk followed by `delete` multis, deepest first.
//!
//! Before all that, `zkstate validate` of the nested manifest at 1k, 10k, 100k and 1M nodes
//! (`--validate-sizes`, `ZKSTATE_BENCH_VALIDATE_SIZES`) shows whether loading is linear; sets over
//! 100k nodes are split into ConfigTrees of 100k nodes, one file each (the loader refuses files
//! over 64 MiB).
//! `--shapes flat,nested` / `ZKSTATE_BENCH_SHAPES` pick the shapes.
//!
//! Every tree written is verified afterwards with the raw client (every node, its bytes):
//! a benchmark that silently measured a failure is worthless.
//!
//! # Measuring children
//! Peak RSS comes from `wait4`'s `ru_maxrss`. Linux folds the RSS high-water mark of the
//! *parent's* address space into a child's `ru_maxrss` when the child execs (a fork or vfork
//! shares or copies it), so a child spawned by this big bench process would report at least
//! this process's peak. Every child is therefore spawned by a tiny helper (this binary re-run
//! as `__measure`), whose own high-water mark is printed as `floor` in the table.
//!
//! # Arguments
//! `cargo bench --bench apply -- [--sizes 10000,100000] [--repeats 3]`, or the environment:
//! `ZKSTATE_BENCH_SIZES`, `ZKSTATE_BENCH_REPEATS`, `ZKSTATE_BENCH_QUICK=1` (1k/5k, 1 repeat),
//! `ZKSTATE_BENCH_KAZOO_MAX`, `ZKSTATE_BENCH_PYTHON` (default `python3`),
//! `ZKSTATE_BENCH_SKIP_ZKSTATE=1` (baselines only), `ZKSTATE_BENCH_ZKSTATE_ARGS` (extra global
//! flags for zkstate, e.g. `-vv` for timing logs; its stderr is kept in `ZKSTATE_BENCH_KEEP`).
//! Hidden helpers for profiling by hand: `__serve` (a server until stdin closes) and
//! `__manifest DIR SHAPE N apply|update|prune`.
use std::collections::{BTreeMap, VecDeque};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use zkstate::localzk::{ServerOptions, ZkServer};
use zkstate::model::AclEntry;
use zkstate::zk::apply::{MULTI_ENVELOPE_BYTES, create_op_size};
use zookeeper_client as zk;

/// Parent nodes the leaves are spread over (`g0000` .. `g0099`).
const GROUPS: usize = 100;
/// Bytes of every leaf's data.
const VALUE_BYTES: usize = 100;
/// Largest multi request the raw baseline sends (jute.maxbuffer is 1,048,575).
const RAW_MULTI_BYTES: usize = 256 * 1024;
/// Raw multis in flight at once (the notes: 2–8 is the plateau).
const RAW_IN_FLIGHT: usize = 4;
/// Nodes per `MultiReader` request in the raw walk (two reads per node).
const WALK_BATCH: usize = 1000;
/// `MultiReader` requests in flight in the raw walk.
const WALK_IN_FLIGHT: usize = 4;
/// Nodes created (and walked) on every fresh server before measuring, to warm up its JIT.
const WARMUP_NODES: usize = 20_000;
const KAZOO_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/kazoo_create.py");
const ZKSTATE: &str = env!("CARGO_BIN_EXE_zkstate");

/// The bench's command line. `cargo bench --bench apply -- --sizes 10k,100k --repeats 3`; the
/// hidden subcommands are the child-process modes this binary re-runs itself in.
#[derive(Parser, Debug)]
#[command(about = "zkstate apply benchmark against a real ZooKeeper")]
struct Cli {
    #[command(subcommand)]
    helper: Option<Helper>,
    /// Node counts to measure, comma-separated (`10000,100000` or `10k,100k`).
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    sizes: Option<Vec<usize>>,
    /// Repeats per size (the median is reported).
    #[arg(long)]
    repeats: Option<usize>,
    /// Tree shapes, comma-separated: `flat` (100 groups of leaves), `nested` (complete 10-ary).
    #[arg(long, value_delimiter = ',')]
    shapes: Option<Vec<Shape>>,
    /// Manifest sizes `zkstate validate` is timed on (nested shape; `0` skips).
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    validate_sizes: Option<Vec<usize>>,
    /// Passed by `cargo bench` to `harness = false` targets; without it this is a smoke run.
    #[arg(long, hide = true)]
    bench: bool,
    /// `cargo bench NAME` passes NAME to every bench target as a filter; ignored.
    #[arg(hide = true)]
    filter: Vec<String>,
}

/// Child-process modes.
#[derive(Subcommand, Debug)]
enum Helper {
    /// Runs PROG with stdout/stderr in the files and reports its resource use.
    #[command(name = "__measure", hide = true)]
    Measure {
        out: PathBuf,
        err: PathBuf,
        prog: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Baseline A.
    #[command(name = "__raw-create", hide = true)]
    RawCreate {
        hosts: String,
        root: String,
        shape: Shape,
        n: usize,
    },
    /// Baseline C.
    #[command(name = "__raw-walk", hide = true)]
    RawWalk { hosts: String, root: String },
    /// Baseline D: walk, then version-checked sets of every tenth node's new value.
    #[command(name = "__raw-update", hide = true)]
    RawUpdate {
        hosts: String,
        root: String,
        shape: Shape,
        n: usize,
    },
    /// Starts a server (with `/bench`) for profiling by hand, prints its connect string; stops
    /// when stdin closes.
    #[command(name = "__serve", hide = true)]
    Serve,
    /// Writes the bench manifest of SHAPE and N (`apply`, `update` or `prune`) into DIR.
    #[command(name = "__manifest", hide = true)]
    Manifest {
        dir: PathBuf,
        shape: Shape,
        n: usize,
        which: String,
    },
    /// Baseline E: walk, then delete everything below the root, deepest first.
    #[command(name = "__raw-prune", hide = true)]
    RawPrune { hosts: String, root: String },
}

/// The two trees measured.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Shape {
    /// 100 groups of N / 100 leaves: `gGGGG/nIIIIII` (groups are implicit parents).
    Flat,
    /// A complete 10-ary tree of N nodes in breadth-first order, every node declared with data.
    Nested,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Flat => "flat",
            Shape::Nested => "nested",
        }
    }
}

fn main() {
    let cli = Cli::parse();
    match &cli.helper {
        Some(Helper::Measure {
            out,
            err,
            prog,
            args,
        }) => measure_main(out, err, prog, args),
        Some(Helper::RawCreate {
            hosts,
            root,
            shape,
            n,
        }) => raw_create_main(hosts, root, *shape, *n),
        Some(Helper::RawWalk { hosts, root }) => raw_walk_main(hosts, root),
        Some(Helper::RawUpdate {
            hosts,
            root,
            shape,
            n,
        }) => raw_update_main(hosts, root, *shape, *n),
        Some(Helper::RawPrune { hosts, root }) => raw_prune_main(hosts, root),
        Some(Helper::Serve) => serve_main(),
        Some(Helper::Manifest {
            dir,
            shape,
            n,
            which,
        }) => {
            match which.as_str() {
                "update" => write_manifest(dir, *shape, *n, new_value),
                "prune" => write_manifest(dir, *shape, 0, value),
                _ => write_manifest(dir, *shape, *n, value),
            };
        }
        None => bench_main(&cli),
    }
}

// ---------------------------------------------------------------------------------------------
// The tree every contender writes.

/// The data of node `i`: 100 ASCII bytes, distinct per node. `kazoo_create.py` has the same.
fn value(i: usize) -> String {
    padded(format!("value-{i:07}-"))
}

/// The data of node `i` after the update: every tenth node ([`updated`]) gets new bytes.
fn new_value(i: usize) -> String {
    if updated(i) {
        padded(format!("newer-{i:07}-"))
    } else {
        value(i)
    }
}

fn updated(i: usize) -> bool {
    i.is_multiple_of(10)
}

fn padded(mut s: String) -> String {
    while s.len() < VALUE_BYTES {
        s.push(char::from(b'a' + (s.len() % 26) as u8));
    }
    s
}

fn groups(n: usize) -> usize {
    GROUPS.min(n).max(1)
}

/// Path of flat leaf `i` relative to the tree's root.
fn leaf(i: usize, n: usize) -> String {
    format!("g{:04}/n{i:06}", i % groups(n))
}

/// Every node below the root in create order (parents first), as (relative path, data index):
/// `None` for the flat shape's empty groups.
fn tree_rel(shape: Shape, n: usize) -> Vec<(String, Option<usize>)> {
    match shape {
        Shape::Flat => (0..groups(n))
            .map(|k| (format!("g{k:04}"), None))
            .chain((0..n).map(|i| (leaf(i, n), Some(i))))
            .collect(),
        Shape::Nested => {
            // Node i (1-based, breadth first) is child (i - 1) % 10 of node (i - 1) / 10.
            let mut paths: Vec<String> = Vec::with_capacity(n + 1);
            paths.push(String::new());
            for i in 1..=n {
                let parent = &paths[(i - 1) / 10];
                let name = format!("c{}", (i - 1) % 10);
                paths.push(if parent.is_empty() {
                    name
                } else {
                    format!("{parent}/{name}")
                });
            }
            paths
                .into_iter()
                .enumerate()
                .skip(1)
                .map(|(i, p)| (p, Some(i)))
                .collect()
        }
    }
}

/// Every node of a tree in create order (root first), as absolute `(path, data)`.
fn tree_nodes(
    root: &str,
    shape: Shape,
    n: usize,
    data: fn(usize) -> String,
) -> Vec<(String, String)> {
    std::iter::once((root.to_owned(), String::new()))
        .chain(
            tree_rel(shape, n)
                .into_iter()
                .map(|(p, i)| (format!("{root}/{p}"), i.map(data).unwrap_or_default())),
        )
        .collect()
}

/// Writes a ConfigTree manifest (`prune: true`) of the tree under `/bench/zkstate` into
/// `dir/bench.yaml`, with each node's data from `data`; `n = 0` declares no node (prunes all).
fn write_manifest(dir: &Path, shape: Shape, n: usize, data: fn(usize) -> String) -> PathBuf {
    write_manifest_as(dir, "bench", "/bench/zkstate", shape, n, data)
}

/// Nodes per file in the `validate` rows: the loader refuses files over 64 MiB, so larger sets
/// are written as several ConfigTrees of this many nodes, one file each (as an operator would).
const VALIDATE_NODES_PER_FILE: usize = 100_000;

/// The manifest set `zkstate validate` is timed on: `n` nested nodes in files of at most
/// [`VALIDATE_NODES_PER_FILE`]; returns their total size in bytes.
fn write_validate_set(dir: &Path, n: usize, data: fn(usize) -> String) -> u64 {
    let files = n.div_ceil(VALIDATE_NODES_PER_FILE).max(1);
    let mut bytes = 0;
    for f in 0..files {
        let count = (n / files) + usize::from(f < n % files);
        let file = if files == 1 {
            write_manifest(dir, Shape::Nested, count, data)
        } else {
            let name = format!("bench-{f:02}");
            write_manifest_as(
                dir,
                &name,
                &format!("/bench/{name}"),
                Shape::Nested,
                count,
                data,
            )
        };
        bytes += fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    }
    bytes
}

fn write_manifest_as(
    dir: &Path,
    name: &str,
    root: &str,
    shape: Shape,
    n: usize,
    data: fn(usize) -> String,
) -> PathBuf {
    let mut text = String::with_capacity(n * 130 + 200);
    let _ = writeln!(
        text,
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata:\n  name: {name}\nspec:\n  root: {root}\n  prune: true"
    );
    if n == 0 {
        text.push_str("  nodes: {}\n");
    } else {
        text.push_str("  nodes:\n");
        for (p, i) in tree_rel(shape, n) {
            if let Some(i) = i {
                let _ = writeln!(text, "    {p}: \"{}\"", data(i));
            }
        }
    }
    fs::create_dir_all(dir).expect("manifest dir");
    let path = dir.join(format!("{name}.yaml"));
    fs::write(&path, text).expect("write the manifest");
    path
}

// ---------------------------------------------------------------------------------------------
// Raw client helpers (baselines and verification).

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn connect(hosts: &str) -> zk::Client {
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
async fn verify(hosts: &str, want: &[(String, String)]) -> Result<(), String> {
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
fn raw_create_main(hosts: &str, root: &str, shape: Shape, n: usize) {
    let (elapsed, multis) = runtime().block_on(raw_create(hosts, root, shape, n));
    println!(
        "{{\"seconds\":{},\"multis\":{multis}}}",
        elapsed.as_secs_f64()
    );
}

/// `__raw-walk HOSTS ROOT`: prints `{"seconds":S,"nodes":N,"bytes":B}`.
fn raw_walk_main(hosts: &str, root: &str) {
    let (elapsed, nodes, bytes) = runtime().block_on(raw_walk(hosts, root));
    println!(
        "{{\"seconds\":{},\"nodes\":{nodes},\"bytes\":{bytes}}}",
        elapsed.as_secs_f64()
    );
}

/// `__serve`: a server (heap 2048 MiB) with `/bench`, until stdin closes.
fn serve_main() {
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
fn raw_update_main(hosts: &str, root: &str, shape: Shape, n: usize) {
    let (elapsed, writes, ops) = runtime().block_on(raw_update(hosts, root, shape, n));
    println!(
        "{{\"seconds\":{},\"writes\":{},\"ops\":{ops}}}",
        elapsed.as_secs_f64(),
        writes.as_secs_f64()
    );
}

/// `__raw-prune HOSTS ROOT`: prints `{"seconds":S,"writes":S,"ops":K}`.
fn raw_prune_main(hosts: &str, root: &str) {
    let (elapsed, writes, ops) = runtime().block_on(raw_prune(hosts, root));
    println!(
        "{{\"seconds\":{},\"writes\":{},\"ops\":{ops}}}",
        elapsed.as_secs_f64(),
        writes.as_secs_f64()
    );
}

/// The `VmHWM` of this process, in KiB.
fn own_hwm_kb() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// `__measure OUT ERR PROG ARGS...`: runs PROG with stdout/stderr in the files, reaps it with
/// `wait4` and prints `{"wall":S,"maxrss_kb":K,"user":S,"sys":S,"code":C,"floor_kb":K}`.
/// Wall time runs from just before the spawn to the reap.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped with wait4, which std's Child::wait cannot do"
)]
fn measure_main(out: &Path, err: &Path, prog: &str, rest: &[String]) {
    let floor = own_hwm_kb();
    let stdout = fs::File::create(out).expect("create stdout file");
    let stderr = fs::File::create(err).expect("create stderr file");
    let start = Instant::now();
    let child = Command::new(prog)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {prog}: {e}"));
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to locals; `pid` is our unreaped child (its `Child` never waits).
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4: {}", std::io::Error::last_os_error());
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    println!(
        "{{\"wall\":{},\"maxrss_kb\":{},\"user\":{},\"sys\":{},\"code\":{code},\"floor_kb\":{floor}}}",
        wall.as_secs_f64(),
        usage.ru_maxrss,
        secs(usage.ru_utime),
        secs(usage.ru_stime),
    );
}

// ---------------------------------------------------------------------------------------------
// The bench itself.

struct Config {
    sizes: Vec<usize>,
    shapes: Vec<Shape>,
    validate_sizes: Vec<usize>,
    repeats: usize,
    kazoo_max: usize,
    python: String,
    skip_zkstate: bool,
    zkstate_args: Vec<String>,
    keep: Option<PathBuf>,
}

fn env_usize(name: &str, default: usize) -> usize {
    env_var(name).map_or(default, |v| {
        v.parse().unwrap_or_else(|_| panic!("{name}={v:?}"))
    })
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// One size: `10000` or `10k`.
fn parse_size(v: &str) -> Result<usize, String> {
    let v = v.trim().to_ascii_lowercase();
    let (num, mul) = match v.strip_suffix('k') {
        Some(num) => (num, 1000),
        None => (v.as_str(), 1),
    };
    num.parse::<usize>()
        .map(|x| x * mul)
        .map_err(|_| format!("bad size {v:?} (e.g. 10000 or 10k)"))
}

fn parse_sizes(s: &str) -> Vec<usize> {
    s.split(',')
        .map(|v| parse_size(v).unwrap_or_else(|e| panic!("ZKSTATE_BENCH_SIZES: {e}")))
        .collect()
}

fn config(cli: &Cli) -> Config {
    let quick = env_var("ZKSTATE_BENCH_QUICK").is_some_and(|v| v != "0");
    let mut sizes = if quick {
        vec![1000, 5000]
    } else {
        vec![10_000, 100_000]
    };
    let mut repeats = if quick { 1 } else { 3 };
    let mut validate_sizes = if quick {
        vec![1000, 10_000]
    } else {
        vec![1000, 10_000, 100_000, 1_000_000]
    };
    // `cargo test --all-targets` runs this target without `--bench`: a smoke run that proves the
    // harness still works (every contender, verified), not a measurement.
    if !cli.bench {
        sizes = vec![1000];
        repeats = 1;
        validate_sizes = vec![1000];
    }
    if let Some(s) = env_var("ZKSTATE_BENCH_VALIDATE_SIZES") {
        validate_sizes = parse_sizes(&s);
    }
    if let Some(s) = &cli.validate_sizes {
        validate_sizes.clone_from(s);
    }
    validate_sizes.retain(|&n| n > 0);
    let mut shapes = vec![Shape::Flat, Shape::Nested];
    if let Some(s) = env_var("ZKSTATE_BENCH_SHAPES") {
        shapes = s
            .split(',')
            .map(|v| {
                <Shape as clap::ValueEnum>::from_str(v.trim(), true)
                    .unwrap_or_else(|e| panic!("ZKSTATE_BENCH_SHAPES: {e}"))
            })
            .collect();
    }
    if let Some(s) = &cli.shapes {
        shapes.clone_from(s);
    }
    if let Some(s) = env_var("ZKSTATE_BENCH_SIZES") {
        sizes = parse_sizes(&s);
    }
    if let Some(r) = env_var("ZKSTATE_BENCH_REPEATS") {
        repeats = r.parse().expect("ZKSTATE_BENCH_REPEATS");
    }
    if let Some(s) = &cli.sizes {
        sizes.clone_from(s);
    }
    if let Some(r) = cli.repeats {
        repeats = r;
    }
    for filter in &cli.filter {
        log(format!(
            "ignoring the filter {filter:?}: this bench always runs whole"
        ));
    }
    Config {
        sizes,
        shapes,
        validate_sizes,
        repeats: repeats.max(1),
        kazoo_max: env_var("ZKSTATE_BENCH_KAZOO_MAX")
            .map(|v| v.parse().expect("ZKSTATE_BENCH_KAZOO_MAX"))
            .unwrap_or(10_000),
        python: env_var("ZKSTATE_BENCH_PYTHON").unwrap_or_else(|| "python3".into()),
        skip_zkstate: env_var("ZKSTATE_BENCH_SKIP_ZKSTATE").is_some_and(|v| v != "0"),
        zkstate_args: env_var("ZKSTATE_BENCH_ZKSTATE_ARGS")
            .map(|v| v.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        keep: env_var("ZKSTATE_BENCH_KEEP").map(PathBuf::from),
    }
}

/// One child process as `__measure` saw it.
#[derive(Debug, Clone)]
struct Run {
    wall: f64,
    maxrss_kb: u64,
    user: f64,
    sys: f64,
    code: i32,
    floor_kb: u64,
    stdout: String,
    stderr: String,
}

impl Run {
    /// A number from the JSON line the child printed (its own timing).
    fn reported(&self, key: &str) -> f64 {
        let v: serde_json::Value = self
            .stdout
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("no JSON line in the child's output: {}", self.stdout));
        v[key].as_f64().unwrap_or_else(|| panic!("no {key} in {v}"))
    }

    fn expect_code(&self, what: &str, code: i32) {
        assert!(
            self.code == code,
            "{what} exited {} (expected {code})\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
            self.code,
            tail(&self.stdout),
            tail(&self.stderr)
        );
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Runs `prog args` through the `__measure` helper.
fn measure(scratch: &Path, prog: &str, args: &[OsString]) -> Run {
    let out = scratch.join("child.out");
    let err = scratch.join("child.err");
    let me = std::env::current_exe().expect("own path");
    let output = Command::new(me)
        .arg("__measure")
        .arg(&out)
        .arg(&err)
        .arg(prog)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the measuring helper");
    assert!(
        output.status.success(),
        "measuring helper failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the helper's JSON line");
    let f = |k: &str| v[k].as_f64().expect("number");
    Run {
        wall: f("wall"),
        maxrss_kb: f("maxrss_kb") as u64,
        user: f("user"),
        sys: f("sys"),
        code: f("code") as i32,
        floor_kb: f("floor_kb") as u64,
        stdout: fs::read_to_string(&out).unwrap_or_default(),
        stderr: fs::read_to_string(&err).unwrap_or_default(),
    }
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// What a row of the table measures.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Subject {
    ZkstateApply,
    RawCreate,
    Kazoo,
    ZkstateDiff,
    RawWalk,
    ZkstateUpdate,
    RawUpdate,
    ZkstatePrune,
    RawPrune,
    ZkstateValidate,
}

impl Subject {
    fn label(self) -> &'static str {
        match self {
            Subject::ZkstateApply => "zkstate apply --allow-split (whole process)",
            Subject::RawCreate => "A: raw multis, pipelined",
            Subject::Kazoo => "B: kazoo, one create at a time",
            Subject::ZkstateDiff => "zkstate diff, no-op (whole process)",
            Subject::RawWalk => "C: raw MultiReader walk",
            Subject::ZkstateUpdate => "zkstate apply, 10 % of nodes changed",
            Subject::RawUpdate => "D: raw walk + version-checked sets",
            Subject::ZkstatePrune => "zkstate apply --force, every node removed",
            Subject::RawPrune => "E: raw walk + deletes, deepest first",
            Subject::ZkstateValidate => "zkstate validate (whole process)",
        }
    }

    /// What the child reports about its own timing.
    fn inner(self) -> Option<&'static str> {
        match self {
            Subject::RawCreate | Subject::RawWalk | Subject::RawUpdate | Subject::RawPrune => {
                Some("connect → last ack")
            }
            Subject::Kazoo => Some("after connect → last create"),
            _ => None,
        }
    }
}

/// Which time of a sample a ratio uses.
#[derive(Clone, Copy, Debug)]
enum Pick {
    /// Whole child process, spawn to reap.
    Wall,
    /// The child's own timing.
    Own,
}

/// One measurement: whole-process wall, the child's own timing (if any), peak RSS, CPU.
#[derive(Clone, Copy, Debug)]
struct Sample {
    wall: f64,
    inner: Option<f64>,
    rss_kb: u64,
    cpu: f64,
}

fn sample(run: &Run, inner: Option<f64>) -> Sample {
    Sample {
        wall: run.wall,
        inner,
        rss_kb: run.maxrss_kb,
        cpu: run.user + run.sys,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A row key: shape, N, subject.
type Key = (Shape, usize, Subject);

#[derive(Default)]
struct Results {
    samples: BTreeMap<Key, Vec<Sample>>,
    zk_version: String,
    floor_kb: u64,
    /// `/proc/loadavg` before and after: other work on the machine skews every figure.
    load: (String, String),
    /// Size of each generated manifest.
    manifest_bytes: BTreeMap<(Shape, usize), u64>,
}

impl Results {
    fn add(&mut self, k: Key, sample: Sample) {
        self.samples.entry(k).or_default().push(sample);
    }

    fn get(&self, k: Key) -> Option<&Vec<Sample>> {
        self.samples.get(&k).filter(|v| !v.is_empty())
    }

    fn wall(&self, k: Key) -> Option<f64> {
        self.get(k)
            .map(|v| median(v.iter().map(|x| x.wall).collect()))
    }

    fn rss_mb(&self, k: Key) -> Option<f64> {
        self.get(k)
            .map(|v| median(v.iter().map(|x| x.rss_kb as f64 / 1024.0).collect()))
    }

    fn inner(&self, k: Key) -> Option<f64> {
        self.get(k)
            .and_then(|v| v.iter().map(|x| x.inner).collect::<Option<Vec<_>>>())
            .map(median)
    }

    fn pick(&self, shape: Shape, n: usize, (s, pick): (Subject, Pick)) -> Option<f64> {
        match pick {
            Pick::Wall => self.wall((shape, n, s)),
            Pick::Own => self.inner((shape, n, s)),
        }
    }

    /// `a / b` per repeat: both were measured on the same server minutes apart, so load that
    /// other work puts on the machine cancels out better than in a ratio of medians.
    fn paired(&self, shape: Shape, n: usize, a: (Subject, Pick), b: (Subject, Pick)) -> Vec<f64> {
        let value = |s: &Sample, pick: Pick| match pick {
            Pick::Wall => Some(s.wall),
            Pick::Own => s.inner,
        };
        let (Some(xs), Some(ys)) = (self.get((shape, n, a.0)), self.get((shape, n, b.0))) else {
            return Vec::new();
        };
        xs.iter()
            .zip(ys)
            .filter_map(|(x, y)| Some(value(x, a.1)? / value(y, b.1)?))
            .collect()
    }

    /// The time a subject is compared by: its own timing where it reports one.
    fn time(&self, k: Key) -> Option<f64> {
        self.inner(k).or_else(|| self.wall(k))
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
    let _ = std::io::stderr().flush();
}

fn bench_main(cli: &Cli) {
    let cfg = config(cli);
    let kazoo_ok = cfg.kazoo_max > 0
        && Command::new(&cfg.python)
            .args(["-c", "import kazoo"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !kazoo_ok {
        log(format!(
            "baseline B (kazoo) is skipped: ZKSTATE_BENCH_KAZOO_MAX=0, or {} cannot import kazoo (pip install kazoo==2.11.0)",
            cfg.python
        ));
    }
    let scratch = tempfile::Builder::new()
        .prefix("zkstate-bench-")
        .tempdir()
        .expect("scratch dir");
    let rt = runtime();
    let mut results = Results::default();
    // The floor of the RSS measurement: what `/bin/true` reports through the helper.
    let floor = measure(scratch.path(), "/bin/true", &[]);
    results.floor_kb = floor.maxrss_kb.max(floor.floor_kb);
    results.load.0 = loadavg();
    let me = std::env::current_exe().expect("own path");
    let me = me.to_str().expect("utf-8 path").to_owned();

    // `zkstate validate` alone: linear from 1k to 1M?
    for &n in &cfg.validate_sizes {
        let dir = scratch.path().join(format!("validate-{n}"));
        let bytes = write_validate_set(&dir, n, value);
        results.manifest_bytes.insert((Shape::Nested, n), bytes);
        for rep in 0..cfg.repeats {
            let mut a = os(&["validate", "-f"]);
            a.push(dir.clone().into_os_string());
            let run = measure(scratch.path(), ZKSTATE, &a);
            run.expect_code("zkstate validate", 0);
            log(format!(
                "validate N = {n} ({bytes} bytes) #{rep}: wall {:.3} s rss {:.1} MB",
                run.wall,
                run.maxrss_kb as f64 / 1024.0
            ));
            results.add(
                (Shape::Nested, n, Subject::ZkstateValidate),
                sample(&run, None),
            );
        }
        let _ = fs::remove_dir_all(&dir);
    }

    for &shape in &cfg.shapes {
        for &n in &cfg.sizes {
            let base = scratch.path().join(format!("{}-{n}", shape.name()));
            let manifest_dir = base.join("apply");
            let update_dir = base.join("update");
            let prune_dir = base.join("prune");
            let manifest = write_manifest(&manifest_dir, shape, n, value);
            write_manifest(&update_dir, shape, n, new_value);
            write_manifest(&prune_dir, shape, 0, value);
            let bytes = fs::metadata(&manifest).map(|m| m.len()).unwrap_or(0);
            results.manifest_bytes.insert((shape, n), bytes);
            log(format!(
                "{} N = {n}: manifest {} ({bytes} bytes)",
                shape.name(),
                manifest.display(),
            ));
            let initial = |root: &str| tree_nodes(root, shape, n, value);
            for rep in 0..cfg.repeats {
                let ctx = Ctx {
                    cfg: &cfg,
                    rt: &rt,
                    scratch: scratch.path(),
                    me: &me,
                    shape,
                    n,
                    rep,
                };
                let server = ZkServer::start_with(ServerOptions {
                    heap_mb: 2048,
                    ..Default::default()
                })
                .expect("start zookeeper");
                let hosts = server.connect_string();
                if results.zk_version.is_empty() {
                    results.zk_version = zk_version(&server);
                }
                rt.block_on(async {
                    let client = connect(&hosts).await;
                    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
                    client
                        .create("/bench", b"", &options)
                        .await
                        .expect("create /bench");
                });
                // Warm up the server's JIT with the same kinds of requests.
                let warm_n = WARMUP_NODES.min(n.max(1000)).to_string();
                measure(
                    scratch.path(),
                    &me,
                    &os(&["__raw-create", &hosts, "/warmup", shape.name(), &warm_n]),
                )
                .expect_code("warm-up create", 0);
                measure(scratch.path(), &me, &os(&["__raw-walk", &hosts, "/warmup"]))
                    .expect_code("warm-up walk", 0);

                // Each stage: zkstate and its baseline, in an order rotated per repeat so that
                // none always runs first.
                let mut writers = vec![Subject::ZkstateApply, Subject::RawCreate];
                if kazoo_ok && shape == Shape::Flat && n <= cfg.kazoo_max {
                    writers.push(Subject::Kazoo);
                }
                let stages: [(Vec<Subject>, Option<&Path>); 4] = [
                    (writers, Some(&manifest_dir)),
                    (
                        vec![Subject::ZkstateDiff, Subject::RawWalk],
                        Some(&manifest_dir),
                    ),
                    (
                        vec![Subject::ZkstateUpdate, Subject::RawUpdate],
                        Some(&update_dir),
                    ),
                    (
                        vec![Subject::ZkstatePrune, Subject::RawPrune],
                        Some(&prune_dir),
                    ),
                ];
                for (mut subjects, dir) in stages {
                    if cfg.skip_zkstate {
                        subjects.retain(|s| !s.is_zkstate());
                    }
                    let turn = rep % subjects.len().max(1);
                    subjects.rotate_left(turn);
                    for subject in subjects {
                        let (run, inner) = ctx.run(subject, &hosts, dir);
                        // What the tree must hold afterwards (readers: the raw walk checks).
                        let root = subject.root(cfg.skip_zkstate);
                        let want = match subject {
                            Subject::ZkstateApply | Subject::RawCreate | Subject::Kazoo => {
                                Some(initial(root))
                            }
                            Subject::ZkstateUpdate | Subject::RawUpdate => {
                                Some(tree_nodes(root, shape, n, new_value))
                            }
                            Subject::ZkstatePrune | Subject::RawPrune => {
                                Some(vec![(root.to_owned(), String::new())])
                            }
                            _ => None,
                        };
                        if let Some(want) = want
                            && let Err(e) = rt.block_on(verify(&hosts, &want))
                        {
                            panic!("{} left a wrong tree: {e}", subject.label());
                        }
                        if subject == Subject::RawWalk {
                            let nodes = run.reported("nodes") as usize;
                            let want = tree_rel(shape, n).len() + 1;
                            assert_eq!(nodes, want, "raw walk read {nodes} nodes");
                        }
                        log(format!(
                            "{} N = {n} #{rep}: {:<44} wall {:>7.3} s{} rss {:>6.1} MB cpu {:.2} s",
                            shape.name(),
                            subject.label(),
                            run.wall,
                            inner
                                .map(|t| format!(" (own {t:.3} s)"))
                                .unwrap_or_default(),
                            run.maxrss_kb as f64 / 1024.0,
                            run.user + run.sys,
                        ));
                        results.add((shape, n, subject), sample(&run, inner));
                    }
                }
                drop(server);
            }
            let _ = fs::remove_dir_all(&base);
        }
    }
    results.load.1 = loadavg();
    print!("{}", report(&cfg, &results));
}

/// The server's version, from `srvr`.
fn zk_version(server: &ZkServer) -> String {
    server
        .four_letter("srvr")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Zookeeper version: "))
                .map(|v| {
                    // Debian's build says `3.8.0-${mvngit.commit.id}, built on ...`.
                    let v = v.split(',').next().unwrap_or(v);
                    v.split("-$").next().unwrap_or(v).trim().to_owned()
                })
        })
        .unwrap_or_else(|| "unknown".into())
}

/// One repeat of one shape and size.
struct Ctx<'a> {
    cfg: &'a Config,
    rt: &'a tokio::runtime::Runtime,
    scratch: &'a Path,
    me: &'a str,
    shape: Shape,
    n: usize,
    rep: usize,
}

impl Ctx<'_> {
    /// Runs one contender; returns its run and its own timing, if it reports one.
    fn run(&self, subject: Subject, hosts: &str, dir: Option<&Path>) -> (Run, Option<f64>) {
        let _ = self.rt;
        let zkstate = |cmd: &[&str], what: &str, ok: i32| {
            let mut a = os(&["--zk", hosts]);
            a.extend(os(&self
                .cfg
                .zkstate_args
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()));
            a.extend(os(cmd));
            a.push(OsString::from("-f"));
            a.push(dir.expect("a manifest dir").as_os_str().to_owned());
            let run = measure(self.scratch, ZKSTATE, &a);
            run.expect_code(what, ok);
            keep(
                self.cfg,
                &format!("{what}-{}-{}-{}", self.shape.name(), self.n, self.rep).replace(' ', "_"),
                &run,
            );
            (run, None)
        };
        let raw = |args: &[&str], what: &str| {
            let run = measure(self.scratch, self.me, &os(args));
            run.expect_code(what, 0);
            let inner = run.reported("seconds");
            (run, Some(inner))
        };
        let n = self.n.to_string();
        let shape = self.shape.name();
        let tree = subject.root(self.cfg.skip_zkstate);
        match subject {
            Subject::ZkstateApply => zkstate(&["apply", "--allow-split"], "zkstate apply", 0),
            // 0 = in sync: the tree just applied must need nothing.
            Subject::ZkstateDiff => zkstate(&["diff"], "zkstate diff (no-op)", 0),
            Subject::ZkstateUpdate => zkstate(&["apply", "--allow-split"], "zkstate update", 0),
            Subject::ZkstatePrune => {
                zkstate(&["apply", "--allow-split", "--force"], "zkstate prune", 0)
            }
            Subject::RawCreate => raw(&["__raw-create", hosts, tree, shape, &n], "raw create"),
            Subject::RawWalk => raw(&["__raw-walk", hosts, tree], "raw walk"),
            Subject::RawUpdate => raw(&["__raw-update", hosts, tree, shape, &n], "raw update"),
            Subject::RawPrune => raw(&["__raw-prune", hosts, tree], "raw prune"),
            Subject::Kazoo => {
                let run = measure(
                    self.scratch,
                    &self.cfg.python,
                    &os(&[KAZOO_SCRIPT, hosts, tree, &n]),
                );
                run.expect_code("kazoo script", 0);
                let inner = run.reported("seconds");
                (run, Some(inner))
            }
            Subject::ZkstateValidate => unreachable!("measured apart"),
        }
    }
}

impl Subject {
    fn is_zkstate(self) -> bool {
        matches!(
            self,
            Subject::ZkstateApply
                | Subject::ZkstateDiff
                | Subject::ZkstateUpdate
                | Subject::ZkstatePrune
                | Subject::ZkstateValidate
        )
    }

    /// The tree the subject writes or reads. The raw walk reads zkstate's tree (the raw
    /// baselines' own, with `ZKSTATE_BENCH_SKIP_ZKSTATE`).
    fn root(self, skip_zkstate: bool) -> &'static str {
        match self {
            Subject::Kazoo => "/bench/kazoo",
            Subject::RawWalk if !skip_zkstate => "/bench/zkstate",
            s if s.is_zkstate() => "/bench/zkstate",
            _ => "/bench/raw",
        }
    }
}

/// The 1-, 5- and 15-minute load averages.
fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Keeps a zkstate run's output when `ZKSTATE_BENCH_KEEP` names a directory.
fn keep(cfg: &Config, name: &str, run: &Run) {
    if let Some(dir) = &cfg.keep {
        let _ = fs::create_dir_all(dir);
        let _ = fs::write(dir.join(format!("{name}.out")), &run.stdout);
        let _ = fs::write(dir.join(format!("{name}.err")), &run.stderr);
    }
}

fn fmt_opt(v: Option<f64>, unit: &str) -> String {
    v.map(|x| format!("{x:.3}{unit}"))
        .unwrap_or_else(|| "—".into())
}

/// A ratio row: its name, numerator, denominator and aim (text, limit).
type RatioRow<'a> = (
    &'a str,
    (Subject, Pick),
    (Subject, Pick),
    Option<(&'a str, f64)>,
);

/// The tables and the ratios against the aims, as Markdown.
fn report(cfg: &Config, r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## zkstate benchmark\n\nZooKeeper {} standalone (heap 2048 MiB), {} CPUs, medians of {} run(s); \
         wall = whole child process (spawn → reap), own = the child's own timing; \
         peak RSS = `wait4` ru_maxrss (floor of the method: {:.1} MB); load average {} before, {} after.\n",
        r.zk_version,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cfg.repeats,
        r.floor_kb as f64 / 1024.0,
        r.load.0,
        r.load.1
    );
    let busy = |load: &str| {
        load.split_whitespace()
            .next()
            .and_then(|l| l.parse::<f64>().ok())
            .is_some_and(|l| l > 1.0)
    };
    // Only the figure from before the run: the bench's own server and children raise the later one.
    if busy(&r.load.0) {
        let _ = writeln!(
            out,
            "**Other work was running on this machine (load average above 1): single figures \
             are skewed; compare the ratios, and prefer the per-repeat column.**\n"
        );
    }
    let _ = writeln!(
        out,
        "| shape | N | measurement | wall (s) | own time (s) | peak RSS (MB) | CPU user+sys (s) | runs (wall) |"
    );
    let _ = writeln!(out, "|---|---:|---|---:|---:|---:|---:|---|");
    for (&(shape, n, subject), samples) in &r.samples {
        let runs: Vec<String> = samples.iter().map(|s| format!("{:.3}", s.wall)).collect();
        let _ = writeln!(
            out,
            "| {} | {n} | {} | {:.3} | {} | {:.1} | {:.2} | {} |",
            if subject == Subject::ZkstateValidate {
                "nested (validate)"
            } else {
                shape.name()
            },
            subject.label(),
            median(samples.iter().map(|s| s.wall).collect()),
            match subject.inner() {
                Some(what) => format!("{} ({what})", fmt_opt(r.inner((shape, n, subject)), "")),
                None => "—".into(),
            },
            median(samples.iter().map(|s| s.rss_kb as f64 / 1024.0).collect()),
            median(samples.iter().map(|s| s.cpu).collect()),
            runs.join(", ")
        );
    }

    let _ = writeln!(
        out,
        "\n| shape | ratio | N | ratio of medians | per-repeat ratios: median [min–max] | aim | |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---|");
    let mut ratio = |shape: Shape,
                     name: &str,
                     n: usize,
                     v: f64,
                     pairs: &[f64],
                     target: Option<(&str, bool)>| {
        let spread = if pairs.is_empty() {
            "—".to_owned()
        } else {
            let lo = pairs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = pairs.iter().copied().fold(0.0, f64::max);
            format!("{:.2}x [{lo:.2}–{hi:.2}]", median(pairs.to_vec()))
        };
        let _ = writeln!(
            out,
            "| {} | {name} | {n} | {v:.2}x | {spread} | {} | {} |",
            shape.name(),
            target.map_or("(context)", |t| t.0),
            match target {
                Some((_, true)) => "met",
                Some((_, false)) => "**missed**",
                None => "",
            }
        );
    };
    for &shape in &cfg.shapes {
        for &n in &cfg.sizes {
            let big = n >= 100_000;
            let apply_limit = if big { 1.3 } else { 1.5 };
            let apply_target = format!("≤ {apply_limit}x");
            let (w, o) = (Pick::Wall, Pick::Own);
            let rows: [RatioRow<'_>; 8] = [
                (
                    "apply: zkstate wall / raw own (connect → last ack)",
                    (Subject::ZkstateApply, w),
                    (Subject::RawCreate, o),
                    Some((apply_target.as_str(), apply_limit)),
                ),
                (
                    "apply: zkstate wall / raw wall (both whole process)",
                    (Subject::ZkstateApply, w),
                    (Subject::RawCreate, w),
                    None,
                ),
                (
                    "diff: zkstate wall / raw walk wall (both whole process)",
                    (Subject::ZkstateDiff, w),
                    (Subject::RawWalk, w),
                    big.then_some(("≤ 2x", 2.0)),
                ),
                (
                    "diff: zkstate wall / raw walk own (connect → done)",
                    (Subject::ZkstateDiff, w),
                    (Subject::RawWalk, o),
                    None,
                ),
                (
                    "update 10 %: zkstate wall / raw walk + sets wall",
                    (Subject::ZkstateUpdate, w),
                    (Subject::RawUpdate, w),
                    big.then_some(("≤ 1.5x", 1.5)),
                ),
                (
                    "update 10 %: zkstate wall / raw own (connect → last ack)",
                    (Subject::ZkstateUpdate, w),
                    (Subject::RawUpdate, o),
                    None,
                ),
                (
                    "prune all: zkstate wall / raw walk + deletes wall",
                    (Subject::ZkstatePrune, w),
                    (Subject::RawPrune, w),
                    big.then_some(("≤ 1.5x", 1.5)),
                ),
                (
                    "prune all: zkstate wall / raw own (connect → last ack)",
                    (Subject::ZkstatePrune, w),
                    (Subject::RawPrune, o),
                    None,
                ),
            ];
            for (name, a, b, target) in rows {
                let (Some(x), Some(y)) = (r.pick(shape, n, a), r.pick(shape, n, b)) else {
                    continue;
                };
                let v = x / y;
                ratio(
                    shape,
                    name,
                    n,
                    v,
                    &r.paired(shape, n, a, b),
                    target.map(|(t, limit)| (t, v <= limit)),
                );
            }
            // Peak RSS against the raw read's.
            let walk_rss = r.rss_mb((shape, n, Subject::RawWalk));
            for (name, s) in [
                ("peak RSS: zkstate diff / raw walk", Subject::ZkstateDiff),
                ("peak RSS: zkstate apply / raw walk", Subject::ZkstateApply),
            ] {
                if let (Some(x), Some(y)) = (r.rss_mb((shape, n, s)), walk_rss) {
                    let v = x / y;
                    ratio(shape, name, n, v, &[], big.then_some(("≤ 2x", v <= 2.0)));
                }
            }
            if let (Some(k), Some(apply)) = (
                r.time((shape, n, Subject::Kazoo)),
                r.wall((shape, n, Subject::ZkstateApply)),
            ) {
                let pairs = r.paired(
                    shape,
                    n,
                    (Subject::Kazoo, Pick::Own),
                    (Subject::ZkstateApply, Pick::Wall),
                );
                ratio(
                    shape,
                    "kazoo own / zkstate apply wall",
                    n,
                    k / apply,
                    &pairs,
                    None,
                );
            }
        }
    }

    if !cfg.validate_sizes.is_empty() {
        let _ = writeln!(
            out,
            "\n`zkstate validate` of the nested manifest (linear if µs per node stays flat):\n\n\
             | N | YAML (MB) | wall (s) | µs per node | peak RSS (MB) | aim | |\n|---:|---:|---:|---:|---:|---:|---|"
        );
        for &n in &cfg.validate_sizes {
            let k = (Shape::Nested, n, Subject::ZkstateValidate);
            let (Some(t), Some(rss)) = (r.wall(k), r.rss_mb(k)) else {
                continue;
            };
            let mb = r
                .manifest_bytes
                .get(&(Shape::Nested, n))
                .copied()
                .unwrap_or(0) as f64
                / 1e6;
            let aim = (n == 100_000).then_some(t <= 0.25);
            let _ = writeln!(
                out,
                "| {n} | {mb:.1} | {t:.3} | {:.2} | {rss:.1} | {} | {} |",
                t * 1e6 / n as f64,
                if aim.is_some() { "≤ 0.25 s" } else { "" },
                match aim {
                    Some(true) => "met",
                    Some(false) => "**missed**",
                    None => "",
                }
            );
        }
    }
    out
}
