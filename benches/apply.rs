//! `cargo bench --bench apply`: the figures of the performance target, measured in one run
//! against a real standalone ZooKeeper (never a mock), each a median of several repeats.
//!
//! For every size N (default 10,000 and 100,000; `ZKSTATE_BENCH_QUICK=1` uses 1,000 and 5,000)
//! and every repeat, a fresh server (`heap_mb: 2048`) is started and warmed up, then:
//!
//! 1. `zkstate apply --allow-split` of a generated ConfigTree manifest of N new 100-byte nodes
//!    under 100 groups (`/bench/zkstate/gGGGG/nIIIIII`): the release binary as a child process,
//!    whole-process wall time and peak RSS;
//! 2. baseline A: the same creates with the raw `zookeeper-client` as pipelined multis of at most
//!    1 MB, several in flight (`/bench/raw`), timed from connect to the last ack;
//! 3. baseline B: kazoo 2.11 creating the same nodes one `create` at a time (`/bench/kazoo`),
//!    timed in the script after connecting; only up to `ZKSTATE_BENCH_KAZOO_MAX` nodes
//!    (default 10,000), larger sizes are extrapolated from the largest measured size and
//!    labelled so;
//! 4. a no-op `zkstate diff` of the tree just applied (exit 0 asserted) against baseline C, a raw
//!    level-by-level `MultiReader` walk of the same tree.
//!
//! Every tree written is verified afterwards with the raw client (N leaves, the right bytes):
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
        n: usize,
    },
    /// Baseline C.
    #[command(name = "__raw-walk", hide = true)]
    RawWalk { hosts: String, root: String },
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
        Some(Helper::RawCreate { hosts, root, n }) => raw_create_main(hosts, root, *n),
        Some(Helper::RawWalk { hosts, root }) => raw_walk_main(hosts, root),
        None => bench_main(&cli),
    }
}

// ---------------------------------------------------------------------------------------------
// The tree every contender writes.

/// The data of leaf `i`: 100 ASCII bytes, distinct per leaf. `kazoo_create.py` has the same.
fn value(i: usize) -> String {
    let mut s = format!("value-{i:07}-");
    while s.len() < VALUE_BYTES {
        s.push(char::from(b'a' + (s.len() % 26) as u8));
    }
    s
}

fn groups(n: usize) -> usize {
    GROUPS.min(n).max(1)
}

/// Path of leaf `i` relative to the tree's root.
fn leaf(i: usize, n: usize) -> String {
    format!("g{:04}/n{i:06}", i % groups(n))
}

/// Every node of a tree in create order (root, groups, leaves), as `(path, data)`.
fn tree_nodes(root: &str, n: usize) -> impl Iterator<Item = (String, String)> + '_ {
    let g = groups(n);
    std::iter::once((root.to_owned(), String::new()))
        .chain((0..g).map(move |k| (format!("{root}/g{k:04}"), String::new())))
        .chain((0..n).map(move |i| (format!("{root}/{}", leaf(i, n)), value(i))))
}

/// Writes the ConfigTree manifest of N leaves under `/bench/zkstate` into `dir/bench.yaml`.
fn write_manifest(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::with_capacity(n * 130 + 200);
    text.push_str(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata:\n  name: bench\nspec:\n  root: /bench/zkstate\n  nodes:\n",
    );
    let g = groups(n);
    for k in 0..g {
        for i in (k..n).step_by(g) {
            let _ = writeln!(text, "    {}: \"{}\"", leaf(i, n), value(i));
        }
    }
    let path = dir.join("bench.yaml");
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

/// Baseline A: creates the tree as pipelined multis. Returns (connect → last ack, multis).
async fn raw_create(hosts: &str, root: &str, n: usize) -> (Duration, usize) {
    let start = Instant::now();
    let client = connect(hosts).await;
    let options = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let max_bytes = env_usize("ZKSTATE_BENCH_RAW_MULTI_BYTES", RAW_MULTI_BYTES);
    let max_in_flight = env_usize("ZKSTATE_BENCH_RAW_IN_FLIGHT", RAW_IN_FLIGHT);
    let mut in_flight = VecDeque::new();
    let mut multis = 0;
    let mut writer = client.new_multi_writer();
    // Sized with the executor's own formula, so both sides pack multis alike.
    let open = [AclEntry::open()];
    let (mut bytes, mut ops) = (MULTI_ENVELOPE_BYTES, 0);
    for (path, data) in tree_nodes(root, n) {
        let size = create_op_size(&path, data.len(), &open, 0);
        if ops > 0 && bytes + size > max_bytes {
            // Sent now; awaited later.
            in_flight.push_back(writer.commit());
            multis += 1;
            writer = client.new_multi_writer();
            (bytes, ops) = (MULTI_ENVELOPE_BYTES, 0);
            if in_flight.len() >= max_in_flight {
                let front = in_flight.pop_front().expect("in flight");
                front.await.expect("raw multi create");
            }
        }
        writer
            .add_create(&path, data.as_bytes(), &options)
            .expect("add create");
        bytes += size;
        ops += 1;
    }
    if ops > 0 {
        in_flight.push_back(writer.commit());
        multis += 1;
    }
    for fut in in_flight {
        fut.await.expect("raw multi create");
    }
    (start.elapsed(), multis)
}

/// Baseline C: reads the whole subtree level by level (data, stat, children of every node) in
/// `MultiReader` batches, several in flight. Returns (connect → done, nodes, data bytes).
async fn raw_walk(hosts: &str, root: &str) -> (Duration, usize, usize) {
    let start = Instant::now();
    let client = connect(hosts).await;
    // What a snapshot keeps: every node's data and version, by path.
    let mut tree: BTreeMap<String, (Vec<u8>, i32)> = BTreeMap::new();
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
                        other => panic!("unexpected multi-read result for {p}: {other:?}"),
                    }
                }
            }
        }
        level = next;
    }
    let bytes = tree.values().map(|(d, _)| d.len()).sum();
    (start.elapsed(), tree.len(), bytes)
}

