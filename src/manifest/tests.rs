//! Loader tests: manifest sets written to a temp dir, loaded, and the expansion or the exact
//! diagnostics (`file:line:column`) compared.
use std::path::PathBuf;

use super::*;
use crate::model::{AclEntry, DataPolicy, Kind, Mode, NodeMode, Owner, Perms, Prune, ZPath};

fn env(name: &str) -> Option<String> {
    match name {
        "DB_HOST" => Some("db.internal".into()),
        "PORT" => Some("5432".into()),
        "TLS_KEY" => Some("-----BEGIN KEY-----hunter2".into()),
        _ => None,
    }
}

struct Set {
    dir: tempfile::TempDir,
}

impl Set {
    fn new(files: &[(&str, &str)]) -> Set {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Set { dir }
    }

    fn load(&self) -> Result<LoadedSet, Vec<String>> {
        self.load_with(&LoadOptions::default())
    }

    fn load_dir(&self, sub: &str) -> Result<LoadedSet, Vec<String>> {
        self.load_paths(&[self.dir.path().join(sub)], &LoadOptions::default())
    }

    fn load_with(&self, options: &LoadOptions) -> Result<LoadedSet, Vec<String>> {
        self.load_paths(&[self.dir.path().to_path_buf()], options)
    }

    fn load_paths(
        &self,
        paths: &[PathBuf],
        options: &LoadOptions,
    ) -> Result<LoadedSet, Vec<String>> {
        load(paths, &env, options).map_err(|diags| {
            let prefix = format!("{}/", self.dir.path().display());
            diags
                .items()
                .iter()
                .map(|d| d.to_string().replace(&prefix, ""))
                .collect()
        })
    }
}

fn p(s: &str) -> ZPath {
    ZPath::parse(s).unwrap()
}

const HEAD: &str = "apiVersion: zkstate/v1\nkind: ConfigTree\n";

fn tree(name: &str, body: &str) -> String {
    format!("{HEAD}metadata: {{name: {name}}}\nspec:\n{body}")
}

