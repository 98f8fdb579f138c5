use super::*;
use crate::model::{DesiredNode, Kind, LiveNode, ManagedRoot, SeedItem};

fn p(s: &str) -> ZPath {
    ZPath::parse(s).unwrap()
}

fn owner() -> Owner {
    Owner::new(Kind::ConfigTree, "t")
}

fn root(prune: Prune) -> ManagedRoot {
    ManagedRoot {
        owner: owner(),
        root: p("/c"),
        prune,
        mode: Mode::Enforce,
        ignore: crate::model::IgnoreMatcher::compile(&["runtime/**".into()]).unwrap(),
        host_scoped: false,
    }
}

fn node(path: &str, data: &str, policy: DataPolicy) -> DesiredNode {
    DesiredNode {
        path: p(path),
        data: data.as_bytes().to_vec(),
        secret: false,
        policy,
        acl: None,
        mode: NodeMode::Persistent,
        owner: owner(),
    }
}

fn desired(prune: Prune, nodes: &[DesiredNode]) -> DesiredState {
    let mut d = DesiredState {
        roots: vec![root(prune)],
        ..Default::default()
    };
    d.nodes.insert(p("/c"), node("/c", "", DataPolicy::Parent));
    for n in nodes {
        d.nodes.insert(n.path.clone(), n.clone());
    }
    d
}

fn live(nodes: &[(&str, &str, i32)]) -> LiveTree {
    let mut t = LiveTree::default();
    for (path, data, version) in nodes {
        t.nodes.insert(
            p(path),
            LiveNode {
                data: data.as_bytes().to_vec(),
                version: *version,
                ..Default::default()
            },
        );
    }
    let paths: Vec<ZPath> = t.nodes.keys().cloned().collect();
    for path in paths {
        if let Some(parent) = path.parent()
            && let Some(n) = t.nodes.get_mut(&parent)
        {
            n.children.push(path.name().to_owned());
        }
    }
    t
}

/// The inventory of `owner()` (prune on) recording `paths` under `root`.
fn inventory(root: &str, paths: &[&str]) -> Inventory {
    let mut inv = Inventory::default();
    inv.owners.insert(
        owner(),
        OwnerInventory {
            root: p(root),
            prune: Prune::Owned,
            paths: paths.iter().map(|s| p(s)).collect(),
            orphaned: BTreeSet::new(),
            recipe: None,
        },
    );
    inv
}

fn ops(plan: &Plan) -> Vec<(Op, &str)> {
    plan.changes.iter().map(|c| (c.op(), c.path())).collect()
}

#[test]
fn creates_parents_first_and_updates_carry_the_version() {
    let d = desired(
        Prune::Off,
        &[
            node("/c/a/b", "x", DataPolicy::Enforce),
            node("/c/a", "", DataPolicy::Parent),
            node("/c/u", "new", DataPolicy::Enforce),
        ],
    );
    let l = live(&[("/c", "", 0), ("/c/u", "old", 7)]);
    let plan = plan(&d, &l, &Inventory::default(), &Options::default());
    assert_eq!(
        ops(&plan),
        vec![
            (Op::Create, "/c/a"),
            (Op::Create, "/c/a/b"),
            (Op::Update, "/c/u")
        ]
    );
    assert!(
        matches!(&plan.changes[2], Change::Update { version: 7, before, .. } if before == b"old"),
        "{:?}",
        plan.changes[2]
    );
    assert_eq!(
        plan.summary(),
        Summary {
            create: 2,
            update: 1,
            delete: 0
        }
    );
    // Identical inputs give identical plans.
    assert_eq!(
        plan,
        super::plan(&d, &l, &Inventory::default(), &Options::default())
    );
}

