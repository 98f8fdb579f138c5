//! The planner: `plan(&DesiredState, &LiveTree, &Inventory, &Options) -> Plan`, pure and
//! deterministic. It pairs desired and live nodes, decides creates (parents first), updates
//! (carrying the version read), deletes (children first, only what pruning allows), ACL changes,
//! queue seeds, and the new ownership inventory. No I/O; the executor in `zk` turns a plan into
//! multi-op transactions.
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::model::{
    AclEntry, DataPolicy, DesiredState, Inventory, LiveTree, ManagedRoot, Mode, NodeMode, Owner,
    OwnerInventory, Prune, ZPath,
};

/// What kind of change.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Update,
    Delete,
    Acl,
}

/// How a create is made.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CreateKind {
    Persistent,
    Container,
    PersistentSequential,
    Ephemeral,
}

/// Where a change lands and who asked for it: what every kind of change has.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Target {
    /// The znode; for a sequential create the path prefix the server appends a sequence to.
    pub path: String,
    pub owner: Option<Owner>,
    /// In an `observe` tree: reported, never written.
    pub observe: bool,
}

/// One planned change. Each kind carries exactly what it needs: a create has no version to
/// check, a delete keeps only the size of the data it removes (its data is never shown).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Change {
    Create {
        at: Target,
        data: Vec<u8>,
        /// Data is secret: never printed.
        secret: bool,
        mode: CreateKind,
        acl: Vec<AclEntry>,
    },
    Update {
        at: Target,
        before: Vec<u8>,
        after: Vec<u8>,
        secret: bool,
        /// Data version read at snapshot time; the set is checked against it.
        version: i32,
    },
    Delete {
        at: Target,
        /// Data version read at snapshot time; the delete is checked against it.
        version: i32,
        /// Bytes of data the node holds (shown instead of the data: a node that is no longer
        /// declared has lost its `secret` flag).
        size: usize,
    },
    Acl {
        at: Target,
        before: Vec<AclEntry>,
        after: Vec<AclEntry>,
        /// ACL version read at snapshot time.
        aversion: i32,
    },
}

impl Change {
    pub fn at(&self) -> &Target {
        match self {
            Change::Create { at, .. }
            | Change::Update { at, .. }
            | Change::Delete { at, .. }
            | Change::Acl { at, .. } => at,
        }
    }

    pub fn path(&self) -> &str {
        &self.at().path
    }

    pub fn owner(&self) -> Option<&Owner> {
        self.at().owner.as_ref()
    }

    /// In an `observe` tree: reported, never written.
    pub fn observe(&self) -> bool {
        self.at().observe
    }

    pub fn op(&self) -> Op {
        match self {
            Change::Create { .. } => Op::Create,
            Change::Update { .. } => Op::Update,
            Change::Delete { .. } => Op::Delete,
            Change::Acl { .. } => Op::Acl,
        }
    }

    /// True when the data must not be shown (deletes never show data).
    pub fn secret(&self) -> bool {
        match self {
            Change::Create { secret, .. } | Change::Update { secret, .. } => *secret,
            Change::Delete { .. } => true,
            Change::Acl { .. } => false,
        }
    }
}

fn target(path: &str, owner: &Owner, observe: bool) -> Target {
    Target {
        path: path.to_owned(),
        owner: Some(owner.clone()),
        observe,
    }
}

/// A note the planner wants the operator to see (e.g. a delete it skipped for safety).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Note {
    pub path: String,
    pub message: String,
}

/// Planner options.
#[derive(Clone, Debug)]
pub struct Options {
    /// Skip host-scoped resources (`apply`/`diff`: the agent owns them).
    pub skip_host_scoped: bool,
    /// Treat every root as `mode: observe` (agent `--observe`).
    pub observe_all: bool,
    /// Delete what the inventory records for owners that are not in the manifest set (if their
    /// last recorded `prune` was on). Off: such owners are kept and listed in `Plan::kept_owners`.
    pub prune_removed: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            skip_host_scoped: true,
            observe_all: false,
            prune_removed: false,
        }
    }
}

