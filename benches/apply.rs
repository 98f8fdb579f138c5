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
//!
//! # Files
//! This file holds the command line and `main`; the rest is in `benches/apply/`:
//! `workloads.rs` (shapes, data, manifests), `baselines.rs` (the raw-client baselines and the
//! read-back check), `measure.rs` (child processes, samples, medians), `stages.rs` (the run:
//! servers, stages, `Subject`: the rows) and `report.rs` (results and the tables).
use std::io::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[path = "apply/baselines.rs"]
mod baselines;
#[path = "apply/measure.rs"]
mod measure;
#[path = "apply/report.rs"]
mod report;
#[path = "apply/stages.rs"]
mod stages;
#[path = "apply/workloads.rs"]
mod workloads;

use baselines::{raw_create_main, raw_prune_main, raw_update_main, raw_walk_main, serve_main};
use measure::measure_main;
use stages::bench_main;
use workloads::{Shape, new_value, value, write_manifest};

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
                "update" => write_manifest(dir, *shape, *n, new_value, true),
                "prune" => write_manifest(dir, *shape, *n, value, false),
                _ => write_manifest(dir, *shape, *n, value, true),
            };
        }
        None => bench_main(&cli),
    }
}

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

fn log(msg: impl AsRef<str>) {
    eprintln!("[bench] {}", msg.as_ref());
    let _ = std::io::stderr().flush();
}
