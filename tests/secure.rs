//! Secured ensembles end to end (docs/security.md), against real ZooKeeper 3.8 servers and a
//! real MIT KDC started by `common::secure`: mutual TLS with `x509` ACLs, SASL DIGEST-MD5 over
//! TLS, Kerberos (SASL GSSAPI); `apply` → `diff` in sync → `status`; a manifest ACL naming the
//! identity is enforced (another identity is refused a write); zkstate's state nodes carry the
//! authenticated identity's ACL; kazoo reads what zkstate wrote over the same secured port; every
//! credential mistake exits 2 with a message naming it in under 5 s; the agent reverts drift over
//! TLS and over Kerberos, takes a renewed client certificate at its next session, and gets new
//! Kerberos tickets from its keytab after they expire.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::agent::{Agent, AgentOptions};
use common::secure::{ClientCert, Kdc, Pki, TlsServerOptions, kerberos_zk, tls_zk};
use common::{Manifests, kazoo_with_env, wait_for, zkstate};

/// How long a credential mistake may take to be reported (the limit).
const MISTAKE_LIMIT: Duration = Duration::from_secs(5);

/// A server that requires a client certificate of `pki` and names sessions by its DN.
fn mutual_tls_zk(pki: &Pki) -> common::secure::SecureZk {
    tls_zk(
        pki,
        TlsServerOptions {
            client_auth_need: true,
            x509_provider: true,
            ..Default::default()
        },
    )
}

/// Copies `client`'s certificate and key over `cert` and `key` (a renewal on disk).
fn install_cert(client: &ClientCert, cert: &Path, key: &Path) {
    std::fs::copy(&client.cert, cert).expect("copy the certificate");
    std::fs::copy(&client.key, key).expect("copy the key");
}

/// Runs `zkstate ARGS...` with `env`; (exit code, stdout, stderr, wall time).
fn run(args: &[&str], env: &[(String, String)]) -> (i32, String, String, Duration) {
    let started = Instant::now();
    let out = zkstate()
        .args(args)
        .env_remove("ZKSTATE_ZK")
        .env_remove("ZKSTATE_SASL")
        .env_remove("ZKSTATE_AUTH")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run zkstate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// The `--tls*` flags for `client` with `pki`'s CA.
fn tls_flags<'a>(pki: &'a Pki, client: &'a ClientCert) -> Vec<&'a str> {
    vec![
        "--tls-ca",
        s(&pki.ca_pem),
        "--tls-cert",
        s(&client.cert),
        "--tls-key",
        s(&client.key),
    ]
}

/// A ConfigTree at `root` whose nodes everyone may read and only `writer` (`scheme:id`) may
/// write.
fn guarded_tree(name: &str, root: &str, writer: (&str, &str), nodes: &[(&str, &str)]) -> String {
    let mut text = format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {{name: {name}}}\nspec:\n  root: {root}\n  prune: true\n  acl:\n    - {{scheme: world, id: anyone, perms: [read]}}\n    - {{scheme: {}, id: {:?}, perms: [all]}}\n  nodes:\n",
        writer.0, writer.1
    );
    for (k, v) in nodes {
        text.push_str(&format!("    {k}: {v:?}\n"));
    }
    text
}

/// Asserts the ACL (as kazoo's `get-acl` returns it) is read-for-all plus all for `id` only.
fn assert_guarded_for(acl: &Value, scheme: &str, id: &str, what: &str) {
    let mut got: Vec<Value> = acl.as_array().cloned().unwrap_or_default();
    got.sort_by_key(|a| a.to_string());
    let mut want = vec![
        json!({"scheme": scheme, "id": id, "perms": 31}),
        json!({"scheme": "world", "id": "anyone", "perms": 1}),
    ];
    want.sort_by_key(|a| a.to_string());
    assert_eq!(got, want, "ACL of {what}");
}