#[test]
fn create_only_and_parent_data_are_never_compared() {
    let d = desired(
        Prune::Off,
        &[
            node("/c/counter", "0", DataPolicy::CreateOnly),
            node("/c/p", "", DataPolicy::Parent),
        ],
    );
    let l = live(&[("/c", "x", 0), ("/c/counter", "41", 3), ("/c/p", "data", 1)]);
    assert!(plan(&d, &l, &Inventory::default(), &Options::default()).is_empty());
}

#[test]
fn prune_deletes_only_inventory_nodes_children_first() {
    let d = desired(Prune::Owned, &[node("/c/keep", "k", DataPolicy::Enforce)]);
    let l = live(&[
        ("/c", "", 0),
        ("/c/keep", "k", 0),
        ("/c/gone", "", 0),
        ("/c/gone/leaf", "v", 2),
        ("/c/foreign", "f", 0),
    ]);
    let inv = inventory("/c", &["/c/keep", "/c/gone", "/c/gone/leaf"]);
    let plan = plan(&d, &l, &inv, &Options::default());
    assert_eq!(
        ops(&plan),
        vec![(Op::Delete, "/c/gone/leaf"), (Op::Delete, "/c/gone")]
    );
    assert!(
        matches!(
            plan.changes[0],
            Change::Delete {
                version: 2,
                size: 1,
                ..
            }
        ),
        "{:?}",
        plan.changes[0]
    );
    let new = &plan.inventory.owners[&owner()];
    assert_eq!(
        new.paths.iter().map(ZPath::as_str).collect::<Vec<_>>(),
        vec!["/c/keep"]
    );
}

#[test]
fn exclusive_prunes_undeclared_but_not_ignored_ephemeral_or_sequential() {
    let d = desired(
        Prune::Exclusive,
        &[node("/c/keep", "k", DataPolicy::Enforce)],
    );
    let mut l = live(&[
        ("/c", "", 0),
        ("/c/keep", "k", 0),
        ("/c/stray", "s", 0),
        ("/c/runtime", "", 0),
        ("/c/runtime/x", "r", 0),
        ("/c/eph", "e", 0),
        ("/c/entry-100-0000000001", "q", 0),
    ]);
    l.nodes.get_mut(&p("/c/eph")).unwrap().ephemeral_owner = 42;
    let plan = plan(&d, &l, &Inventory::default(), &Options::default());
    assert_eq!(ops(&plan), vec![(Op::Delete, "/c/stray")]);
    // `runtime` itself is not matched by `runtime/**` and has an ignored child: left alone.
    assert!(
        plan.changes
            .iter()
            .all(|c| !c.path().starts_with("/c/runtime"))
    );
}

#[test]
fn exclusive_sees_past_a_neighbour_whose_name_extends_the_root() {
    // `/c-x` sorts between `/c` and `/c/stray` (`-` is below `/`).
    let d = desired(Prune::Exclusive, &[]);
    let l = live(&[("/c", "", 0), ("/c-x", "", 0), ("/c/stray", "s", 0)]);
    let plan = plan(&d, &l, &Inventory::default(), &Options::default());
    assert_eq!(ops(&plan), vec![(Op::Delete, "/c/stray")]);
}

#[test]
fn a_node_with_a_foreign_child_is_not_pruned() {
    let d = desired(Prune::Owned, &[]);
    let l = live(&[
        ("/c", "", 0),
        ("/c/mine", "", 0),
        ("/c/mine/theirs", "t", 0),
    ]);
    let inv = inventory("/c", &["/c/mine"]);
    let plan = plan(&d, &l, &inv, &Options::default());
    assert!(plan.changes.is_empty());
    assert_eq!(plan.notes.len(), 1);
    assert!(
        plan.inventory.owners[&owner()]
            .paths
            .contains(&p("/c/mine"))
    );
}

#[test]
fn never_deletes_outside_the_root_and_reports_orphans() {
    let d = desired(Prune::Owned, &[]);
    let l = live(&[("/c", "", 0), ("/old/x", "o", 0)]);
    let inv = inventory("/old", &["/old/x"]);
    let plan = plan(&d, &l, &inv, &Options::default());
    assert!(plan.changes.is_empty());
    assert_eq!(plan.orphaned[&owner()], vec![p("/old/x")]);
}

