//! Fleets of `zkstate agent` processes against real ZooKeeper: only the leader watches the
//! managed subtrees (what each session watches is read from the servers with `wchc`), and a
//! fleet on a 3-node ensemble keeps every host's registration and fails over within the session
//! timeout + 1 s after `kill -9` of its leader.
//!
//! `ZKSTATE_FLEET_AGENTS=N` sets the fleet's size (default 8, what CI runs); the test prints the
//! ensemble's CPU, packets and watch counts with the leader alone and with the whole fleet:
//! `ZKSTATE_FLEET_AGENTS=50 cargo test --test fleet a_fleet -- --nocapture`.
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::agent::{Agent, AgentOptions};
use common::{Manifests, ZkEnsemble, raw, wait_for};
use zookeeper_client as zkc;

const WAIT: Duration = Duration::from_secs(30);

/// `/app` (cluster-scoped) and one `scope: host` instance per agent, registered while a TCP
/// connect to `check` succeeds (no check with `None`).
fn manifest(check: Option<u16>) -> String {
    let check = check
        .map(|p| format!("\n      check: {{tcp: \"127.0.0.1:{p}\", interval: 5s}}"))
        .unwrap_or_default();
    format!(
        r#"apiVersion: zkstate/v1
kind: ConfigTree
metadata: {{name: app}}
spec:
  root: /app
  prune: true
  nodes:
    db/url: v1
    flags: {{json: {{on: true}}}}
---
apiVersion: zkstate/v1
kind: Service
metadata: {{name: api}}
spec:
  format: json
  basePath: /services
  scope: host
  instances:
    - id: ${{ZKSTATE_TEST_HOST}}
      address: 127.0.0.1
      port: 8080{check}
"#
    )
}

fn start(hosts: &str, manifests: &Path, logs: &Path, name: &str, session: &str) -> Agent {
    let options = AgentOptions {
        session_timeout: session,
        // Long: resync passes would blur what the fleet costs per change.
        resync_interval: "600s",
        ..AgentOptions::default()
    };
    Agent::start(hosts, manifests, logs, name, options)
}

