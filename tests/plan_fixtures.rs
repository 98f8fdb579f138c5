//! Planner cases as paired fixture files, one directory per case under `tests/plan_fixtures/`
//! (like gitops-engine's diff fixtures), for a reader to open side by side:
//!
//! - `desired.yaml`: the manifest set (loaded by the real loader);
//! - `live.yaml`: the live tree as a snapshot reads it, and zkstate's inventory;
//! - `options.yaml` (optional): planner options (`pruneRemoved`, `observeAll`);
//! - `plan.txt` and `plan.json`: the expected plan, as `zkstate diff` prints it in text and JSON.
//!
//! Pure: no ZooKeeper, no JVM. `ZKSTATE_BLESS=1 cargo test --test plan_fixtures` rewrites the
//! expected files from the current planner; review the diff before committing it.
//!
//! `live.yaml`:
//! ```yaml
//! nodes:                       # every live node under the managed roots, ancestors included
//!   /app: {}                   # data "" and version 0
//!   /app/url: {data: "old", version: 3}
//!   /app/worker-1: {ephemeral: true}
//!   /app/limits: {data: "x", acl: ["world:anyone:r"], aversion: 1}
//! inventory:                   # what zkstate recorded earlier, per owner ("Kind name")
//!   ConfigTree app: {root: /app, prune: owned, paths: [/app/url, /app/old]}
//! ```
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, Yaml};
use zkstate::cli::render::plan_text;
use zkstate::engine::PlanReport;
use zkstate::manifest::{LoadOptions, load};
use zkstate::model::{
    AclEntry, Inventory, Kind, LiveNode, LiveTree, Owner, OwnerInventory, Perms, Prune, ZPath,
};
use zkstate::plan::{Options, plan};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plan_fixtures")
}

fn text<'a>(y: &'a Yaml<'_>, what: &str) -> &'a str {
    y.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {y:?}"))
}

fn acl(entry: &str) -> AclEntry {
    let (rest, perms) = entry.rsplit_once(':').expect("scheme:id:perms");
    let (scheme, id) = rest.split_once(':').expect("scheme:id:perms");
    let mut p = 0;
    for c in perms.chars() {
        p |= match c {
            'r' => Perms::READ,
            'w' => Perms::WRITE,
            'c' => Perms::CREATE,
            'd' => Perms::DELETE,
            'a' => Perms::ADMIN,
            _ => panic!("perm {c} in {entry}"),
        }
        .0;
    }
    AclEntry {
        scheme: scheme.into(),
        id: id.into(),
        perms: Perms(p),
    }
}

fn prune(word: &str) -> Prune {
    match word {
        "off" => Prune::Off,
        "owned" => Prune::Owned,
        "exclusive" => Prune::Exclusive,
        other => panic!("prune {other}"),
    }
}

fn path_set(y: Option<&Yaml<'_>>) -> BTreeSet<ZPath> {
    y.and_then(Yaml::as_sequence)
        .map(|s| {
            s.iter()
                .map(|p| ZPath::parse(text(p, "path")).expect("path"))
                .collect()
        })
        .unwrap_or_default()
}