#[test]
fn observe_mode_marks_changes_and_ignored_nodes_are_skipped() {
    let mut d = desired(
        Prune::Off,
        &[
            node("/c/a", "x", DataPolicy::Enforce),
            node("/c/runtime/z", "1", DataPolicy::Enforce),
        ],
    );
    d.roots[0].mode = Mode::Observe;
    let l = live(&[("/c", "", 0)]);
    let plan = plan(&d, &l, &Inventory::default(), &Options::default());
    assert_eq!(ops(&plan), vec![(Op::Create, "/c/a")]);
    assert!(plan.changes[0].observe());
    assert_eq!(plan.writable().count(), 0);
}

#[test]
fn seeds_ride_with_the_create_of_their_queue_only() {
    let mut d = desired(Prune::Off, &[node("/c/q", "", DataPolicy::Enforce)]);
    d.seeds.push(SeedItem {
        parent: p("/c/q"),
        prefix: p("/c/q/entry-100-"),
        data: b"a".to_vec(),
        owner: owner(),
    });
    let plan1 = plan(
        &d,
        &live(&[("/c", "", 0)]),
        &Inventory::default(),
        &Options::default(),
    );
    assert_eq!(
        ops(&plan1),
        vec![(Op::Create, "/c/q"), (Op::Create, "/c/q/entry-100-")]
    );
    assert!(matches!(
        plan1.changes[1],
        Change::Create {
            mode: CreateKind::PersistentSequential,
            ..
        }
    ));
    let plan2 = plan(
        &d,
        &live(&[("/c", "", 0), ("/c/q", "", 0)]),
        &Inventory::default(),
        &Options::default(),
    );
    assert!(plan2.is_empty());
}

#[test]
fn acl_drift_is_its_own_change() {
    let mut n = node("/c/a", "x", DataPolicy::Enforce);
    n.acl = Some(vec![AclEntry {
        scheme: "world".into(),
        id: "anyone".into(),
        perms: crate::model::Perms::READ,
    }]);
    let d = desired(Prune::Off, &[n]);
    let mut l = live(&[("/c", "", 0), ("/c/a", "x", 0)]);
    let a = l.nodes.get_mut(&p("/c/a")).unwrap();
    a.acl = Some(vec![AclEntry::open()]);
    a.aversion = 3;
    let plan = plan(&d, &l, &Inventory::default(), &Options::default());
    assert_eq!(ops(&plan), vec![(Op::Acl, "/c/a")]);
    assert!(matches!(plan.changes[0], Change::Acl { aversion: 3, .. }));
}

#[test]
fn sequential_names() {
    assert!(is_sequential_name("entry-100-0000000001"));
    assert!(is_sequential_name("abc__lock__0000000000"));
    assert!(!is_sequential_name("db"));
    assert!(!is_sequential_name("url-config"));
}

fn other() -> Owner {
    Owner::new(Kind::Queue, "jobs")
}

/// `inventory("/c", ..)` plus an owner `other()` (prune `prune`) recording `/q` and `/q/a`.
fn with_removed_owner(prune: Prune) -> (DesiredState, LiveTree, Inventory) {
    let d = desired(Prune::Owned, &[node("/c/keep", "k", DataPolicy::Enforce)]);
    let l = live(&[
        ("/c", "", 0),
        ("/c/keep", "k", 0),
        ("/q", "", 0),
        ("/q/a", "x", 3),
    ]);
    let mut inv = inventory("/c", &["/c/keep"]);
    inv.owners.insert(
        other(),
        OwnerInventory {
            root: p("/q"),
            prune,
            paths: [p("/q"), p("/q/a")].into_iter().collect(),
            orphaned: BTreeSet::new(),
            recipe: None,
        },
    );
    (d, l, inv)
}

