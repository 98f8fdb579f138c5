//! `zkstate agent` against a real ZooKeeper, as real processes: self-heal, observe, a bad
//! manifest edit, SIGTERM, leader failover, session expiry, a ZooKeeper restart, interop of the
//! agent's registrations and contenders with kazoo and Curator, and `/metrics` as Prometheus text.
mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::agent::{Agent, AgentOptions, free_port};
use common::{raw, wait_for};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

/// An agent for `fx`: manifests in `fx/manifests`, log and hooks file in `fx`.
fn start_agent(hosts: &str, dir: &Path, name: &str, extra: &[&str]) -> Agent {
    let options = AgentOptions {
        extra,
        ..AgentOptions::default()
    };
    Agent::start(hosts, &dir.join("manifests"), dir, name, options)
}

/// Parses Prometheus / OpenMetrics text: every line a `# ...` comment or `name{labels} value`.
/// Returns `(series, value)` pairs; panics on a malformed line.
fn parse_metrics(text: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("malformed metric line {line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        if name_end < series.len() {
            assert!(series.ends_with('}'), "bad labels in {line:?}");
        }
        let v: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        out.push((series.to_owned(), v));
    }
    out
}

fn metric(agent: &Agent, series: &str) -> Option<f64> {
    let (_, text) = agent.get("/metrics")?;
    parse_metrics(&text)
        .into_iter()
        .find(|(s, _)| s == series)
        .map(|(_, v)| v)
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(manifest: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("manifests")).unwrap();
        let f = Fixture { dir };
        f.write(manifest);
        f
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the manifest atomically (write + rename), as editors and git do.
    fn write(&self, manifest: &str) {
        let tmp = self.path().join("tmp.yaml");
        fs::write(&tmp, manifest).unwrap();
        fs::rename(&tmp, self.path().join("manifests/app.yaml")).unwrap();
    }
}

fn config_tree(value: &str) -> String {
    format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {{name: app}}\nspec:\n  root: /app\n  prune: true\n  nodes:\n    db/url: {value}\n    flags: {{json: {{on: true}}}}\n"
    )
}

fn data(hosts: &str, path: &str) -> Option<String> {
    raw::get(hosts, path).map(|(d, _)| String::from_utf8_lossy(&d).into_owned())
}

#[test]
fn drift_is_reverted_and_endpoints_answer() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&config_tree("postgres://db"));
    let agent = start_agent(&h, fx.path(), "host-a", &[]);
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://db"),
            WAIT
        ),
        "initial apply"
    );
    assert!(wait_for(|| agent.ready(), WAIT), "/readyz");
    assert_eq!(agent.get("/healthz").map(|r| r.0), Some(200));
    // Out-of-band changes are reverted: a set, a delete.
    raw::set(&h, "/app/db/url", b"drift");
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("postgres://db"),
            WAIT
        ),
        "set reverted"
    );
    raw::set(&h, "/app/flags", b"{}");
    assert!(wait_for(
        || data(&h, "/app/flags").as_deref() == Some(r#"{"on":true}"#),
        WAIT
    ));
    // /metrics is Prometheus text with the contract's metrics (docs/contract.md §4).
    let (code, text) = agent.get("/metrics").unwrap();
    assert_eq!(code, 200);
    let series = parse_metrics(&text);
    for name in [
        "zkstate_reconcile_total",
        "zkstate_reconcile_duration_seconds_count",
        "zkstate_drift_nodes",
        "zkstate_drift_reverted_total",
        "zkstate_last_apply_timestamp_seconds",
        "zkstate_multi_ops_total",
        "zkstate_multi_bytes_count",
        "zkstate_session_state",
        "zkstate_leader",
        "zkstate_manifest_errors",
    ] {
        assert!(
            series.iter().any(|(s, _)| s.starts_with(name)),
            "{name} missing:\n{text}"
        );
    }
    assert_eq!(metric(&agent, "zkstate_leader"), Some(1.0));
    assert!(
        metric(&agent, "zkstate_reconcile_duration_seconds_count").is_some_and(|n| n >= 1.0),
        "every pass is timed\n{text}"
    );
    // Recorded when each reverting pass finishes, a moment after its write is visible.
    assert!(wait_for(
        || metric(&agent, "zkstate_drift_reverted_total").is_some_and(|v| v >= 3.0),
        WAIT
    ));
    assert_eq!(
        metric(&agent, "zkstate_session_state{state=\"connected\"}"),
        Some(1.0)
    );
    // /status: docs/contract.md §2's object plus the agent's own view.
    let s = agent.status().unwrap();
    assert_eq!(s["trees"][0]["name"], "app");
    assert_eq!(s["trees"][0]["inSync"], true);
    assert_eq!(s["lock"]["holder"], "host-a");
    assert_eq!(s["agent"]["hostId"], "host-a");
    // Idle means idle: no pass loops on the agent's own writes or reads of its manifests.
    let passes = || -> f64 {
        let (_, text) = agent.get("/metrics").unwrap();
        parse_metrics(&text)
            .iter()
            .filter(|(s, _)| s.starts_with("zkstate_reconcile_total"))
            .map(|(_, v)| v)
            .sum()
    };
    std::thread::sleep(Duration::from_millis(500));
    let before = passes();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(passes(), before, "passes while idle\n{}", agent.logs());
    // A burst of out-of-band writes costs a few passes, not one per event, and converges.
    for i in 0..50 {
        raw::set(&h, "/app/db/url", format!("burst-{i}").as_bytes());
    }
    assert!(wait_for(
        || data(&h, "/app/db/url").as_deref() == Some("postgres://db"),
        WAIT
    ));
}

