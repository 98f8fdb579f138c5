//! Fault injection around `zkstate agent` (issue 10), as real processes on a real ZooKeeper:
//! fencing of a SIGSTOPped leader, ZooKeeper down under a running agent, two agents and a
//! concurrent `apply` racing on one tree.
//!
//! `cargo test --test faults_agent -- --nocapture`; trials from `ZKSTATE_FAULT_TRIALS` (fencing
//! runs `max(trials / 5, 2)`, the race `max(trials / 10, 2)` rounds), the outage length from
//! `ZKSTATE_ZK_DOWN_SECS` (default 8; the documented full run uses 120). Each test prints a
//! `RESULT` line.
mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Manifests, raw, wait_for, zk};
use serde_json::Value;
use zookeeper_client as zkc;

const WAIT: Duration = Duration::from_secs(40);

fn trials() -> usize {
    std::env::var("ZKSTATE_FAULT_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// A running agent; killed (and continued first, if stopped) on drop.
struct Agent {
    child: Child,
    log: PathBuf,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl Agent {
    fn start(hosts: &str, manifests: &Path, logs: &Path, name: &str) -> Agent {
        let port = free_port();
        let log = logs.join(format!("{name}.log"));
        let listen = format!("127.0.0.1:{port}");
        let child = common::zkstate()
            .args(["--zk", hosts, "--session-timeout", "2s", "agent", "-f"])
            .arg(manifests)
            .args([
                "--listen",
                &listen,
                "--host-id",
                name,
                "--resync-interval",
                "2s",
            ])
            .env("RUST_LOG", "zkstate=debug")
            .env_remove("ZKSTATE_ZK")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn zkstate agent");
        Agent { child, log, port }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: signalling our own child process.
        unsafe {
            libc::kill(self.pid(), sig);
        }
    }

    fn status(&self) -> Option<Value> {
        let (code, body) = http_get(self.port, "/status")?;
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    fn is_leader(&self) -> bool {
        self.status()
            .is_some_and(|s| s["agent"]["leader"] == Value::Bool(true))
    }

    fn healthy(&self) -> bool {
        http_get(self.port, "/healthz").is_some_and(|(c, _)| c == 200)
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// CPU seconds (user + system) the agent used so far, from `/proc/PID/stat`.
    fn cpu_seconds(&self) -> f64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = f.get(11).and_then(|s| s.parse().ok()).unwrap_or(0.0)
            + f.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        ticks / hz.max(1.0)
    }

    fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- agent log {} ---\n{}", self.log.display(), self.logs());
        }
    }
}

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

fn tree(root: &str, nodes: &[(&str, String)]) -> String {
    let mut s = format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata:\n  name: t\nspec:\n  root: {root}\n  nodes:\n"
    );
    for (k, v) in nodes {
        s.push_str(&format!("    {k}: \"{v}\"\n"));
    }
    s
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// `mzxid` of every node under `root` and of the applied record.
fn mzxids(hosts: &str, root: &str) -> Vec<(String, i64)> {
    block(async {
        let c = zkc::Client::connector()
            .with_session_timeout(Duration::from_secs(10))
            .connect(hosts)
            .await
            .expect("connect");
        let mut out = Vec::new();
        let mut todo = vec![root.to_owned(), "/zkstate/applied".to_owned()];
        while let Some(p) = todo.pop() {
            let Ok((_, stat)) = c.get_data(&p).await else {
                continue;
            };
            out.push((p.clone(), stat.mzxid));
            if p != "/zkstate/applied"
                && let Ok(children) = c.list_children(&p).await
            {
                todo.extend(children.into_iter().map(|ch| format!("{p}/{ch}")));
            }
        }
        out.sort();
        out
    })
}

/// The lock node that holds the leader lock (lowest sequence), if any.
fn lock_holder(hosts: &str) -> Option<String> {
    raw::children(hosts, "/zkstate/lock")
        .into_iter()
        .min_by_key(|c| {
            c.rsplit(['_', '-'])
                .next()
                .and_then(|s| s.parse::<i32>().ok())
                .unwrap_or(i32::MAX)
        })
}

fn text(hosts: &str, path: &str) -> Option<String> {
    raw::get(hosts, path).map(|(d, _)| String::from_utf8_lossy(&d).into_owned())
}

#[test]
fn a_deposed_leader_writes_nothing() {
    let server = zk();
    let hosts = server.connect_string();
    let logs = tempfile::tempdir().expect("tmp");
    // Two agents with different wishes for the same node: any write by the deposed one shows.
    let ma = Manifests::new(&[("t.yaml", &tree("/fence", &[("x", "from-a".into())]))]);
    let mb = Manifests::new(&[("t.yaml", &tree("/fence", &[("x", "from-b".into())]))]);
    let mut agents = [
        Agent::start(&hosts, ma.path(), logs.path(), "agent-a"),
        Agent::start(&hosts, mb.path(), logs.path(), "agent-b"),
    ];
    let wants = ["from-a", "from-b"];
    assert!(
        wait_for(|| agents[0].is_leader() || agents[1].is_leader(), WAIT),
        "no leader"
    );
    let n = (trials() / 5).max(2);
    let mut deposed_writes = 0;
    let mut moved = 0;
    for trial in 0..n {
        let leader = if agents[0].is_leader() { 0 } else { 1 };
        let other = 1 - leader;
        assert!(
            wait_for(
                || text(&hosts, "/fence/x").as_deref() == Some(wants[leader]),
                WAIT
            ),
            "trial {trial}: the leader did not apply"
        );
        agents[leader].signal(libc::SIGSTOP);
        // Its session expires (2 s); the other takes the lock and applies its own wish.
        assert!(
            wait_for(
                || text(&hosts, "/fence/x").as_deref() == Some(wants[other]),
                WAIT
            ),
            "trial {trial}: the standby did not take over\n{}",
            agents[other].logs()
        );
        assert!(wait_for(|| agents[other].is_leader(), WAIT));
        let before = mzxids(&hosts, "/fence");
        let holder = lock_holder(&hosts);
        agents[leader].signal(libc::SIGCONT);
        // The deposed agent wakes with its old plan: it must notice and stand by.
        assert!(
            wait_for(
                || agents[leader]
                    .status()
                    .is_some_and(|s| s["agent"]["leader"] == Value::Bool(false)),
                WAIT
            ),
            "trial {trial}: the deposed agent does not report standby\n{}",
            agents[leader].logs()
        );
        // Give it a few of its resync passes (2 s each) to misbehave in.
        std::thread::sleep(Duration::from_secs(5));
        let after = mzxids(&hosts, "/fence");
        if lock_holder(&hosts) != holder {
            // The new leader lost its own session meanwhile (a loaded machine can stall a 2 s
            // session): a legitimate hand-over, not a deposed write. Not counted either way.
            moved += 1;
            println!("fencing: trial {trial}: the lock moved again; inconclusive, not counted");
            continue;
        }
        let changed = before.iter().zip(&after).filter(|(b, a)| b != a).count()
            + before.len().abs_diff(after.len());
        deposed_writes += changed;
        assert_eq!(
            before, after,
            "trial {trial}: nodes written after the leader was deposed"
        );
        assert_eq!(text(&hosts, "/fence/x").as_deref(), Some(wants[other]));
        assert!(agents[leader].alive() && agents[other].alive());
        println!("fencing: trial {trial}: agent {leader} deposed, 0 writes after");
    }
    println!(
        "RESULT fencing: trials={n} checked={} lock-moved-again={moved} writes-by-deposed-agent={deposed_writes}",
        n - moved
    );
    assert!(moved < n, "every trial was inconclusive");
}

#[test]
fn zookeeper_down_under_an_agent() {
    let secs: u64 = std::env::var("ZKSTATE_ZK_DOWN_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let mut server = zk();
    let hosts = server.connect_string();
    let logs = tempfile::tempdir().expect("tmp");
    let m = Manifests::new(&[("t.yaml", &tree("/down", &[("x", "v1".into())]))]);
    let mut agent = Agent::start(&hosts, m.path(), logs.path(), "agent-a");
    assert!(wait_for(
        || text(&hosts, "/down/x").as_deref() == Some("v1"),
        WAIT
    ));
    server.stop().expect("stop zookeeper");
    let cpu0 = agent.cpu_seconds();
    let started = Instant::now();
    // Down for `secs`: the agent keeps running and answers /healthz.
    while started.elapsed() < Duration::from_secs(secs) {
        assert!(agent.alive(), "the agent exited while ZooKeeper was down");
        std::thread::sleep(Duration::from_millis(500));
    }
    let cpu = agent.cpu_seconds() - cpu0;
    let share = cpu / started.elapsed().as_secs_f64();
    assert!(agent.healthy(), "/healthz while ZooKeeper is down");
    // The manifests change while it is down: applied once it is back.
    m.write("t.yaml", &tree("/down", &[("x", "v2".into())]));
    server.restart().expect("restart zookeeper");
    let back = Instant::now();
    assert!(
        wait_for(|| text(&hosts, "/down/x").as_deref() == Some("v2"), WAIT),
        "did not converge after the outage\n{}",
        agent.logs()
    );
    let converged = back.elapsed();
    println!(
        "RESULT zk-down: down={secs}s agent-cpu={cpu:.2}s ({:.1}% of a core) converged {:.1}s after restart",
        share * 100.0,
        converged.as_secs_f64()
    );
    assert!(
        share < 0.2,
        "busy loop while ZooKeeper was down: {cpu:.2} s CPU"
    );
    assert!(agent.alive());
}

#[test]
fn two_agents_and_a_concurrent_apply_lose_no_update() {
    let server = zk();
    let hosts = server.connect_string();
    let logs = tempfile::tempdir().expect("tmp");
    let names: Vec<String> = (0..20).map(|i| format!("k{i:02}")).collect();
    let round = |r: usize| -> String {
        let nodes: Vec<(&str, String)> = names
            .iter()
            .map(|n| (n.as_str(), format!("round-{r}-{n}")))
            .collect();
        tree("/race", &nodes)
    };
    let m = Manifests::new(&[("t.yaml", &round(0))]);
    let _a = Agent::start(&hosts, m.path(), logs.path(), "agent-a");
    let _b = Agent::start(&hosts, m.path(), logs.path(), "agent-b");
    let rounds = (trials() / 10).max(2);
    assert!(
        wait_for(
            || names
                .iter()
                .all(|n| text(&hosts, &format!("/race/{n}")) == Some(format!("round-0-{n}"))),
            WAIT
        ),
        "the agents did not apply the first set"
    );
    let other = Manifests::new(&[("t.yaml", &round(0))]);
    let g = other.path().to_str().expect("path").to_owned();
    let (mut refused, mut applied) = (0, 0);
    for r in 1..=rounds {
        // The manifests change; the leader agent applies them while a drift writer and an
        // `apply` of other values race it. The agent holds the leader lock, so the `apply`
        // waits for it and gives up (exit 4) having written nothing.
        m.write("t.yaml", &round(r));
        other.write("t.yaml", &round(1000 + r));
        let apply = common::zkstate()
            .args(["--zk", &hosts, "apply", "--lock-timeout", "3s", "-f", &g])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("apply");
        let _ = block(async {
            let c = zkc::Client::connector()
                .with_session_timeout(Duration::from_secs(10))
                .connect(&hosts)
                .await
                .expect("connect");
            c.set_data("/race/k00", b"drift", None).await
        });
        let out = apply.wait_with_output().expect("apply");
        let code = out.status.code();
        let foreign = || {
            names
                .iter()
                .filter(|n| {
                    text(&hosts, &format!("/race/{n}")) == Some(format!("round-{}-{n}", 1000 + r))
                })
                .count()
        };
        match code {
            Some(4) => {
                refused += 1;
                assert_eq!(foreign(), 0, "round {r}: an apply without the lock wrote");
            }
            Some(0) => applied += 1,
            other => panic!(
                "round {r}: apply exit {other:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
        let all = || {
            names
                .iter()
                .all(|n| text(&hosts, &format!("/race/{n}")) == Some(format!("round-{r}-{n}")))
        };
        assert!(
            wait_for(all, WAIT),
            "round {r}: the tree is not the manifests"
        );
        println!("race: round {r}: apply exit {code:?}; converged");
    }
    println!(
        "RESULT race: rounds={rounds} apply-refused-by-lock={refused} apply-ran={applied} lost-updates=0 final-tree=manifests"
    );
}