#[test]
fn an_owner_missing_from_the_set_is_kept_and_named() {
    let (d, l, inv) = with_removed_owner(Prune::Owned);
    let plan = plan(&d, &l, &inv, &Options::default());
    assert!(plan.changes.is_empty(), "{:?}", plan.changes);
    assert_eq!(
        plan.kept_owners,
        vec![KeptOwner {
            owner: other(),
            root: p("/q"),
            nodes: 2,
            prune: Prune::Owned,
        }]
    );
    assert_eq!(plan.inventory, inv, "its record is kept as it was");
    assert!(!plan.inventory_changed);
}

#[test]
fn prune_removed_deletes_a_removed_owner_that_pruned() {
    let (d, l, inv) = with_removed_owner(Prune::Owned);
    let opts = Options {
        prune_removed: true,
        ..Options::default()
    };
    let plan = plan(&d, &l, &inv, &opts);
    assert_eq!(ops(&plan), vec![(Op::Delete, "/q/a"), (Op::Delete, "/q")]);
    assert!(matches!(plan.changes[0], Change::Delete { version: 3, .. }));
    assert!(plan.kept_owners.is_empty());
    assert!(!plan.inventory.owners.contains_key(&other()));
}

#[test]
fn prune_removed_keeps_a_removed_owner_whose_prune_was_off() {
    let (d, l, inv) = with_removed_owner(Prune::Off);
    let opts = Options {
        prune_removed: true,
        ..Options::default()
    };
    let plan = plan(&d, &l, &inv, &opts);
    assert!(plan.changes.is_empty());
    assert_eq!(plan.kept_owners.len(), 1);
    assert_eq!(plan.kept_owners[0].prune, Prune::Off);
}

/// Applies `first` on `l` with `inv`, then moves the root to `new_root` declaring `x` only;
/// checks nothing is deleted, twice (the orphan record survives the next apply too).
fn moved(old_root: &str, old: &[&str], new_root: &str, prune: Prune) -> Plan {
    let mut d = desired(prune, &[]);
    d.nodes.clear();
    d.roots[0].root = p(new_root);
    d.nodes
        .insert(p(new_root), node(new_root, "", DataPolicy::Parent));
    let x = format!("{new_root}/x");
    d.nodes.insert(p(&x), node(&x, "new", DataPolicy::Enforce));
    let mut nodes: Vec<(&str, &str, i32)> = old.iter().map(|s| (*s, "old", 0)).collect();
    nodes.push((new_root, "", 0));
    nodes.push((&x, "new", 0));
    let mut l = live(&nodes);
    // The old root's parent chain is there too.
    for a in p(old_root).ancestors().chain(p(new_root).ancestors()) {
        l.nodes.entry(a).or_default();
    }
    let inv = inventory(old_root, old);
    let first = plan(&d, &l, &inv, &Options::default());
    assert!(
        first.changes.iter().all(|c| c.op() != Op::Delete),
        "{:?}",
        first.changes
    );
    let second = plan(&d, &l, &first.inventory, &Options::default());
    assert!(
        second.changes.iter().all(|c| c.op() != Op::Delete),
        "second apply: {:?}",
        second.changes
    );
    assert_eq!(first.orphaned, second.orphaned);
    second
}

