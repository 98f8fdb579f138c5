//! `cargo bench --bench git`: the figures of an agent following Git (docs/agent.md, "Following
//! Git"), against a real standalone ZooKeeper and a real `git daemon` on a loopback port.
//!
//! 1. Push → applied by webhook: a commit is pushed, then a GitHub-signed `POST /hooks/git` is
//!    sent (the agent polls once an hour, so only the webhook fetches); timed from the start of
//!    the push until a data watch sees the new value. Median and p99 over 30 pushes.
//! 2. Push → applied by polling, `--git-interval 1s` and `5s`: each push starts at a random
//!    point of the interval (a pseudo-random wait below the interval first); median over 10.
//! 3. Fetch cost of a repository holding a 100,000-node manifest set (one ConfigTree file,
//!    ~6 MB): agent start → ready (`/readyz` 200: first fetch, checkout, load and apply), the
//!    agent's `VmRSS` and `VmHWM` then; and a one-line change after it (an incremental fetch,
//!    triggered by a webhook): push → applied, `VmRSS` and `VmHWM` after. The baseline, same
//!    run: the same set read from a directory (`agent -f`) on a fresh ZooKeeper, start → ready
//!    and a one-line edit (write + rename) → applied.
//! 4. Git server requests per push: `git daemon --verbose` logs one "Connection from" line per
//!    connection. K pushes, one every 3 s (`--git-interval 1s`), each waited on until every agent
//!    holds the commit; the lines counted per push with 1 agent, then with 10 (one leader, nine
//!    standbys: only the leader polls, a standby fetches the commit the applied record names).
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke run: 3 pushes each,
//! a 2,000-node repository, 3 agents and 2 pushes. `ZKSTATE_BENCH_LARGE` sets the large size,
//! `ZKSTATE_BENCH_FLEET` the fleet.
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use zkstate::localzk::{ServerOptions, ZkServer};
use zookeeper_client as zk;

const DEADLINE: Duration = Duration::from_secs(60);
const SECRET: &str = "bench-hook-secret";
const HOOK_BODY: &[u8] = br#"{"ref":"refs/heads/main"}"#;

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

