//! The schema in a real editor: the pinned yaml-language-server (`tests/lsp/package.json`,
//! installed by `scripts/install-deps`) driven over LSP stdio by `tests/lsp/drive.js`, reading
//! `schemas/zkstate.schema.json` through the modelines of `examples/` exactly as VS Code or
//! Neovim would (docs/editors.md).
//!
//! Needs `node` and `tests/lsp/node_modules` (`scripts/install-deps` runs `npm ci` there).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const MODELINE: &str = "# yaml-language-server: $schema=../schemas/zkstate.schema.json\n";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn uri(relative: &str) -> String {
    format!("file://{}/{relative}", repo().display())
}

/// Runs one job through the language server; returns one result per step.
fn lsp(settings: Value, steps: Vec<Value>) -> Vec<Value> {
    let lsp_dir = repo().join("tests/lsp");
    assert!(
        lsp_dir.join("node_modules/yaml-language-server").is_dir(),
        "tests/lsp/node_modules is missing: run scripts/install-deps (npm ci in tests/lsp)"
    );
    let node = std::env::var("ZKSTATE_NODE").unwrap_or_else(|_| "node".into());
    let job = json!({"rootUri": format!("file://{}", repo().display()), "settings": settings, "steps": steps});
    let mut child = Command::new(&node)
        .arg(lsp_dir.join("drive.js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {node}: {e} (scripts/install-deps installs it)"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(job.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lsp driver failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<Value> =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(results.len(), steps.len());
    results
}

fn settings() -> Value {
    json!({"validate": true, "completion": true, "hover": true})
}

fn diagnostics(uri: &str, text: &str) -> Value {
    json!({"op": "diagnostics", "uri": uri, "text": text})
}

/// Diagnostics as `(line, message)`.
fn lines_of(diags: &Value) -> Vec<(u64, String)> {
    diags
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["line"].as_u64().unwrap(),
                d["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The 0-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> u64 {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle} not in\n{text}")) as u64
}

fn example_files() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    out.sort();
    out
}

fn relative(p: &Path) -> String {
    p.strip_prefix(repo()).unwrap().display().to_string()
}

#[test]
fn examples_are_clean_and_mistakes_are_reported_on_their_line() {
    let payments = std::fs::read_to_string(repo().join("examples/payments.yaml")).unwrap();
    let services = std::fs::read_to_string(repo().join("examples/services.yaml")).unwrap();
    let mut steps: Vec<Value> = example_files()
        .iter()
        .map(|p| diagnostics(&uri(&relative(p)), &std::fs::read_to_string(p).unwrap()))
        .collect();
    let n_examples = steps.len();
    assert!(n_examples >= 5);
    // (text, the line that must carry a diagnostic); each in a document of its own next to the
    // examples, so that the relative modeline resolves the same way.
    let typo = payments.replacen("prune: true", "prnue: true", 1);
    let wrong_enum = payments.replacen("mode: enforce", "mode: enforced", 1);
    let wrong_type = services.replacen("port: 8080", "port: eighty", 1);
    let wrong_bool = payments.replacen("secret: true", "secret: maybe", 1);
    let cases = [
        (typo, line_of(&payments, "prune: true")),
        (wrong_enum, line_of(&payments, "mode: enforce")),
        (wrong_type, line_of(&services, "port: 8080")),
        (wrong_bool, line_of(&payments, "secret: true")),
    ];
    for (i, (text, _)) in cases.iter().enumerate() {
        steps.push(diagnostics(
            &uri(&format!("examples/lsp-case-{i}.yaml")),
            text,
        ));
    }
    // `${VAR}` in non-string fields is what the loader accepts: no false errors.
    let interpolated = services
        .replacen("port: 8080", "port: ${PORT:-8080}", 1)
        .replacen("sslPort: 8443", "sslPort: ${SSL_PORT}", 1)
        .replacen("scope: host", "scope: ${SCOPE:-host}", 1);
    assert_ne!(interpolated, services);
    steps.push(diagnostics(
        &uri("examples/lsp-interpolated.yaml"),
        &interpolated,
    ));

    let results = lsp(settings(), steps);
    for (p, r) in example_files().iter().zip(&results) {
        assert_eq!(lines_of(r), vec![], "{} is not clean", p.display());
    }
    for ((text, line), r) in cases.iter().zip(&results[n_examples..]) {
        let got = lines_of(r);
        assert!(
            !got.is_empty() && got.iter().all(|(l, _)| l == line),
            "expected diagnostics on line {} only, got {got:?} for\n{}",
            line + 1,
            text.lines().nth(*line as usize).unwrap()
        );
    }
    let got = lines_of(&results[n_examples + cases.len()]);
    assert_eq!(
        got,
        vec![],
        "`${{VAR}}` in port/sslPort/scope must be accepted"
    );
}

#[test]
fn completion_under_spec_offers_each_kinds_fields_as_key_colon() {
    let kinds = [
        (
            "ConfigTree",
            vec!["root", "prune", "acl", "nodes", "mode", "ignore"],
        ),
        (
            "Service",
            vec!["format", "basePath", "scope", "instances", "acl"],
        ),
        ("Queue", vec!["path", "format", "alertDepth", "seed", "acl"]),
        (
            "ElectionGroup",
            vec!["path", "format", "participate", "acl"],
        ),
    ];
    let mut steps = Vec::new();
    for (kind, _) in &kinds {
        let text = format!(
            "{MODELINE}apiVersion: zkstate/v1\nkind: {kind}\nmetadata:\n  name: x\nspec:\n  \n"
        );
        steps.push(json!({
            "op": "completion", "uri": uri(&format!("examples/lsp-complete-{kind}.yaml")),
            "text": text, "line": 6, "character": 2
        }));
    }
    // The envelope: `kind` and `metadata` insert `key: ` / `key:\n`, not a bare key.
    steps.push(json!({
        "op": "completion", "uri": uri("examples/lsp-complete-envelope.yaml"),
        "text": format!("{MODELINE}\n"), "line": 1, "character": 0
    }));
    // Enum values are still offered although `mode` may also be a `${VAR}` string.
    steps.push(json!({
        "op": "completion", "uri": uri("examples/lsp-complete-mode.yaml"),
        "text": format!("{MODELINE}apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata:\n  name: x\nspec:\n  root: /x\n  mode: \n"),
        "line": 7, "character": 8
    }));
    let results = lsp(settings(), steps);
    let labels: Vec<&str> = results[kinds.len() + 1]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["label"].as_str())
        .collect();
    assert_eq!(labels, ["enforce", "observe"]);
    for ((kind, fields), r) in kinds.iter().zip(&results) {
        let items = r.as_array().unwrap();
        for field in fields {
            let item = items
                .iter()
                .find(|i| i["label"] == *field)
                .unwrap_or_else(|| panic!("{kind}: no completion for {field}: {r}"));
            let insert = item["insertText"].as_str().unwrap();
            assert!(
                insert.starts_with(&format!("{field}: "))
                    || insert.starts_with(&format!("{field}:\n")),
                "{kind}.{field} inserts {insert:?}"
            );
        }
        // Only this kind's fields (plus none of another kind's).
        for other in ["root", "basePath", "alertDepth", "participate"] {
            if !fields.contains(&other) {
                assert!(
                    !items.iter().any(|i| i["label"] == other),
                    "{kind} offers {other}"
                );
            }
        }
    }
    let items = results[kinds.len()].as_array().unwrap();
    for field in ["apiVersion", "kind", "metadata", "spec"] {
        let item = items
            .iter()
            .find(|i| i["label"] == field)
            .unwrap_or_else(|| panic!("no completion for {field}: {items:?}"));
        let insert = item["insertText"].as_str().unwrap();
        assert!(
            insert.starts_with(&format!("{field}: ")) || insert.starts_with(&format!("{field}:\n")),
            "{field} inserts {insert:?}"
        );
    }
}