/// Asserts a command failed with exit 2, fast, naming what it should, without a bare timeout.
fn assert_mistake(
    label: &str,
    r: &(i32, String, String, Duration),
    must_say: &[&str],
    secret: Option<&str>,
) {
    let (code, stdout, stderr, took) = r;
    eprintln!("{label}: exit {code} in {took:.2?}: {}", stderr.trim());
    assert_eq!(*code, 2, "{label}: exit code\n{stdout}{stderr}");
    assert!(*took < MISTAKE_LIMIT, "{label}: took {took:?}\n{stderr}");
    for word in must_say {
        assert!(
            stderr.contains(word),
            "{label}: {word:?} missing in\n{stderr}"
        );
    }
    assert!(
        !stderr.trim_end().ends_with("timeout"),
        "{label}: a bare timeout\n{stderr}"
    );
    if let Some(secret) = secret {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{label}: the secret leaked"
        );
    }
}

#[test]
fn mutual_tls_applies_guards_the_state_and_kazoo_reads_it() {
    let pki = Pki::new();
    let zk = mutual_tls_zk(&pki);
    let me = pki.client("zkstate");
    let intruder = pki.client("intruder");
    let hosts = zk.tls_connect_string();
    let m = Manifests::new(&[(
        "tree.yaml",
        &guarded_tree(
            "payments",
            "/secure/payments",
            ("x509", &me.dn),
            &[("db/url", "postgres://db/payments"), ("flag", "on")],
        ),
    )]);
    let mut args = vec!["--zk", &hosts];
    args.extend(tls_flags(&pki, &me));

    let apply = run(&[&args[..], &["apply", "-f", s(m.path())]].concat(), &[]);
    assert_eq!(apply.0, 0, "apply over mutual TLS\n{}{}", apply.1, apply.2);
    assert!(
        !apply.2.contains("open to any client"),
        "an authenticated run does not warn: {}",
        apply.2
    );
    let diff = run(&[&args[..], &["diff", "-f", s(m.path())]].concat(), &[]);
    assert_eq!(diff.0, 0, "diff in sync\n{}{}", diff.1, diff.2);
    let status = run(
        &[
            &args[..],
            &["status", "-f", s(m.path()), "--output", "json"],
        ]
        .concat(),
        &[],
    );
    assert_eq!(status.0, 0, "status\n{}", status.2);
    let st: Value = serde_json::from_str(&status.1).expect("status JSON");
    assert_eq!(st["trees"][0]["inSync"], json!(true), "{st}");
    assert!(st["lastApply"].is_object(), "{st}");

    // kazoo over the same TLS port, as another identity: reads, but may not write.
    let other_env = pki.kazoo_env(Some(&intruder));
    let got = kazoo_with_env(
        &["get", &zk.tls_hosts(), "/secure/payments/db/url"],
        &other_env,
    );
    assert_eq!(got["data"], json!("postgres://db/payments"));
    let refused = kazoo_with_env(
        &["try-set", &zk.tls_hosts(), "/secure/payments/flag", "off"],
        &other_env,
    );
    assert_eq!(refused, json!({"error": "NoAuthError"}));
    let acl = kazoo_with_env(
        &["get-acl", &zk.tls_hosts(), "/secure/payments/flag"],
        &other_env,
    );
    assert_guarded_for(&acl, "x509", &me.dn, "a managed node");
    // The state nodes are guarded for the certificate's DN, as the server renders it.
    for node in [
        "/zkstate",
        "/zkstate/applied",
        "/zkstate/lock",
        "/zkstate/inventory",
    ] {
        let acl = kazoo_with_env(&["get-acl", &zk.tls_hosts(), node], &other_env);
        assert_guarded_for(&acl, "x509", &me.dn, node);
    }
    // zkstate itself under the other identity: refused, nothing written.
    let changed = Manifests::new(&[(
        "tree.yaml",
        &guarded_tree(
            "payments",
            "/secure/payments",
            ("x509", &me.dn),
            &[("db/url", "postgres://evil"), ("flag", "on")],
        ),
    )]);
    let mut other_args = vec!["--zk", &hosts];
    other_args.extend(tls_flags(&pki, &intruder));
    let r = run(
        &[&other_args[..], &["apply", "-f", s(changed.path())]].concat(),
        &[],
    );
    assert_eq!(r.0, 2, "{}{}", r.1, r.2);
    assert!(r.2.contains("not authorized"), "{}", r.2);
    let got = kazoo_with_env(
        &["get", &zk.tls_hosts(), "/secure/payments/db/url"],
        &other_env,
    );
    assert_eq!(got["data"], json!("postgres://db/payments"));
}