/// One series of an agent's `/metrics` (`name{labels}` exactly as exported).
fn metric(agent: &Agent, series: &str) -> Option<f64> {
    let (_, text) = agent.get("/metrics")?;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn is_leader(agent: &Agent) -> bool {
    metric(agent, "zkstate_leader") == Some(1.0)
}

/// Passes an agent ran (every `zkstate_reconcile_total` series).
fn passes(agent: &Agent) -> f64 {
    let Some((_, text)) = agent.get("/metrics") else {
        return 0.0;
    };
    text.lines()
        .filter(|l| l.starts_with("zkstate_reconcile_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The session id an agent reports in `/status` (`0x...`, as `wchc` prints it).
fn session_of(agent: &Agent) -> String {
    let status = agent.status().expect("/status");
    status["agent"]["session"]
        .as_str()
        .expect("a session")
        .to_owned()
}

fn four_letter(port: u16, word: &str) -> String {
    zkstate::localzk::four_letter(port, word, Duration::from_secs(5)).unwrap_or_default()
}

/// What every session watches, over all `ports` (`wchc`: a session id, then its paths indented).
fn watches(ports: &[u16]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for port in ports {
        let mut session = String::new();
        for line in four_letter(*port, "wchc").lines() {
            if let Some(path) = line.strip_prefix('\t') {
                out.entry(session.clone())
                    .or_default()
                    .push(path.trim().to_owned());
            } else if line.starts_with("0x") {
                session = line.trim().to_owned();
            }
        }
    }
    out
}

/// `(connections watching, watched paths, watches)` summed over `ports` (`wchs`).
fn watch_counts(ports: &[u16]) -> (u64, u64, u64) {
    let mut total = (0, 0, 0);
    for port in ports {
        let text = four_letter(*port, "wchs");
        let numbers: Vec<u64> = text
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        if let [conns, paths, watches, ..] = numbers[..] {
            total.0 += conns;
            total.1 += paths;
            total.2 += watches;
        }
    }
    total
}

/// `zk_packets_sent` summed over `ports` (`mntr`).
fn packets_sent(ports: &[u16]) -> u64 {
    ports
        .iter()
        .filter_map(|p| {
            four_letter(*p, "mntr").lines().find_map(|l| {
                l.strip_prefix("zk_packets_sent")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .sum()
}

/// CPU seconds (user + system) the processes used so far, from `/proc/PID/stat`.
fn cpu_seconds(pids: &[u32]) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    pids.iter()
        .map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<&str> = after.split_whitespace().collect();
            let ticks: f64 = [11, 12]
                .iter()
                .filter_map(|i| f.get(*i)?.parse::<f64>().ok())
                .sum();
            ticks / hz.max(1.0)
        })
        .sum()
}

/// Waits (on data watches, no polling) until `path` holds `want`.
async fn wait_data(c: &zkc::Client, path: &str, want: &[u8]) {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "{path} never became {want:?}");
        match c.get_and_watch_data(path).await {
            Ok((data, _, _)) if data == want => return,
            Ok((_, _, w)) => {
                let _ = tokio::time::timeout(Duration::from_secs(5), w.changed()).await;
            }
            // A loaded machine can cost the test's own client its connection for a moment;
            // the client reconnects within its session, and the deadline bounds the wait.
            Err(zkc::Error::ConnectionLoss) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // The ensemble member this client reads from may not have the node yet (reads are
            // served by any member, which may lag the leader): wait for it to appear.
            Err(zkc::Error::NoNode) => {
                if let Ok((_, w)) = c.check_and_watch_stat(path).await {
                    let _ = tokio::time::timeout(Duration::from_secs(5), w.changed()).await;
                }
            }
            Err(e) => panic!("read {path}: {e}"),
        }
    }
}

/// A drift write to `/app/db/url` and the wait until the leader reverted it.
async fn drift_reverted(c: &zkc::Client, round: usize) {
    c.set_data("/app/db/url", format!("drift-{round}").as_bytes(), None)
        .await
        .expect("drift write");
    wait_data(c, "/app/db/url", b"v1").await;
}

/// The host id of the first contender for the leader lock.
async fn first_contender(c: &zkc::Client) -> Option<String> {
    let names = c.list_children("/zkstate/lock").await.ok()?;
    let first = zkstate::zk::lock::order_contender_names(&names)
        .into_iter()
        .next()?;
    let (data, _) = c.get_data(&format!("/zkstate/lock/{first}")).await.ok()?;
    Some(String::from_utf8_lossy(&data).into_owned())
}

/// What the ensemble spent while drift was reverted back to back for `window`.
#[derive(Debug)]
struct Sample {
    reverts: usize,
    cpu_seconds: f64,
    packets_sent: u64,
    watches: (u64, u64, u64),
}

impl Sample {
    fn cpu_ms_per_revert(&self) -> f64 {
        self.cpu_seconds * 1000.0 / self.reverts.max(1) as f64
    }

    fn packets_per_revert(&self) -> f64 {
        self.packets_sent as f64 / self.reverts.max(1) as f64
    }
}

fn measure(
    rt: &tokio::runtime::Runtime,
    c: &zkc::Client,
    ports: &[u16],
    jvms: &[u32],
    window: Duration,
) -> Sample {
    let watches = watch_counts(ports);
    let (cpu0, sent0) = (cpu_seconds(jvms), packets_sent(ports));
    let started = Instant::now();
    let mut reverts = 0;
    while started.elapsed() < window {
        rt.block_on(drift_reverted(c, reverts));
        reverts += 1;
    }
    Sample {
        reverts,
        cpu_seconds: cpu_seconds(jvms) - cpu0,
        packets_sent: packets_sent(ports) - sent0,
        watches,
    }
}

/// A leader and a standby on one server: only the leader's session watches `/app` and
/// `<state-path>/suspend`; the standby's watches are its own registration (and the lock
/// contender it waits behind), and drift costs it no pass. After SIGTERM of the leader the
/// standby leads, watches the managed roots and reverts drift.
#[test]
fn only_the_leader_watches_the_managed_subtrees() {
    let zk = common::zk();
    let h = zk.connect_string();
    let ports = [zk.port()];
    let m = Manifests::new(&[("app.yaml", &manifest(None))]);
    let logs = tempfile::tempdir().unwrap();
    let a = start(&h, m.path(), logs.path(), "host-a", "2s");
    assert!(wait_for(|| is_leader(&a), WAIT), "{}", a.logs());
    let b = start(&h, m.path(), logs.path(), "host-b", "2s");
    assert!(wait_for(|| b.ready(), WAIT), "{}", b.logs());
    assert!(wait_for(
        || raw::get(&h, "/services/api/host-b").is_some(),
        WAIT
    ));
    let (sa, sb) = (session_of(&a), session_of(&b));
    let managed = |p: &String| p.starts_with("/app") || p.starts_with("/zkstate/suspend");
    // Each agent adds its watches before the pass whose report says it is ready.
    let w = watches(&ports);
    let of = |w: &BTreeMap<String, Vec<String>>, s: &str| w.get(s).cloned().unwrap_or_default();
    for path in ["/app", "/zkstate/suspend", "/services/api/host-a"] {
        assert!(
            of(&w, &sa).iter().any(|p| p == path),
            "leader watches {path}: {w:?}"
        );
    }
    assert!(
        of(&w, &sb).iter().any(|p| p == "/services/api/host-b"),
        "the standby watches its own registration: {w:?}"
    );
    assert!(
        !of(&w, &sb).iter().any(managed),
        "the standby watches nothing managed: {w:?}"
    );
    assert_eq!(
        w.values().flatten().filter(|p| *p == "/app").count(),
        1,
        "one session watches /app: {w:?}"
    );

    // Drift costs the standby nothing: no pass, so no reads either. (One pass may still come
    // from the event of the standby's own registration, created in the pass that made it ready;
    // a standby that watched /app would run at least one pass per round.)
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = rt.block_on(raw::client(&h));
    let before = passes(&b);
    for round in 0..10 {
        rt.block_on(drift_reverted(&c, round));
    }
    assert!(
        passes(&b) - before <= 1.0,
        "{} standby passes for 10 drifts\n{}",
        passes(&b) - before,
        b.logs()
    );

    // The leader stops: the standby leads, watches the managed roots, reverts drift.
    a.signal(libc::SIGTERM);
    assert!(wait_for(|| is_leader(&b), WAIT), "{}", b.logs());
    assert!(
        wait_for(
            || {
                let w = watches(&ports);
                of(&w, &sb).iter().any(|p| p == "/app") && !w.contains_key(&sa)
            },
            WAIT
        ),
        "the new leader watches /app: {:?}",
        watches(&ports)
    );
    let reverted = Instant::now();
    rt.block_on(drift_reverted(&c, 100));
    assert!(reverted.elapsed() < Duration::from_secs(5), "{}", b.logs());
}

/// A standby's own watches are enough for its host-scoped nodes: with the leader lock held by an
/// operator's kazoo script (so no agent leads and nothing watches the managed roots
/// recursively), the standby rewrites an out-of-band change to its registration, and runs
/// `onElected` when the contender before it leaves its election, without waiting for a resync.
#[test]
fn a_standby_keeps_its_own_nodes_on_its_own_watches() {
    let zk = common::zk();
    let h = zk.connect_string();
    let operator = common::Holder::kazoo(&["lock-hold", &h, "/zkstate/lock", "operator"]);
    let first = common::Holder::kazoo(&["election-run", &h, "/elections/sched", "kazoo"]);
    let election = r#"---
apiVersion: zkstate/v1
kind: ElectionGroup
metadata: {name: sched}
spec:
  path: /elections/sched
  format: kazoo
  participate:
    identifier: ${ZKSTATE_TEST_HOST}
    onElected: [sh, -c, 'echo "$ZKSTATE_EVENT $ZKSTATE_ELECTION" >> "$ZKSTATE_TEST_HOOKS"']
"#;
    let m = Manifests::new(&[("app.yaml", &format!("{}{election}", manifest(None)))]);
    let logs = tempfile::tempdir().unwrap();
    let b = start(&h, m.path(), logs.path(), "host-b", "2s");
    let reg = "/services/api/host-b";
    assert!(wait_for(|| b.ready(), WAIT), "{}", b.logs());
    assert!(wait_for(|| raw::get(&h, reg).is_some(), WAIT));
    assert!(!is_leader(&b));
    let w = watches(&[zk.port()]);
    let sb = session_of(&b);
    let own = w.get(&sb).cloned().unwrap_or_default();
    assert!(own.iter().any(|p| p == reg), "{w:?}");
    assert!(own.iter().any(|p| p == "/elections/sched"), "{w:?}");
    assert!(!own.iter().any(|p| p.starts_with("/app")), "{w:?}");

    // An out-of-band change to its registration is rewritten.
    let declared = raw::get(&h, reg).unwrap().0;
    raw::set(&h, reg, b"drift");
    assert!(
        wait_for(
            || raw::get(&h, reg).is_some_and(|(d, _)| d == declared),
            WAIT
        ),
        "{}",
        b.logs()
    );
    // The contender before it leaves: the standby is elected (a change to the group's children).
    let hooks = logs.path().join("host-b.hooks");
    assert!(!fs::read_to_string(&hooks).is_ok_and(|t| t.contains("elected")));
    first.release();
    assert!(
        wait_for(
            || fs::read_to_string(&hooks).is_ok_and(|t| t.contains("elected sched")),
            WAIT
        ),
        "{}",
        b.logs()
    );
    assert!(!is_leader(&b), "the operator still holds the lock");
    drop(operator);
}

/// The fleet's size: `ZKSTATE_FLEET_AGENTS`, default 8.
fn fleet_size() -> usize {
    std::env::var("ZKSTATE_FLEET_AGENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
        .max(2)
}

/// N agents on a 3-node ensemble, each with its own `scope: host` registration (checked by a
/// TCP connect): every registration present; the ensemble's CPU, packets and watches with the
/// leader alone and with the fleet; `kill -9` of the leader → a new leader within the session
/// timeout + 1 s, drift reverted after, the other registrations untouched.
#[test]
fn a_fleet_on_an_ensemble_registers_every_host_and_fails_over() {
    let n = fleet_size();
    let session = Duration::from_secs(3);
    let session_flag = "3s";
    let ensemble = ZkEnsemble::start(3).expect("ensemble (scripts/install-deps installs it)");
    let h = ensemble.connect_string();
    let ports: Vec<u16> = (0..ensemble.len()).map(|i| ensemble.port(i)).collect();
    let jvms: Vec<u32> = (0..ensemble.len())
        .filter_map(|i| ensemble.pid(i))
        .collect();
    // The service's health check: a loopback listener that accepts and closes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let check_port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || for _ in listener.incoming() {});
    let m = Manifests::new(&[("app.yaml", &manifest(Some(check_port)))]);
    let logs = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..n).map(|i| format!("host-{i:02}")).collect();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = rt.block_on(raw::client(&h));
    let window = Duration::from_secs(if n > 10 { 10 } else { 3 });

    // The leader alone: the baseline of the same run.
    let mut agents = vec![start(&h, m.path(), logs.path(), &names[0], session_flag)];
    assert!(
        wait_for(|| is_leader(&agents[0]), WAIT),
        "{}",
        agents[0].logs()
    );
    assert!(wait_for(
        || raw::get(&h, "/services/api/host-00").is_some(),
        WAIT
    ));
    rt.block_on(wait_data(&c, "/app/db/url", b"v1"));
    let alone = measure(&rt, &c, &ports, &jvms, window);

    // The whole fleet.
    let started = Instant::now();
    for name in &names[1..] {
        agents.push(start(&h, m.path(), logs.path(), name, session_flag));
    }
    assert!(
        wait_for(
            || raw::children(&h, "/services/api").len() == n,
            Duration::from_secs(120)
        ),
        "{} of {n} registered",
        raw::children(&h, "/services/api").len()
    );
    assert!(
        wait_for(|| agents.iter().all(Agent::ready), Duration::from_secs(60)),
        "every agent ready"
    );
    let all_registered = started.elapsed();
    assert_eq!(raw::children(&h, "/services/api"), names);
    let fleet = measure(&rt, &c, &ports, &jvms, window);
    let w = watches(&ports);
    assert_eq!(
        w.values().flatten().filter(|p| *p == "/app").count(),
        1,
        "only the leader watches /app: {w:?}"
    );
    // The leader: /app, suspend, its registration; a standby: its registration and the lock
    // contender before it; the test's own client: at most its data watch.
    assert!(
        fleet.watches.2 <= 2 * n as u64 + 2,
        "{} watches for {n} agents",
        fleet.watches.2
    );

    // kill -9 of the leader: its session expires, the next contender leads.
    let killed = Instant::now();
    agents[0].signal(libc::SIGKILL);
    let mut new_leader = None;
    assert!(
        wait_for(
            || {
                let first = rt.block_on(first_contender(&c));
                let Some(i) = first.and_then(|id| names.iter().position(|n| *n == id)) else {
                    return false;
                };
                new_leader = Some(i).filter(|&i| i != 0 && is_leader(&agents[i]));
                new_leader.is_some()
            },
            WAIT
        ),
        "a new leader"
    );
    let failover = killed.elapsed();
    let leader = &agents[new_leader.expect("a new leader")];
    let reverted = Instant::now();
    rt.block_on(drift_reverted(&c, 1_000));
    let revert = reverted.elapsed();
    assert!(
        wait_for(|| raw::get(&h, "/services/api/host-00").is_none(), WAIT),
        "the killed agent's registration expires with its session"
    );
    assert_eq!(raw::children(&h, "/services/api"), names[1..]);
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "fleet of {n} agents on a 3-node ensemble (load average {})",
        load.trim()
    );
    println!(
        "  all registered {:.2} s after the standbys started",
        all_registered.as_secs_f64()
    );
    for (what, s) in [("leader alone", &alone), ("whole fleet", &fleet)] {
        println!(
            "  {what}: {} reverts in {:?}: ensemble CPU {:.3} s ({:.2} ms per revert), {:.1} packets sent per revert; wchs: {} connections watching {} paths, {} watches",
            s.reverts,
            window,
            s.cpu_seconds,
            s.cpu_ms_per_revert(),
            s.packets_per_revert(),
            s.watches.0,
            s.watches.1,
            s.watches.2
        );
    }
    println!(
        "  kill -9 of the leader → {} leads after {:.2} s (session timeout {:?}); drift reverted {:.0} ms later",
        names[new_leader.unwrap_or_default()],
        failover.as_secs_f64(),
        session,
        revert.as_secs_f64() * 1000.0
    );
    assert!(
        failover <= session + Duration::from_secs(1),
        "failover took {failover:?}\n{}",
        leader.logs()
    );
}
