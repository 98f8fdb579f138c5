//! A soak run of the agent (the agent issue's figure "for months"): one real `zkstate agent`
//! against a real ZooKeeper for `ZKSTATE_SOAK_SECS` seconds (default 24 in CI; the documented
//! run is 3600), with a manifest edit every 2 s (values change and a tenth of the names are
//! replaced each time, so the inventory churns), out-of-band drift writes every 300 ms, a
//! ZooKeeper restart at one third and a forced session expiry (the agent stopped past its
//! session timeout) at two thirds. Reported: the agent's RSS and open file descriptors after a
//! warm-up and at the end, its passes, and the records' size; checked: the tree converges to
//! the last manifest, the agent is still alive and ready, the records stay within 1.5x of what
//! a fresh apply of the same set writes, and RSS and descriptors end within bounds of the start.
mod common;

use std::time::{Duration, Instant};

use common::agent::{Agent, AgentOptions};
use common::raw::block;
use common::{Manifests, wait_for};
use zookeeper_client as zkc;

const NODES: usize = 300;

fn soak_secs() -> u64 {
    std::env::var("ZKSTATE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24)
}

/// The manifest of edit `k`: `NODES` nodes, a tenth of them renamed every edit.
fn manifest(k: usize) -> (String, Vec<(String, String)>) {
    let mut s = String::from(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: soak}\nspec:\n  root: /soak\n  prune: true\n  nodes:\n",
    );
    let mut expected = Vec::new();
    for i in 0..NODES {
        // Slot i changes name every 10 edits, staggered so each edit renames a tenth.
        let generation = (k + i % 10) / 10;
        let name = format!("g{:02}/n{i:04}-{generation}", i % 20);
        let value = format!("edit-{k}-{i}");
        s.push_str(&format!("    {name}: {value}\n"));
        expected.push((format!("/soak/{name}"), value));
    }
    (s, expected)
}

fn proc_status(pid: i32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

fn converged(hosts: &str, expected: &[(String, String)]) -> bool {
    block(async {
        let c = common::raw::client(hosts).await;
        for (path, value) in expected {
            match c.get_data(path).await {
                Ok((data, _)) if data == value.as_bytes() => {}
                _ => return false,
            }
        }
        // Nothing else under /soak's groups (every renamed node was pruned).
        let mut count = 0;
        for g in 0..20 {
            match c.list_children(&format!("/soak/g{g:02}")).await {
                Ok(ch) => count += ch.len(),
                Err(zkc::Error::NoNode) => {}
                Err(_) => return false,
            }
        }
        count == expected.len()
    })
}

fn metric(agent: &Agent, series: &str) -> f64 {
    agent
        .get("/metrics")
        .map(|(_, body)| {
            body.lines()
                .filter(|l| l.starts_with(series))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        })
        .unwrap_or(0.0)
}

#[test]
fn the_agent_soaks_through_edits_drift_a_restart_and_an_expiry() {
    let total = Duration::from_secs(soak_secs());
    let mut z = common::zk();
    let h = z.connect_string();
    let (text, _) = manifest(0);
    let m = Manifests::new(&[("soak.yaml", &text)]);
    let logs = tempfile::tempdir().expect("tempdir");
    let agent = Agent::start(
        &h,
        m.path(),
        logs.path(),
        "soak-host",
        AgentOptions {
            session_timeout: "2s",
            resync_interval: "10s",
            extra: &["--max-deletes", "100000"],
            ..AgentOptions::default()
        },
    );
    assert!(
        wait_for(|| agent.ready(), Duration::from_secs(60)),
        "{}",
        agent.logs()
    );
    let pid = agent.pid();

    let started = Instant::now();
    let warm = total / 6;
    let (mut edits, mut drifts) = (0usize, 0usize);
    let (mut restarted, mut expired) = (false, false);
    let mut start_sample: Option<(u64, usize)> = None;
    let mut next_edit = Instant::now();
    let mut next_drift = Instant::now();
    let mut expected = manifest(0).1;
    let drift_client = |h: &str, path: &str| {
        block(async {
            let c = common::raw::client(h).await;
            let _ = c.set_data(path, b"drifted", None).await;
        })
    };
    while started.elapsed() < total {
        let now = Instant::now();
        if start_sample.is_none() && started.elapsed() >= warm {
            start_sample = Some((proc_status(pid, "VmRSS:"), open_fds(pid)));
        }
        if now >= next_edit {
            edits += 1;
            let (text, exp) = manifest(edits);
            m.replace("soak.yaml", &text);
            expected = exp;
            next_edit = now + Duration::from_secs(2);
        }
        if now >= next_drift {
            drifts += 1;
            let (path, _) = &expected[drifts * 7 % expected.len()];
            drift_client(&h, path);
            next_drift = now + Duration::from_millis(300);
        }
        if !restarted && started.elapsed() >= total / 3 {
            restarted = true;
            z.restart().expect("restart ZooKeeper");
        }
        if !expired && started.elapsed() >= total * 2 / 3 {
            expired = true;
            agent.signal(libc::SIGSTOP);
            // Past the 2 s session timeout: the server expires the session meanwhile.
            std::thread::sleep(Duration::from_secs(4));
            agent.signal(libc::SIGCONT);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        wait_for(|| converged(&h, &expected), Duration::from_secs(60)),
        "the agent did not converge to the last manifest\n{}",
        agent.logs()
    );
    assert!(
        wait_for(|| agent.ready(), Duration::from_secs(30)),
        "not ready at the end\n{}",
        agent.logs()
    );
    let (rss_end, fds_end) = (proc_status(pid, "VmRSS:"), open_fds(pid));
    let (rss_start, fds_start) = start_sample.expect("a sample after the warm-up");
    let passes = metric(&agent, "zkstate_reconcile_total");
    let reverted = metric(&agent, "zkstate_drift_reverted_total");
    let records = common::raw::record_bytes(&h, "/zkstate");
    // What one fresh apply of the last set writes.
    let (last, _) = manifest(edits);
    let fresh = Manifests::new(&[(
        "soak.yaml",
        &last.replace("root: /soak", "root: /fresh-soak"),
    )]);
    let out = common::zkstate()
        .args(["--zk", &h, "--state-path", "/fresh", "apply", "-f"])
        .arg(fresh.path())
        .output()
        .expect("fresh apply");
    assert!(out.status.success());
    let fresh_records = common::raw::record_bytes(&h, "/fresh");
    println!(
        "soak {:?}: {edits} edits, {drifts} drift writes, ZooKeeper restarted, session expired; {passes} passes, {reverted} changes written; RSS {rss_start} kB after warm-up -> {rss_end} kB at the end; fds {fds_start} -> {fds_end}; records {records} bytes (a fresh apply of the last set: {fresh_records})",
        total
    );
    assert!(
        records as f64 <= 1.5 * fresh_records as f64,
        "records {records} bytes against {fresh_records} for a fresh apply"
    );
    assert!(
        fds_end <= fds_start + 4,
        "open descriptors grew: {fds_start} -> {fds_end}"
    );
    // RSS: within 10 % of the warm sample (plus 2 MiB of allocator noise on short runs).
    assert!(
        rss_end as f64 <= rss_start as f64 * 1.10 + 2048.0,
        "RSS grew: {rss_start} kB -> {rss_end} kB"
    );
}