/// Checks that `root` holds exactly the tree of N leaves with the right bytes.
async fn verify(hosts: &str, root: &str, n: usize) -> Result<(), String> {
    let client = connect(hosts).await;
    let g = groups(n);
    let (mut names, _) = client
        .get_children(root)
        .await
        .map_err(|e| format!("{root}: {e}"))?;
    names.sort();
    let expected: Vec<String> = (0..g).map(|k| format!("g{k:04}")).collect();
    if names != expected {
        return Err(format!(
            "{root} has {} children, expected {g} groups",
            names.len()
        ));
    }
    let mut leaves = 0;
    for name in &names {
        let (children, _) = client
            .get_children(&format!("{root}/{name}"))
            .await
            .map_err(|e| format!("{root}/{name}: {e}"))?;
        leaves += children.len();
    }
    if leaves != n {
        return Err(format!("{root} has {leaves} leaves, expected {n}"));
    }
    let indexes: Vec<usize> = (0..n).collect();
    for chunk in indexes.chunks(WALK_BATCH * WALK_IN_FLIGHT) {
        let futures: Vec<_> = chunk
            .chunks(WALK_BATCH)
            .map(|batch| {
                let mut reader = client.new_multi_reader();
                for &i in batch {
                    reader
                        .add_get_data(&format!("{root}/{}", leaf(i, n)))
                        .expect("add get_data");
                }
                reader.commit()
            })
            .collect();
        for (batch, result) in chunk.chunks(WALK_BATCH).zip(futures) {
            let results = result.await.map_err(|e| format!("verify read: {e}"))?;
            for (&i, r) in batch.iter().zip(&results) {
                match r {
                    zk::MultiReadResult::Data { data, .. } if data == value(i).as_bytes() => {}
                    other => {
                        return Err(format!(
                            "{root}/{}: expected {:?}, read {other:?}",
                            leaf(i, n),
                            value(i)
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Child-process modes.

/// `__raw-create HOSTS ROOT N`: prints `{"seconds":S,"multis":M}`.
fn raw_create_main(hosts: &str, root: &str, n: usize) {
    let (elapsed, multis) = runtime().block_on(raw_create(hosts, root, n));
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
    // `cargo test --all-targets` runs this target without `--bench`: a smoke run that proves the
    // harness still works (every contender, verified), not a measurement.
    if !cli.bench {
        sizes = vec![1000];
        repeats = 1;
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
}

impl Subject {
    fn label(self) -> &'static str {
        match self {
            Subject::ZkstateApply => "zkstate apply --allow-split (whole process)",
            Subject::RawCreate => "A: raw multis, pipelined",
            Subject::Kazoo => "B: kazoo, one create at a time",
            Subject::ZkstateDiff => "zkstate diff, no-op (whole process)",
            Subject::RawWalk => "C: raw MultiReader walk",
        }
    }

    /// What the child reports about its own timing.
    fn inner(self) -> Option<&'static str> {
        match self {
            Subject::RawCreate | Subject::RawWalk => Some("connect → last ack"),
            Subject::Kazoo => Some("after connect → last create"),
            Subject::ZkstateApply | Subject::ZkstateDiff => None,
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

#[derive(Default)]
struct Results {
    samples: BTreeMap<(usize, Subject), Vec<Sample>>,
    zk_version: String,
    floor_kb: u64,
    /// `/proc/loadavg` before and after: other work on the machine skews every figure.
    load: (String, String),
}

impl Results {
    fn add(&mut self, n: usize, s: Subject, sample: Sample) {
        self.samples.entry((n, s)).or_default().push(sample);
    }

    fn get(&self, n: usize, s: Subject) -> Option<&Vec<Sample>> {
        self.samples.get(&(n, s)).filter(|v| !v.is_empty())
    }

    fn wall(&self, n: usize, s: Subject) -> Option<f64> {
        self.get(n, s)
            .map(|v| median(v.iter().map(|x| x.wall).collect()))
    }

    fn inner(&self, n: usize, s: Subject) -> Option<f64> {
        self.get(n, s)
            .and_then(|v| v.iter().map(|x| x.inner).collect::<Option<Vec<_>>>())
            .map(median)
    }

    fn pick(&self, n: usize, (s, pick): (Subject, Pick)) -> Option<f64> {
        match pick {
            Pick::Wall => self.wall(n, s),
            Pick::Own => self.inner(n, s),
        }
    }

    /// `a / b` per repeat: both were measured on the same server minutes apart, so load that
    /// other work puts on the machine cancels out better than in a ratio of medians.
    fn paired(&self, n: usize, a: (Subject, Pick), b: (Subject, Pick)) -> Vec<f64> {
        let value = |s: &Sample, pick: Pick| match pick {
            Pick::Wall => Some(s.wall),
            Pick::Own => s.inner,
        };
        let (Some(xs), Some(ys)) = (self.get(n, a.0), self.get(n, b.0)) else {
            return Vec::new();
        };
        xs.iter()
            .zip(ys)
            .filter_map(|(x, y)| Some(value(x, a.1)? / value(y, b.1)?))
            .collect()
    }

    /// The time a subject is compared by: its own timing where it reports one.
    fn time(&self, n: usize, s: Subject) -> Option<f64> {
        self.inner(n, s).or_else(|| self.wall(n, s))
    }
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
    let _ = std::io::stderr().flush();
}

fn bench_main(cli: &Cli) {
    let cfg = config(cli);
    let kazoo_ok = Command::new(&cfg.python)
        .args(["-c", "import kazoo"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !kazoo_ok {
        log(format!(
            "{} cannot import kazoo: baseline B is skipped (pip install kazoo==2.11.0)",
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

    for &n in &cfg.sizes {
        let manifest_dir = scratch.path().join(format!("manifest-{n}"));
        fs::create_dir_all(&manifest_dir).expect("manifest dir");
        let manifest = write_manifest(&manifest_dir, n);
        log(format!(
            "N = {n}: manifest {} ({} bytes)",
            manifest.display(),
            fs::metadata(&manifest).map(|m| m.len()).unwrap_or(0)
        ));
        for rep in 0..cfg.repeats {
            let server = ZkServer::start_with(ServerOptions {
                heap_mb: 2048,
                ..Default::default()
            })
            .expect("start zookeeper");
            let hosts = server.connect_string();
            if results.zk_version.is_empty() {
                results.zk_version = server
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
                    .unwrap_or_else(|| "unknown".into());
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
            let me = std::env::current_exe().expect("own path");
            let me = me.to_str().expect("utf-8 path");
            measure(
                scratch.path(),
                me,
                &os(&["__raw-create", &hosts, "/warmup", &warm_n]),
            )
            .expect_code("warm-up create", 0);
            measure(scratch.path(), me, &os(&["__raw-walk", &hosts, "/warmup"]))
                .expect_code("warm-up walk", 0);

            // Writers, in an order rotated per repeat so that none always runs first.
            let mut writers = vec![Subject::ZkstateApply, Subject::RawCreate];
            if kazoo_ok && n <= cfg.kazoo_max {
                writers.push(Subject::Kazoo);
            }
            if cfg.skip_zkstate {
                writers.retain(|s| *s != Subject::ZkstateApply);
            }
            let turn = rep % writers.len();
            writers.rotate_left(turn);
            for subject in writers {
                let (root, run, inner) = match subject {
                    Subject::ZkstateApply => {
                        let mut a = os(&["--zk", &hosts]);
                        a.extend(os(&cfg
                            .zkstate_args
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()));
                        a.extend(os(&["apply", "--allow-split", "-f"]));
                        a.push(manifest_dir.clone().into_os_string());
                        let run = measure(scratch.path(), ZKSTATE, &a);
                        run.expect_code("zkstate apply", 0);
                        keep(&cfg, &format!("apply-{n}-{rep}"), &run);
                        ("/bench/zkstate", run, None)
                    }
                    Subject::RawCreate => {
                        let run = measure(
                            scratch.path(),
                            me,
                            &os(&["__raw-create", &hosts, "/bench/raw", &n.to_string()]),
                        );
                        run.expect_code("raw create", 0);
                        let inner = run.reported("seconds");
                        ("/bench/raw", run, Some(inner))
                    }
                    Subject::Kazoo => {
                        let run = measure(
                            scratch.path(),
                            &cfg.python,
                            &os(&[KAZOO_SCRIPT, &hosts, "/bench/kazoo", &n.to_string()]),
                        );
                        run.expect_code("kazoo script", 0);
                        let inner = run.reported("seconds");
                        ("/bench/kazoo", run, Some(inner))
                    }
                    _ => unreachable!("writers only"),
                };
                if let Err(e) = rt.block_on(verify(&hosts, root, n)) {
                    panic!("{} wrote a wrong tree: {e}", subject.label());
                }
                log(format!(
                    "N = {n} #{rep}: {:<44} wall {:>7.3} s{} rss {:>6.1} MB cpu {:.2} s (verified)",
                    subject.label(),
                    run.wall,
                    inner
                        .map(|t| format!(" (own {t:.3} s)"))
                        .unwrap_or_default(),
                    run.maxrss_kb as f64 / 1024.0,
                    run.user + run.sys,
                ));
                results.add(n, subject, sample(&run, inner));
            }

            // Readers of the tree zkstate applied (or, baselines only, of the raw tree).
            let tree = if cfg.skip_zkstate {
                "/bench/raw"
            } else {
                "/bench/zkstate"
            };
            let mut readers = vec![Subject::ZkstateDiff, Subject::RawWalk];
            if cfg.skip_zkstate {
                readers.retain(|s| *s != Subject::ZkstateDiff);
            }
            let turn = rep % readers.len();
            readers.rotate_left(turn);
            for subject in readers {
                let (run, inner) = match subject {
                    Subject::ZkstateDiff => {
                        let mut a = os(&["--zk", &hosts]);
                        a.extend(os(&cfg
                            .zkstate_args
                            .iter()
                            .map(String::as_str)
                            .collect::<Vec<_>>()));
                        a.extend(os(&["diff", "-f"]));
                        a.push(manifest_dir.clone().into_os_string());
                        let run = measure(scratch.path(), ZKSTATE, &a);
                        // 0 = in sync: the tree just applied must need nothing.
                        run.expect_code("zkstate diff (no-op)", 0);
                        keep(&cfg, &format!("diff-{n}-{rep}"), &run);
                        (run, None)
                    }
                    Subject::RawWalk => {
                        let run = measure(scratch.path(), me, &os(&["__raw-walk", &hosts, tree]));
                        run.expect_code("raw walk", 0);
                        let nodes = run.reported("nodes") as usize;
                        let want = n + groups(n) + 1;
                        assert_eq!(nodes, want, "raw walk of {tree} read {nodes} nodes");
                        let inner = run.reported("seconds");
                        (run, Some(inner))
                    }
                    _ => unreachable!("readers only"),
                };
                log(format!(
                    "N = {n} #{rep}: {:<44} wall {:>7.3} s{} rss {:>6.1} MB cpu {:.2} s",
                    subject.label(),
                    run.wall,
                    inner
                        .map(|t| format!(" (own {t:.3} s)"))
                        .unwrap_or_default(),
                    run.maxrss_kb as f64 / 1024.0,
                    run.user + run.sys,
                ));
                results.add(n, subject, sample(&run, inner));
            }
            drop(server);
        }
    }
    results.load.1 = loadavg();
    print!("{}", report(&cfg, &results));
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

/// The table and the ratios against the targets, as Markdown.
fn report(cfg: &Config, r: &Results) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## zkstate apply benchmark\n\nZooKeeper {} standalone (heap 2048 MiB), {} CPUs, medians of {} run(s); \
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
        "| N | measurement | wall (s) | own time (s) | peak RSS (MB) | CPU user+sys (s) | runs (wall) |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---:|---:|---|");
    for ((n, subject), samples) in &r.samples {
        let runs: Vec<String> = samples.iter().map(|s| format!("{:.3}", s.wall)).collect();
        let _ = writeln!(
            out,
            "| {n} | {} | {:.3} | {} | {:.1} | {:.2} | {} |",
            subject.label(),
            median(samples.iter().map(|s| s.wall).collect()),
            match subject.inner() {
                Some(what) => format!("{} ({what})", fmt_opt(r.inner(*n, *subject), "")),
                None => "—".into(),
            },
            median(samples.iter().map(|s| s.rss_kb as f64 / 1024.0).collect()),
            median(samples.iter().map(|s| s.cpu).collect()),
            runs.join(", ")
        );
    }
    // Kazoo beyond the measured sizes: extrapolated linearly from the largest measured size.
    let kazoo_measured: Vec<usize> = cfg
        .sizes
        .iter()
        .copied()
        .filter(|&n| r.get(n, Subject::Kazoo).is_some())
        .collect();
    let mut kazoo_time = BTreeMap::new();
    for &n in &cfg.sizes {
        if let Some(t) = r.time(n, Subject::Kazoo) {
            kazoo_time.insert(n, (t, false));
        } else if let Some(&m) = kazoo_measured.iter().max() {
            let t = r.time(m, Subject::Kazoo).expect("measured") * n as f64 / m as f64;
            kazoo_time.insert(n, (t, true));
            let _ = writeln!(
                out,
                "| {n} | B: kazoo, **extrapolated** linearly from N = {m} (not measured) | — | {t:.3} | — | — | — |"
            );
        }
    }

    let _ = writeln!(
        out,
        "\n| ratio | N | ratio of medians | per-repeat ratios: median [min–max] | target | |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    let mut ratio = |name: &str, n: usize, v: f64, pairs: &[f64], target: Option<(&str, bool)>| {
        let spread = if pairs.is_empty() {
            "—".to_owned()
        } else {
            let lo = pairs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = pairs.iter().copied().fold(0.0, f64::max);
            format!("{:.2}x [{lo:.2}–{hi:.2}]", median(pairs.to_vec()))
        };
        let _ = writeln!(
            out,
            "| {name} | {n} | {v:.2}x | {spread} | {} | {} |",
            target.map_or("(context)", |t| t.0),
            match target {
                Some((_, true)) => "met",
                Some((_, false)) => "**missed**",
                None => "",
            }
        );
    };
    for &n in &cfg.sizes {
        let apply_limit = if n >= 100_000 { 1.5 } else { 2.0 };
        let apply_target = format!("≤ {apply_limit}x");
        let rows = [
            (
                "apply: zkstate wall / raw own (connect → last ack)",
                (Subject::ZkstateApply, Pick::Wall),
                (Subject::RawCreate, Pick::Own),
                Some((apply_target.as_str(), apply_limit)),
            ),
            (
                "apply: zkstate wall / raw wall (both whole process)",
                (Subject::ZkstateApply, Pick::Wall),
                (Subject::RawCreate, Pick::Wall),
                None,
            ),
            (
                "diff: zkstate wall / raw walk wall (both whole process)",
                (Subject::ZkstateDiff, Pick::Wall),
                (Subject::RawWalk, Pick::Wall),
                Some(("≤ 3x", 3.0)),
            ),
            (
                "diff: zkstate wall / raw walk own (connect → done)",
                (Subject::ZkstateDiff, Pick::Wall),
                (Subject::RawWalk, Pick::Own),
                None,
            ),
        ];
        for (name, a, b, target) in rows {
            let (Some(x), Some(y)) = (r.pick(n, a), r.pick(n, b)) else {
                continue;
            };
            let v = x / y;
            ratio(
                name,
                n,
                v,
                &r.paired(n, a, b),
                target.map(|(t, limit)| (t, v <= limit)),
            );
        }
        let Some(apply) = r.wall(n, Subject::ZkstateApply) else {
            continue;
        };
        match kazoo_time.get(&n) {
            Some(&(k, false)) => {
                let v = k / apply;
                let pairs = r.paired(
                    n,
                    (Subject::Kazoo, Pick::Own),
                    (Subject::ZkstateApply, Pick::Wall),
                );
                let target = (n == 10_000).then_some(("≥ 50x", v >= 50.0));
                ratio("kazoo own / zkstate apply wall", n, v, &pairs, target);
            }
            Some(&(k, true)) => ratio(
                "kazoo (**extrapolated**) / zkstate apply wall",
                n,
                k / apply,
                &[],
                None,
            ),
            None => {}
        }
    }
    out
}
