//! `cargo bench --bench agent`: the agent's figures against a real standalone ZooKeeper.
//!
//! 1. Self-heal: an out-of-band `set` of a managed node → the agent's revert is seen (the raw
//!    client sets, then waits on a data watch until the declared bytes are back); median and
//!    p99 over `--trials` (default 200) on a small tree (100 nodes).
//! 2. Manifest edit → applied: the manifest file is replaced (write + rename, as editors do) with
//!    a new value; timed until the node holds it (debounce included); median over 30 edits.
//! 3. Agent RSS (`VmRSS`) and CPU (`utime + stime` over 10 s) while idle, on the small tree and
//!    on a large one (default 100,000 nodes, applied beforehand by `zkstate apply --allow-split`
//!    so the agent starts in sync), plus `--trials` self-heal round trips on the large tree.
//! 4. What a fleet costs the ensemble: every managed node of the small tree is `set` out of band,
//!    then the raw client waits until all are reverted; the server's `zk_packets_sent` (`mntr`)
//!    delta divided by the nodes changed, with one agent, then with `ZKSTATE_BENCH_FLEET`
//!    (default 10) agents on the same tree (standbys only watch their own nodes: docs/agent.md,
//!    "Leader and standbys"). 10 rounds of 100 nodes.
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke run: 10 trials, a
//! 2,000-node large tree, 2 s of idle, 2 fleet rounds. `ZKSTATE_BENCH_LARGE` sets the large
//! size.
use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zkstate::localzk::{ServerOptions, ZkServer};
use zookeeper_client as zk;

const DEADLINE: Duration = Duration::from_secs(60);

fn manifest(n: usize, value: &str) -> String {
    let mut s = String::from(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: bench}\nspec:\n  root: /bench\n  prune: true\n  nodes:\n",
    );
    s.push_str(&format!("    hot: {value}\n"));
    for i in 0..n {
        s.push_str(&format!(
            "    g{:03}/n{i:06}: value-{i:07}-abcdefghijklmnopqrstuvwxyz\n",
            i % 100
        ));
    }
    s
}

fn write_atomic(dir: &Path, text: &str) {
    let tmp = dir.join(".bench.tmp");
    fs::write(&tmp, text).expect("write manifest");
    fs::rename(&tmp, dir.join("manifests/bench.yaml")).expect("rename manifest");
}

struct Agent(Child, u16);

impl Agent {
    /// Waits until `/readyz` answers 200.
    fn wait_ready(&self) {
        let deadline = Instant::now() + DEADLINE * 5;
        while Instant::now() < deadline {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.1)) {
                let _ = write!(s, "GET /readyz HTTP/1.0\r\n\r\n");
                let mut buf = String::new();
                let _ = s.read_to_string(&mut buf);
                if buf.starts_with("HTTP/1.0 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("agent not ready");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

fn start_agent(hosts: &str, dir: &Path, host_id: &str) -> Agent {
    start_agent_with(hosts, dir, host_id, &[])
}

fn start_agent_with(hosts: &str, dir: &Path, host_id: &str, env: &[(&str, &str)]) -> Agent {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let child = Command::new(env!("CARGO_BIN_EXE_zkstate"))
        .args(["--zk", hosts, "-q", "agent", "-f"])
        .arg(dir.join("manifests"))
        .args(["--host-id", host_id, "--resync-interval", "60s"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join(format!("{host_id}.log"))).expect("log"))
        .envs(env.iter().copied())
        .spawn()
        .expect("spawn agent");
    Agent(child, port)
}

async fn connect(hosts: &str) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(hosts)
        .await
        .expect("connect")
}

/// Waits (on data watches, no polling) until `path` holds `want`.
async fn wait_data(c: &zk::Client, path: &str, want: &[u8]) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        assert!(Instant::now() < deadline, "{path} never became {want:?}");
        match c.get_and_watch_data(path).await {
            Ok((data, _, w)) => {
                if data == want {
                    return;
                }
                let _ = tokio::time::timeout(Duration::from_secs(5), w.changed()).await;
            }
            Err(zk::Error::NoNode) => {
                let (_, w) = c.check_and_watch_stat(path).await.expect("watch");
                let _ = tokio::time::timeout(Duration::from_secs(5), w.changed()).await;
            }
            Err(e) => panic!("read {path}: {e}"),
        }
    }
}

/// `zk_packets_sent` of the server (`mntr`).
fn packets_sent(server: &ZkServer) -> u64 {
    server
        .four_letter("mntr")
        .expect("mntr")
        .lines()
        .find_map(|l| l.strip_prefix("zk_packets_sent")?.trim().parse().ok())
        .expect("zk_packets_sent in mntr")
}

/// The `g.../n...` nodes of `manifest(n, _)` with their declared values.
fn small_nodes(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("/bench/g{:03}/n{i:06}", i % 100),
                format!("value-{i:07}-abcdefghijklmnopqrstuvwxyz"),
            )
        })
        .collect()
}