#[test]
fn expands_a_config_tree() {
    let set = Set::new(&[
        (
            "payments.yaml",
            &tree(
                "payments",
                r#"  root: /config/payments
  prune: true
  acl:
    - {scheme: world, id: anyone, perms: [read]}
    - {scheme: digest, id: "deployer:tOs2Bzq7l0NjD5S3fgFr8VuExXk=", perms: [all]}
  nodes:
    db/url: postgres://${DB_HOST}:${PORT}/payments
    db/pool: {json: {max: 20, idle: 5}}
    flags: {yaml: {new_checkout: true, beta: [a, b]}}
    tls/cert: {file: certs/payments.pem}
    tls/key: {env: TLS_KEY, secret: true}
    blob: {base64: AAEC}
    marker: {}
    counter: {value: "0", policy: create-only}
    shared-count: {int32: 5}
    atomic-long: {int64: -2}
    open: {value: x, acl: [{scheme: world, id: anyone, perms: [all]}]}
  mode: observe
  ignore: [runtime/**]
"#,
            ),
        ),
        ("certs/payments.pem", "PEM\n"),
    ]);
    let set_loaded = set.load().unwrap();
    let st = &set_loaded.state;
    let data = |path: &str| st.nodes[&p(path)].data.clone();
    assert_eq!(
        data("/config/payments/db/url"),
        b"postgres://db.internal:5432/payments"
    );
    assert_eq!(data("/config/payments/db/pool"), br#"{"idle":5,"max":20}"#);
    assert_eq!(
        data("/config/payments/flags"),
        b"beta:\n  - a\n  - b\nnew_checkout: true\n"
    );
    assert_eq!(data("/config/payments/tls/cert"), b"PEM\n");
    assert_eq!(
        data("/config/payments/tls/key"),
        b"-----BEGIN KEY-----hunter2"
    );
    assert_eq!(data("/config/payments/blob"), [0, 1, 2]);
    assert_eq!(data("/config/payments/marker"), b"");
    assert_eq!(data("/config/payments/counter"), b"0");
    assert_eq!(data("/config/payments/shared-count"), [0, 0, 0, 5]);
    assert_eq!(
        data("/config/payments/atomic-long"),
        [0xff; 8][..7]
            .iter()
            .copied()
            .chain([0xfe])
            .collect::<Vec<_>>()
    );

    let node = |path: &str| &st.nodes[&p(path)];
    assert!(node("/config/payments/tls/key").secret);
    assert!(!node("/config/payments/db/url").secret);
    assert_eq!(
        node("/config/payments/counter").policy,
        DataPolicy::CreateOnly
    );
    assert_eq!(node("/config/payments/db/url").policy, DataPolicy::Enforce);
    let tree_acl = vec![
        AclEntry {
            scheme: "world".into(),
            id: "anyone".into(),
            perms: Perms::READ,
        },
        AclEntry {
            scheme: "digest".into(),
            id: "deployer:tOs2Bzq7l0NjD5S3fgFr8VuExXk=".into(),
            perms: Perms::ALL,
        },
    ];
    assert_eq!(
        node("/config/payments/db/url").acl.as_ref(),
        Some(&tree_acl)
    );
    assert_eq!(
        node("/config/payments/open").acl,
        Some(vec![AclEntry::open()])
    );
    let owner = Owner::new(Kind::ConfigTree, "payments");
    assert!(
        st.nodes
            .values()
            .all(|n| n.owner == owner && n.mode == NodeMode::Persistent)
    );

    // Implicit parents: the root and the intermediate nodes with the tree's ACL, the ancestors
    // above the root without one.
    for (path, acl) in [
        ("/config", None),
        ("/config/payments", Some(&tree_acl)),
        ("/config/payments/db", Some(&tree_acl)),
        ("/config/payments/tls", Some(&tree_acl)),
    ] {
        assert_eq!(node(path).policy, DataPolicy::Parent, "{path}");
        assert_eq!(node(path).data, b"", "{path}");
        assert_eq!(node(path).acl.as_ref(), acl, "{path}");
    }
    assert_eq!(st.nodes.len(), 15);
    assert_eq!(st.roots.len(), 1);
    let root = &st.roots[0];
    assert_eq!(
        (root.root.as_str(), root.prune, root.mode),
        ("/config/payments", Prune::Owned, Mode::Observe)
    );
    assert_eq!(root.ignore.globs(), ["runtime/**".to_string()]);
    assert!(!root.host_scoped);

    let doc = &set_loaded.documents[0];
    assert_eq!(
        (doc.kind, doc.name.as_str(), doc.line, doc.root.as_str()),
        (Kind::ConfigTree, "payments", 1, "/config/payments")
    );
    assert!(doc.file.ends_with("payments.yaml"));
    assert!(set_loaded.digest.starts_with("sha256:") && set_loaded.digest.len() == 7 + 64);
}

#[test]
fn root_key_dot_declares_the_root_and_trees_share_parents() {
    let set = Set::new(&[
        (
            "a.yaml",
            &tree(
                "a",
                "  root: /config/a\n  nodes:\n    .: {json: {v: 1}}\n    x: y\n",
            ),
        ),
        (
            "b.yaml",
            &format!(
                "{}---\n{}",
                tree("b", "  root: /config/b/deep\n  nodes: {x: y}\n"),
                tree("c", "  root: /config\n  nodes: {b: declared}\n")
            ),
        ),
    ]);
    let st = set.load().unwrap().state;
    let a = &st.nodes[&p("/config/a")];
    assert_eq!(
        (a.policy, a.data.as_slice()),
        (DataPolicy::Enforce, &b"{\"v\":1}"[..])
    );
    // `/config` is an implicit parent of a, b and (as root) of c: the first keeps it.
    assert_eq!(st.nodes[&p("/config")].policy, DataPolicy::Parent);
    assert_eq!(
        st.nodes[&p("/config")].owner,
        Owner::new(Kind::ConfigTree, "a")
    );
    // `/config/b` is b's implicit parent, but c declares it: the declaration wins.
    let b = &st.nodes[&p("/config/b")];
    assert_eq!(
        (b.policy, b.data.as_slice(), &*b.owner.name),
        (DataPolicy::Enforce, &b"declared"[..], "c")
    );
    assert_eq!(st.nodes[&p("/config/b/deep")].policy, DataPolicy::Parent);
    assert_eq!(st.roots.len(), 3);
}

#[test]
fn empty_documents_are_skipped_and_empty_sets_refused() {
    let set = Set::new(&[(
        "a.yaml",
        &format!("---\n{}---\n# nothing\n---\n", tree("a", "  root: /a\n")),
    )]);
    let loaded = set.load().unwrap();
    assert_eq!(loaded.documents.len(), 1);
    assert_eq!(loaded.state.nodes.len(), 1);

    let set = Set::new(&[("a.yaml", "---\n# nothing\n")]);
    assert_eq!(
        set.load().unwrap_err(),
        [
            "a.yaml: error: the manifest set has no documents\n  hint: an empty manifest set is refused, so that it can never mean \"delete everything\""
        ]
    );
}

#[test]
fn structure_errors_are_located() {
    let set = Set::new(&[(
        "a.yaml",
        &tree(
            "Bad_Name",
            "  root: /a\n  prnue: true\n  nodes:\n    n: 20\n    m: {jsn: {}}\n",
        ),
    )]);
    assert_eq!(
        set.load().unwrap_err(),
        [
            "a.yaml:3:18: error: does not match the pattern `^[a-z0-9]([-a-z0-9_.]{0,251}[a-z0-9])?$`\n  hint: Unique per kind in the whole manifest set; lowercase letters, digits, `-`, `_` and `.`.",
            "a.yaml:6:3: error: unknown field `prnue`\n  hint: did you mean `prune`?",
            "a.yaml:8:8: error: node data must be a string or a mapping, found an integer\n  hint: quote the value to store it as text (`key: \"20\"`), or name a data source (`key: {int32: 20}`)",
            "a.yaml:9:9: error: unknown field `jsn`\n  hint: did you mean `json`?",
        ]
    );
}

#[test]
fn yaml_and_env_errors_are_located() {
    let set = Set::new(&[
        ("a.yaml", "apiVersion: zkstate/v1\nkind: [ConfigTree\n"),
        (
            "b.yaml",
            &tree(
                "b",
                "  root: /b\n  nodes:\n    url: http://${HOST}:${PORT}/\n    q: \"${X:-ok}${Y}\"\n",
            ),
        ),
    ]);
    assert_eq!(
        set.load().unwrap_err(),
        [
            "a.yaml:3:1: error: invalid YAML: while parsing a flow sequence, expected ',' or ']'\n  hint: fix the YAML syntax; nothing in this file was checked further",
            "b.yaml:7:17: error: environment variable `HOST` is not set\n  hint: set `HOST` in the environment, or give a default: `${HOST:-default}`",
            "b.yaml:8:17: error: environment variable `Y` is not set\n  hint: set `Y` in the environment, or give a default: `${Y:-default}`",
        ]
    );
}

#[test]
fn path_rules() {
    let body =
        "  root: /svc\n  nodes:\n    /abs: x\n    a//b: x\n    a/../b: x\n    \"\": x\n    ok: x\n";
    let set = Set::new(&[
        ("a.yaml", &tree("a", body)),
        ("b.yaml", &tree("b", "  root: config\n")),
        ("c.yaml", &tree("c", "  root: /zookeeper/quota/x\n")),
        (
            "d.yaml",
            &tree("d", "  root: /\n  nodes:\n    ops/zkstate/lock: x\n"),
        ),
    ]);
    let options = LoadOptions {
        state_path: p("/ops/zkstate"),
        ..LoadOptions::default()
    };
    assert_eq!(
        set.load_with(&options).unwrap_err(),
        [
            "a.yaml:7:5: error: node key `/abs` starts with `/`\n  hint: node keys are relative to `root`: drop the leading `/`",
            "a.yaml:8:5: error: invalid node key `a//b`: path has an empty segment ('//')\n  hint: node keys are `/`-separated relative paths, e.g. `db/url`",
            "a.yaml:9:5: error: invalid node key `a/../b`: path has a relative segment ('.' or '..')\n  hint: `.` and `..` segments are not allowed in znode paths",
            "a.yaml:10:5: error: empty node key\n  hint: use `.` to give the root node itself data",
            "b.yaml:5:9: error: invalid root `config`: path must start with '/'\n  hint: an absolute znode path, e.g. `/config/payments`",
            "c.yaml:5:9: error: `/zookeeper/quota/x` is inside `/zookeeper`, ZooKeeper's own subtree (znode /zookeeper/quota/x)\n  hint: choose a path outside `/zookeeper`",
            "d.yaml:7:5: error: `/ops/zkstate/lock` is inside zkstate's state path `/ops/zkstate` (znode /ops/zkstate/lock)\n  hint: choose another path, or move zkstate's state with `--state-path`",
        ]
    );
}

#[test]
fn duplicates_name_both_places() {
    let set = Set::new(&[
        (
            "a.yaml",
            &tree("a", "  root: /config\n  nodes:\n    x/y: 1-a\n"),
        ),
        (
            "b.yaml",
            &tree("b", "  root: /config/x\n  nodes:\n    y: 1-b\n"),
        ),
        ("c.yaml", &tree("a", "  root: /other\n")),
    ]);
    assert_eq!(
        set.load().unwrap_err(),
        [
            "b.yaml:7:5: error: znode `/config/x/y` is declared twice (znode /config/x/y)\n  hint: ConfigTree/a already declares it at a.yaml:7:5; a znode belongs to one document",
            "c.yaml:3:18: error: duplicate ConfigTree name `a`\n  hint: first declared at a.yaml:3:18; metadata.name must be unique per kind",
        ]
    );
}

#[test]
fn duplicates_of_recipe_nodes_point_at_the_recipe_path() {
    // The first declaration is a recipe's: it is reported at the recipe's path field; the
    // second tree's root declared with `.` is reported at that key.
    let queue = "apiVersion: zkstate/v1\nkind: Queue\nmetadata:\n  name: jobs\nspec:\n  path: /queues/jobs\n  format: kazoo\n";
    let set = Set::new(&[
        ("a.yaml", queue),
        (
            "b.yaml",
            &tree("b", "  root: /queues\n  nodes:\n    jobs: x\n"),
        ),
        (
            "c.yaml",
            &tree("c", "  root: /queues/jobs\n  nodes:\n    .: y\n"),
        ),
    ]);
    assert_eq!(
        set.load().unwrap_err(),
        [
            "b.yaml:7:5: error: znode `/queues/jobs` is declared twice (znode /queues/jobs)\n  hint: Queue/jobs already declares it at a.yaml:6:9; a znode belongs to one document",
            "c.yaml:7:5: error: znode `/queues/jobs` is declared twice (znode /queues/jobs)\n  hint: Queue/jobs already declares it at a.yaml:6:9; a znode belongs to one document",
        ]
    );
}

#[test]
fn data_source_size_and_acl_errors() {
    let big = "x".repeat(crate::model::MAX_NODE_DATA + 1);
    let set = Set::new(&[
        (
            "a.yaml",
            &tree(
                "a",
                r#"  root: /a
  acl:
    - {scheme: digest, id: "deployer:plaintext", perms: [all]}
    - {scheme: ip, id: 10.0.0.0/40, perms: [read]}
  nodes:
    two: {json: 1, value: "1"}
    b64: {base64: "AA$A", secret: true}
    big: {file: big.bin}
    missing: {file: nope.txt}
    unset: {env: NOT_SET}
"#,
            ),
        ),
        ("big.bin", &big),
    ]);
    assert_eq!(
        set.load().unwrap_err(),
        [
            "a.yaml:7:28: error: digest id for user `deployer` does not carry a 28-character base64 SHA-1 hash\n  hint: a digest id is `user:HASH` with HASH = base64(sha1(\"user:password\")), 28 characters; compute it with `printf '%s' 'user:password' | openssl dgst -binary -sha1 | base64`",
            "a.yaml:8:24: error: `10.0.0.0/40` has an invalid prefix length (0 to 32)\n  hint: an `ip` id is an address or a CIDR block, e.g. `10.0.0.1` or `10.0.0.0/8`",
            "a.yaml:10:20: error: `value` conflicts with `json`: a node has at most one data source (znode /a/two)\n  hint: keep one of them",
            "a.yaml:11:19: error: invalid base64: unexpected character at offset 2 (znode /a/b64)\n  hint: standard alphabet (`+/`) with `=` padding, as `base64` prints",
            &format!(
                "a.yaml:12:17: error: file `big.bin` is {} bytes, over the 1047552-byte limit of a znode (znode /a/big)\n  hint: ZooKeeper refuses requests over jute.maxbuffer (1 MiB by default)",
                big.len()
            ),
            "a.yaml:13:21: error: cannot use file `nope.txt`: failed to read it: no such file or directory (znode /a/missing)\n  hint: `file:` paths are relative to the manifest's directory; this one resolves to nope.txt",
            "a.yaml:14:18: error: environment variable `NOT_SET` is not set (znode /a/unset)\n  hint: set `NOT_SET`, or use `value: \"${NOT_SET:-default}\"` to fall back to a default",
        ]
    );
}

#[test]
fn rendered_size_limit() {
    let big = "x".repeat(crate::model::MAX_NODE_DATA);
    let set = Set::new(&[(
        "a.yaml",
        &tree(
            "a",
            &format!("  root: /a\n  nodes:\n    ok: {big}\n    over: {{json: \"{big}\"}}\n"),
        ),
    )]);
    assert_eq!(
        set.load().unwrap_err(),
        [
            "a.yaml:8:18: error: data is 1047554 bytes, over the 1047552-byte limit of a znode (znode /a/over)\n  hint: ZooKeeper refuses requests over jute.maxbuffer (1 MiB by default); split the data over several nodes or store a reference to it"
        ]
    );
}

#[test]
fn schema_checks() {
    let set = Set::new(&[
        (
            "m/a.yaml",
            &tree(
                "a",
                r#"  root: /a
  nodes:
    ok: {json: {rps: 5}, schema: ../schemas/limits.json}
    bad: {json: {rps: 5000, x: 1}, schema: ../schemas/limits.json}
    yaml: {yaml: {rps: "5"}, schema: ../schemas/limits.yaml}
    text: {value: "not json", schema: ../schemas/limits.json}
    file: {file: data.json, schema: ../schemas/limits.json}
    secret: {value: '{"rps": 9999}', secret: true, schema: ../schemas/limits.json}
    noschema: {json: {}, schema: ../schemas/missing.json}
    broken: {json: {}, schema: ../schemas/broken.json}
"#,
            ),
        ),
        ("m/data.json", r#"{"rps": 1, "nested": {"a": true}}"#),
        (
            "schemas/limits.json",
            r#"{"type": "object", "properties": {"rps": {"type": "integer", "maximum": 1000}}, "additionalProperties": false}"#,
        ),
        (
            "schemas/limits.yaml",
            "type: object\nproperties:\n  rps: {type: integer}\n",
        ),
        ("schemas/broken.json", "{\"type\": 12}"),
    ]);
    // Only `m/` holds manifests: a YAML schema file inside a manifest directory would be read
    // as a manifest (and rejected), so schemas live beside it.
    let errs = set.load_dir("m").unwrap_err();
    assert_eq!(
        errs,
        [
            "m/a.yaml:8:17: error: data does not match schema `../schemas/limits.json`: Additional properties are not allowed ('x' was unexpected) (znode /a/bad)".to_string(),
            "m/a.yaml:8:23: error: data does not match schema `../schemas/limits.json`: 5000 is greater than the maximum of 1000 (znode /a/bad)".into(),
            "m/a.yaml:9:24: error: data does not match schema `../schemas/limits.yaml`: \"5\" is not of type \"integer\" (znode /a/yaml)".into(),
            "m/a.yaml:10:19: error: data is not JSON, so it cannot be checked against `../schemas/limits.json` (znode /a/text)\n  hint: `schema:` checks structured data: use `json:`, `yaml:` or a JSON/YAML file".into(),
            "m/a.yaml:11:18: error: data does not match schema `../schemas/limits.json`: Additional properties are not allowed ('nested' was unexpected) (znode /a/file)".into(),
            "m/a.yaml:12:21: error: data does not match schema `../schemas/limits.json` at `/rps`: (sensitive) is greater than the maximum of 1000 (znode /a/secret)".into(),
            "m/a.yaml:13:34: error: cannot use schema `../schemas/missing.json`: failed to read it: no such file or directory (znode /a/noschema)\n  hint: `schema:` paths are relative to the manifest's directory; this one resolves to m/../schemas/missing.json".into(),
            "m/a.yaml:14:32: error: cannot use schema `../schemas/broken.json`: not a usable JSON Schema: 12 is not valid under any of the schemas listed in the 'anyOf' keyword (schemas must be self-contained: no references to other files or URLs) (znode /a/broken)\n  hint: `schema:` paths are relative to the manifest's directory; this one resolves to m/../schemas/broken.json".into(),
        ]
    );
    assert!(
        errs.iter().all(|e| !e.contains("9999")),
        "a secret value leaked: {errs:#?}"
    );
}

#[test]
fn ignore_globs() {
    let set = Set::new(&[
        (
            "a.yaml",
            &tree(
                "a",
                "  root: /a\n  ignore: [\"runtime/**\", \"[x\", /abs]\n",
            ),
        ),
        (
            "b.yaml",
            &tree(
                "b",
                "  root: /b\n  ignore: [\"runtime/*\"]\n  nodes:\n    runtime: {}\n    runtime/x: v\n    runtime/x/y: v\n",
            ),
        ),
    ]);
    assert_eq!(
        set.load().unwrap_err(),
        [
            "a.yaml:6:26: error: invalid glob `[x`: unclosed character class; missing ']'\n  hint: `*` matches within one path segment, `**` across segments, `?` one character, `[ab]` a class",
            "a.yaml:6:32: error: ignore glob `/abs` starts with `/`\n  hint: ignore globs are relative to `root`, like node keys: `runtime/**`",
            "b.yaml:9:5: error: node `runtime/x` matches an `ignore` glob, so it would never be written (znode /b/runtime/x)\n  hint: remove it from `nodes` or narrow the `ignore` glob",
        ]
    );
}

#[test]
fn unreadable_is_its_own_class() {
    let set = Set::new(&[("a.yaml", &tree("a", "  root: /a\n"))]);
    let missing = set.dir.path().join("nope.yaml");
    let diags = load(
        &[set.dir.path().to_path_buf(), missing],
        &env,
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(diags.class(), Class::Unreadable);
    assert_eq!(
        diags.items()[0].message,
        "failed to read: no such file or directory"
    );

    let set = Set::new(&[(
        "a.yaml",
        &tree("a", "  root: /a\n  nodes: {x: {file: gone}}\n"),
    )]);
    assert_eq!(set.load().unwrap_err().len(), 1);
    let diags = load(
        &[set.dir.path().to_path_buf()],
        &env,
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        diags.class(),
        Class::Invalid,
        "a missing `file:` is a manifest mistake"
    );
}

#[test]
fn recipe_documents_check_their_fields_before_expansion() {
    let set = Set::new(&[(
        "s.yaml",
        "apiVersion: zkstate/v1\nkind: Service\nmetadata: {name: api}\nspec:\n  format: curator\n  basePath: services\n  instances:\n    - {id: a, address: 10.0.0.1, port: 8080, check: {tcp: nohost, interval: 0s}}\n",
    )]);
    assert_eq!(
        set.load().unwrap_err(),
        [
            "s.yaml:6:13: error: invalid basePath `services`: path must start with '/'\n  hint: an absolute znode path, e.g. `/config/payments`",
            "s.yaml:8:59: error: `nohost` is not `host:port`\n  hint: e.g. `127.0.0.1:8080` or `[::1]:8080`, port 1-65535",
            "s.yaml:8:77: error: duration must be greater than zero",
        ]
    );
}

#[test]
fn digest_covers_the_files_in_order() {
    let a = Set::new(&[
        ("a.yaml", &tree("a", "  root: /a\n")),
        ("b.yaml", &tree("b", "  root: /b\n")),
    ]);
    let b = Set::new(&[
        ("a.yaml", &tree("a", "  root: /a\n")),
        ("b.yaml", &tree("b", "  root: /b\n")),
    ]);
    let c = Set::new(&[
        ("a.yaml", &tree("a", "  root: /a\n")),
        ("b.yaml", &tree("b", "  root: /b \n")),
    ]);
    let (da, db, dc) = (
        a.load().unwrap().digest,
        b.load().unwrap().digest,
        c.load().unwrap().digest,
    );
    assert_eq!(da, db);
    assert_ne!(da, dc);
    let files: Vec<PathBuf> = a
        .load()
        .unwrap()
        .files
        .iter()
        .map(|f| PathBuf::from(f.file_name().unwrap()))
        .collect();
    assert_eq!(files, [PathBuf::from("a.yaml"), PathBuf::from("b.yaml")]);
}