#[test]
fn tls_mistakes_are_named_within_seconds() {
    let pki = Pki::new();
    let stranger_ca = Pki::new();
    let zk = mutual_tls_zk(&pki);
    let wrong_name = tls_zk(
        &pki,
        TlsServerOptions {
            client_auth_need: true,
            wrong_hostname_cert: true,
            ..Default::default()
        },
    );
    let me = pki.client("zkstate");
    let untrusted = pki.untrusted_client("zkstate");
    let tls = zk.tls_connect_string();
    let status = |hosts: &str, flags: &[&str]| {
        run(
            &[
                &["--zk", hosts, "--session-timeout", "30s"],
                flags,
                &["status"],
            ]
            .concat(),
            &[],
        )
    };
    // Baseline: the right settings work.
    let ok = status(&tls, &tls_flags(&pki, &me));
    assert_eq!(ok.0, 0, "{}", ok.2);
    // Without --tls-ca the system's CA bundle is used (here the one SSL_CERT_FILE names).
    let system = run(
        &[
            "--zk",
            &tls,
            "--tls-cert",
            s(&me.cert),
            "--tls-key",
            s(&me.key),
            "status",
        ],
        &[("SSL_CERT_FILE".to_string(), s(&pki.ca_pem).to_string())],
    );
    assert_eq!(system.0, 0, "system roots: {}", system.2);

    let r = status(
        &tls,
        &[
            "--tls-ca",
            s(&stranger_ca.ca_pem),
            "--tls-cert",
            s(&me.cert),
            "--tls-key",
            s(&me.key),
        ],
    );
    assert_mistake(
        "untrusted server certificate",
        &r,
        &["untrusted server certificate", s(&stranger_ca.ca_pem)],
        None,
    );
    let r = status(&tls, &tls_flags(&pki, &untrusted));
    assert_mistake(
        "client certificate refused",
        &r,
        &["refused the client certificate", s(&untrusted.cert)],
        None,
    );
    let r = status(&tls, &["--tls-ca", s(&pki.ca_pem)]);
    assert_mistake(
        "no client certificate",
        &r,
        &["requires a client certificate"],
        None,
    );
    let r = status(&wrong_name.tls_connect_string(), &tls_flags(&pki, &me));
    assert_mistake(
        "hostname mismatch",
        &r,
        &["hostname mismatch", "localhost", "wrong.example"],
        None,
    );
    let r = status(
        &format!("tcp+tls://localhost:{}", zk.server.port()),
        &tls_flags(&pki, &me),
    );
    assert_mistake(
        "TLS to the plaintext port",
        &r,
        &["plaintext clientPort"],
        None,
    );
    let r = status(&zk.tls_hosts(), &[]);
    assert_mistake(
        "plaintext to the TLS port",
        &r,
        &["speaks TLS", &format!("tcp+tls://{}", zk.tls_hosts())],
        None,
    );
    let r = status(
        &tls,
        &[
            "--tls-ca",
            "/nonexistent/ca.pem",
            "--tls-cert",
            s(&me.cert),
            "--tls-key",
            s(&me.key),
        ],
    );
    assert_mistake(
        "missing CA file",
        &r,
        &["--tls-ca /nonexistent/ca.pem"],
        None,
    );
    let r = status(
        &tls,
        &[
            "--tls-ca",
            s(&pki.ca_pem),
            "--tls-cert",
            s(&me.cert),
            "--tls-key",
            s(&untrusted.key),
        ],
    );
    assert_mistake(
        "key that does not match the certificate",
        &r,
        &[s(&me.cert), s(&untrusted.key)],
        None,
    );
}

