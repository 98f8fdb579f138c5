//! Proves `tests/common/secure.rs` against independent clients before zkstate relies on it:
//! kazoo over TLS with and without client certificates, kazoo with SASL DIGEST-MD5, and Java
//! ZooKeeper's own CLI with Kerberos tickets from `kinit`. Each test checks the identity the
//! server gave the session through a node created with the `auth` ACL scheme.
mod common;

use std::time::{Duration, Instant};

use common::secure::{
    Kdc, KerberosLogin, Pki, TlsServerOptions, kazoo_sasl_env, kerberos_tls_zk, tls_zk, zkcli,
};
use common::{ToolOutput, kazoo_command, kazoo_with_env, run_tool};
use serde_json::{Value, json};

/// Runs `f`, prints how long it took (`--nocapture`), returns its result.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let value = f();
    eprintln!("{what}: {:.2} s", started.elapsed().as_secs_f64());
    value
}

/// A kazoo_tool call that must fail to connect (given 3 s to try).
fn kazoo_refused(args: &[&str], env: &[(String, String)]) -> ToolOutput {
    let mut cmd = kazoo_command(args);
    cmd.envs(env.iter().map(|(k, v)| (k, v)))
        .env("ZKTOOL_CONNECT_TIMEOUT_S", "3");
    let out = run_tool(cmd, &format!("kazoo_tool {}", args.join(" ")));
    assert!(
        !out.status.success(),
        "kazoo_tool {args:?} should have failed:\n{}",
        out.stdout
    );
    out
}

/// zkCli authenticated by GSSAPI, created `path` with the `auth` scheme, and `getAcl` showed
/// the id `sasl:client`. (zkCli prints `Created` on stderr, the rest on stdout.)
fn assert_zkcli_authenticated(out: &ToolOutput, path: &str) {
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        out.status.success()
            && text.contains("state:SaslAuthenticated")
            && text.contains(&format!("Created {path}\n"))
            && text.contains("'sasl,'client\n: cdrwa"),
        "zkCli did not authenticate as sasl:client ({}):\n{text}",
        out.status
    );
}

fn one_acl(scheme: &str, id: &str) -> Value {
    json!([{"scheme": scheme, "id": id, "perms": 31}])
}

#[test]
fn mutual_tls_names_the_session_by_the_certificate_dn_and_refuses_other_certificates() {
    let pki = timed("Pki::new", Pki::new);
    let client = timed("Pki::client", || pki.client("client"));
    let zk = timed("tls_zk (client_auth_need, x509_provider)", || {
        tls_zk(
            &pki,
            TlsServerOptions {
                client_auth_need: true,
                x509_provider: true,
                ..Default::default()
            },
        )
    });
    let hosts = zk.tls_hosts();
    let env = pki.kazoo_env(Some(&client));

    let created = kazoo_with_env(&["create-auth", &hosts, "/tls/node", "hello"], &env);
    assert_eq!(created["acl"], one_acl("x509", &client.dn), "{created}");
    assert_eq!(client.dn, "CN=client,O=zkstate");
    let read = kazoo_with_env(&["get", &hosts, "/tls/node"], &env);
    assert_eq!(read["data"], "hello", "{read}");
    // The plaintext port stays open beside the TLS one, as the harness promises.
    let acl = kazoo_with_env(&["get-acl", &zk.plain_connect_string(), "/zookeeper"], &[]);
    assert_eq!(acl, one_acl("world", "anyone"));
    assert_eq!(
        zk.tls_connect_string(),
        format!("tcp+tls://localhost:{}", zk.tls_port)
    );

    let untrusted = pki.untrusted_client("client");
    let refused = kazoo_refused(
        &["get", &hosts, "/tls/node"],
        &pki.kazoo_env(Some(&untrusted)),
    );
    assert!(
        refused.stderr.contains("certificate unknown"),
        "an untrusted client certificate should be refused by the server:\n{}",
        refused.stderr
    );
    // `need`: no certificate at all is refused too.
    let refused = kazoo_refused(&["get", &hosts, "/tls/node"], &pki.kazoo_env(None));
    assert!(
        refused.stderr.contains("bad certificate"),
        "a client without a certificate should be refused by the server:\n{}",
        refused.stderr
    );
}