#[test]
fn observe_only_reports() {
    let zk = common::zk();
    let h = zk.connect_string();
    raw::create(&h, "/app/db/url", b"live");
    let fx = Fixture::new(&config_tree("postgres://db"));
    let agent = start_agent(&h, fx.path(), "host-a", &["--observe"]);
    assert!(wait_for(|| agent.ready(), WAIT), "/readyz");
    assert!(wait_for(
        || metric(&agent, "zkstate_drift_nodes{tree=\"app\"}").is_some_and(|v| v >= 2.0),
        WAIT
    ));
    raw::set(&h, "/app/db/url", b"live2");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(data(&h, "/app/db/url").as_deref(), Some("live2"));
    assert_eq!(data(&h, "/app/flags"), None);
    let s = agent.status().unwrap();
    assert_eq!(s["trees"][0]["inSync"], false, "{s}");
    assert_eq!(metric(&agent, "zkstate_drift_reverted_total"), Some(0.0));
}

#[test]
fn a_bad_manifest_edit_keeps_the_last_good_set() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&config_tree("v1"));
    let agent = start_agent(&h, fx.path(), "host-a", &[]);
    assert!(wait_for(
        || data(&h, "/app/db/url").as_deref() == Some("v1"),
        WAIT
    ));
    // A half-written file: the last good set stays in force.
    fx.write("apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: app}\nspec:\n  root: /app\n  nodes:\n    db/url: [unclosed\n");
    assert!(
        wait_for(
            || metric(&agent, "zkstate_manifest_errors").is_some_and(|v| v >= 1.0),
            WAIT
        ),
        "manifest error reported"
    );
    let s = agent.status().unwrap();
    assert!(
        !s["agent"]["manifestErrors"].as_array().unwrap().is_empty(),
        "{s}"
    );
    raw::set(&h, "/app/db/url", b"drift");
    assert!(
        wait_for(|| data(&h, "/app/db/url").as_deref() == Some("v1"), WAIT),
        "still enforcing the last good set"
    );
    assert_eq!(data(&h, "/app/flags").as_deref(), Some(r#"{"on":true}"#));
    // Fixed: the new set applies and the error clears.
    fx.write(&config_tree("v2"));
    assert!(wait_for(
        || data(&h, "/app/db/url").as_deref() == Some("v2"),
        WAIT
    ));
    assert!(wait_for(
        || metric(&agent, "zkstate_manifest_errors") == Some(0.0),
        WAIT
    ));
    assert!(agent.logs().contains("last good set"), "{}", agent.logs());
}

fn host_resources(format: &str) -> String {
    format!(
        r#"apiVersion: zkstate/v1
kind: ConfigTree
metadata: {{name: app}}
spec:
  root: /app
  nodes:
    db/url: v1
---
apiVersion: zkstate/v1
kind: Service
metadata: {{name: api}}
spec:
  format: {svc}
  basePath: /services
  scope: host
  instances:
    - id: ${{ZKSTATE_TEST_HOST}}-8080
      address: 127.0.0.1
      port: 8080
---
apiVersion: zkstate/v1
kind: ElectionGroup
metadata: {{name: sched}}
spec:
  path: /elections/sched
  format: {format}
  participate:
    identifier: ${{ZKSTATE_TEST_HOST}}
    onElected: [sh, -c, 'echo "$ZKSTATE_EVENT $ZKSTATE_ELECTION $ZKSTATE_HOST_ID" >> "$ZKSTATE_TEST_HOOKS"']
    onRevoked: [sh, -c, 'echo "$ZKSTATE_EVENT $ZKSTATE_ELECTION $ZKSTATE_HOST_ID" >> "$ZKSTATE_TEST_HOOKS"']
"#,
        svc = if format == "kazoo" { "json" } else { "curator" },
    )
}

fn start_host(h: &str, fx: &Fixture, name: &str) -> Agent {
    start_agent(h, fx.path(), name, &[])
}

fn ephemeral_owner(h: &str, path: &str) -> Option<bool> {
    let v = common::kazoo(&["get", h, path]);
    v.get("ephemeral").and_then(Value::as_bool)
}

#[test]
fn sigterm_removes_ephemerals_at_once_and_exits_0() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&host_resources("kazoo"));
    let mut agent = start_host(&h, &fx, "host-a");
    let reg = "/services/api/host-a-8080";
    assert!(wait_for(|| raw::get(&h, reg).is_some(), WAIT), "registered");
    assert_eq!(ephemeral_owner(&h, reg), Some(true));
    assert_eq!(
        serde_json::from_str::<Value>(&data(&h, reg).unwrap()).unwrap()["host"],
        "127.0.0.1"
    );
    // kazoo sees the contender, and it won.
    assert_eq!(
        common::kazoo(&["contenders", &h, "/elections/sched"]),
        serde_json::json!(["host-a"])
    );
    let hooks = fx.path().join("host-a.hooks");
    assert!(wait_for(
        || fs::read_to_string(&hooks).is_ok_and(|t| t.contains("elected sched host-a")),
        WAIT
    ));
    assert!(wait_for(|| agent.ready(), WAIT));
    let stopped = Instant::now();
    agent.signal(libc::SIGTERM);
    assert_eq!(agent.wait_exit(WAIT), Some(0), "{}", agent.logs());
    assert!(
        wait_for(|| raw::get(&h, reg).is_none(), Duration::from_secs(1)),
        "registration gone within a second of exiting"
    );
    assert!(raw::children(&h, "/elections/sched").is_empty());
    assert!(
        raw::children(&h, "/zkstate/lock").is_empty(),
        "lock released"
    );
    assert!(stopped.elapsed() < Duration::from_secs(10));
    assert!(
        fs::read_to_string(&hooks)
            .unwrap()
            .contains("revoked sched host-a"),
        "onRevoked ran on stop"
    );
}

