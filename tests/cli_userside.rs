//! The user's side of the CLI on the real binary: `--output markdown` plans against a real
//! ZooKeeper, a fast and named "connection refused", shell completions and man pages.
mod common;

use std::time::{Duration, Instant};

use common::{Manifests, zk};

const SECRET: &str = "md-s3cr3t-value";

fn manifest(pool: u32, extra: &str) -> String {
    format!(
        r#"apiVersion: zkstate/v1
kind: ConfigTree
metadata: {{name: payments}}
spec:
  root: /config/payments
  prune: true
  nodes:
    db/url: postgres://db:5432/payments
    db/pool: {{json: {{max: {pool}}}}}
    tls/key: {{env: ZKSTATE_MD_SECRET, secret: true}}
{extra}---
apiVersion: zkstate/v1
kind: Queue
metadata: {{name: jobs}}
spec:
  path: /queues/jobs
  format: kazoo
"#
    )
}

fn run_md(hosts: &str, args: &[&str], secret: &str) -> (i32, String, String) {
    common::run_with_env(hosts, args, &[("ZKSTATE_MD_SECRET", secret)])
}

#[test]
fn markdown_plans_for_diff_and_apply() {
    let zk = zk();
    let hosts = zk.connect_string();
    let m = Manifests::new(&[("payments.yaml", &manifest(20, "    old/flag: \"on\"\n"))]);
    let dir = m.path().to_str().unwrap();

    // diff: exit 1 and the comment body in one run.
    let (code, md, err) = run_md(&hosts, &["diff", "-f", dir, "--output", "markdown"], SECRET);
    assert_eq!(code, 1, "{err}");
    assert!(
        md.starts_with("<!-- zkstate-plan -->\n### zkstate diff: "),
        "{md}"
    );
    assert!(md.contains("| ConfigTree payments |"), "{md}");
    assert!(md.contains("| Queue jobs |"), "{md}");
    assert!(md.contains("<details><summary>ConfigTree payments"), "{md}");
    assert!(md.contains("+ /config/payments/db/url\n+     postgres://db:5432/payments"));
    assert!(md.contains("(sensitive)") && !md.contains(SECRET), "{md}");

    // apply with markdown: exit 0, the body says what was applied.
    let (code, md, err) = run_md(
        &hosts,
        &["apply", "-f", dir, "--output", "markdown"],
        SECRET,
    );
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("### zkstate apply: "), "{md}");
    assert!(md.contains("Applied "), "{md}");
    assert!(!md.contains(SECRET), "{md}");
    assert_eq!(
        common::raw::text(&hosts, "/config/payments/db/pool"),
        r#"{"max":20}"#
    );

    // An update, a secret update and a delete.
    m.write("payments.yaml", &manifest(30, ""));
    let (code, md, err) = run_md(
        &hosts,
        &["diff", "-f", dir, "--output", "markdown"],
        "another-secret",
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        md.contains("### zkstate diff: 0 to create, 2 to update, 2 to delete"),
        "{md}"
    );
    assert!(md.contains("| ConfigTree payments | 0 | 2 | 2 |"), "{md}");
    assert!(
        md.contains("-     {\"max\":20}\n+     {\"max\":30}"),
        "{md}"
    );
    assert!(md.contains("- /config/payments/old/flag (2 bytes)"), "{md}");
    assert!(
        !md.contains("another-secret") && !md.contains(SECRET),
        "{md}"
    );

    // In sync: exit 0 and a short body.
    let (code, md, err) = run_md(&hosts, &["apply", "-f", dir], "another-secret");
    assert_eq!(code, 0, "{err}\n{md}");
    let (code, md, err) = run_md(
        &hosts,
        &["diff", "-f", dir, "--output", "markdown"],
        "another-secret",
    );
    assert_eq!(code, 0, "{err}");
    assert!(md.contains("### zkstate diff: no changes"), "{md}");
}

#[test]
fn connection_refused_fails_fast_with_the_cause() {
    let m = Manifests::new(&[("payments.yaml", &manifest(20, ""))]);
    let dir = m.path().to_str().unwrap();
    // Nothing listens on port 1; and a second refusing host must not change the outcome.
    for hosts in ["127.0.0.1:1", "127.0.0.1:1,127.0.0.2:1/chroot"] {
        let started = Instant::now();
        let (code, out, err) = run_md(
            hosts,
            &["diff", "-f", dir, "--session-timeout", "30s"],
            SECRET,
        );
        let elapsed = started.elapsed();
        assert_eq!(code, 2, "{out}\n{err}");
        assert!(err.contains("connection refused"), "{err}");
        assert!(err.contains(hosts), "{err}");
        assert!(
            elapsed < Duration::from_secs(10),
            "took {elapsed:?}, the session timeout is 30 s"
        );
    }
}

#[test]
fn completions_and_man_pages_are_generated() {
    for (shell, expect) in [
        ("bash", "_zkstate()"),
        ("zsh", "#compdef zkstate"),
        ("fish", "complete -c zkstate"),
    ] {
        let out = common::zkstate()
            .args(["completions", shell])
            .output()
            .expect("run zkstate");
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(expect), "{shell}: {text}");
        for word in ["diff", "apply", "session-timeout", "markdown"] {
            assert!(text.contains(word), "{shell} lacks {word}");
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::zkstate()
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run zkstate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(dir.path().join("zkstate.1")).expect("zkstate.1");
    assert!(page.contains(".TH zkstate"), "{page}");
    assert!(page.contains("completions"), "{page}");
    let diff = std::fs::read_to_string(dir.path().join("zkstate-diff.1")).expect("zkstate-diff.1");
    assert!(diff.contains("markdown"), "{diff}");
    assert!(
        !dir.path().join("zkstate-man.1").exists(),
        "the man command itself is hidden"
    );
}
