//! The results of a run and the report printed at its end: the table of every row (medians), the
//! ratios against the aims, and the `validate` table.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Config;
use crate::measure::{Sample, median};
use crate::stages::Subject;
use crate::workloads::Shape;

/// Which time of a sample a ratio uses.
#[derive(Clone, Copy, Debug)]
enum Pick {
    /// Whole child process, spawn to reap.
    Wall,
    /// The child's own timing.
    Own,
}

/// A row key: shape, N, subject.
type Key = (Shape, usize, Subject);

/// Every sample of a run, by row, and the facts the report's header prints.
#[derive(Default)]
pub(crate) struct Results {
    samples: BTreeMap<Key, Vec<Sample>>,
    pub(crate) zk_version: String,
    pub(crate) floor_kb: u64,
    /// `/proc/loadavg` before and after: other work on the machine skews every figure.
    pub(crate) load: (String, String),
    /// Size of each generated manifest.
    pub(crate) manifest_bytes: BTreeMap<(Shape, usize), u64>,
}

impl Results {
    pub(crate) fn add(&mut self, k: Key, sample: Sample) {
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
pub(crate) fn report(cfg: &Config, r: &Results) -> String {
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
