//! zkstate's records stay bounded (docs/contract.md §3 "State", docs/design.md "Ownership inventory"):
//! apply a tree, then 11 more times a tree of all-new names (each apply prunes the previous
//! set), against a real ZooKeeper; after every cycle the records under `/zkstate` must stay
//! within 1.5x of what one fresh apply of the current set writes (measured on a second state
//! path of the same server), and the inventory segments must replay to exactly the current set.
//!
//! `ZKSTATE_RECORDS_NODES` sets the tree size (default 6,000: a full list of about 300 KB, more
//! than one 256 KiB segment, so the chain of compaction batches is exercised); the issue's
//! figure uses 20,000. `ZKSTATE_RECORDS_BIN` runs another zkstate binary instead (e.g. the
//! 2026-12-05 baseline, for a before/after in one run) and only reports.
mod common;

use std::time::{Duration, Instant};

use common::{Manifests, zk};

fn nodes() -> usize {
    std::env::var("ZKSTATE_RECORDS_NODES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6_000)
}

fn tree(cycle: usize, n: usize) -> String {
    let mut s = String::from(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: big}\nspec:\n  root: /big\n  prune: true\n  nodes:\n",
    );
    for i in 0..n {
        s.push_str(&format!(
            "    cycle-{cycle:02}/group-{:03}/node-with-a-long-name-{i:07}: v\n",
            i % 100
        ));
    }
    s
}

fn zkstate(hosts: &str, args: &[&str]) -> (i32, String, Duration) {
    let started = Instant::now();
    let mut cmd = match std::env::var_os("ZKSTATE_RECORDS_BIN") {
        Some(bin) => std::process::Command::new(bin),
        None => common::zkstate(),
    };
    let out = cmd
        .args(["--zk", hosts])
        .args(args)
        .env_remove("ZKSTATE_ZK")
        .output()
        .expect("run zkstate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn records_stay_within_1_5x_of_a_fresh_apply_over_12_rename_cycles() {
    let n = nodes();
    let z = zk();
    let h = z.connect_string();
    let mut worst: f64 = 0.0;
    let mut diffs = Vec::new();
    for cycle in 0..12 {
        let m = Manifests::new(&[("t.yaml", &tree(cycle, n))]);
        let f = m.path().to_str().expect("utf-8");
        let (code, err, _) = zkstate(
            &h,
            &[
                "apply",
                "--allow-split",
                "--max-deletes",
                "1000000",
                "-f",
                f,
            ],
        );
        assert_eq!(code, 0, "cycle {cycle}: {err}");
        let (code, err, took) = zkstate(&h, &["diff", "-f", f]);
        assert_eq!(code, 0, "cycle {cycle}: in sync after the apply: {err}");
        diffs.push(took);
        // What one fresh apply of the same set writes, on a state path of its own.
        let fresh_state = format!("/fresh-{cycle:02}");
        let fresh_root = format!("/fresh-tree-{cycle:02}");
        let fresh = tree(cycle, n).replace("root: /big", &format!("root: {fresh_root}"));
        let fm = Manifests::new(&[("t.yaml", &fresh)]);
        let (code, err, _) = zkstate(
            &h,
            &[
                "--state-path",
                &fresh_state,
                "apply",
                "--allow-split",
                "-f",
                fm.path().to_str().expect("utf-8"),
            ],
        );
        assert_eq!(code, 0, "fresh apply {cycle}: {err}");
        let ours = common::raw::record_bytes(&h, "/zkstate");
        let base = common::raw::record_bytes(&h, &fresh_state);
        let ratio = ours as f64 / base as f64;
        worst = worst.max(ratio);
        println!(
            "cycle {cycle:2}: records {ours} bytes, a fresh apply writes {base}: {ratio:.2}x; no-op diff {took:.2?}"
        );
        assert!(
            ratio <= 1.5 || std::env::var_os("ZKSTATE_RECORDS_BIN").is_some(),
            "cycle {cycle}: the records hold {ours} bytes, {ratio:.2}x what a fresh apply writes ({base})"
        );
    }
    println!(
        "{n} nodes x 12 cycles: worst {worst:.2}x a fresh apply; no-op diff first {:.2?}, last {:.2?}",
        diffs[0],
        diffs[diffs.len() - 1]
    );
}