#[test]
fn a_server_certificate_for_another_name_fails_host_name_verification() {
    let pki = Pki::new();
    let zk = timed("tls_zk (wrong_hostname_cert)", || {
        tls_zk(
            &pki,
            TlsServerOptions {
                wrong_hostname_cert: true,
                ..Default::default()
            },
        )
    });
    let hosts = zk.tls_hosts();
    let refused = kazoo_refused(&["children", &hosts, "/"], &pki.kazoo_env(None));
    assert!(
        refused.stderr.contains("Hostname mismatch"),
        "expected a host-name verification failure:\n{}",
        refused.stderr
    );
    // Only the name is wrong: the same chain passes when the name is not checked.
    let mut env = pki.kazoo_env(None);
    env.push(("ZKTOOL_TLS_CHECK_HOSTNAME".into(), "0".into()));
    let children = kazoo_with_env(&["children", &hosts, "/"], &env);
    assert_eq!(children, json!(["zookeeper"]));
}

#[test]
fn sasl_digest_md5_names_the_session_on_both_ports() {
    let pki = Pki::new();
    let zk = timed("tls_zk (digest_users, client auth wanted)", || {
        tls_zk(
            &pki,
            TlsServerOptions {
                digest_users: vec![("alice".into(), "alice-secret".into())],
                ..Default::default()
            },
        )
    });
    let sasl = kazoo_sasl_env("alice", "alice-secret");
    let plain = zk.plain_connect_string();
    let created = kazoo_with_env(&["create-auth", &plain, "/sasl/plain", "p"], &sasl);
    assert_eq!(created["acl"], one_acl("sasl", "alice"), "{created}");

    // Over TLS without a client certificate (`ssl.clientAuth=want`).
    let mut tls_sasl = pki.kazoo_env(None);
    tls_sasl.extend(sasl.iter().cloned());
    let created = kazoo_with_env(
        &["create-auth", &zk.tls_hosts(), "/sasl/tls", "t"],
        &tls_sasl,
    );
    assert_eq!(created["acl"], one_acl("sasl", "alice"), "{created}");

    // A presented certificate adds its x509 id to the SASL one.
    let client = pki.client("alice-host");
    let mut both = pki.kazoo_env(Some(&client));
    both.extend(sasl.iter().cloned());
    let created = kazoo_with_env(&["create-auth", &zk.tls_hosts(), "/sasl/both", "b"], &both);
    let mut ids: Vec<String> = created["acl"]
        .as_array()
        .expect("an ACL list")
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["scheme"].as_str().unwrap(),
                a["id"].as_str().unwrap()
            )
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["sasl:alice", "x509:CN=alice-host,O=zkstate"]);

    let refused = kazoo_refused(
        &["get", &plain, "/sasl/plain"],
        &kazoo_sasl_env("alice", "wrong"),
    );
    assert!(
        refused.stderr.contains("AuthFailedError"),
        "a wrong password should fail the session with AUTH_FAILED:\n{}",
        refused.stderr
    );
}

#[test]
fn kerberos_tickets_from_kinit_authenticate_on_both_ports() {
    // Short client tickets, as the re-authentication tests will use; the server keeps a day.
    let kdc = timed("Kdc::start_with_max_life(20 s)", || {
        Kdc::start_with_max_life(Duration::from_secs(20))
    });
    let keytab = timed("Kdc::add_principal", || kdc.add_principal("client"));
    let ccache = timed("Kdc::kinit", || kdc.kinit("client", &keytab));
    let principal = kdc.kadmin("getprinc client");
    assert!(
        principal.contains("Maximum ticket life: 0 days 00:00:20"),
        "{principal}"
    );

    let pki = Pki::new();
    let zk = timed("kerberos_tls_zk", || {
        kerberos_tls_zk(&kdc, &pki, TlsServerOptions::default())
    });
    let server = kdc.kadmin("getprinc zookeeper/localhost");
    assert!(
        server.contains("Maximum ticket life: 1 day 00:00:00"),
        "{server}"
    );

    let login = || {
        Some(KerberosLogin {
            kdc: &kdc,
            principal: "client",
            ccache: &ccache,
        })
    };
    let plain = timed("zkcli (GSSAPI, plaintext)", || {
        zkcli(
            &zk.plain_connect_string(),
            &["create /krb x auth::cdrwa", "getAcl /krb"],
            login(),
            None,
        )
    });
    assert_zkcli_authenticated(&plain, "/krb");
    let tls = timed("zkcli (GSSAPI, TLS)", || {
        zkcli(
            &zk.tls_hosts(),
            &["create /krb-tls x auth::cdrwa", "getAcl /krb-tls"],
            login(),
            Some(&pki),
        )
    });
    assert_zkcli_authenticated(&tls, "/krb-tls");
    // The server's own ticket life is long enough for its refresh thread to sleep.
    let log = std::fs::read_to_string(zk.server.log_file()).expect("read the server log");
    assert!(
        !log.contains("Not attempting to re-login"),
        "the server's TGT refresh thread is spinning"
    );
}