#[test]
fn sasl_digest_md5_over_tls_end_to_end() {
    let pki = Pki::new();
    let zk = tls_zk(
        &pki,
        TlsServerOptions {
            digest_users: vec![
                ("zkstate".into(), "zk-secret-1".into()),
                ("other".into(), "other-secret-2".into()),
            ],
            ..Default::default()
        },
    );
    let hosts = zk.tls_connect_string();
    let sasl_env = |v: &str| vec![("ZKSTATE_SASL".to_string(), v.to_string())];
    let me = sasl_env("digest-md5:zkstate:zk-secret-1");
    let m = Manifests::new(&[(
        "tree.yaml",
        &guarded_tree(
            "flags",
            "/secure/flags",
            ("sasl", "zkstate"),
            &[("checkout", "v2")],
        ),
    )]);
    let base = ["--zk", &hosts, "--tls-ca", s(&pki.ca_pem)];
    let apply = run(&[&base[..], &["apply", "-f", s(m.path())]].concat(), &me);
    assert_eq!(apply.0, 0, "{}{}", apply.1, apply.2);
    assert!(!format!("{}{}", apply.1, apply.2).contains("zk-secret-1"));
    let diff = run(&[&base[..], &["diff", "-f", s(m.path())]].concat(), &me);
    assert_eq!(diff.0, 0, "{}{}", diff.1, diff.2);
    let status = run(&[&base[..], &["status"]].concat(), &me);
    assert_eq!(status.0, 0, "{}", status.2);

    // kazoo, authenticated as the other user over the plaintext port: reads, cannot write.
    let plain = zk.plain_connect_string();
    let other = common::secure::kazoo_sasl_env("other", "other-secret-2");
    let got = kazoo_with_env(&["get", &plain, "/secure/flags/checkout"], &other);
    assert_eq!(got["data"], json!("v2"));
    let refused = kazoo_with_env(&["try-set", &plain, "/secure/flags/checkout", "v3"], &other);
    assert_eq!(refused, json!({"error": "NoAuthError"}));
    for node in ["/zkstate", "/zkstate/applied", "/secure/flags/checkout"] {
        let acl = kazoo_with_env(&["get-acl", &plain, node], &other);
        assert_guarded_for(&acl, "sasl", "zkstate", node);
    }

    let wrong = run(
        &[&base[..], &["status"]].concat(),
        &sasl_env("digest-md5:zkstate:not-the-password"),
    );
    assert_mistake(
        "wrong SASL password",
        &wrong,
        &["AUTH_FAILED", "\"zkstate\""],
        Some("not-the-password"),
    );
    let unknown = run(
        &[&base[..], &["status"]].concat(),
        &sasl_env("digest-md5:nobody:whatever-pw"),
    );
    assert_mistake(
        "unknown SASL user",
        &unknown,
        &["AUTH_FAILED", "\"nobody\""],
        Some("whatever-pw"),
    );
}