#[test]
fn two_agents_one_leader_and_failover_after_kill_9() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&host_resources("kazoo"));
    let a = start_host(&h, &fx, "host-a");
    assert!(wait_for(|| a.is_leader(), WAIT), "first agent leads");
    let b = start_host(&h, &fx, "host-b");
    assert!(wait_for(|| b.ready(), WAIT), "standby ready");
    assert!(!b.is_leader());
    // Both keep their own host nodes; both contend for the lock.
    assert!(wait_for(
        || raw::get(&h, "/services/api/host-b-8080").is_some(),
        WAIT
    ));
    assert!(raw::get(&h, "/services/api/host-a-8080").is_some());
    assert_eq!(raw::children(&h, "/zkstate/lock").len(), 2);
    assert_eq!(
        common::kazoo(&["contenders", &h, "/elections/sched"]),
        serde_json::json!(["host-a", "host-b"])
    );
    // Only the leader applies: the standby's counters stay at zero writes.
    assert_eq!(metric(&b, "zkstate_leader"), Some(0.0));
    assert_eq!(metric(&b, "zkstate_drift_reverted_total"), Some(0.0));
    // kill -9 the leader: the standby takes over and converges the next change.
    a.signal(libc::SIGKILL);
    fx.write(&host_resources("kazoo").replace("db/url: v1", "db/url: v2"));
    assert!(
        wait_for(|| data(&h, "/app/db/url").as_deref() == Some("v2"), WAIT),
        "{}",
        b.logs()
    );
    // `/status` reports the pass once it has finished, a moment after its write is visible.
    assert!(wait_for(|| b.is_leader(), WAIT), "{}", b.logs());
    assert!(wait_for(
        || raw::get(&h, "/services/api/host-a-8080").is_none(),
        WAIT
    ));
    assert_eq!(
        common::kazoo(&["contenders", &h, "/elections/sched"]),
        serde_json::json!(["host-b"])
    );
    let hooks = fx.path().join("host-b.hooks");
    assert!(wait_for(
        || fs::read_to_string(&hooks).is_ok_and(|t| t.contains("elected sched host-b")),
        WAIT
    ));
    drop(a);
}

#[test]
fn session_expiry_reacquires_the_lock_and_recreates_host_nodes() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&host_resources("kazoo"));
    let agent = start_host(&h, &fx, "host-a");
    let reg = "/services/api/host-a-8080";
    assert!(wait_for(|| agent.is_leader(), WAIT));
    assert!(wait_for(|| raw::get(&h, reg).is_some(), WAIT));
    let lock_before = raw::children(&h, "/zkstate/lock");
    // Freeze the agent past its 2 s session timeout: the server expires the session.
    agent.signal(libc::SIGSTOP);
    let gone = wait_for(|| raw::get(&h, reg).is_none(), WAIT);
    raw::set(&h, "/app/db/url", b"drift while frozen");
    agent.signal(libc::SIGCONT);
    assert!(gone, "the session expired while the agent was stopped");
    assert!(
        wait_for(|| raw::get(&h, reg).is_some(), WAIT),
        "registration re-created\n{}",
        agent.logs()
    );
    assert!(wait_for(
        || data(&h, "/app/db/url").as_deref() == Some("v1"),
        WAIT
    ));
    let lock_after = raw::children(&h, "/zkstate/lock");
    assert_eq!(lock_after.len(), 1);
    assert_ne!(
        lock_before, lock_after,
        "a new lock node in the new session"
    );
    assert!(wait_for(|| agent.is_leader(), WAIT));
    assert_eq!(
        common::kazoo(&["contenders", &h, "/elections/sched"]),
        serde_json::json!(["host-a"])
    );
}

