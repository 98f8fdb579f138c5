//! `zkstate validate` and `zkstate schema` on the real binary: exit codes (0 valid, 1 invalid,
//! 2 unreadable), diagnostics at exact `file:line:column` on stderr, secrets never printed.
//! No ZooKeeper needed.
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary in `dir` with a clean environment (plus `env`); returns (code, stdout, stderr).
fn zkstate(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkstate"));
    cmd.current_dir(dir).args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run zkstate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

const TREE: &str = "apiVersion: zkstate/v1\nkind: ConfigTree\n";

#[test]
fn examples_are_valid_on_a_clean_environment() {
    let (code, out, err) = zkstate(&repo(), &["validate", "-f", "examples/"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "6 documents, 29 znodes: valid\n");
    assert_eq!(err, "");
    // -q: nothing at all.
    let (code, out, err) = zkstate(&repo(), &["-q", "validate", "-f", "examples"], &[]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn invalid_manifests_exit_1_with_every_problem_located() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "a.yaml",
                &format!(
                    "{TREE}metadata: {{name: a}}\nspec:\n  root: /config\n  prnue: true\n  nodes:\n    url: http://${{DB_HOST}}/\n"
                ),
            ),
            (
                "sub/b.yml",
                &format!(
                    "{TREE}metadata: {{name: b}}\nspec:\n  root: /zookeeper/b\n---\n{TREE}metadata: {{name: b}}\nspec:\n  root: /c\n"
                ),
            ),
            ("notes.txt", "not a manifest"),
        ],
    );
    let (code, out, err) = zkstate(dir.path(), &["validate", "-f", "."], &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err,
        "./a.yaml:6:3: error: unknown field `prnue`
  hint: did you mean `prune`?
./a.yaml:8:17: error: environment variable `DB_HOST` is not set
  hint: set `DB_HOST` in the environment, or give a default: `${DB_HOST:-default}`
./sub/b.yml:5:9: error: `/zookeeper/b` is inside `/zookeeper`, ZooKeeper's own subtree (znode /zookeeper/b)
  hint: choose a path outside `/zookeeper`
./sub/b.yml:9:18: error: duplicate ConfigTree name `b`
  hint: first declared at ./sub/b.yml:3:18; metadata.name must be unique per kind
4 errors: manifest set is not valid
"
    );
}

#[test]
fn syntax_errors_and_empty_sets() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("bad.yaml", "kind: ConfigTree\nspec: {root: /a\n"),
            ("empty.yaml", "---\n# nothing\n"),
        ],
    );
    let (code, _, err) = zkstate(dir.path(), &["validate", "-f", "bad.yaml"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("bad.yaml:3:1: error: invalid YAML: "),
        "{err}"
    );
    let (code, _, err) = zkstate(dir.path(), &["validate", "-f", "empty.yaml"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("empty.yaml: error: the manifest set has no documents"),
        "{err}"
    );
    std::fs::create_dir(dir.path().join("none")).unwrap();
    let (code, _, err) = zkstate(dir.path(), &["validate", "-f", "none"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("none: error: no manifests found in directory"),
        "{err}"
    );
}

#[test]
fn unreadable_paths_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "ok.yaml",
            &format!("{TREE}metadata: {{name: a}}\nspec: {{root: /a}}\n"),
        )],
    );
    let (code, _, err) = zkstate(
        dir.path(),
        &["validate", "-f", "ok.yaml", "-f", "missing.yaml"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err,
        "missing.yaml: error: failed to read: no such file or directory\n1 error: manifest set is not valid\n"
    );
    // An invalid manifest and an unreadable one: trouble wins.
    write(dir.path(), &[("bad.yaml", "kind: x\n")]);
    let (code, _, _) = zkstate(
        dir.path(),
        &["validate", "-f", "bad.yaml", "-f", "missing.yaml"],
        &[],
    );
    assert_eq!(code, 2);
}

#[test]
fn environment_decides_scalar_types_and_state_path_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    // Block style: in a flow mapping (`{...}`) a plain `${PORT}` would end at its `}`.
    let service = "apiVersion: zkstate/v1\nkind: Service\nmetadata: {name: api}\nspec:\n  format: json\n  basePath: /services\n  instances:\n    - id: a\n      address: 10.0.0.1\n      port: ${PORT}\n";
    write(dir.path(), &[("s.yaml", service)]);
    let (code, out, err) = zkstate(
        dir.path(),
        &["validate", "-f", "s.yaml"],
        &[("PORT", "8080")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.ends_with(": valid\n"));
    let (code, _, err) = zkstate(
        dir.path(),
        &["validate", "-f", "s.yaml"],
        &[("PORT", "http")],
    );
    assert_eq!(code, 1);
    assert!(
        err.starts_with("s.yaml:10:13: error: expected an integer, found a string\n"),
        "{err}"
    );
    let (code, _, err) = zkstate(dir.path(), &["validate", "-f", "s.yaml"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("s.yaml:10:13: error: environment variable `PORT` is not set\n"),
        "{err}"
    );

    let (code, _, err) = zkstate(
        &repo(),
        &["--state-path", "/services", "validate", "-f", "examples"],
        &[],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(
            "services.yaml:11:13: error: `/services` is inside zkstate's state path `/services`"
        ),
        "{err}"
    );
    let (code, _, err) = zkstate(
        &repo(),
        &["--state-path", "relative", "validate", "-f", "examples"],
        &[],
    );
    assert_eq!(code, 2, "{err}");
}

#[test]
fn secrets_never_reach_the_output() {
    let secret = "hunter2-very-secret";
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "limits.json",
                r#"{"type": "object", "properties": {"rps": {"type": "integer"}}}"#,
            ),
            (
                "a.yaml",
                &format!(
                    "{TREE}metadata: {{name: a}}\nspec:\n  root: /a\n  nodes:\n    k: {{value: '{{\"rps\": \"${{KEY}}\"}}', secret: true, schema: limits.json}}\n    b: {{base64: \"${{KEY}}\", secret: true}}\n"
                ),
            ),
        ],
    );
    let (code, out, err) = zkstate(
        dir.path(),
        &["validate", "-f", "a.yaml"],
        &[("KEY", secret)],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("a.yaml:7:16: error: data does not match schema `limits.json` at `/rps`: (sensitive) is not of type \"integer\" (znode /a/k)"), "{err}");
    assert!(
        err.contains(
            "a.yaml:8:17: error: invalid base64: unexpected character at offset 7 (znode /a/b)"
        ),
        "{err}"
    );
    assert!(!out.contains(secret) && !err.contains(secret), "{err}");
}

#[test]
fn schema_prints_the_committed_file() {
    let (code, out, err) = zkstate(&repo(), &["schema"], &[]);
    assert_eq!(code, 0, "{err}");
    let committed = std::fs::read_to_string(repo().join("schemas/zkstate.schema.json")).unwrap();
    assert!(
        out == committed,
        "schemas/zkstate.schema.json is stale; regenerate: cargo run -- schema > schemas/zkstate.schema.json"
    );
    assert!(out.ends_with("}\n"));
}