/// A bare repository (`origin.git`, what the agents follow, served by `git daemon`) and a
/// working clone that commits and pushes; git runs with a private HOME.
struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let r = Repo {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        fs::create_dir(r.dir.path().join("home")).expect("home");
        r.git(
            r.dir.path(),
            &["init", "-q", "--bare", "-b", "main", "origin.git"],
        );
        r.git(r.dir.path(), &["init", "-q", "-b", "main", "work"]);
        let origin = r.dir.path().join("origin.git").display().to_string();
        r.git(&r.work(), &["remote", "add", "origin", &origin]);
        r
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(cwd)
            .args(args)
            .env("HOME", self.dir.path().join("home"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Bench")
            .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
            .env("GIT_COMMITTER_NAME", "Bench")
            .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
            .stdin(Stdio::null())
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes `manifests/bench.yaml` and commits it (not pushed); the commit id.
    fn commit(&self, text: &str) -> String {
        let dir = self.work().join("manifests");
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("bench.yaml"), text).expect("write manifest");
        self.git(&self.work(), &["add", "-A"]);
        self.git(
            &self.work(),
            &["commit", "-q", "--allow-empty", "-m", "change"],
        );
        self.git(&self.work(), &["rev-parse", "HEAD"])
    }

    fn push(&self) {
        self.git(
            &self.work(),
            &["push", "-q", "origin", "HEAD:refs/heads/main"],
        );
    }
}

/// `git-daemon --verbose` serving the repository on a loopback port, its log in a file.
struct Daemon {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Daemon {
    fn start(repo: &Repo) -> Daemon {
        let port = free_port();
        let base = repo.dir.path().display().to_string();
        let log = repo.dir.path().join("daemon.log");
        let exec_path = repo.git(repo.dir.path(), &["--exec-path"]);
        let child = Command::new(Path::new(&exec_path).join("git-daemon"))
            .args([
                "--reuseaddr",
                "--export-all",
                "--verbose",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={base}"))
            .arg(&base)
            .env("HOME", repo.dir.path().join("home"))
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("daemon log"))
            // Its own process group: stopping it stops the children serving connections too.
            .process_group(0)
            .spawn()
            .expect("start git daemon");
        let deadline = Instant::now() + DEADLINE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, port, log }
    }

    fn url(&self) -> String {
        format!("git://127.0.0.1:{}/origin.git", self.port)
    }

    /// Connections the daemon logged so far.
    fn connections(&self) -> usize {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .matches("Connection from")
            .count()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `GET path`: (status code, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let (head, body) = buf.split_once("\r\n\r\n")?;
    Some((
        head.split_whitespace().nth(1)?.parse().ok()?,
        body.to_owned(),
    ))
}

/// GitHub's `X-Hub-Signature-256` of the hook body, by `openssl dgst` (not zkstate's code).
fn github_signature() -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", SECRET])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(HOOK_BODY)
        .expect("write to openssl");
    let out = child.wait_with_output().expect("openssl output");
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text.rsplit("= ").next().expect("openssl digest").trim();
    format!("sha256={hex}")
}

struct Agent {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Agent {
    fn start(hosts: &str, url: &str, dir: &Path, name: &str, extra: &[&str]) -> Agent {
        let secret = dir.join(format!("{name}-webhook-secret"));
        fs::write(&secret, SECRET).expect("write secret");
        let git_dir = dir.join(format!("{name}-git"));
        let mut args: Vec<&std::ffi::OsStr> = ["--git", url, "--git-path", "manifests"]
            .into_iter()
            .map(std::ffi::OsStr::new)
            .collect();
        args.extend([
            "--git-dir".as_ref(),
            git_dir.as_os_str(),
            "--webhook-secret-file".as_ref(),
            secret.as_os_str(),
        ]);
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        Agent::spawn(hosts, dir, name, &args)
    }

    /// The baseline: the same agent reading a directory (`-f DIR`) instead of following Git.
    fn start_dir(hosts: &str, manifests: &Path, dir: &Path, name: &str, extra: &[&str]) -> Agent {
        let mut args = vec!["-f".as_ref(), manifests.as_os_str()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        Agent::spawn(hosts, dir, name, &args)
    }

    fn spawn(hosts: &str, dir: &Path, name: &str, args: &[&std::ffi::OsStr]) -> Agent {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_zkstate"))
            .args(["--zk", hosts, "agent"])
            .args(args)
            .args(["--host-id", name, "--resync-interval", "60s"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env_remove("ZKSTATE_ZK")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn agent");
        Agent { child, port, log }
    }

    fn wait(&self, what: &str, mut cond: impl FnMut(&Agent) -> bool, limit: Duration) {
        let deadline = Instant::now() + limit;
        while !cond(self) {
            if Instant::now() >= deadline {
                let log = fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "agent {}: never {what}; /status: {}\nlog tail:\n{}",
                    self.log.display(),
                    self.status(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn ready(&self) -> bool {
        http_get(self.port, "/readyz").is_some_and(|(c, _)| c == 200)
    }

    fn status(&self) -> serde_json::Value {
        http_get(self.port, "/status")
            .and_then(|(_, b)| serde_json::from_str(&b).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    fn leader(&self) -> bool {
        self.status()["agent"]["leader"] == serde_json::Value::Bool(true)
    }

    fn holds(&self, commit: &str) -> bool {
        self.status()["source"]["applied"] == commit
    }

    fn hook(&self, signature: &str) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the agent");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let head = format!(
            "POST /hooks/git HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n\r\n",
            HOOK_BODY.len()
        );
        s.write_all(head.as_bytes()).expect("send hook");
        s.write_all(HOOK_BODY).expect("send hook body");
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        assert!(buf.starts_with("HTTP/1.0 202"), "webhook: {buf}");
    }

    /// `(VmRSS, VmHWM)` in MiB.
    fn rss(&self) -> (f64, f64) {
        let status =
            fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
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

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// xorshift64: the push's phase within the poll interval.
struct Rng(u64);

impl Rng {
    fn below(&mut self, max: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(self.0 % (max.as_millis() as u64).max(1))
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let env_or = |name: &str, default: usize| -> usize {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let hooks = if full { 30 } else { 3 };
    let polls = if full { 10 } else { 3 };
    let large = env_or("ZKSTATE_BENCH_LARGE", if full { 100_000 } else { 2_000 });
    let fleet = env_or("ZKSTATE_BENCH_FLEET", if full { 10 } else { 3 });
    let fleet_pushes = if full { 10 } else { 2 };
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
    let client = rt.block_on(connect(&hosts));
    let logs = tempfile::tempdir().expect("tempdir");
    let signature = github_signature();
    let mut rng = Rng(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1);

    // 1. Push → applied by webhook (the agent polls once an hour).
    let repo = Repo::new();
    let daemon = Daemon::start(&repo);
    repo.commit(&manifest(100, "v0"));
    repo.push();
    let agent = Agent::start(
        &hosts,
        &daemon.url(),
        logs.path(),
        "hooked",
        &["--git-interval", "1h"],
    );
    agent.wait("ready", Agent::ready, DEADLINE);
    rt.block_on(wait_data(&client, "/bench/hot", b"v0"));
    let mut hooked = Vec::with_capacity(hooks);
    for i in 1..=hooks {
        let value = format!("h{i}");
        repo.commit(&manifest(100, &value));
        let started = Instant::now();
        repo.push();
        agent.hook(&signature);
        rt.block_on(wait_data(&client, "/bench/hot", value.as_bytes()));
        hooked.push(ms(started.elapsed()));
    }
    hooked.sort_by(f64::total_cmp);
    drop(agent);

    // 2. Push → applied by polling, each push at a random point of the interval.
    let mut polled = Vec::new();
    for (interval, label) in [
        (Duration::from_secs(1), "1s"),
        (Duration::from_secs(5), "5s"),
    ] {
        let agent = Agent::start(
            &hosts,
            &daemon.url(),
            logs.path(),
            &format!("poll-{label}"),
            &["--git-interval", label],
        );
        agent.wait("the leader", Agent::leader, DEADLINE);
        agent.wait("ready", Agent::ready, DEADLINE);
        let mut times = Vec::with_capacity(polls);
        for i in 1..=polls {
            let value = format!("p{label}-{i}");
            repo.commit(&manifest(100, &value));
            std::thread::sleep(rng.below(interval));
            let started = Instant::now();
            repo.push();
            rt.block_on(wait_data(&client, "/bench/hot", value.as_bytes()));
            times.push(ms(started.elapsed()));
        }
        times.sort_by(f64::total_cmp);
        polled.push((label, times));
    }

    // 3. Fetch cost of a large manifest set, and of a one-line change after it. Another
    // repository is another history: a fresh ZooKeeper, so no applied record names a commit
    // it does not hold (that would be refused as a rewrite, docs/agent.md "Following Git").
    let big_server = ZkServer::start_with(ServerOptions {
        heap_mb: 2048,
        ..ServerOptions::default()
    })
    .expect("start ZooKeeper");
    let big_hosts = big_server.connect_string();
    let big_client = rt.block_on(connect(&big_hosts));
    let big = Repo::new();
    let big_daemon = Daemon::start(&big);
    let text = manifest(large, "v0");
    let manifest_mb = text.len() as f64 / 1e6;
    big.commit(&text);
    big.push();
    let started = Instant::now();
    let agent = Agent::start(
        &big_hosts,
        &big_daemon.url(),
        logs.path(),
        "large",
        &[
            "--git-interval",
            "1h",
            "--allow-split",
            "--max-deletes",
            "1000000",
        ],
    );
    agent.wait("ready", Agent::ready, DEADLINE * 5);
    let first = started.elapsed();
    rt.block_on(wait_data(&big_client, "/bench/hot", b"v0"));
    let (first_rss, first_hwm) = agent.rss();
    big.commit(&manifest(large, "v1"));
    let started = Instant::now();
    big.push();
    agent.hook(&signature);
    rt.block_on(wait_data(&big_client, "/bench/hot", b"v1"));
    let incremental = started.elapsed();
    let (inc_rss, inc_hwm) = agent.rss();
    drop(agent);
    drop(big_daemon);
    drop(big_client);
    drop(big_server);
    // The baseline, same run: the same manifest set from a directory (`-f`), on a fresh
    // ZooKeeper; start → ready, then a one-line edit (write + rename) → applied.
    let dir_server = ZkServer::start_with(ServerOptions {
        heap_mb: 2048,
        ..ServerOptions::default()
    })
    .expect("start ZooKeeper");
    let dir_hosts = dir_server.connect_string();
    let dir_client = rt.block_on(connect(&dir_hosts));
    let plain = tempfile::tempdir().expect("tempdir");
    let write = |value: &str| {
        let tmp = plain.path().join(".bench.tmp");
        fs::write(&tmp, manifest(large, value)).expect("write manifest");
        fs::rename(&tmp, plain.path().join("manifests/bench.yaml")).expect("rename manifest");
    };
    fs::create_dir(plain.path().join("manifests")).expect("mkdir");
    write("v0");
    let started = Instant::now();
    let agent = Agent::start_dir(
        &dir_hosts,
        &plain.path().join("manifests"),
        logs.path(),
        "large-dir",
        &["--allow-split", "--max-deletes", "1000000"],
    );
    agent.wait("ready", Agent::ready, DEADLINE * 5);
    let dir_first = started.elapsed();
    rt.block_on(wait_data(&dir_client, "/bench/hot", b"v0"));
    let (dir_first_rss, dir_first_hwm) = agent.rss();
    let started = Instant::now();
    write("v1");
    rt.block_on(wait_data(&dir_client, "/bench/hot", b"v1"));
    let dir_incremental = started.elapsed();
    let (dir_inc_rss, dir_inc_hwm) = agent.rss();
    drop(agent);
    drop(dir_client);
    drop(dir_server);

    // 4. Git server requests per push: 1 agent, then a fleet.
    let requests_per_push = |agents: usize| -> f64 {
        let fleet: Vec<Agent> = (0..agents)
            .map(|i| {
                let name = format!("fleet{agents}-{i:02}");
                let agent = Agent::start(
                    &hosts,
                    &daemon.url(),
                    logs.path(),
                    &name,
                    &["--git-interval", "1s"],
                );
                if i == 0 {
                    agent.wait("the leader", Agent::leader, DEADLINE);
                }
                agent
            })
            .collect();
        for a in &fleet {
            a.wait("ready", Agent::ready, DEADLINE);
        }
        let head = repo.git(&repo.work(), &["rev-parse", "HEAD"]);
        for a in &fleet {
            a.wait("holding the head", |a| a.holds(&head), DEADLINE);
        }
        let before = daemon.connections();
        for i in 1..=fleet_pushes {
            let commit = repo.commit(&manifest(100, &format!("f{agents}-{i}")));
            let started = Instant::now();
            repo.push();
            for a in &fleet {
                a.wait("holding the pushed commit", |a| a.holds(&commit), DEADLINE);
            }
            let period = Duration::from_secs(3);
            std::thread::sleep(period.saturating_sub(started.elapsed()));
        }
        (daemon.connections() - before) as f64 / fleet_pushes as f64
    };
    let one = requests_per_push(1);
    let many = requests_per_push(fleet);
    drop(daemon);

    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "## Following Git figures ({})",
        if full { "full" } else { "smoke" }
    );
    println!();
    println!("| figure | value | aim |");
    println!("| --- | ---: | ---: |");
    println!(
        "| push → applied by webhook, median / p99 ({} pushes) | {:.1} / {:.1} ms | ≤ 1 s |",
        hooked.len(),
        quantile(&hooked, 0.5),
        quantile(&hooked, 0.99)
    );
    for (label, times) in &polled {
        println!(
            "| push → applied by polling, `--git-interval {label}`, median / max ({} pushes) | {:.0} / {:.0} ms | ≈ interval / 2 + a pass |",
            times.len(),
            quantile(times, 0.5),
            quantile(times, 1.0)
        );
    }
    println!(
        "| {large}-node repository ({manifest_mb:.1} MB manifest): start → ready (first fetch, checkout, load, apply) | {:.2} s | |",
        first.as_secs_f64()
    );
    println!("| … agent RSS / peak RSS then | {first_rss:.1} / {first_hwm:.1} MiB | |");
    println!(
        "| … a one-line change after it (incremental fetch, by webhook): push → applied | {:.0} ms | |",
        ms(incremental)
    );
    println!("| … agent RSS / peak RSS then | {inc_rss:.1} / {inc_hwm:.1} MiB | |");
    println!(
        "| baseline, same set from a directory (`-f`): start → ready | {:.2} s | |",
        dir_first.as_secs_f64()
    );
    println!("| … agent RSS / peak RSS then | {dir_first_rss:.1} / {dir_first_hwm:.1} MiB | |");
    println!(
        "| … a one-line edit (write + rename, 100 ms debounce) → applied | {:.0} ms | |",
        ms(dir_incremental)
    );
    println!("| … agent RSS / peak RSS then | {dir_inc_rss:.1} / {dir_inc_hwm:.1} MiB | |");
    println!(
        "| Git server connections per push ({fleet_pushes} pushes, one per 3 s, 1 s interval), 1 agent / {fleet} agents | {one:.2} / {many:.2} ({:.2}x) | one poll per interval + one fetch per standby |",
        many / one
    );
    println!();
    println!("load average: {}", load.trim());
    drop(server);
}