#[test]
fn kerberos_end_to_end() {
    let kdc = Kdc::start();
    let zk = kerberos_zk(&kdc);
    let keytab = kdc.add_principal("zkstate");
    let other_keytab = kdc.add_principal("other");
    let env = kdc.env();
    let hosts = zk.plain_connect_string();
    let me = kdc.principal("zkstate");
    let other = kdc.principal("other");
    let m = Manifests::new(&[(
        "tree.yaml",
        &guarded_tree(
            "hbase",
            "/secure/hbase",
            ("sasl", "zkstate"),
            &[("region/servers", "rs1,rs2")],
        ),
    )]);
    let krb = |principal: &str, keytab: &Path| {
        vec![
            "--zk".to_string(),
            hosts.clone(),
            "--sasl".into(),
            "gssapi".into(),
            "--sasl-principal".into(),
            principal.to_string(),
            "--keytab".into(),
            s(keytab).to_string(),
        ]
    };
    let mine = krb(&me, &keytab);
    let mine: Vec<&str> = mine.iter().map(String::as_str).collect();
    let apply = run(&[&mine[..], &["apply", "-f", s(m.path())]].concat(), &env);
    assert_eq!(apply.0, 0, "{}{}\n{}", apply.1, apply.2, kdc.logs());
    let diff = run(&[&mine[..], &["diff", "-f", s(m.path())]].concat(), &env);
    assert_eq!(diff.0, 0, "{}{}", diff.1, diff.2);
    let status = run(&[&mine[..], &["status"]].concat(), &env);
    assert_eq!(status.0, 0, "{}", status.2);
    let got = common::kazoo(&["get", &hosts, "/secure/hbase/region/servers"]);
    assert_eq!(got["data"], json!("rs1,rs2"));
    for node in [
        "/zkstate",
        "/zkstate/applied",
        "/secure/hbase/region/servers",
    ] {
        let acl = common::kazoo(&["get-acl", &hosts, node]);
        assert_guarded_for(&acl, "sasl", "zkstate", node);
    }
    // Another principal is refused a write.
    let theirs = krb(&other, &other_keytab);
    let theirs: Vec<&str> = theirs.iter().map(String::as_str).collect();
    let changed = Manifests::new(&[(
        "tree.yaml",
        &guarded_tree(
            "hbase",
            "/secure/hbase",
            ("sasl", "zkstate"),
            &[("region/servers", "evil")],
        ),
    )]);
    let r = run(
        &[&theirs[..], &["apply", "-f", s(changed.path())]].concat(),
        &env,
    );
    assert_eq!(r.0, 2, "{}{}", r.1, r.2);
    assert!(r.2.contains("not authorized"), "{}", r.2);
    assert_eq!(
        common::kazoo(&["get", &hosts, "/secure/hbase/region/servers"])["data"],
        json!("rs1,rs2")
    );

    // Mistakes.
    let r = run(
        &[
            "--zk",
            &hosts,
            "--sasl",
            "gssapi",
            "--sasl-principal",
            &me,
            "--keytab",
            "/nonexistent/zkstate.keytab",
            "status",
        ],
        &env,
    );
    assert_mistake("missing keytab", &r, &["/nonexistent/zkstate.keytab"], None);
    let nobody = kdc.principal("nobody");
    let r = run(
        &[
            "--zk",
            &hosts,
            "--sasl",
            "gssapi",
            "--sasl-principal",
            &nobody,
            "--keytab",
            s(&keytab),
            "status",
        ],
        &env,
    );
    assert_mistake(
        "principal not in the keytab",
        &r,
        &[&nobody, s(&keytab)],
        None,
    );
    let by_ip = format!("127.0.0.1:{}", zk.server.port());
    let r = run(
        &[
            "--zk",
            &by_ip,
            "--sasl",
            "gssapi",
            "--sasl-principal",
            &me,
            "--keytab",
            s(&keytab),
            "status",
        ],
        &env,
    );
    assert_mistake(
        "server principal unknown (connected by IP)",
        &r,
        &["zookeeper/127.0.0.1"],
        None,
    );
}

/// A ConfigTree everyone may write (so a drift writer of any identity can change it).
fn open_tree(root: &str, value: &str) -> String {
    format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {{name: app}}\nspec:\n  root: {root}\n  nodes:\n    x: {value:?}\n"
    )
}