fn read_live(file: &Path) -> (LiveTree, Inventory) {
    let src = std::fs::read_to_string(file).expect("live.yaml");
    let docs = Yaml::load_from_str(&src).expect("live.yaml parses");
    let doc = &docs[0];
    let mut live = LiveTree::default();
    if let Some(nodes) = doc.as_mapping_get("nodes").and_then(Yaml::as_mapping) {
        for (path, n) in nodes {
            let path = ZPath::parse(text(path, "node path")).expect("node path");
            let int = |k: &str| n.as_mapping_get(k).and_then(Yaml::as_integer).unwrap_or(0);
            let node = LiveNode {
                data: n
                    .as_mapping_get("data")
                    .map(|d| text(d, "data").as_bytes().to_vec())
                    .unwrap_or_default(),
                version: int("version") as i32,
                cversion: int("cversion") as i32,
                aversion: int("aversion") as i32,
                ephemeral_owner: if n
                    .as_mapping_get("ephemeral")
                    .and_then(Yaml::as_bool)
                    .unwrap_or(false)
                {
                    0x1234
                } else {
                    0
                },
                acl: Some(
                    n.as_mapping_get("acl")
                        .and_then(Yaml::as_sequence)
                        .map(|s| s.iter().map(|a| acl(text(a, "acl"))).collect())
                        .unwrap_or_else(|| vec![AclEntry::open()]),
                ),
                children: Vec::new(),
            };
            live.nodes.insert(path, node);
        }
    }
    // Children lists, as a snapshot fills them.
    let paths: Vec<ZPath> = live.nodes.keys().cloned().collect();
    for p in &paths {
        if let Some(parent) = p.parent()
            && let Some(n) = live.nodes.get_mut(&parent)
        {
            n.children.push(p.name().to_owned());
        }
    }
    for n in live.nodes.values_mut() {
        n.children.sort();
    }
    let mut inventory = Inventory::default();
    if let Some(owners) = doc.as_mapping_get("inventory").and_then(Yaml::as_mapping) {
        for (owner, o) in owners {
            let (kind, name) = text(owner, "owner")
                .split_once(' ')
                .expect("owner is \"Kind name\"");
            let owner = Owner::new(Kind::parse(kind).expect("kind"), name);
            let field = |k: &str| o.as_mapping_get(k).map(|v| text(v, k)).unwrap_or("");
            inventory.owners.insert(
                owner,
                OwnerInventory {
                    root: ZPath::parse(field("root")).expect("root"),
                    prune: prune(field("prune")),
                    paths: path_set(o.as_mapping_get("paths")),
                    orphaned: path_set(o.as_mapping_get("orphaned")),
                    recipe: None,
                },
            );
        }
    }
    (live, inventory)
}

fn read_options(dir: &Path) -> Options {
    let mut opts = Options::default();
    let Ok(src) = std::fs::read_to_string(dir.join("options.yaml")) else {
        return opts;
    };
    let docs = Yaml::load_from_str(&src).expect("options.yaml parses");
    let flag = |k: &str| {
        docs[0]
            .as_mapping_get(k)
            .and_then(Yaml::as_bool)
            .unwrap_or(false)
    };
    opts.prune_removed = flag("pruneRemoved");
    opts.observe_all = flag("observeAll");
    opts
}

/// Compares `actual` with the expected file, or writes it when blessing.
fn check(file: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("ZKSTATE_BLESS").is_some() {
        std::fs::write(file, actual).expect("bless");
        return;
    }
    let expected = std::fs::read_to_string(file)
        .unwrap_or_else(|_| panic!("{} is missing (ZKSTATE_BLESS=1 writes it)", file.display()));
    if expected != actual {
        let diff = similar::TextDiff::from_lines(&expected, actual)
            .unified_diff()
            .header("expected", "actual")
            .to_string();
        failures.push(format!("{}:\n{diff}", file.display()));
    }
}

#[test]
fn every_fixture_plans_as_expected() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("tests/plan_fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "fixtures: {cases:?}");
    let mut failures = Vec::new();
    let mut seen = BTreeMap::new();
    for dir in &cases {
        let set = load(
            &[dir.join("desired.yaml")],
            &|_: &str| None,
            &LoadOptions::default(),
        )
        .unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()));
        let (live, inventory) = read_live(&dir.join("live.yaml"));
        let opts = read_options(dir);
        let p = plan(&set.state, &live, &inventory, &opts);
        // Deterministic, and planning the same input twice gives the same plan.
        assert_eq!(p, plan(&set.state, &live, &inventory, &opts));
        let json = serde_json::to_string_pretty(&PlanReport::new(&p)).expect("json") + "\n";
        check(&dir.join("plan.txt"), &plan_text(&p), &mut failures);
        check(&dir.join("plan.json"), &json, &mut failures);
        seen.insert(dir.clone(), p.changes.len());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every case plans something or says why not: an all-empty fixture set proves nothing.
    assert!(seen.values().any(|n| *n > 0), "{seen:?}");
}
