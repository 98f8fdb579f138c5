//! The committed schema checked by an independent implementation: Python's `jsonschema` (with
//! PyYAML) validates every document in `examples/` against `schemas/zkstate.schema.json`, and
//! rejects a copy with a typo. This is what an editor with yaml-language-server does with the
//! `# yaml-language-server: $schema=...` modeline each example starts with.
//!
//! Needs `python3` (or `ZKSTATE_PYTHON`) with the `jsonschema` and `PyYAML` packages
//! (`scripts/install-deps`).
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const CHECKER: &str = r#"
import json, sys
try:
    import jsonschema, yaml
except ImportError as e:
    print(f"missing Python package: {e.name} (pip install jsonschema PyYAML; scripts/install-deps)")
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
cls.check_schema(schema)
validator = cls(schema)
failed = 0
for path in sys.argv[2:]:
    with open(path) as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    for i, doc in enumerate(docs):
        for e in validator.iter_errors(doc):
            failed += 1
            where = "/".join(str(p) for p in e.absolute_path)
            print(f"{path}: document {i + 1}: /{where}: {e.message}")
    print(f"checked {path}: {len(docs)} document(s)")
print(f"validator: {cls.__name__}")
sys.exit(1 if failed else 0)
"#;

/// Runs the checker on `files`: (exit code, output).
fn python_check(files: &[PathBuf]) -> (i32, String) {
    let python = std::env::var("ZKSTATE_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .arg("-c")
        .arg(CHECKER)
        .arg(repo().join("schemas/zkstate.schema.json"))
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e} (scripts/install-deps installs it)"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    assert_ne!(code, 3, "{text}");
    (code, text)
}

fn example_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&repo().join("examples"), &mut out);
    out
}

#[test]
fn every_example_validates_against_the_committed_schema() {
    let files = example_files();
    assert!(files.len() >= 4, "{files:?}");
    let (code, out) = python_check(&files);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("validator: Draft7Validator"), "{out}");
    // yaml-language-server applies a modeline to its own document only (docs/editors.md): every
    // document of an example carries one.
    const MODELINE: &str = "# yaml-language-server: $schema=../schemas/zkstate.schema.json\n";
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, doc) in text.split("\n---\n").enumerate() {
            assert!(
                doc.starts_with(MODELINE),
                "document {} of {} must start with the schema modeline",
                i + 1,
                f.display()
            );
        }
    }
}

#[test]
fn a_typo_fails_the_independent_validator_too() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("examples/payments.yaml")).unwrap();
    let cases = [
        ("prune: true", "prnue: true", "'prnue' was unexpected"),
        (
            "db/pool: {json:",
            "db/pool: {jsno:",
            "'jsno' was unexpected",
        ),
        (
            "kind: ConfigTree",
            "kind: ConfigTre",
            "'ConfigTre' is not one of",
        ),
        (
            "mode: enforce",
            "mode: enforced",
            // `mode` may also be a `${VAR}` string, so neither alternative matched.
            "'enforced' is not valid under any of the given schemas",
        ),
    ];
    for (i, (from, to, expect)) in cases.iter().enumerate() {
        assert!(text.contains(from), "{from}");
        let path = dir.path().join(format!("typo{i}.yaml"));
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let (code, out) = python_check(std::slice::from_ref(&path));
        assert_eq!(code, 1, "{to}: {out}");
        assert!(out.contains(expect), "{to}: {out}");
        // zkstate agrees.
        let status = Command::new(env!("CARGO_BIN_EXE_zkstate"))
            .args(["validate", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(status.status.code(), Some(1), "{to}");
    }
}

#[test]
fn interpolation_is_accepted_in_typed_fields_and_nonsense_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("examples/services.yaml")).unwrap();
    let cases = [
        ("port: 8080", "port: ${PORT:-8080}", 0),
        ("port: 8080", "port: ${PORT}", 0),
        ("scope: host", "scope: ${SCOPE:-host}", 0),
        ("port: 8080", "port: eighty", 1),
        ("port: 8080", "port: $${PORT}", 1),
        ("scope: host", "scope: hots", 1),
    ];
    for (i, (from, to, expect)) in cases.iter().enumerate() {
        assert!(text.contains(from), "{from}");
        let path = dir.path().join(format!("interp{i}.yaml"));
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let (code, out) = python_check(std::slice::from_ref(&path));
        assert_eq!(code, *expect, "{to}: {out}");
        // zkstate expands first: `${PORT:-8080}` is the integer 8080, `eighty` is an error.
        let status = Command::new(env!("CARGO_BIN_EXE_zkstate"))
            .args(["validate", "-f"])
            .arg(&path)
            .env_remove("PORT")
            .env_remove("SCOPE")
            .output()
            .unwrap();
        if to.contains(":-") {
            assert_eq!(status.status.code(), Some(0), "{to}");
        } else if *expect == 1 {
            assert_eq!(status.status.code(), Some(1), "{to}");
        }
    }
}
