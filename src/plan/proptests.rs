//! Property tests of the planner (proptest): random desired states, live trees and inventories
//! over a small path universe, and an in-memory executor that applies a plan the way ZooKeeper
//! would (parents must exist, versions must match, only leaves can be deleted).
//!
//! Universe: owner `ConfigTree/t` manages `/c` (random `prune`, `ignore: runtime/**`);
//! `/x/...` is foreign (no owner); `ConfigTree/gone` is in the inventory at `/k` but not in the
//! manifest set (a removed owner). Ephemeral nodes are leaves named `e*` under `/c`.
use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::model::{DesiredNode, IgnoreMatcher, Kind, LiveNode};

fn p(s: &str) -> ZPath {
    ZPath::parse(s).unwrap()
}

fn owner() -> Owner {
    Owner::new(Kind::ConfigTree, "t")
}

fn gone() -> Owner {
    Owner::new(Kind::ConfigTree, "gone")
}

/// Every path of the universe under `/c` (depth <= 3, names a/b/c), the root first.
fn universe() -> Vec<ZPath> {
    let names = ["a", "b", "c"];
    let mut out = vec![p("/c")];
    for x in names {
        out.push(p(&format!("/c/{x}")));
        for y in names {
            out.push(p(&format!("/c/{x}/{y}")));
            for z in names {
                out.push(p(&format!("/c/{x}/{y}/{z}")));
            }
        }
    }
    out
}