#[test]
fn zookeeper_restart_under_a_running_agent_converges_again() {
    let mut zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&config_tree("v1"));
    let agent = start_agent(&h, fx.path(), "host-a", &[]);
    assert!(wait_for(
        || data(&h, "/app/db/url").as_deref() == Some("v1"),
        WAIT
    ));
    zk.stop().unwrap();
    assert!(
        wait_for(
            || metric(&agent, "zkstate_session_state{state=\"connected\"}") == Some(0.0),
            WAIT
        ),
        "reports the outage"
    );
    assert_eq!(
        agent.get("/healthz").map(|r| r.0),
        Some(200),
        "alive while ZooKeeper is down"
    );
    std::thread::sleep(Duration::from_secs(3));
    zk.restart().unwrap();
    assert!(wait_for(|| agent.ready(), WAIT), "{}", agent.logs());
    raw::set(&h, "/app/db/url", b"drift after restart");
    assert!(
        wait_for(|| data(&h, "/app/db/url").as_deref() == Some("v1"), WAIT),
        "{}",
        agent.logs()
    );
}

#[test]
fn curator_sees_the_agents_service_and_latch_contender() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&host_resources("curator"));
    let agent = start_host(&h, &fx, "host-a");
    assert!(wait_for(
        || raw::get(&h, "/services/api/host-a-8080").is_some(),
        WAIT
    ));
    assert!(wait_for(
        || raw::children(&h, "/elections/sched").len() == 1,
        WAIT
    ));
    let found = common::curator(&["discovery-query", &h, "/services", "api"]);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["id"], "host-a-8080");
    assert_eq!(found[0]["address"], "127.0.0.1");
    let participants = common::curator(&["latch-participants", &h, "/elections/sched"]);
    let participants = participants.as_array().unwrap();
    assert_eq!(participants.len(), 1, "{participants:?}");
    assert_eq!(participants[0]["id"], "host-a");
    assert_eq!(participants[0]["isLeader"], true);
    drop(agent);
}

#[test]
fn unknown_config_keys_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.yaml");
    fs::write(&cfg, "zk: 127.0.0.1:1\nresync-intervall: 5s\n").unwrap();
    let out = common::zkstate()
        .args(["--config"])
        .arg(&cfg)
        .args(["agent", "-f", "x.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("agent.yaml:2:1: unknown key `resync-intervall`"),
        "{err}"
    );
}

#[test]
fn systemd_unit_verifies() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/zkstate.service");
    let text = fs::read_to_string(&unit).unwrap();
    for line in [
        "Type=notify",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "DynamicUser=yes",
        "WatchdogSec=",
        "EnvironmentFile=",
    ] {
        assert!(text.contains(line), "{line} missing in the unit");
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "SKIPPED: systemd-analyze is not installed (scripts/install-deps installs systemd)"
        );
        return;
    }
    // The unit names /usr/bin/zkstate: verify a copy pointing at the built binary.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("zkstate.service");
    fs::write(
        &copy,
        text.replace("/usr/bin/zkstate", env!("CARGO_BIN_EXE_zkstate")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{err}"
    );
    assert!(
        !err.contains("zkstate.service:"),
        "warnings about the unit:\n{err}"
    );
}

use std::process::Command;

#[test]
fn suspend_plans_without_writing_and_keeps_host_nodes() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&host_resources("kazoo"));
    let agent = start_agent(&h, fx.path(), "host-a", &[]);
    let reg = "/services/api/host-a-8080";
    assert!(wait_for(
        || data(&h, "/app/db/url").as_deref() == Some("v1"),
        WAIT
    ));
    assert!(wait_for(|| raw::get(&h, reg).is_some(), WAIT));
    let cli = |cmd: &str| {
        let out = common::zkstate().args(["--zk", &h, cmd]).output().unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    cli("suspend");
    raw::set(&h, "/app/db/url", b"drift while suspended");
    assert!(
        wait_for(
            || metric(&agent, "zkstate_reconcile_total{result=\"suspended\"}")
                .is_some_and(|v| v >= 1.0),
            WAIT
        ),
        "{}",
        agent.logs()
    );
    assert_eq!(
        data(&h, "/app/db/url").as_deref(),
        Some("drift while suspended")
    );
    assert!(
        raw::get(&h, reg).is_some(),
        "host nodes kept while suspended"
    );
    cli("resume");
    assert!(
        wait_for(|| data(&h, "/app/db/url").as_deref() == Some("v1"), WAIT),
        "resume reconciles at once"
    );
}