#[test]
fn hover_has_titles_and_markdown() {
    let queues = std::fs::read_to_string(repo().join("examples/queues.yaml")).unwrap();
    let line = line_of(&queues, "format: kazoo");
    let results = lsp(
        settings(),
        vec![
            json!({"op": "hover", "uri": uri("examples/queues.yaml"), "text": queues, "line": line, "character": 4}),
        ],
    );
    let hover = results[0].as_str().unwrap_or_default();
    assert!(hover.starts_with("#### queue format"), "{hover}");
    assert!(!hover.contains("zkstate manifest"), "{hover}");
    // Markdown, not escaped backticks.
    assert!(hover.contains("`kazoo-locking`"), "{hover}");
    assert!(!hover.contains("\\`"), "{hover}");
}

#[test]
fn a_typo_in_a_later_document_is_reported_with_the_documented_setups() {
    let doc = |name: &str| {
        format!(
            "apiVersion: zkstate/v1\nkind: Queue\nmetadata: {{name: {name}}}\nspec: {{path: /{name}, format: kazoo}}\n"
        )
    };
    let third = "apiVersion: zkstate/v1\nkind: Queue\nmetadata: {name: c}\nspec:\n  path: /c\n  format: kazoo\n  alertDepht: 5\n";
    // Setup 1 (docs/editors.md): a modeline in every document.
    let per_document = format!(
        "{MODELINE}{}---\n{MODELINE}{}---\n{MODELINE}{third}",
        doc("a"),
        doc("b")
    );
    // Setup 2: no modelines, the editor maps the files to the schema (`yaml.schemas`).
    let plain = format!("{}---\n{}---\n{third}", doc("a"), doc("b"));
    let mut s = settings();
    s["schemas"] = json!({ format!("file://{}/schemas/zkstate.schema.json", repo().display()): ["zk/**/*.yaml"] });
    let results = lsp(
        s,
        vec![
            diagnostics(&uri("examples/lsp-multi.yaml"), &per_document),
            diagnostics(&uri("zk/payments/multi.yaml"), &plain),
            // Outside the mapped folder, no schema applies: nothing reported.
            diagnostics(&uri("other/multi.yaml"), &plain),
        ],
    );
    let expect_line = line_of(&per_document, "alertDepht");
    assert_eq!(
        lines_of(&results[0]),
        vec![(
            expect_line,
            "Property alertDepht is not allowed.".to_owned()
        )]
    );
    let expect_line = line_of(&plain, "alertDepht");
    assert_eq!(
        lines_of(&results[1]),
        vec![(
            expect_line,
            "Property alertDepht is not allowed.".to_owned()
        )]
    );
    assert_eq!(lines_of(&results[2]), vec![]);
}
