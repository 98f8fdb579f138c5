//! Hostile manifests (issue 10): each is rejected with a clear error (or, where the input is
//! legal, handled) in bounded time and memory. `zkstate validate` runs as a child process and
//! is reaped with `wait4`, so every case measures its wall time and peak RSS; both are asserted
//! against the bounds stated here (generous: CI machines are shared):
//! [`TIME`] per case, [`RSS_MB`] peak resident memory (the 100 MB string case: [`BIG_RSS_MB`],
//! a small multiple of the input). Each case prints `HOSTILE name: exit, seconds, MB`.
mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::zkstate;

/// Wall time bound of one case.
const TIME: Duration = Duration::from_secs(60);
/// Peak RSS bound of one case (MiB).
const RSS_MB: u64 = 512;
/// Peak RSS bound with a 100 MB input (MiB).
const BIG_RSS_MB: u64 = 1024;

struct Outcome {
    code: i32,
    stderr: String,
}

/// Runs `zkstate validate -f ARGS...`; asserts the time and memory bounds.
fn validate(name: &str, args: &[&Path], rss_bound_mb: u64) -> Outcome {
    let mut cmd = zkstate();
    cmd.arg("validate");
    for a in args {
        cmd.arg("-f").arg(a);
    }
    let stderr_file = tempfile::NamedTempFile::new().expect("temp");
    cmd.stdout(Stdio::null())
        .stderr(stderr_file.reopen().expect("reopen"));
    let started = Instant::now();
    let child = cmd.spawn().expect("spawn zkstate");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // Reap with wait4 to read the child's peak RSS (std::process::Child cannot give it).
    // SAFETY: pid is our child, the pointers are valid for the call.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let took = started.elapsed();
    std::mem::forget(child); // reaped already
    let exit = std::process::ExitStatus::from_raw(status);
    let code = exit.code().unwrap_or(-1);
    let rss_mb = (usage.ru_maxrss as u64) / 1024;
    let stderr = fs::read_to_string(stderr_file.path()).unwrap_or_default();
    println!(
        "HOSTILE {name}: exit {code}, {:.2} s, {rss_mb} MB peak RSS",
        took.as_secs_f64()
    );
    assert!(
        exit.signal().is_none(),
        "{name}: killed by signal {:?} (crash): {stderr}",
        exit.signal()
    );
    assert!(took < TIME, "{name}: took {took:?}");
    assert!(
        rss_mb < rss_bound_mb,
        "{name}: peak RSS {rss_mb} MB over {rss_bound_mb}"
    );
    Outcome { code, stderr }
}

fn tree_doc(nodes_yaml: &str) -> String {
    format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata:\n  name: t\nspec:\n  root: /t\n  nodes:\n{nodes_yaml}"
    )
}

fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> std::path::PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).expect("mkdir");
    }
    fs::write(&p, content).expect("write");
    p
}