#[test]
fn a_failing_tcp_check_deregisters_and_a_passing_one_registers() {
    let zk = common::zk();
    let h = zk.connect_string();
    let port = free_port();
    let manifest = format!(
        "apiVersion: zkstate/v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  format: curator\n  basePath: /services\n  scope: host\n  instances:\n    - id: web-1\n      address: 127.0.0.1\n      port: {port}\n      check: {{tcp: \"127.0.0.1:{port}\", interval: 200ms}}\n"
    );
    let fx = Fixture::new(&manifest);
    let agent = start_agent(&h, fx.path(), "host-a", &[]);
    let reg = "/services/web/web-1";
    assert!(wait_for(|| agent.ready(), WAIT));
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        raw::get(&h, reg).is_none(),
        "not registered while the check fails"
    );
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    assert!(
        wait_for(|| raw::get(&h, reg).is_some(), WAIT),
        "registered once healthy"
    );
    let v: Value = serde_json::from_str(&data(&h, reg).unwrap()).unwrap();
    assert_eq!(v["serviceType"], "DYNAMIC");
    assert!(v["registrationTimeUTC"].as_i64().unwrap() > 0);
    // The gauge is recorded when the pass that registered the node finishes.
    assert!(
        wait_for(
            || metric(&agent, "zkstate_services_registered{service=\"web\"}") == Some(1.0),
            WAIT
        ),
        "zkstate_services_registered follows the registration"
    );
    drop(listener);
    assert!(
        wait_for(|| raw::get(&h, reg).is_none(), WAIT),
        "deregistered when it fails"
    );
}

#[test]
fn config_file_settings_and_flags_winning_over_them() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&config_tree("from-config"));
    let port = free_port();
    let cfg = fx.path().join("agent.yaml");
    fs::write(
        &cfg,
        format!(
            "zk: {h}\nfiles: [manifests]\nlisten: 127.0.0.1:{port}\nhost-id: from-config\nresync-interval: 30s\nsession-timeout: 2s\nlock-format: curator\nobserve: false\n"
        ),
    )
    .unwrap();
    let log = fx.path().join("cfg.log");
    let child = common::zkstate()
        .args(["--config"])
        .arg(&cfg)
        .args(["agent", "--host-id", "from-flag"])
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let agent = Agent::adopt(child, log, port);
    assert!(
        wait_for(
            || data(&h, "/app/db/url").as_deref() == Some("from-config"),
            WAIT
        ),
        "files: relative to the config file"
    );
    assert!(wait_for(|| agent.ready(), WAIT));
    let s = agent.status().unwrap();
    assert_eq!(s["agent"]["hostId"], "from-flag", "the flag wins");
    // lock-format: curator → Curator's mutex layout.
    let lock = raw::children(&h, "/zkstate/lock");
    assert!(
        lock.len() == 1 && lock[0].starts_with("_c_") && lock[0].contains("-lock-"),
        "{lock:?}"
    );
}

/// Passes so far, by `zkstate_reconcile_total` (every result).
fn passes(agent: &Agent) -> f64 {
    let Some((_, text)) = agent.get("/metrics") else {
        return 0.0;
    };
    parse_metrics(&text)
        .iter()
        .filter(|(s, _)| s.starts_with("zkstate_reconcile_total"))
        .map(|(_, v)| v)
        .sum()
}

/// `systemctl reload` of an agent whose `files:` are relative to `/etc/zkstate/agent.yaml`,
/// running in `/`: SIGHUP resolves them against the config file as the start did, takes the new
/// `files:`, keeps following manifest edits, and says which changed key needs a restart.
#[test]
fn sighup_resolves_config_files_relative_to_the_config_file() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&config_tree("v1"));
    fs::create_dir(fx.path().join("more")).unwrap();
    fs::write(
        fx.path().join("more/other.yaml"),
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: other}\nspec:\n  root: /other\n  nodes:\n    x: \"1\"\n",
    )
    .unwrap();
    let port = free_port();
    let cfg = fx.path().join("agent.yaml");
    let config = |files: &str, host: &str| {
        format!(
            "zk: {h}\nfiles: {files}\nlisten: 127.0.0.1:{port}\nhost-id: {host}\nsession-timeout: 2s\nresync-interval: 60s\n"
        )
    };
    fs::write(&cfg, config("[manifests]", "host-a")).unwrap();
    let log = fx.path().join("reload.log");
    let child = common::zkstate()
        .args(["--config"])
        .arg(&cfg)
        .arg("agent")
        .current_dir("/")
        .env("RUST_LOG", "zkstate=debug")
        .env_remove("ZKSTATE_ZK")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let agent = Agent::adopt(child, log, port);
    assert!(
        wait_for(|| data(&h, "/app/db/url").as_deref() == Some("v1"), WAIT),
        "{}",
        agent.logs()
    );
    assert!(wait_for(|| agent.ready(), WAIT));
    fs::write(&cfg, config("[manifests, more]", "host-b")).unwrap();
    let before = passes(&agent);
    agent.signal(libc::SIGHUP);
    assert!(
        wait_for(|| data(&h, "/other/x").as_deref() == Some("1"), WAIT),
        "the reload takes the new files:, relative to the config file\n{}",
        agent.logs()
    );
    assert!(wait_for(|| passes(&agent) > before, WAIT));
    // Manifest edits are still followed after the reload.
    fx.write(&config_tree("v2"));
    assert!(
        wait_for(|| data(&h, "/app/db/url").as_deref() == Some("v2"), WAIT),
        "{}",
        agent.logs()
    );
    let logs = agent.logs();
    assert!(!logs.contains("failed to read"), "{logs}");
    assert!(
        logs.contains("takes effect only after a restart") && logs.contains("host-id"),
        "{logs}"
    );
    assert_eq!(agent.status().unwrap()["agent"]["hostId"], "host-a");
}