/// The declared node at `path` when a change of its data alone can be reverted without a full
/// plan (the agent's targeted revert, docs/agent.md "How a pass is triggered"): a data node of
/// an enforced ConfigTree (not `create-only`, not a recipe's node, not in observe mode). For any
/// other path, or a node that is gone or new, only a full pass decides.
pub fn revertible<'a>(
    desired: &'a crate::model::DesiredState,
    path: &ZPath,
    opts: &Options,
) -> Option<&'a crate::model::DesiredNode> {
    use crate::model::{DataPolicy, Kind, Mode, NodeMode};
    if opts.observe_all {
        return None;
    }
    let node = desired.nodes.get(path)?;
    if node.policy != DataPolicy::Enforce
        || node.mode != NodeMode::Persistent
        || node.owner.kind != Kind::ConfigTree
    {
        return None;
    }
    let root = desired.roots.iter().find(|r| r.owner == node.owner)?;
    (root.mode == Mode::Enforce && !root.host_scoped).then_some(node)
}

/// Changes counted per op.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
}

/// An owner the inventory records but the manifest set does not contain: its nodes are kept
/// (docs/contract.md §3 "Only what it was given") unless `--prune-removed`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeptOwner {
    pub owner: Owner,
    pub root: ZPath,
    /// Nodes the inventory still records for it (owned and orphaned).
    pub nodes: usize,
    /// Its last recorded `prune`: with `Off`, `--prune-removed` deletes nothing of it.
    pub prune: Prune,
}

/// A declared node that already exists but no inventory records: this plan takes ownership of
/// it (like `terraform import`), so it is pruned once removed from the manifests.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Adopted {
    pub path: ZPath,
    pub owner: Owner,
}

/// The result of planning.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Plan {
    /// In execution order: creates (parents first, seeds after their parent), updates, deletes
    /// (children first), then ACL changes (which cannot ride in a multi).
    pub changes: Vec<Change>,
    /// The inventory after this plan is applied.
    pub inventory: Inventory,
    /// True when `inventory` differs from the one read (bookkeeping to write even without changes).
    pub inventory_changed: bool,
    /// Inventory nodes outside their owner's current root: never deleted, reported.
    pub orphaned: BTreeMap<Owner, Vec<ZPath>>,
    /// Owners recorded in the inventory but absent from the manifest set, kept (not pruned).
    pub kept_owners: Vec<KeptOwner>,
    /// Existing nodes this plan takes ownership of.
    pub adopted: Vec<Adopted>,
    pub notes: Vec<Note>,
}

impl Plan {
    /// Counts of every change (observed ones included; `acl` counts as an update).
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for c in &self.changes {
            match c.op() {
                Op::Create => s.create += 1,
                Op::Update | Op::Acl => s.update += 1,
                Op::Delete => s.delete += 1,
            }
        }
        s
    }

    /// True when nothing differs.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Changes that will be written (not in an observe tree).
    pub fn writable(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| !c.observe())
    }

    /// Changes per owner, for drift reports.
    pub fn drift_by_owner(&self) -> BTreeMap<Owner, Summary> {
        let mut m: BTreeMap<Owner, Summary> = BTreeMap::new();
        for c in &self.changes {
            if let Some(o) = c.owner() {
                let s = m.entry(o.clone()).or_default();
                match c.op() {
                    Op::Create => s.create += 1,
                    Op::Update | Op::Acl => s.update += 1,
                    Op::Delete => s.delete += 1,
                }
            }
        }
        m
    }
}

/// Per-root facts the planner needs while pairing.
struct RootInfo<'a> {
    root: &'a ManagedRoot,
    observe: bool,
}

impl RootInfo<'_> {
    /// The loader's compiled matcher: a declared node it accepted is never ignored here.
    fn ignores(&self, path: &ZPath) -> bool {
        path.relative_to(&self.root.root)
            .is_some_and(|rel| self.root.ignore.is_match(rel))
    }
}

/// True for names that look like a sequential child (`...0000000042`, `...-000000001`,
/// `...-2147483648`).
pub fn is_sequential_name(name: &str) -> bool {
    crate::recipes::sequence::has_sequence_suffix(name)
}

fn acl_sorted(acl: &[AclEntry]) -> Vec<AclEntry> {
    let mut v = acl.to_vec();
    v.sort();
    v
}