#[test]
fn moving_a_root_never_deletes_under_the_old_one() {
    for prune in [Prune::Owned, Prune::Exclusive] {
        // To the parent (issue 7 case 2): the old nodes are under the new root too.
        let plan = moved(
            "/x/app/v1",
            &["/x/app/v1", "/x/app/v1/a", "/x/app/v1/b"],
            "/x/app",
            prune,
        );
        assert_eq!(
            plan.orphaned[&owner()],
            vec![p("/x/app/v1"), p("/x/app/v1/a"), p("/x/app/v1/b")]
        );
        // To a descendant: `/x/app/v1/a` is under both roots.
        let plan = moved(
            "/x/app",
            &["/x/app", "/x/app/a", "/x/app/v1", "/x/app/v1/a"],
            "/x/app/v1",
            prune,
        );
        let orphans = &plan.orphaned[&owner()];
        assert!(orphans.contains(&p("/x/app/a")), "{orphans:?}");
        assert!(orphans.contains(&p("/x/app/v1/a")), "{orphans:?}");
        // To a sibling.
        let plan = moved("/x/v1", &["/x/v1", "/x/v1/a"], "/x/v2", prune);
        assert_eq!(plan.orphaned[&owner()], vec![p("/x/v1"), p("/x/v1/a")]);
    }
}

#[test]
fn a_declared_node_that_already_exists_is_adopted_once() {
    let d = desired(
        Prune::Owned,
        &[
            node("/c/theirs", "same", DataPolicy::Enforce),
            node("/c/new", "n", DataPolicy::Enforce),
        ],
    );
    let l = live(&[("/c", "", 0), ("/c/theirs", "same", 4)]);
    let first = plan(&d, &l, &Inventory::default(), &Options::default());
    assert_eq!(
        first.adopted,
        vec![Adopted {
            path: p("/c/theirs"),
            owner: owner(),
        }]
    );
    assert!(
        first.inventory.owners[&owner()]
            .paths
            .contains(&p("/c/theirs"))
    );
    let again = plan(&d, &l, &first.inventory, &Options::default());
    assert!(again.adopted.is_empty());
}

#[test]
fn exclusive_never_prunes_the_nodes_of_a_kept_owner() {
    let d = desired(
        Prune::Exclusive,
        &[node("/c/keep", "k", DataPolicy::Enforce)],
    );
    let l = live(&[
        ("/c", "", 0),
        ("/c/keep", "k", 0),
        ("/c/q", "", 0),
        ("/c/stray", "s", 0),
    ]);
    let mut inv = inventory("/c", &["/c/keep"]);
    inv.owners.insert(
        other(),
        OwnerInventory {
            root: p("/c/q"),
            prune: Prune::Owned,
            paths: [p("/c/q")].into_iter().collect(),
            orphaned: BTreeSet::new(),
            recipe: None,
        },
    );
    let plan = plan(&d, &l, &inv, &Options::default());
    assert_eq!(ops(&plan), vec![(Op::Delete, "/c/stray")]);
}

#[test]
fn only_enforced_config_data_is_revertible_without_a_full_plan() {
    let mut d = desired(
        Prune::Owned,
        &[
            node("/c/a", "1", DataPolicy::Enforce),
            node("/c/seeded", "0", DataPolicy::CreateOnly),
        ],
    );
    let opts = Options::default();
    assert!(revertible(&d, &p("/c/a"), &opts).is_some());
    // Implicit parents, create-only nodes and undeclared paths need the full plan.
    assert!(revertible(&d, &p("/c"), &opts).is_none());
    assert!(revertible(&d, &p("/c/seeded"), &opts).is_none());
    assert!(revertible(&d, &p("/c/other"), &opts).is_none());
    // Observe mode, per root or for the whole agent, never writes.
    let observe_all = Options {
        observe_all: true,
        ..Options::default()
    };
    assert!(revertible(&d, &p("/c/a"), &observe_all).is_none());
    d.roots[0].mode = Mode::Observe;
    assert!(revertible(&d, &p("/c/a"), &opts).is_none());
    // Recipe nodes (services, queues, elections) are planned by their recipes.
    d.roots[0].mode = Mode::Enforce;
    let svc = Owner::new(Kind::Service, "s");
    d.nodes.get_mut(&p("/c/a")).unwrap().owner = svc.clone();
    d.roots.push(ManagedRoot {
        owner: svc,
        ..root(Prune::Owned)
    });
    assert!(revertible(&d, &p("/c/a"), &opts).is_none());
}