/// The identities the agent's `/status` says its session has.
fn identities(agent: &Agent) -> Vec<String> {
    agent
        .status()
        .and_then(|s| s["agent"]["identities"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Stops the agent until ZooKeeper expired its session (its lock contender is gone), then lets
/// it go on: its next session is a new one.
fn expire_session(agent: &Agent, lock_children: impl Fn() -> usize) {
    agent.signal(libc::SIGSTOP);
    let expired = wait_for(|| lock_children() == 0, Duration::from_secs(20));
    agent.signal(libc::SIGCONT);
    assert!(expired, "the stopped agent's session did not expire");
}

#[test]
fn agent_over_tls_reverts_drift_and_takes_a_renewed_certificate() {
    let pki = Pki::new();
    let zk = mutual_tls_zk(&pki);
    let first = pki.client("agent-2026-12");
    let renewed = pki.client("agent-2027-01");
    let drifter = pki.client("drifter");
    let creds = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (
        creds.path().join("client.pem"),
        creds.path().join("client.key"),
    );
    install_cert(&first, &cert, &key);
    let m = Manifests::new(&[("app.yaml", &open_tree("/app", "v1"))]);
    let logs = tempfile::tempdir().expect("tempdir");
    // The x509 id is the certificate's subject: this renewal changes it (so the test can see
    // which certificate the server got), and a digest identity keeps the agent's write access
    // to its state across the change (docs/security.md, "The agent").
    let extra = [
        "--tls-ca",
        s(&pki.ca_pem),
        "--tls-cert",
        s(&cert),
        "--tls-key",
        s(&key),
        "--auth",
        "digest:zkstate:agent-digest-pw",
    ];
    let agent = Agent::start(
        &zk.tls_connect_string(),
        m.path(),
        logs.path(),
        "host-a",
        AgentOptions {
            extra: &extra,
            ..Default::default()
        },
    );
    let env = pki.kazoo_env(Some(&drifter));
    let tls_hosts = zk.tls_hosts();
    let value = || kazoo_with_env(&["get", &tls_hosts, "/app/x"], &env)["data"].clone();
    assert!(
        wait_for(|| value() == json!("v1"), Duration::from_secs(30)),
        "the agent did not apply over TLS\n{}",
        agent.logs()
    );
    assert!(
        wait_for(
            || identities(&agent) == vec![format!("x509:{}", first.dn)],
            Duration::from_secs(10)
        ),
        "identities {:?}",
        identities(&agent)
    );
    let drift = |to: &str| {
        assert_eq!(
            kazoo_with_env(&["try-set", &tls_hosts, "/app/x", to], &env),
            json!({"ok": true})
        );
        assert!(
            wait_for(|| value() == json!("v1"), Duration::from_secs(10)),
            "drift {to} not reverted\n{}",
            agent.logs()
        );
    };
    drift("drifted-1");

    // The certificate is renewed on disk; the agent's next session presents the new one.
    install_cert(&renewed, &cert, &key);
    let lock_children = || {
        kazoo_with_env(&["children", &tls_hosts, "/zkstate/lock"], &env)
            .as_array()
            .map_or(0, Vec::len)
    };
    expire_session(&agent, lock_children);
    assert!(
        wait_for(
            || identities(&agent) == vec![format!("x509:{}", renewed.dn)],
            Duration::from_secs(20)
        ),
        "the server does not see the renewed certificate: {:?}\n{}",
        identities(&agent),
        agent.logs()
    );
    drift("drifted-2");
}

#[test]
fn agent_with_bad_credentials_keeps_retrying_and_says_why() {
    let pki = Pki::new();
    let zk = mutual_tls_zk(&pki);
    let refused = pki.untrusted_client("agent");
    let good = pki.client("agent");
    let creds = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (
        creds.path().join("client.pem"),
        creds.path().join("client.key"),
    );
    install_cert(&refused, &cert, &key);
    let m = Manifests::new(&[("app.yaml", &open_tree("/app", "v1"))]);
    let logs = tempfile::tempdir().expect("tempdir");
    let extra = [
        "--tls-ca",
        s(&pki.ca_pem),
        "--tls-cert",
        s(&cert),
        "--tls-key",
        s(&key),
    ];
    let mut agent = Agent::start(
        &zk.tls_connect_string(),
        m.path(),
        logs.path(),
        "host-a",
        AgentOptions {
            extra: &extra,
            ..Default::default()
        },
    );
    let says_why = || {
        agent.get("/status").is_some_and(|(code, body)| {
            code == 503 && body.contains("refused the client certificate")
        })
    };
    assert!(
        wait_for(says_why, Duration::from_secs(15)),
        "/status: {:?}\n{}",
        agent.get("/status"),
        agent.logs()
    );
    assert_eq!(agent.get("/readyz").map(|r| r.0), Some(503));
    assert_eq!(agent.get("/healthz").map(|r| r.0), Some(200));
    assert!(agent.alive(), "the agent must keep running");
    // Fixed credentials are picked up without a restart.
    install_cert(&good, &cert, &key);
    let env = pki.kazoo_env(Some(&good));
    assert!(
        wait_for(
            || kazoo_with_env(&["get", &zk.tls_hosts(), "/app/x"], &env)["data"] == json!("v1"),
            Duration::from_secs(30)
        ),
        "the agent did not pick up the fixed certificate\n{}",
        agent.logs()
    );
    assert!(wait_for(|| agent.ready(), Duration::from_secs(10)));
}

#[test]
fn agent_over_kerberos_reverts_drift_and_renews_its_tickets_from_the_keytab() {
    // Tickets of 10 s (the KDC allows 1 s of clock skew): the agent's second session starts after
    // its first tickets expired, so it must get new ones from the keytab.
    let life = Duration::from_secs(10);
    let kdc = Kdc::start_with_max_life(life);
    let zk = kerberos_zk(&kdc);
    let keytab = kdc.add_principal("zkstate");
    let hosts = zk.plain_connect_string();
    let me = kdc.principal("zkstate");
    let m = Manifests::new(&[("app.yaml", &open_tree("/app", "v1"))]);
    let logs = tempfile::tempdir().expect("tempdir");
    let extra = [
        "--sasl",
        "gssapi",
        "--sasl-principal",
        &me,
        "--keytab",
        s(&keytab),
    ];
    let env = kdc.env();
    let started = Instant::now();
    let agent = Agent::start(
        &hosts,
        m.path(),
        logs.path(),
        "host-k",
        AgentOptions {
            extra: &extra,
            env: &env,
            ..Default::default()
        },
    );
    let value = || common::kazoo(&["get", &hosts, "/app/x"])["data"].clone();
    assert!(
        wait_for(|| value() == json!("v1"), Duration::from_secs(30)),
        "the agent did not apply over Kerberos\n{}\n{}",
        agent.logs(),
        kdc.logs()
    );
    assert!(
        wait_for(
            || identities(&agent) == vec!["sasl:zkstate".to_string()],
            Duration::from_secs(10)
        ),
        "identities {:?}",
        identities(&agent)
    );
    let drift = |to: &str| {
        assert_eq!(
            common::kazoo(&["try-set", &hosts, "/app/x", to]),
            json!({"ok": true})
        );
        assert!(
            wait_for(|| value() == json!("v1"), Duration::from_secs(10)),
            "drift {to} not reverted\n{}",
            agent.logs()
        );
    };
    drift("drifted-1");
    // Let the tickets expire (with the KDC's clock skew), then force a new session.
    let expired_at = started + life + Duration::from_secs(3);
    std::thread::sleep(expired_at.saturating_duration_since(Instant::now()));
    let first_session = agent.status().map(|s| s["agent"]["session"].clone());
    let lock_children = || {
        common::kazoo(&["children", &hosts, "/zkstate/lock"])
            .as_array()
            .map_or(0, Vec::len)
    };
    expire_session(&agent, lock_children);
    assert!(
        wait_for(
            || {
                agent.status().is_some_and(|s| {
                    Some(s["agent"]["session"].clone()) != first_session
                        && s["agent"]["identities"] == json!(["sasl:zkstate"])
                })
            },
            Duration::from_secs(20)
        ),
        "no new Kerberos session after the tickets expired\n{}\n{}",
        agent.logs(),
        kdc.logs()
    );
    drift("drifted-2");
    // The KDC issued this principal's tickets from the keytab more than once.
    let logins = kdc
        .logs()
        .lines()
        .filter(|l| l.contains("AS_REQ") && l.contains("ISSUE") && l.contains(me.as_str()))
        .count();
    assert!(
        logins >= 2,
        "the keytab was used {logins} time(s) only: {}",
        kdc.logs()
    );
}
