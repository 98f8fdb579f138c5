//! The run itself: for every shape, size and repeat a fresh, warmed-up server, then each stage
//! (apply, no-op diff, update, prune) runs zkstate and its baseline, and every tree written is
//! read back. [`Subject`] is a row of the table: what it runs and which tree it touches.
use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use zkstate::localzk::{ServerOptions, ZkServer};
use zookeeper_client as zk;

use crate::baselines::{connect, runtime, verify};
use crate::measure::{Run, measure, os, sample};
use crate::report::{Results, report};
use crate::workloads::{
    Shape, new_value, parts, tree_nodes, tree_rel, value, write_manifest, write_validate_set,
};
use crate::{Cli, Config, config, log};

/// Nodes created (and walked) on every fresh server before measuring, to warm up its JIT.
const WARMUP_NODES: usize = 20_000;
/// Baseline B, run with `ZKSTATE_BENCH_PYTHON`.
const KAZOO_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/kazoo_create.py");
/// The release binary measured.
const ZKSTATE: &str = env!("CARGO_BIN_EXE_zkstate");

/// What a row of the table measures.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Subject {
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
    /// The row's name in the table.
    pub(crate) fn label(self) -> &'static str {
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
    pub(crate) fn inner(self) -> Option<&'static str> {
        match self {
            Subject::RawCreate | Subject::RawWalk | Subject::RawUpdate | Subject::RawPrune => {
                Some("connect → last ack")
            }
            Subject::Kazoo => Some("after connect → last create"),
            _ => None,
        }
    }

    /// True for the zkstate rows (the rest are baselines).
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

/// The bench proper (no helper subcommand): every row measured, then the report printed.
pub(crate) fn bench_main(cli: &Cli) {
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
            let manifest = write_manifest(&manifest_dir, shape, n, value, true);
            write_manifest(&update_dir, shape, n, new_value, true);
            write_manifest(&prune_dir, shape, n, value, false);
            // One file, or (over 100k nodes) a directory of one file per part.
            let bytes: u64 = if manifest.is_dir() {
                fs::read_dir(&manifest)
                    .map(|d| {
                        d.filter_map(|e| e.ok()?.metadata().ok())
                            .map(|m| m.len())
                            .sum()
                    })
                    .unwrap_or(0)
            } else {
                fs::metadata(&manifest).map(|m| m.len()).unwrap_or(0)
            };
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
                            Subject::RawPrune => Some(vec![(root.to_owned(), String::new())]),
                            // A tree split in parts (over 100k nodes, one ConfigTree per part)
                            // keeps each part's root: zkstate never deletes a root.
                            Subject::ZkstatePrune => {
                                let mut want = vec![(root.to_owned(), String::new())];
                                let k = parts(n).len();
                                if k > 1 {
                                    want.extend(
                                        (0..k).map(|j| (format!("{root}/p{j}"), String::new())),
                                    );
                                }
                                Some(want)
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