/// Computes the plan. Deterministic: identical inputs give identical plans.
pub fn plan(
    desired: &DesiredState,
    live: &LiveTree,
    inventory: &Inventory,
    opts: &Options,
) -> Plan {
    plan_with(desired, &HashMap::new(), live, inventory, opts)
}

/// [`plan`] with some nodes' desired data replaced by `data` (by path), as if `desired` held
/// it: a pass adjusts a few nodes (service registration times) without copying the state.
pub fn plan_with(
    desired: &DesiredState,
    data: &HashMap<ZPath, Vec<u8>>,
    live: &LiveTree,
    inventory: &Inventory,
    opts: &Options,
) -> Plan {
    let roots: BTreeMap<&Owner, RootInfo<'_>> = desired
        .roots
        .iter()
        .filter(|r| !(opts.skip_host_scoped && r.host_scoped))
        .map(|r| {
            (
                &r.owner,
                RootInfo {
                    root: r,
                    observe: opts.observe_all || r.mode == Mode::Observe,
                },
            )
        })
        .collect();
    let active = |owner: &Owner| roots.get(owner);
    let ignored = |path: &ZPath| roots.values().any(|r| r.ignores(path));

    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut acls = Vec::new();
    let mut notes = Vec::new();
    let mut created: BTreeSet<&ZPath> = BTreeSet::new();
    let mut implicit: BTreeSet<ZPath> = BTreeSet::new();

    // Both maps are sorted by path: the live node of each desired one is found by walking the
    // live map alongside (a merge), not by a lookup per node.
    let mut live_cursor = live.nodes.iter().peekable();
    for (path, want) in &desired.nodes {
        let mut have_here = None;
        while let Some((p, node)) = live_cursor.peek() {
            match (*p).cmp(path) {
                std::cmp::Ordering::Less => {
                    live_cursor.next();
                }
                std::cmp::Ordering::Equal => {
                    have_here = Some(*node);
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        let Some(info) = active(&want.owner) else {
            continue;
        };
        if ignored(path) {
            continue;
        }
        let observe = info.observe;
        let want_data = if data.is_empty() {
            &want.data
        } else {
            data.get(path).unwrap_or(&want.data)
        };
        match have_here {
            None => {
                // Defensive: a missing ancestor that nobody declared is created empty first.
                let mut missing: Vec<ZPath> = path
                    .ancestors()
                    .take_while(|a| {
                        !live.nodes.contains_key(a) && !created.contains(a) && !implicit.contains(a)
                    })
                    .collect();
                missing.reverse();
                for a in missing {
                    creates.push(Change::Create {
                        at: target(a.as_str(), &want.owner, observe),
                        data: Vec::new(),
                        secret: false,
                        mode: CreateKind::Persistent,
                        acl: vec![AclEntry::open()],
                    });
                    implicit.insert(a);
                }
                creates.push(Change::Create {
                    at: target(path.as_str(), &want.owner, observe),
                    data: want_data.clone(),
                    secret: want.secret,
                    mode: match want.mode {
                        NodeMode::Persistent => CreateKind::Persistent,
                        NodeMode::Container => CreateKind::Container,
                        NodeMode::Ephemeral => CreateKind::Ephemeral,
                    },
                    acl: want.acl.clone().unwrap_or_else(|| vec![AclEntry::open()]),
                });
                created.insert(path);
            }
            Some(have) => {
                if have.is_ephemeral() && want.mode != NodeMode::Ephemeral {
                    notes.push(Note {
                        path: path.to_string(),
                        message: "declared persistent but an ephemeral node of another session is there; left alone".into(),
                    });
                    continue;
                }
                if want.policy == DataPolicy::Enforce && have.data != *want_data {
                    updates.push(Change::Update {
                        at: target(path.as_str(), &want.owner, observe),
                        before: have.data.clone(),
                        after: want_data.clone(),
                        secret: want.secret,
                        version: have.version,
                    });
                }
                if let (Some(want_acl), Some(have_acl)) = (&want.acl, &have.acl)
                    && want.policy != DataPolicy::CreateOnly
                    && acl_sorted(want_acl) != acl_sorted(have_acl)
                {
                    acls.push(Change::Acl {
                        at: target(path.as_str(), &want.owner, observe),
                        before: have_acl.clone(),
                        after: want_acl.clone(),
                        aversion: have.aversion,
                    });
                }
            }
        }
    }

    // Seeds ride in the transaction that creates their parent.
    let mut seeds_by_parent: BTreeMap<&ZPath, Vec<Change>> = BTreeMap::new();
    for seed in &desired.seeds {
        if !created.contains(&seed.parent) {
            continue;
        }
        let Some(info) = active(&seed.owner) else {
            continue;
        };
        let c = Change::Create {
            at: target(&seed.prefix, &seed.owner, info.observe),
            data: seed.data.clone(),
            secret: false,
            mode: CreateKind::PersistentSequential,
            acl: desired
                .nodes
                .get(&seed.parent)
                .and_then(|n| n.acl.clone())
                .unwrap_or_else(|| vec![AclEntry::open()]),
        };
        seeds_by_parent.entry(&seed.parent).or_default().push(c);
    }
    let mut ordered_creates = Vec::with_capacity(creates.len());
    for c in creates {
        let seeds = ZPath::parse(c.path())
            .ok()
            .and_then(|p| seeds_by_parent.remove(&p));
        ordered_creates.push(c);
        if let Some(s) = seeds {
            ordered_creates.extend(s);
        }
    }

    // Deletes: candidates per owner, never outside the owner's root, never a node applied under
    // an earlier root (orphaned: a moved root never deletes under the old one, docs/contract.md §3).
    let mut protected: BTreeSet<&ZPath> = inventory
        .owners
        .values()
        .flat_map(|o| o.orphaned.iter())
        .collect();
    for info in roots.values() {
        if let Some(inv) = inventory.owners.get(&info.root.owner)
            && inv.root != info.root.root
        {
            protected.extend(inv.paths.iter());
        }
    }
    // A kept owner's nodes are not another owner's to prune either (`prune: exclusive` on an
    // enclosing root included).
    for (owner, inv) in &inventory.owners {
        if !desired.roots.iter().any(|r| &r.owner == owner)
            && (!opts.prune_removed || inv.prune == Prune::Off)
        {
            protected.extend(inv.paths.iter());
        }
    }
    let mut delete_set: BTreeMap<ZPath, (Owner, bool)> = BTreeMap::new();
    let mut orphaned: BTreeMap<Owner, Vec<ZPath>> = BTreeMap::new();
    for info in roots.values() {
        let r = info.root;
        if r.prune == Prune::Off {
            continue;
        }
        let mut candidates: Vec<&ZPath> = Vec::new();
        if let Some(inv) = inventory.owners.get(&r.owner)
            && inv.root == r.root
        {
            candidates.extend(inv.paths.iter().filter(|p| p.is_within(&r.root)));
        }
        if r.prune == Prune::Exclusive {
            candidates.extend(
                live.nodes
                    .range(r.root.clone()..)
                    .take_while(|(p, _)| p.is_within(&r.root))
                    .map(|(p, _)| p),
            );
        }
        for p in candidates {
            if *p == r.root || desired.nodes.contains_key(p) || ignored(p) || protected.contains(p)
            {
                continue;
            }
            let Some(node) = live.nodes.get(p) else {
                continue;
            };
            if node.is_ephemeral() || is_sequential_name(p.name()) {
                continue;
            }
            delete_set.insert(p.clone(), (r.owner.clone(), info.observe));
        }
    }
    // Owners whose documents are not in the set: kept, unless `prune_removed` and they pruned.
    let mut kept_owners = Vec::new();
    for (owner, inv) in &inventory.owners {
        if desired.roots.iter().any(|r| &r.owner == owner) {
            continue;
        }
        if !opts.prune_removed || inv.prune == Prune::Off {
            kept_owners.push(KeptOwner {
                owner: owner.clone(),
                root: inv.root.clone(),
                nodes: inv.paths.len() + inv.orphaned.len(),
                prune: inv.prune,
            });
            continue;
        }
        for p in &inv.paths {
            if !p.is_within(&inv.root)
                || desired.nodes.contains_key(p)
                || ignored(p)
                || protected.contains(p)
            {
                continue;
            }
            if let Some(node) = live.nodes.get(p)
                && !node.is_ephemeral()
            {
                delete_set.insert(p.clone(), (owner.clone(), opts.observe_all));
            }
        }
    }
    // Children first; a node keeps living if any live child of it is not deleted too.
    let mut deletes = Vec::new();
    let mut deleted: BTreeSet<ZPath> = BTreeSet::new();
    for (p, (owner, observe)) in delete_set.iter().rev() {
        let node = &live.nodes[p];
        let blocked = node
            .children
            .iter()
            .map(|c| p.child(c))
            .find(|c| !deleted.contains(c));
        if let Some(child) = blocked {
            notes.push(Note {
                path: p.to_string(),
                message: format!(
                    "not pruned: it still has a child zkstate does not delete ({child})"
                ),
            });
            continue;
        }
        deleted.insert(p.clone());
        deletes.push(Change::Delete {
            at: target(p.as_str(), owner, *observe),
            version: node.version,
            size: node.data.len(),
        });
    }

    // The inventory after this plan.
    let mut new_inv = inventory.clone();
    let mut adopted = Vec::new();
    for info in roots.values() {
        let r = info.root;
        if r.host_scoped || info.observe {
            continue;
        }
        let old = inventory.owners.get(&r.owner);
        let mut paths: BTreeSet<ZPath> = desired
            .nodes
            .iter()
            .filter(|(p, n)| {
                n.owner == r.owner
                    && p.is_within(&r.root)
                    && n.policy != DataPolicy::CreateOnly
                    && n.mode != NodeMode::Ephemeral
                    && !ignored(p)
                    && (n.policy != DataPolicy::Parent
                        || created.contains(p)
                        || old.is_some_and(|o| o.paths.contains(*p)))
            })
            .map(|(p, _)| p.clone())
            .collect();
        let mut orphans: BTreeSet<ZPath> = BTreeSet::new();
        if let Some(old) = old {
            let moved = old.root != r.root;
            for p in &old.paths {
                if paths.contains(p) {
                    continue;
                }
                if moved || !p.is_within(&r.root) {
                    // Moved root: never deleted, kept on record and reported.
                    orphans.insert(p.clone());
                } else if !deleted.contains(p)
                    && live.nodes.contains_key(p)
                    && !desired.nodes.contains_key(p)
                {
                    // Still there (prune off or blocked): stays on record.
                    paths.insert(p.clone());
                }
            }
            // Declared again: owned again; else stays orphaned.
            orphans.extend(old.orphaned.iter().filter(|p| !paths.contains(*p)).cloned());
        }
        // Declared data nodes that exist but no inventory recorded: taken over (adopted).
        for p in &paths {
            if !created.contains(p)
                && !old.is_some_and(|o| o.paths.contains(p))
                && live.nodes.contains_key(p)
                && desired
                    .nodes
                    .get(p)
                    .is_some_and(|n| n.policy != DataPolicy::Parent)
            {
                adopted.push(Adopted {
                    path: p.clone(),
                    owner: r.owner.clone(),
                });
            }
        }
        if !orphans.is_empty() {
            orphaned.insert(r.owner.clone(), orphans.iter().cloned().collect());
        }
        new_inv.owners.insert(
            r.owner.clone(),
            OwnerInventory {
                root: r.root.clone(),
                prune: r.prune,
                paths,
                orphaned: orphans,
                recipe: desired.recipes.get(&r.owner).cloned(),
            },
        );
    }
    for (owner, inv) in &inventory.owners {
        if roots.contains_key(owner) || desired.roots.iter().any(|r| &r.owner == owner) {
            continue;
        }
        if opts.observe_all {
            continue;
        }
        let left: BTreeSet<ZPath> = inv
            .paths
            .iter()
            .filter(|p| !deleted.contains(*p))
            .cloned()
            .collect();
        if left.is_empty() && inv.orphaned.is_empty() {
            new_inv.owners.remove(owner);
        } else if let Some(o) = new_inv.owners.get_mut(owner) {
            o.paths = left;
        }
    }

    let mut changes = ordered_creates;
    changes.extend(updates);
    changes.extend(deletes);
    changes.extend(acls);
    let inventory_changed = new_inv != *inventory;
    Plan {
        changes,
        inventory: new_inv,
        inventory_changed,
        orphaned,
        kept_owners,
        adopted,
        notes,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