#[test]
fn json_logs_one_span_per_pass_with_its_trigger() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&config_tree("v1"));
    let agent = start_agent(&h, fx.path(), "host-a", &["--log-format", "json"]);
    assert!(wait_for(
        || data(&h, "/app/db/url").as_deref() == Some("v1"),
        WAIT
    ));
    assert!(wait_for(
        || agent.logs().contains("agent pass finished"),
        WAIT
    ));
    let logs = agent.logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let pass = lines
        .iter()
        .find(|v| v["fields"]["message"] == "agent pass finished")
        .expect("a pass log line");
    assert!(pass["span"]["trigger"].as_str().is_some(), "{pass}");
    assert_eq!(pass["span"]["name"], "pass");
    assert!(pass["fields"]["duration_ms"].as_f64().is_some(), "{pass}");
}

#[test]
fn systemd_notify_ready_watchdog_reloading_stopping() {
    use std::os::unix::net::UnixDatagram;
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&config_tree("v1"));
    let sock_path = fx.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let log = fx.path().join("notify.log");
    let port = free_port();
    let child = common::zkstate()
        .args(["--zk", &h, "--session-timeout", "2s", "agent", "-f"])
        .arg(fx.path().join("manifests"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--host-id",
            "host-a",
        ])
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "1000000")
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut agent = Agent::adopt(child, log, port);
    let mut seen = String::new();
    let recv_until = |want: &str, seen: &mut String| {
        let deadline = Instant::now() + WAIT;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = sock.recv(&mut buf) {
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                seen.push('\n');
            }
            if seen.contains(want) {
                return true;
            }
        }
        false
    };
    assert!(recv_until("READY=1", &mut seen), "{seen}");
    assert!(
        data(&h, "/app/db/url").is_some(),
        "READY=1 after the first pass"
    );
    assert!(recv_until("WATCHDOG=1", &mut seen), "{seen}");
    agent.signal(libc::SIGHUP);
    assert!(recv_until("RELOADING=1", &mut seen), "{seen}");
    // The reload ends with READY=1, or systemd would keep the unit "reloading".
    seen.clear();
    assert!(recv_until("READY=1", &mut seen), "{seen}");
    agent.signal(libc::SIGTERM);
    assert!(recv_until("STOPPING=1", &mut seen), "{seen}");
    assert_eq!(agent.wait_exit(WAIT), Some(0));
}

#[test]
fn a_removed_owner_is_kept_unless_prune_removed() {
    let zk = common::zk();
    let h = zk.connect_string();
    let two = format!(
        "{}---\napiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {{name: other}}\nspec:\n  root: /other\n  prune: true\n  nodes:\n    x: \"1\"\n",
        config_tree("v1")
    );
    for (flag, kept) in [(None, true), (Some("--prune-removed"), false)] {
        let fx = Fixture::new(&two);
        let extra: Vec<&str> = flag.into_iter().collect();
        let agent = start_agent(&h, fx.path(), "host-a", &extra);
        assert!(wait_for(
            || data(&h, "/other/x").as_deref() == Some("1"),
            WAIT
        ));
        fx.write(&config_tree("v1"));
        if kept {
            assert!(wait_for(
                || agent
                    .status()
                    .is_some_and(|s| s["trees"].as_array().is_some_and(|t| t.len() == 1)),
                WAIT
            ));
            std::thread::sleep(Duration::from_millis(500));
            assert_eq!(
                data(&h, "/other/x").as_deref(),
                Some("1"),
                "kept without the flag"
            );
        } else {
            assert!(
                wait_for(|| raw::get(&h, "/other/x").is_none(), WAIT),
                "deleted with --prune-removed\n{}",
                agent.logs()
            );
        }
        drop(agent);
    }
}