#[test]
fn nesting_10000_deep_is_rejected() {
    let dir = tempfile::tempdir().expect("tmp");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let f = write(
        dir.path(),
        "deep.yaml",
        tree_doc(&format!("    a: {{json: {deep}}}\n")),
    );
    let out = validate("nesting-flow-10000", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("recursion limit exceeded")
            || out.stderr.contains("nesting deeper than"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("deep.yaml:8:"), "{}", out.stderr);

    // Block style: 10,000 nested mappings.
    let mut block = String::new();
    for i in 0..10_000 {
        block.push_str(&" ".repeat(6 + i));
        block.push_str("k:\n");
    }
    let f = write(
        dir.path(),
        "deep-block.yaml",
        tree_doc(&format!("    a:\n      yaml:\n{block}")),
    );
    let out = validate("nesting-block-10000", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("nesting deeper than"), "{}", out.stderr);
}

#[test]
fn a_100_mb_string_is_rejected() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut text = tree_doc("    big: \"");
    text.push_str(&"x".repeat(100 * 1024 * 1024));
    text.push_str("\"\n");
    let f = write(dir.path(), "big.yaml", text);
    let out = validate("string-100MB", &[&f], BIG_RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    // Refused before parsing (loader fix: files over 64 MiB are not read).
    assert!(
        out.stderr.contains("limit of a manifest file"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("big.yaml"), "{}", out.stderr);

    // Under the file limit, a string over the znode limit is named with its znode.
    let mut text = tree_doc("    big: \"");
    text.push_str(&"x".repeat(4 * 1024 * 1024));
    text.push_str("\"\n");
    let f = write(dir.path(), "big.yaml", text);
    let out = validate("string-4MB", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("/t/big"),
        "names the znode: {}",
        out.stderr
    );
}

#[test]
fn billion_laughs_aliases_are_rejected() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut laughs = String::from(
        "      yaml:\n        l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let prev = i - 1;
        laughs.push_str(&format!(
            "        l{i}: &l{i} [*l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}, *l{prev}]\n"
        ));
    }
    let f = write(
        dir.path(),
        "laughs.yaml",
        tree_doc(&format!("    a:\n{laughs}")),
    );
    let out = validate("billion-laughs", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("alias expansion"), "{}", out.stderr);
    assert!(out.stderr.contains("laughs.yaml:"), "{}", out.stderr);
}

#[test]
fn invalid_utf8_is_rejected_at_its_position() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut bytes = tree_doc("    a: \"ok\"\n    b: \"").into_bytes();
    bytes.extend_from_slice(&[0xff, 0xfe, b'"', b'\n']);
    let f = write(dir.path(), "bad.yaml", bytes);
    let out = validate("invalid-utf8", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("not valid UTF-8"), "{}", out.stderr);
    assert!(out.stderr.contains("bad.yaml:9:9"), "{}", out.stderr);
}

#[test]
fn a_bom_is_accepted_as_yaml_allows() {
    // YAML 1.2 permits a byte order mark at the start of a stream: editors on Windows write
    // one. It is read, never part of a key.
    let dir = tempfile::tempdir().expect("tmp");
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend_from_slice(tree_doc("    a: \"x\"\n").as_bytes());
    let f = write(dir.path(), "bom.yaml", bytes);
    let out = validate("bom", &[&f], RSS_MB);
    assert_eq!(out.code, 0, "{}", out.stderr);

    // A BOM in the middle of a file is no BOM: a clear error at its position.
    let mut bytes = tree_doc("    a: \"x\"\n").into_bytes();
    bytes.extend_from_slice("\u{feff}    b: \"y\"\n".as_bytes());
    let f = write(dir.path(), "bom-mid.yaml", bytes);
    let out = validate("bom-mid", &[&f], RSS_MB);
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("bom-mid.yaml:"), "{}", out.stderr);
}