/// Sets every node of `nodes` out of band, then waits (on data watches; one multi-read checks
/// them all) until the agents reverted every one; `rounds` times. Returns the server's packets
/// sent per changed node (the raw client's own requests and replies included).
async fn packets_per_changed_node(
    server: &ZkServer,
    c: &zk::Client,
    nodes: &[(String, String)],
    rounds: usize,
) -> f64 {
    let before = packets_sent(server);
    for round in 0..rounds {
        for (path, _) in nodes {
            c.set_data(path, format!("drift-{round}").as_bytes(), None)
                .await
                .expect("set");
        }
        loop {
            let mut reader = c.new_multi_reader();
            for (path, _) in nodes {
                reader.add_get_data(path).expect("path");
            }
            let results = reader.commit().await.expect("multi read");
            let pending = nodes.iter().zip(&results).find(|((_, want), r)| {
                !matches!(r, zk::MultiReadResult::Data { data, .. } if data == want.as_bytes())
            });
            match pending {
                Some(((path, want), _)) => wait_data(c, path, want.as_bytes()).await,
                None => break,
            }
        }
    }
    (packets_sent(server) - before) as f64 / (rounds * nodes.len()) as f64
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `(VmRSS MiB, CPU seconds so far)` of a process.
fn usage(pid: u32) -> (f64, f64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11usize, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (rss_kb / 1024.0, ticks / hz)
}

/// RSS and CPU % over `window` of idleness.
fn idle(pid: u32, window: Duration) -> (f64, f64) {
    let (_, cpu0) = usage(pid);
    std::thread::sleep(window);
    let (rss, cpu1) = usage(pid);
    (rss, (cpu1 - cpu0) / window.as_secs_f64() * 100.0)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let trials: usize = std::env::var("ZKSTATE_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 200 } else { 10 });
    let edits = if full { 30 } else { 3 };
    let large: usize = std::env::var("ZKSTATE_BENCH_LARGE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 100_000 } else { 2_000 });
    let window = if full {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(2)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = ZkServer::start_with(ServerOptions {
        heap_mb: 2048,
        ..ServerOptions::default()
    })
    .expect("start ZooKeeper (scripts/install-deps installs it)");
    let hosts = server.connect_string();
    let dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(dir.path().join("manifests")).expect("mkdir");

    // Small tree: self-heal and manifest edits.
    write_atomic(dir.path(), &manifest(100, "v0"));
    let agent = start_agent(&hosts, dir.path(), "bench");
    let pid = agent.0.id();
    agent.wait_ready();
    let client = rt.block_on(connect(&hosts));
    rt.block_on(wait_data(&client, "/bench/hot", b"v0"));
    std::thread::sleep(Duration::from_millis(500));
    let mut heal = Vec::with_capacity(trials);
    for i in 0..trials {
        let started = Instant::now();
        rt.block_on(async {
            client
                .set_data("/bench/hot", format!("drift-{i}").as_bytes(), None)
                .await
                .expect("set");
            wait_data(&client, "/bench/hot", b"v0").await;
        });
        heal.push(ms(started.elapsed()));
    }
    heal.sort_by(f64::total_cmp);
    let mut edit = Vec::with_capacity(edits);
    for i in 1..=edits {
        let value = format!("v{i}");
        let started = Instant::now();
        write_atomic(dir.path(), &manifest(100, &value));
        rt.block_on(wait_data(&client, "/bench/hot", value.as_bytes()));
        edit.push(ms(started.elapsed()));
        std::thread::sleep(Duration::from_millis(50));
    }
    edit.sort_by(f64::total_cmp);
    let (small_rss, small_cpu) = idle(pid, window);

    // A fleet on the small tree: the agent above leads, the others are standbys.
    let fleet: usize = std::env::var("ZKSTATE_BENCH_FLEET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let rounds = if full { 10 } else { 2 };
    let nodes = small_nodes(100);
    let one = rt.block_on(packets_per_changed_node(&server, &client, &nodes, rounds));
    let standbys: Vec<Agent> = (1..fleet)
        .map(|i| start_agent(&hosts, dir.path(), &format!("standby-{i:02}")))
        .collect();
    standbys.iter().for_each(Agent::wait_ready);
    let many = rt.block_on(packets_per_changed_node(&server, &client, &nodes, rounds));
    drop(standbys);
    drop(agent);

    // Large tree, applied beforehand; the agent starts in sync.
    let large_dir = tempfile::tempdir().expect("tempdir");
    fs::create_dir(large_dir.path().join("manifests")).expect("mkdir");
    write_atomic(large_dir.path(), &manifest(large, "v0"));
    let out = Command::new(env!("CARGO_BIN_EXE_zkstate"))
        .args([
            "--zk",
            &hosts,
            "apply",
            "--allow-split",
            "--max-deletes",
            "1000000",
            "-f",
        ])
        .arg(large_dir.path().join("manifests"))
        .stdout(Stdio::null())
        .output()
        .expect("apply");
    assert!(
        out.status.success(),
        "apply: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let agent = start_agent(&hosts, large_dir.path(), "bench");
    let pid = agent.0.id();
    agent.wait_ready();
    let startup = started.elapsed();
    // Reverts on the large tree: each out-of-band set is reverted from the watch event's path
    // alone (docs/agent.md, "How a pass is triggered"), not by re-reading the tree.
    let mut big_heal = Vec::with_capacity(trials);
    for i in 0..trials {
        let started = Instant::now();
        rt.block_on(async {
            client
                .set_data("/bench/hot", format!("drift-{i}").as_bytes(), None)
                .await
                .expect("set");
            wait_data(&client, "/bench/hot", b"v0").await;
        });
        big_heal.push(ms(started.elapsed()));
    }
    big_heal.sort_by(f64::total_cmp);
    // A deleted node is not a data revert: the pass plans from the live cache (the first such
    // pass fills it, so one is run before measuring).
    let recreate = |n: usize| -> Vec<f64> {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            rt.block_on(async {
                client.delete("/bench/hot", None).await.expect("delete");
                wait_data(&client, "/bench/hot", b"v0").await;
            });
            v.push(ms(started.elapsed()));
            // The pass that our re-create's own events trigger, before the next trial.
            std::thread::sleep(Duration::from_millis(if full { 300 } else { 50 }));
        }
        v.sort_by(f64::total_cmp);
        v
    };
    recreate(1);
    let big_cached = recreate((trials / 4).max(3));
    // Let the pass that the revert's own watch event triggers finish before measuring idle.
    std::thread::sleep(if full {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(500)
    });
    let (large_rss, large_cpu) = idle(pid, window);
    drop(agent);
    // The same run's baseline: the same agent with the cache off reads the whole tree for
    // every pass that is not a data revert.
    let agent = start_agent_with(
        &hosts,
        large_dir.path(),
        "bench-nocache",
        &[("ZKSTATE_LIVE_CACHE", "off")],
    );
    let nocache_pid = agent.0.id();
    agent.wait_ready();
    let big_full = recreate((trials / 10).max(3));
    std::thread::sleep(if full {
        Duration::from_secs(3)
    } else {
        Duration::from_millis(500)
    });
    let (nocache_rss, _) = idle(nocache_pid, window);
    drop(agent);

    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("## agent figures ({})", if full { "full" } else { "smoke" });
    println!();
    println!("| figure | value | aim |");
    println!("| --- | ---: | ---: |");
    println!(
        "| out-of-band set → reverted, median ({} trials) | {:.1} ms | ≤ 50 ms |",
        heal.len(),
        quantile(&heal, 0.5)
    );
    println!(
        "| out-of-band set → reverted, p99 | {:.1} ms | ≤ 250 ms |",
        quantile(&heal, 0.99)
    );
    println!(
        "| manifest edit → applied, median ({} edits, 100 ms debounce included) | {:.1} ms | ≤ 300 ms |",
        edit.len(),
        quantile(&edit, 0.5)
    );
    println!(
        "| idle RSS / CPU, 100-node tree | {small_rss:.1} MiB / {small_cpu:.2} % | ≤ 64 MiB / ~0 % |"
    );
    println!(
        "| idle RSS / CPU, {large}-node tree | {large_rss:.1} MiB / {large_cpu:.2} % | ≤ 64 MiB / ~0 % |"
    );
    println!(
        "| {large}-node tree: out-of-band set → reverted, median / p99 ({} trials) | {:.1} ms / {:.1} ms | ≤ 20 ms / ≤ 100 ms |",
        big_heal.len(),
        quantile(&big_heal, 0.5),
        quantile(&big_heal, 0.99)
    );
    println!(
        "| {large}-node tree: deleted node → re-created from the live cache, median / p99 ({} trials) | {:.1} ms / {:.1} ms | |",
        big_cached.len(),
        quantile(&big_cached, 0.5),
        quantile(&big_cached, 0.99)
    );
    println!(
        "| {large}-node tree: deleted node → re-created with the cache off (a full read; the baseline), median / p99 ({} trials) | {:.1} ms / {:.1} ms | |",
        big_full.len(),
        quantile(&big_full, 0.5),
        quantile(&big_full, 0.99)
    );
    println!(
        "| {large}-node tree: idle RSS with the cache / without (the baseline) | {large_rss:.1} MiB / {nocache_rss:.1} MiB | ≤ 64 MiB |"
    );
    println!(
        "| {large}-node tree: start → ready (first pass in sync) | {:.2} s | |",
        startup.as_secs_f64()
    );
    println!(
        "| packets sent per changed node ({} nodes), 1 agent / {fleet} agents | {one:.2} / {many:.2} ({:.2}x) | ≤ 1.25x |",
        rounds * nodes.len(),
        many / one
    );
    println!();
    println!("load average: {}", load.trim());
    drop(server);
}