#[test]
fn queue_depth_metric_follows_each_pass() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&format!(
        "{}---\napiVersion: zkstate/v1\nkind: Queue\nmetadata: {{name: jobs}}\nspec:\n  path: /queues/jobs\n  format: kazoo\n  seed: [job-a, job-b]\n",
        config_tree("postgres://db")
    ));
    let agent = start_agent(&h, fx.path(), "host-a", &[]);
    // Never read /status here: the gauge must come from the passes themselves.
    assert!(
        wait_for(
            || metric(&agent, "zkstate_queue_depth{queue=\"jobs\"}") == Some(2.0),
            WAIT
        ),
        "queue depth 2 after the seeding pass\n{}",
        agent.logs()
    );
    // A kazoo-style producer enqueues one more; the next pass (a drift under /app triggers
    // one) reports it.
    raw::create_sequential(&h, "/queues/jobs/entry-100-", b"job-c");
    raw::set(&h, "/app/db/url", b"drift");
    assert!(
        wait_for(
            || metric(&agent, "zkstate_queue_depth{queue=\"jobs\"}") == Some(3.0),
            WAIT
        ),
        "queue depth 3 after an enqueue\n{}",
        agent.logs()
    );
}

/// 1,200 nodes of 1,000 bytes (each starting with its index): a first apply more than one
/// ZooKeeper request (jute.maxbuffer, 1 MiB) may carry.
fn big_tree() -> String {
    let mut doc = String::from(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: big}\nspec:\n  root: /big\n  nodes:\n",
    );
    for i in 0..1200 {
        doc.push_str(&format!("    n{i:04}: {}\n", big_value(i)));
    }
    doc
}

fn big_value(i: usize) -> String {
    format!("{i:04}{}", "x".repeat(996))
}

#[test]
fn an_oversized_pass_is_refused_once_unless_allow_split() {
    let zk = common::zk();
    let h = zk.connect_string();
    let fx = Fixture::new(&big_tree());
    let start = |name: &str, extra: &'static [&'static str]| {
        let options = AgentOptions {
            resync_interval: "60s",
            extra,
            ..AgentOptions::default()
        };
        Agent::start(&h, &fx.path().join("manifests"), fx.path(), name, options)
    };
    // Without --allow-split: refused, reported, nothing written, not retried in a loop.
    let mut agent = start("refusing", &[]);
    let refused = "zkstate_reconcile_total{result=\"refused\"}";
    assert!(
        wait_for(|| metric(&agent, refused) == Some(1.0), WAIT),
        "{}",
        agent.logs()
    );
    let s = agent.status().unwrap();
    assert_eq!(s["agent"]["lastPass"]["result"], "refused", "{s}");
    let error = s["agent"]["lastPass"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("--allow-split"), "{s}");
    assert_eq!(raw::get(&h, "/big"), None, "nothing written");
    // A refusal is not an error to retry with backoff (250 ms, 500 ms, 1 s, ...): the next
    // pass waits for a trigger (a manifest edit, a tree change, the 60 s resync).
    assert!(
        !wait_for(|| passes(&agent) > 1.0, Duration::from_secs(3)),
        "passes after the refusal\n{}",
        agent.logs()
    );
    assert_eq!(metric(&agent, refused), Some(1.0));
    assert_eq!(
        agent
            .logs()
            .matches("the plan is larger than one request")
            .count(),
        1,
        "{}",
        agent.logs()
    );
    agent.signal(libc::SIGTERM);
    assert_eq!(agent.wait_exit(WAIT), Some(0));
    assert_eq!(raw::get(&h, "/big"), None, "nothing written");
    // With --allow-split: ordered atomic batches, every node with its bytes.
    let agent = start("splitting", &["--allow-split"]);
    assert!(
        wait_for(
            || metric(&agent, "zkstate_reconcile_total{result=\"applied\"}") == Some(1.0),
            WAIT
        ),
        "{}",
        agent.logs()
    );
    assert!(
        agent.logs().contains("ordered atomic batches"),
        "{}",
        agent.logs()
    );
    assert_eq!(raw::children(&h, "/big").len(), 1200);
    let wrong: Vec<usize> = raw::block(async {
        let c = raw::client(&h).await;
        let mut wrong = Vec::new();
        for i in 0..1200 {
            let got = c.get_data(&format!("/big/n{i:04}")).await.map(|(d, _)| d);
            if got.as_deref().ok() != Some(big_value(i).as_bytes()) {
                wrong.push(i);
            }
        }
        wrong
    });
    assert!(wrong.is_empty(), "nodes with wrong bytes: {wrong:?}");
    assert_eq!(metric(&agent, refused), None, "{}", agent.logs());
}

/// Every node at or below `root` with its data, read by the raw client.
fn tree_of(hosts: &str, root: &str) -> std::collections::BTreeMap<String, String> {
    raw::block(async {
        let c = raw::client(hosts).await;
        let mut out = std::collections::BTreeMap::new();
        let mut queue = vec![root.to_string()];
        while let Some(p) = queue.pop() {
            let Ok((d, _)) = c.get_data(&p).await else {
                continue;
            };
            out.insert(p.clone(), String::from_utf8_lossy(&d).into_owned());
            if let Ok(children) = c.list_children(&p).await {
                queue.extend(children.iter().map(|ch| format!("{p}/{ch}")));
            }
        }
        out
    })
}