#[test]
fn symlink_loops_in_a_directory_terminate() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("set");
    write(&root, "a.yaml", tree_doc("    a: \"x\"\n"));
    // A directory link back to its parent, and two links pointing at each other.
    std::os::unix::fs::symlink(&root, root.join("loop")).expect("symlink");
    std::os::unix::fs::symlink(root.join("y.yaml"), root.join("x.yaml")).expect("symlink");
    std::os::unix::fs::symlink(root.join("x.yaml"), root.join("y.yaml")).expect("symlink");
    let out = validate("symlink-loop", &[&root], RSS_MB);
    // The file links cannot be read: an unreadable set (exit 2), named, after a bounded walk.
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("x.yaml"), "{}", out.stderr);

    // Only the directory loop: the set is read once and valid.
    fs::remove_file(root.join("x.yaml")).expect("rm");
    fs::remove_file(root.join("y.yaml")).expect("rm");
    let out = validate("symlink-dir-loop", &[&root], RSS_MB);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn file_references_may_not_escape_the_manifest_directory() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("set");
    write(dir.path(), "secret.txt", "outside");
    write(&root, "inside.txt", "inside");
    std::os::unix::fs::symlink(dir.path(), root.join("up")).expect("symlink");

    let f = write(
        &root,
        "dots.yaml",
        tree_doc("    a: {file: ../secret.txt}\n"),
    );
    let out = validate("file-dotdot", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("outside"), "{}", out.stderr);
    assert!(out.stderr.contains("dots.yaml:"), "{}", out.stderr);
    fs::remove_file(&f).expect("rm");

    let f = write(
        &root,
        "link.yaml",
        tree_doc("    a: {file: up/secret.txt}\n"),
    );
    let out = validate("file-symlink", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("outside"), "{}", out.stderr);
    fs::remove_file(&f).expect("rm");

    let f = write(
        &root,
        "schema.yaml",
        tree_doc("    a: {json: {x: 1}, schema: ../secret.txt}\n"),
    );
    // `schema:` may live beside the manifest directory (a YAML schema inside it would be read
    // as a manifest): it is only read, never written to ZooKeeper. Not a JSON Schema here.
    let out = validate("schema-dotdot", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("cannot use schema"), "{}", out.stderr);
    fs::remove_file(&f).expect("rm");

    // Inside is fine, `..` that stays inside too.
    let f = write(
        &root,
        "sub/ok.yaml",
        tree_doc("    a: {file: ../inside.txt}\n"),
    );
    let out = validate("file-inside", &[&root], RSS_MB);
    assert_eq!(out.code, 0, "{}", out.stderr);
    drop(f);
}

#[test]
fn a_self_referencing_schema_is_handled() {
    let dir = tempfile::tempdir().expect("tmp");
    // A schema whose root refers to itself, and one that recurses through a definition.
    write(dir.path(), "self.json", r##"{"$ref": "#"}"##);
    write(
        dir.path(),
        "loop.json",
        r##"{"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}"##,
    );
    write(
        dir.path(),
        "file-self.json",
        r##"{"$id": "file-self.json", "$ref": "file-self.json"}"##,
    );
    for schema in ["self.json", "loop.json", "file-self.json"] {
        let f = write(
            dir.path(),
            "m.yaml",
            tree_doc(&format!("    a: {{json: {{x: 1}}, schema: {schema}}}\n")),
        );
        let out = validate(&format!("schema-{schema}"), &[&f], RSS_MB);
        assert!(
            out.code == 0 || out.code == 1,
            "{schema}: exit {}: {}",
            out.code,
            out.stderr
        );
        if out.code == 1 {
            assert!(out.stderr.contains("m.yaml:"), "{}", out.stderr);
        }
    }
}

#[test]
fn a_million_tiny_documents_are_rejected_quickly() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut text = String::with_capacity(12 * 1_000_000);
    for _ in 0..1_000_000 {
        text.push_str("---\nx: 1\n");
    }
    let f = write(dir.path(), "many.yaml", text);
    let out = validate("million-documents", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr.len());
    // Loader fix: one error at the 10,001st document marker, before any parsing.
    assert!(
        out.stderr
            .contains("many.yaml:20001:1: error: more than 10000 documents in one file"),
        "{}",
        &out.stderr[..2000.min(out.stderr.len())]
    );
    assert!(out.stderr.lines().count() < 10, "{}", out.stderr);

    // A million empty documents: the same.
    let f = write(dir.path(), "many.yaml", "---\n".repeat(1_000_000));
    let out = validate("million-empty-documents", &[&f], RSS_MB);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("more than 10000 documents"),
        "{}",
        out.stderr
    );

    // 10,000 tiny invalid documents (under the cap): every one reported, in bounded time.
    let f = write(dir.path(), "many.yaml", "---\nx: 1\n".repeat(10_000));
    let out = validate("ten-thousand-documents", &[&f], RSS_MB);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("many.yaml:2:1"),
        "{}",
        &out.stderr[..500]
    );
}
