//! `cargo bench --bench tls`: what TLS costs, in the same run against the same server.
//!
//! One real ZooKeeper serves both a plaintext `clientPort` and a Netty `secureClientPort` with
//! `ssl.clientAuth=need` and the x509 provider (certificates made by the test harness,
//! `tests/common/secure.rs`); zkstate runs as a whole process against each port in turn,
//! alternating plaintext and mutual TLS so drift of the machine hits both alike:
//!
//! 1. `apply` of new trees of `--small` nodes (default 10,000), two shapes: flat (100-byte
//!    values under 100 groups) and a complete 10-ary tree with every parent declared;
//! 2. a no-op `diff` of a tree of `--large` nodes (default 100,000), applied once beforehand
//!    (`--allow-split`).
//!
//! Reports the median, min and max wall time of `--repeats` runs per row and the TLS/plaintext
//! ratio of the medians. Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke
//! run: 2 repeats of 500 and 2,000 nodes.
#[path = "../tests/common/mod.rs"]
mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::secure::{ClientCert, Pki, TlsServerOptions, tls_zk};

struct Config {
    small: usize,
    large: usize,
    repeats: usize,
}

fn config() -> Config {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let value = |name: &str, default: usize| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    if bench {
        Config {
            small: value("--small", 10_000),
            large: value("--large", 100_000),
            repeats: value("--repeats", 5),
        }
    } else {
        Config {
            small: 500,
            large: 2_000,
            repeats: 2,
        }
    }
}

/// A 100-byte value for node `i`.
fn value(i: usize) -> String {
    let mut v = format!("value-{i:09}-");
    while v.len() < 100 {
        v.push('x');
    }
    v
}

/// A ConfigTree `name` at `root`: `n` nodes, flat (100 groups) or a complete 10-ary tree with
/// every parent declared.
fn tree(name: &str, root: &str, n: usize, nested: bool) -> String {
    let mut s = format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata: {{name: {name}}}\nspec:\n  root: {root}\n  nodes:\n"
    );
    if nested {
        // Breadth-first numbering: node i's parent is (i - 1) / 10; paths spell the digits.
        let mut paths: Vec<String> = vec![String::new()];
        for i in 1..=n {
            let parent = paths[(i - 1) / 10].clone();
            let path = if parent.is_empty() {
                format!("c{}", (i - 1) % 10)
            } else {
                format!("{parent}/c{}", (i - 1) % 10)
            };
            s.push_str(&format!("    {path}: {}\n", value(i)));
            paths.push(path);
        }
    } else {
        for i in 0..n {
            s.push_str(&format!("    g{:02}/n{i:07}: {}\n", i % 100, value(i)));
        }
    }
    s
}

const AUTH: &str = "digest:bench:bench-pw";

/// The global flags of one transport.
fn flags(mode: Mode, plain: &str, tls: &str, pki: &Pki, me: &ClientCert) -> Vec<String> {
    match mode {
        // Both authenticate by digest too, so the state's ACL suits either transport.
        Mode::Plain => vec!["--zk".into(), plain.into(), "--auth".into(), AUTH.into()],
        Mode::Tls => vec![
            "--zk".into(),
            tls.into(),
            "--auth".into(),
            AUTH.into(),
            "--tls-ca".into(),
            pki.ca_pem.display().to_string(),
            "--tls-cert".into(),
            me.cert.display().to_string(),
            "--tls-key".into(),
            me.key.display().to_string(),
        ],
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Plain,
    Tls,
}

/// Runs zkstate and returns its wall time; panics unless it exits with `want`.
fn timed(args: &[String], want: i32) -> Duration {
    let started = Instant::now();
    let out = common::zkstate()
        .args(args)
        .env_remove("ZKSTATE_ZK")
        .output()
        .expect("run zkstate");
    let took = started.elapsed();
    assert_eq!(
        out.status.code(),
        Some(want),
        "zkstate {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    name: String,
    plain: Vec<Duration>,
    tls: Vec<Duration>,
}

impl Row {
    fn print(&mut self) {
        let (p, t) = (median(&mut self.plain), median(&mut self.tls));
        let span = |v: &[Duration]| {
            format!(
                "{:.3}–{:.3}",
                v.first().map_or(0.0, Duration::as_secs_f64),
                v.last().map_or(0.0, Duration::as_secs_f64)
            )
        };
        println!(
            "| {} | {:.3} s ({}) | {:.3} s ({}) | {:.2}x |",
            self.name,
            p.as_secs_f64(),
            span(&self.plain),
            t.as_secs_f64(),
            span(&self.tls),
            t.as_secs_f64() / p.as_secs_f64()
        );
    }
}

fn main() {
    let cfg = config();
    let pki = Pki::new();
    let zk = tls_zk(
        &pki,
        TlsServerOptions {
            client_auth_need: true,
            x509_provider: true,
            ..Default::default()
        },
    );
    let me = pki.client("zkstate-bench");
    let (plain, tls) = (zk.plain_connect_string(), zk.tls_connect_string());
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).expect("write manifest");
        path
    };
    let with = |mode: Mode, rest: &[&str]| {
        let mut a = flags(mode, &plain, &tls, &pki, &me);
        a.extend(rest.iter().map(|s| s.to_string()));
        a
    };
    let path = |p: &Path| p.display().to_string();

    println!(
        "TLS against plaintext, same server, {} repeats, medians (min–max):\n",
        cfg.repeats
    );
    println!("| work | plaintext | mutual TLS | TLS / plaintext |");
    println!("| --- | ---: | ---: | ---: |");
    for nested in [false, true] {
        let shape = if nested { "nested" } else { "flat" };
        let mut row = Row {
            name: format!("apply {} new nodes ({shape})", cfg.small),
            plain: Vec::new(),
            tls: Vec::new(),
        };
        for i in 0..cfg.repeats {
            // Alternate which transport goes first.
            let order = if i % 2 == 0 {
                [Mode::Plain, Mode::Tls]
            } else {
                [Mode::Tls, Mode::Plain]
            };
            for mode in order {
                let name = format!("{shape}-{mode:?}-{i}").to_lowercase();
                let file = write(
                    &format!("{name}.yaml"),
                    &tree(&name, &format!("/bench/{name}"), cfg.small, nested),
                );
                let took = timed(
                    &with(mode, &["apply", "--allow-split", "-f", &path(&file)]),
                    0,
                );
                match mode {
                    Mode::Plain => row.plain.push(took),
                    Mode::Tls => row.tls.push(took),
                }
            }
        }
        row.print();
    }

    let large = write("large.yaml", &tree("large", "/large", cfg.large, false));
    timed(
        &with(
            Mode::Plain,
            &["apply", "--allow-split", "-f", &path(&large)],
        ),
        0,
    );
    let mut row = Row {
        name: format!("no-op diff of {} nodes", cfg.large),
        plain: Vec::new(),
        tls: Vec::new(),
    };
    for i in 0..cfg.repeats {
        let order = if i % 2 == 0 {
            [Mode::Plain, Mode::Tls]
        } else {
            [Mode::Tls, Mode::Plain]
        };
        for mode in order {
            let took = timed(&with(mode, &["diff", "-f", &path(&large)]), 0);
            match mode {
                Mode::Plain => row.plain.push(took),
                Mode::Tls => row.tls.push(took),
            }
        }
    }
    row.print();
}