/// Deletes `path` and everything below it, children first.
fn delete_tree(hosts: &str, path: &str) {
    raw::block(async {
        let c = raw::client(hosts).await;
        let mut order = Vec::new();
        let mut queue = vec![path.to_string()];
        while let Some(p) = queue.pop() {
            if let Ok(children) = c.list_children(&p).await {
                queue.extend(children.iter().map(|ch| format!("{p}/{ch}")));
            }
            order.push(p);
        }
        for p in order.iter().rev() {
            let _ = c.delete(p, None).await;
        }
    })
}

/// A 3x20 tree under /cache (parents declared), every value numbered by `round`.
fn cache_tree(
    round: usize,
    extra: &[&str],
) -> (String, std::collections::BTreeMap<String, String>) {
    let mut yaml = String::from(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {name: cache}\nspec:\n  root: /cache\n  prune: exclusive\n  nodes:\n",
    );
    let mut want = std::collections::BTreeMap::from([("/cache".to_string(), String::new())]);
    for g in 0..3 {
        want.insert(format!("/cache/g{g}"), String::new());
        for i in 0..20 {
            let v = format!("v{round}-{g}-{i}");
            yaml.push_str(&format!("    g{g}/n{i:02}: {v}\n"));
            want.insert(format!("/cache/g{g}/n{i:02}"), v);
        }
    }
    for e in extra {
        yaml.push_str(&format!("    {e}: extra\n"));
        want.insert(format!("/cache/{e}"), "extra".into());
        // Its parent is created empty.
        if let Some((parent, _)) = e.rsplit_once('/') {
            want.insert(format!("/cache/{parent}"), String::new());
        }
    }
    (yaml, want)
}

#[test]
fn the_live_cache_answers_creates_deletes_and_edits_and_stays_exact() {
    let zk = common::zk();
    let h = zk.connect_string();
    let (yaml, mut want) = cache_tree(0, &[]);
    let fx = Fixture::new(&yaml);
    fs::remove_file(fx.path().join("manifests/app.yaml")).ok();
    fs::write(fx.path().join("manifests/cache.yaml"), &yaml).unwrap();
    let agent = start_agent(&h, fx.path(), "host-a", &[]);
    assert!(
        wait_for(|| tree_of(&h, "/cache") == want, WAIT),
        "initial apply\n{}",
        agent.logs()
    );
    let converged = |want: &std::collections::BTreeMap<String, String>| {
        wait_for(|| tree_of(&h, "/cache") == *want, WAIT)
    };
    // Out-of-band changes of every kind, each converged before the next; bounded.
    for round in 0..12 {
        let g = round % 3;
        match round % 6 {
            0 => delete_tree(&h, &format!("/cache/g{g}/n{:02}", round)),
            1 => raw::create(&h, &format!("/cache/g{g}/stray{round}"), b"x"),
            2 => {
                raw::create(&h, &format!("/cache/stray{round}/a/b"), b"deep");
            }
            3 => raw::set(&h, &format!("/cache/g{g}/n{:02}", round), b"drift"),
            4 => {
                // Deleted and re-created with other data between two passes.
                delete_tree(&h, &format!("/cache/g{g}/n05"));
                raw::create(&h, &format!("/cache/g{g}/n05"), b"other");
            }
            _ => delete_tree(&h, &format!("/cache/g{g}")),
        }
        assert!(
            converged(&want),
            "round {round}: not converged: {:?}\n{}",
            tree_of(&h, "/cache"),
            agent.logs()
        );
    }
    // Manifest edits: new values, an added node, then that node removed.
    for (round, extra) in [(1, vec!["g9/added"]), (2, vec![])] {
        let (yaml, w) = cache_tree(round, &extra);
        want = w;
        let tmp = fx.path().join("tmp.yaml");
        fs::write(&tmp, &yaml).unwrap();
        fs::rename(&tmp, fx.path().join("manifests/cache.yaml")).unwrap();
        assert!(converged(&want), "edit {round}\n{}", agent.logs());
    }
    // The cache answered (passes planned from it), and the status says what it holds.
    let cached = metric(&agent, "zkstate_pass_source_total{source=\"cache\"}").unwrap_or(0.0);
    assert!(
        cached >= 5.0,
        "passes from the cache: {cached}\n{}",
        agent.logs()
    );
    assert!(
        wait_for(
            || agent
                .status()
                .is_some_and(|s| s["agent"]["lastPass"]["cacheNodes"]
                    .as_u64()
                    .is_some_and(|n| n as usize >= want.len())),
            WAIT
        ),
        "cacheNodes in /status: {:?}",
        agent.status().map(|s| s["agent"]["lastPass"].clone())
    );
    assert_eq!(
        metric(&agent, "zkstate_cache_nodes").map(|n| n as usize),
        Some(want.len()),
        "the cache holds exactly the tree"
    );
}