/// Adds every missing ancestor (down to `stop`'s level) of the paths of `set`.
fn close_upward(set: &mut BTreeSet<ZPath>) {
    let paths: Vec<ZPath> = set.iter().cloned().collect();
    for path in paths {
        for a in path.ancestors() {
            if a.as_str() != "/" {
                set.insert(a);
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    prune: Prune,
    prune_removed: bool,
    gone_prune: Prune,
    desired: Vec<(ZPath, u8)>,
    live: Vec<(ZPath, u8)>,
    ephemeral: Vec<ZPath>,
    ignored_live: Vec<ZPath>,
    foreign: Vec<ZPath>,
    gone_live: Vec<ZPath>,
    inventory: Vec<ZPath>,
}

fn prune_strategy() -> impl Strategy<Value = Prune> {
    prop_oneof![Just(Prune::Off), Just(Prune::Owned), Just(Prune::Exclusive)]
}

fn case() -> impl Strategy<Value = Case> {
    let u = universe();
    let n = u.len();
    (
        prune_strategy(),
        any::<bool>(),
        prune_strategy(),
        proptest::collection::vec(any::<Option<u8>>(), n),
        proptest::collection::vec(any::<Option<u8>>(), n),
        proptest::collection::vec(any::<bool>(), n),
        proptest::collection::vec(0..4usize, 0..4),
        proptest::collection::vec(0..4usize, 0..4),
        proptest::collection::vec(0..4usize, 0..4),
        proptest::collection::vec(any::<bool>(), n),
    )
        .prop_map(
            move |(prune, prune_removed, gone_prune, d, l, e, ign, fx, gk, inv)| {
                let pick = |v: &[Option<u8>]| -> Vec<(ZPath, u8)> {
                    let mut set = BTreeSet::new();
                    for (i, x) in v.iter().enumerate() {
                        if x.is_some() {
                            set.insert(u[i].clone());
                        }
                    }
                    set.insert(p("/c"));
                    close_upward(&mut set);
                    set.into_iter()
                        .map(|path| {
                            let i = u.iter().position(|q| *q == path).unwrap_or(0);
                            (path, v[i].unwrap_or(0) % 3)
                        })
                        .collect()
                };
                let desired = pick(&d);
                let live = pick(&l);
                let live_paths: BTreeSet<ZPath> = live.iter().map(|(q, _)| q.clone()).collect();
                // Ephemeral leaves under existing live nodes.
                let ephemeral: Vec<ZPath> = live_paths
                    .iter()
                    .zip(&e)
                    .filter(|(_, on)| **on)
                    .map(|(q, _)| q.child("e1"))
                    .collect();
                let ignored_live = ign
                    .iter()
                    .map(|i| p(&format!("/c/runtime/r{i}")))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let foreign = fx
                    .iter()
                    .map(|i| p(&format!("/x/f{i}")))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let gone_live = gk
                    .iter()
                    .map(|i| p(&format!("/k/g{i}")))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let inventory = u
                    .iter()
                    .zip(&inv)
                    .filter(|(_, on)| **on)
                    .map(|(q, _)| q.clone())
                    .filter(|q| q.as_str() != "/c")
                    .collect();
                Case {
                    prune,
                    prune_removed,
                    gone_prune,
                    desired,
                    live,
                    ephemeral,
                    ignored_live,
                    foreign,
                    gone_live,
                    inventory,
                }
            },
        )
}

/// Matched by `ignore: runtime/**` (the pattern matches below `runtime`, not `runtime` itself).
fn ignored(q: &ZPath) -> bool {
    q.is_within(&p("/c/runtime")) && q.as_str() != "/c/runtime"
}

fn data(v: u8) -> Vec<u8> {
    format!("v{v}").into_bytes()
}

fn build(c: &Case) -> (DesiredState, LiveTree, Inventory, Options) {
    let mut d = DesiredState {
        roots: vec![ManagedRoot {
            owner: owner(),
            root: p("/c"),
            prune: c.prune,
            mode: Mode::Enforce,
            ignore: IgnoreMatcher::compile(&["runtime/**".into()]).unwrap(),
            host_scoped: false,
        }],
        ..Default::default()
    };
    for (path, v) in &c.desired {
        d.nodes.insert(
            path.clone(),
            DesiredNode {
                path: path.clone(),
                data: data(*v),
                secret: false,
                policy: if path.as_str() == "/c" {
                    DataPolicy::Parent
                } else {
                    DataPolicy::Enforce
                },
                acl: None,
                mode: NodeMode::Persistent,
                owner: owner(),
            },
        );
    }
    let mut live = LiveTree::default();
    let mut put = |path: &ZPath, bytes: Vec<u8>, eph: i64| {
        live.nodes.insert(
            path.clone(),
            LiveNode {
                data: bytes,
                version: 3,
                ephemeral_owner: eph,
                ..Default::default()
            },
        );
    };
    for (path, v) in &c.live {
        put(path, data(*v), 0);
    }
    for path in &c.ephemeral {
        put(path, b"eph".to_vec(), 42);
    }
    for path in [p("/c/runtime"), p("/x"), p("/k")] {
        put(&path, Vec::new(), 0);
    }
    for path in c.ignored_live.iter().chain(&c.foreign).chain(&c.gone_live) {
        put(path, b"other".to_vec(), 0);
    }
    relink(&mut live);
    let mut inv = Inventory::default();
    inv.owners.insert(
        owner(),
        OwnerInventory {
            root: p("/c"),
            prune: c.prune,
            paths: c.inventory.iter().cloned().collect(),
            orphaned: BTreeSet::new(),
            recipe: None,
        },
    );
    let mut gone_paths: BTreeSet<ZPath> = c.gone_live.iter().cloned().collect();
    gone_paths.insert(p("/k"));
    inv.owners.insert(
        gone(),
        OwnerInventory {
            root: p("/k"),
            prune: c.gone_prune,
            paths: gone_paths,
            orphaned: BTreeSet::new(),
            recipe: None,
        },
    );
    let opts = Options {
        prune_removed: c.prune_removed,
        ..Options::default()
    };
    (d, live, inv, opts)
}

/// Rebuilds every node's sorted child list from the paths (`/c/runtime` makes `/c` exist).
fn relink(live: &mut LiveTree) {
    for n in live.nodes.values_mut() {
        n.children.clear();
    }
    let paths: Vec<ZPath> = live.nodes.keys().cloned().collect();
    for path in paths {
        if let Some(parent) = path.parent()
            && let Some(n) = live.nodes.get_mut(&parent)
        {
            n.children.push(path.name().to_owned());
        }
    }
    for n in live.nodes.values_mut() {
        n.children.sort();
    }
}

/// Applies `plan` to `live` as ZooKeeper would, panicking on what ZooKeeper would refuse.
fn execute(plan: &Plan, live: &mut LiveTree) {
    for c in plan.writable() {
        let path = p(c.path());
        match c {
            Change::Create { data, .. } => {
                assert!(!live.nodes.contains_key(&path), "create of existing {path}");
                if let Some(parent) = path.parent()
                    && parent.as_str() != "/"
                {
                    assert!(live.nodes.contains_key(&parent), "create {path}: no parent");
                }
                live.nodes.insert(
                    path.clone(),
                    LiveNode {
                        data: data.clone(),
                        ..Default::default()
                    },
                );
                relink(live);
            }
            Change::Update { after, version, .. } => {
                let n = live.nodes.get_mut(&path).expect("update of missing node");
                assert_eq!(n.version, *version, "update {path}: bad version");
                n.data = after.clone();
                n.version += 1;
            }
            Change::Delete { version, .. } => {
                let n = live.nodes.get(&path).expect("delete of missing node");
                assert_eq!(n.version, *version, "delete {path}: bad version");
                assert!(n.children.is_empty(), "delete {path}: has children");
                live.nodes.remove(&path);
                relink(live);
            }
            Change::Acl { .. } => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("ZKSTATE_PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(512)
    ))]

    /// Applying the plan yields the desired tree; what is not zkstate's is never deleted; the
    /// plan is deterministic and bounded by the trees' sizes; a second plan is empty.
    #[test]
    fn plan_converges_and_never_deletes_what_is_not_ours(c in case()) {
        let (d, live, inv, opts) = build(&c);
        let plan1 = plan(&d, &live, &inv, &opts);

        // Deterministic.
        prop_assert_eq!(&plan1, &plan(&d, &live, &inv, &opts));
        // Linear: at most one change per desired or live node.
        prop_assert!(plan1.changes.len() <= d.nodes.len() + live.nodes.len());

        for ch in &plan1.changes {
            if ch.op() != Op::Delete {
                continue;
            }
            let path = p(ch.path());
            // Foreign, ignored and ephemeral nodes are never deleted.
            prop_assert!(path.is_within(&p("/c")) || path.is_within(&p("/k")), "foreign delete {}", path);
            prop_assert!(!ignored(&path), "ignored delete {}", path);
            prop_assert!(!live.nodes[&path].is_ephemeral(), "ephemeral delete {}", path);
            prop_assert!(!d.nodes.contains_key(&path), "declared delete {}", path);
            if path.is_within(&p("/k")) {
                // A removed owner: only with --prune-removed and its prune on.
                prop_assert!(c.prune_removed && c.gone_prune != Prune::Off, "kept owner delete {}", path);
            } else {
                prop_assert!(c.prune != Prune::Off, "delete with prune off {}", path);
                prop_assert!(
                    c.prune == Prune::Exclusive || c.inventory.contains(&path),
                    "delete of a node never applied {}", path
                );
            }
        }

        let mut after = live.clone();
        execute(&plan1, &mut after);
        // The desired data is there.
        for (path, want) in &d.nodes {
            let have = after.nodes.get(path);
            prop_assert!(have.is_some(), "{} missing after apply", path);
            if want.policy == DataPolicy::Enforce {
                prop_assert_eq!(&have.unwrap().data, &want.data);
            }
        }
        // Foreign, ignored, ephemeral, kept-owner nodes are all still there.
        for (path, n) in &live.nodes {
            let ours = path.is_within(&p("/c")) && !ignored(path);
            let removed_owner = path.is_within(&p("/k")) && c.prune_removed && c.gone_prune != Prune::Off;
            if !ours && !removed_owner || n.is_ephemeral() {
                prop_assert!(after.nodes.contains_key(path), "{} was deleted", path);
            }
        }
        // Exclusive: nothing undeclared is left but what cannot go (ignored, ephemeral and
        // their ancestors).
        if c.prune == Prune::Exclusive {
            for path in after.nodes.keys().filter(|q| q.is_within(&p("/c"))) {
                let keeps = d.nodes.contains_key(path)
                    || after.nodes.iter().any(|(q, n)| {
                        q.is_within(path)
                            && (n.is_ephemeral() || ignored(q))
                    });
                prop_assert!(keeps, "{} survived an exclusive prune", path);
            }
        }
        // Converged: planning again against the result changes nothing.
        let mut after_versions = after.clone();
        relink(&mut after_versions);
        let plan2 = plan(&d, &after_versions, &plan1.inventory, &opts);
        prop_assert!(
            plan2.changes.iter().all(|ch| ch.op() == Op::Acl),
            "second plan not empty: {:?}",
            plan2.changes.iter().map(|ch| (ch.op(), ch.path().to_owned())).collect::<Vec<_>>()
        );
    }

    /// Plan size and planning work grow linearly: N fresh nodes give exactly N creates, and N
    /// stale owned nodes exactly N deletes.
    #[test]
    fn plan_size_is_linear(n in 1usize..400) {
        let mut d = DesiredState {
            roots: vec![ManagedRoot {
                owner: owner(),
                root: p("/c"),
                prune: Prune::Owned,
                mode: Mode::Enforce,
                ignore: IgnoreMatcher::compile(&[]).unwrap(),
                host_scoped: false,
            }],
            ..Default::default()
        };
        let mut live = LiveTree::default();
        live.nodes.insert(p("/c"), LiveNode::default());
        let mut inv_paths = BTreeSet::new();
        for i in 0..n {
            let fresh = p(&format!("/c/new{i}"));
            d.nodes.insert(fresh.clone(), DesiredNode {
                path: fresh,
                data: b"x".to_vec(),
                secret: false,
                policy: DataPolicy::Enforce,
                acl: None,
                mode: NodeMode::Persistent,
                owner: owner(),
            });
            let stale = p(&format!("/c/old{i}"));
            live.nodes.insert(stale.clone(), LiveNode::default());
            inv_paths.insert(stale);
        }
        relink(&mut live);
        let mut inv = Inventory::default();
        inv.owners.insert(owner(), OwnerInventory {
            root: p("/c"),
            prune: Prune::Owned,
            paths: inv_paths,
            orphaned: BTreeSet::new(),
            recipe: None,
        });
        let plan = plan(&d, &live, &inv, &Options::default());
        let s = plan.summary();
        prop_assert_eq!((s.create, s.update, s.delete), (n, 0, n));
    }
}
