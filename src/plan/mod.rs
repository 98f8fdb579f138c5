//! The planner: `plan(&DesiredState, &LiveTree, &Inventory, &Options) -> Plan`, pure and
//! deterministic. It pairs desired and live nodes, decides creates (parents first), updates
//! (carrying the version read), deletes (children first, only what pruning allows), ACL changes,
//! queue seeds, and the new ownership inventory. No I/O; the executor in `zk` turns a plan into
//! multi-op transactions.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::model::{
    AclEntry, DataPolicy, DesiredNode, DesiredState, Inventory, LiveNode, LiveTree, ManagedRoot,
    Mode, NodeMode, Owner, OwnerInventory, Prune, ZPath,
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
    /// The declared node's own path, shared (docs/design.md "Planning").
    pub path: ZPath,
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
        self.at().path.as_str()
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

/// The [`Target`] of a change to `path` made for `owner`.
fn target(path: &ZPath, owner: &Owner, observe: bool) -> Target {
    Target {
        path: path.clone(),
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

impl Summary {
    /// Counts one change under its op (`acl` counts as an update): the one place changes are
    /// counted, for [`Plan::summary`] and [`Plan::drift_by_owner`].
    fn count(&mut self, change: &Change) {
        match change.op() {
            Op::Create => self.create += 1,
            Op::Update | Op::Acl => self.update += 1,
            Op::Delete => self.delete += 1,
        }
    }
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
            s.count(c);
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
                m.entry(o.clone()).or_default().count(c);
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
        !self.root.ignore.is_empty()
            && path
                .relative_to(&self.root.root)
                .is_some_and(|rel| self.root.ignore.is_match(rel))
    }
}

/// True for names that look like a sequential child (`...0000000042`, `...-000000001`,
/// `...-2147483648`).
pub fn is_sequential_name(name: &str) -> bool {
    crate::recipes::sequence::has_sequence_suffix(name)
}

/// `acl` in sorted order: ACLs are compared as sets of entries.
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
///
/// The phases run in this order over one `Planning`: pairing (creates, updates, ACL changes),
/// seeds, protection, delete candidates per root, removed owners, children-first deletes, the
/// new inventory, and the assembled [`Plan`].
pub fn plan_with(
    desired: &DesiredState,
    data: &HashMap<ZPath, Vec<u8>>,
    live: &LiveTree,
    inventory: &Inventory,
    opts: &Options,
) -> Plan {
    let mut planning = Planning::new(desired, data, live, inventory, opts);
    planning.pair();
    planning.seed();
    planning.protect();
    planning.prune_roots();
    planning.prune_removed_owners();
    planning.order_deletes();
    let inventory = planning.new_inventory();
    planning.into_plan(inventory)
}

/// The paths of `sorted` (ascending) that `desired` does not declare, found by walking the
/// declared nodes alongside.
fn not_declared<'p>(
    desired: &'p DesiredState,
    sorted: impl Iterator<Item = &'p ZPath>,
) -> impl Iterator<Item = &'p ZPath> {
    let mut declared = desired.nodes.keys().peekable();
    sorted.filter(move |p| {
        while declared.next_if(|k| k < p).is_some() {}
        declared.peek() != Some(p)
    })
}

/// The paths of `sorted` (ascending) that `live` holds, with their nodes, found by walking the
/// live nodes alongside.
fn present<'p>(
    live: &'p LiveTree,
    sorted: impl IntoIterator<Item = &'p ZPath>,
) -> impl Iterator<Item = (&'p ZPath, &'p LiveNode)> {
    let mut nodes = live.nodes.iter().peekable();
    sorted.into_iter().filter_map(move |p| {
        while nodes.next_if(|(k, _)| *k < p).is_some() {}
        nodes.peek().filter(|(k, _)| *k == p).copied()
    })
}

/// One planning pass: the inputs, the roots it acts on, and what the phases of [`plan_with`]
/// accumulate (each phase reads what the earlier ones left).
struct Planning<'a> {
    desired: &'a DesiredState,
    /// Per-path data that replaces the declared data (see [`plan_with`]).
    data: &'a HashMap<ZPath, Vec<u8>>,
    live: &'a LiveTree,
    inventory: &'a Inventory,
    opts: &'a Options,
    /// The roots this plan acts on, by owner (host-scoped ones left out when asked).
    roots: BTreeMap<&'a Owner, RootInfo<'a>>,
    /// Creates in path order (parents first); seeds are slotted in after their parent.
    creates: Vec<Change>,
    updates: Vec<Change>,
    acls: Vec<Change>,
    notes: Vec<Note>,
    /// Declared nodes this plan creates.
    created: HashSet<&'a str>,
    /// Missing ancestors nobody declared, created empty.
    implicit: BTreeSet<ZPath>,
    /// Nodes no owner may prune: orphans, a moved root's nodes, a kept owner's nodes.
    protected: BTreeSet<&'a ZPath>,
    /// Delete candidates by path: the owner that deletes it, and whether it is observed.
    delete_set: BTreeMap<ZPath, (Owner, bool, &'a LiveNode)>,
    /// Deletes, children first.
    deletes: Vec<Change>,
    /// The paths `deletes` removes.
    deleted: BTreeSet<ZPath>,
    kept_owners: Vec<KeptOwner>,
    orphaned: BTreeMap<Owner, Vec<ZPath>>,
    adopted: Vec<Adopted>,
}

impl<'a> Planning<'a> {
    /// The roots this plan acts on: every declared root, host-scoped ones only without
    /// `skip_host_scoped`; a root is observed in `mode: observe` or with `observe_all`
    /// (docs/design.md "Planning").
    fn new(
        desired: &'a DesiredState,
        data: &'a HashMap<ZPath, Vec<u8>>,
        live: &'a LiveTree,
        inventory: &'a Inventory,
        opts: &'a Options,
    ) -> Self {
        let roots = desired
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
        Planning {
            desired,
            data,
            live,
            inventory,
            opts,
            roots,
            creates: Vec::new(),
            updates: Vec::new(),
            acls: Vec::new(),
            notes: Vec::new(),
            created: HashSet::new(),
            implicit: BTreeSet::new(),
            protected: BTreeSet::new(),
            delete_set: BTreeMap::new(),
            deletes: Vec::new(),
            deleted: BTreeSet::new(),
            kept_owners: Vec::new(),
            orphaned: BTreeMap::new(),
            adopted: Vec::new(),
        }
    }

    /// True when an `ignore` pattern of a root this plan acts on matches `path`.
    fn ignored(&self, path: &ZPath) -> bool {
        self.roots.values().any(|r| r.ignores(path))
    }

    /// True when the manifest set declares `owner` (host-scoped or not).
    fn declared(&self, owner: &Owner) -> bool {
        self.desired.roots.iter().any(|r| &r.owner == owner)
    }

    /// True when a recorded owner that the manifest set lacks is kept: without `prune_removed`,
    /// or when its last recorded `prune` was off (docs/contract.md §3 "Only what it was given").
    fn keeps_removed(&self, inv: &OwnerInventory) -> bool {
        !self.opts.prune_removed || inv.prune == Prune::Off
    }

    /// Pairing: walks the declared and the live nodes together and plans, for each declared
    /// node of a root this plan acts on, a create when it is missing, or an update and an ACL
    /// change when it differs.
    fn pair(&mut self) {
        let (desired, data, live) = (self.desired, self.data, self.live);
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
            let Some(info) = self.roots.get(&want.owner) else {
                continue;
            };
            if self.ignored(path) {
                continue;
            }
            let observe = info.observe;
            let want_data = if data.is_empty() {
                &want.data
            } else {
                data.get(path).unwrap_or(&want.data)
            };
            match have_here {
                None => self.create(path, want, want_data, observe),
                Some(have) => self.update(path, want, want_data, have, observe),
            }
        }
    }

    /// The create of a missing declared node, after its missing ancestors that nobody declared
    /// (defensive: those are created empty first, docs/design.md "Planning").
    fn create(&mut self, path: &'a ZPath, want: &DesiredNode, data: &[u8], observe: bool) {
        let live = self.live;
        // Ancestors as slices of the path: usually the parent exists or was just planned, and
        // nothing is built to find that out.
        let mut missing: Vec<ZPath> = Vec::new();
        let mut cur = path.as_str();
        while let Some(i) = cur.rfind('/').filter(|i| *i > 0) {
            cur = &cur[..i];
            if live.nodes.contains_key(cur)
                || self.created.contains(cur)
                || self.implicit.contains(cur)
            {
                break;
            }
            if let Ok(a) = ZPath::parse(cur) {
                missing.push(a);
            }
        }
        missing.reverse();
        for a in missing {
            self.creates.push(Change::Create {
                at: target(&a, &want.owner, observe),
                data: Vec::new(),
                secret: false,
                mode: CreateKind::Persistent,
                acl: vec![AclEntry::open()],
            });
            self.implicit.insert(a);
        }
        self.creates.push(Change::Create {
            at: target(path, &want.owner, observe),
            data: data.to_vec(),
            secret: want.secret,
            mode: match want.mode {
                NodeMode::Persistent => CreateKind::Persistent,
                NodeMode::Container => CreateKind::Container,
                NodeMode::Ephemeral => CreateKind::Ephemeral,
            },
            acl: want.acl.clone().unwrap_or_else(|| vec![AclEntry::open()]),
        });
        self.created.insert(path.as_str());
    }

    /// The changes of a declared node that exists: an update when its enforced data differs, an
    /// ACL change when its declared ACL differs (not for `create-only`). An ephemeral node of
    /// another session where a persistent one is declared is left alone, with a note.
    fn update(
        &mut self,
        path: &ZPath,
        want: &DesiredNode,
        data: &[u8],
        have: &LiveNode,
        observe: bool,
    ) {
        if have.is_ephemeral() && want.mode != NodeMode::Ephemeral {
            self.notes.push(Note {
                path: path.to_string(),
                message: "declared persistent but an ephemeral node of another session is there; left alone".into(),
            });
            return;
        }
        if want.policy == DataPolicy::Enforce && have.data != data {
            self.updates.push(Change::Update {
                at: target(path, &want.owner, observe),
                before: have.data.clone(),
                after: data.to_vec(),
                secret: want.secret,
                version: have.version,
            });
        }
        if let (Some(want_acl), Some(have_acl)) = (&want.acl, &have.acl)
            && want.policy != DataPolicy::CreateOnly
            && acl_sorted(want_acl) != acl_sorted(have_acl)
        {
            self.acls.push(Change::Acl {
                at: target(path, &want.owner, observe),
                before: have_acl.clone(),
                after: want_acl.clone(),
                aversion: have.aversion,
            });
        }
    }

    /// Seeds: a queue seed whose parent this plan creates rides right after that create, in the
    /// same transaction (docs/design.md "Planning").
    fn seed(&mut self) {
        let desired = self.desired;
        let mut seeds_by_parent: BTreeMap<&ZPath, Vec<Change>> = BTreeMap::new();
        for seed in &desired.seeds {
            if !self.created.contains(seed.parent.as_str()) {
                continue;
            }
            let Some(info) = self.roots.get(&seed.owner) else {
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
        let creates = std::mem::take(&mut self.creates);
        self.creates.reserve(creates.len());
        for c in creates {
            let seeds = seeds_by_parent.remove(&c.at().path);
            self.creates.push(c);
            if let Some(s) = seeds {
                self.creates.extend(s);
            }
        }
    }

    /// Protection: nodes no root may prune, never delete candidates (docs/contract.md §3
    /// "Moving a root", "Only what it was given"): orphans, what an owner applied under an
    /// earlier root, and a kept owner's nodes (`prune: exclusive` on an enclosing root included).
    fn protect(&mut self) {
        let inventory = self.inventory;
        self.protected = inventory
            .owners
            .values()
            .flat_map(|o| o.orphaned.iter())
            .collect();
        for info in self.roots.values() {
            if let Some(inv) = inventory.owners.get(&info.root.owner)
                && inv.root != info.root.root
            {
                self.protected.extend(inv.paths.iter());
            }
        }
        for (owner, inv) in &inventory.owners {
            if !self.declared(owner) && self.keeps_removed(inv) {
                self.protected.extend(inv.paths.iter());
            }
        }
    }

    /// Delete candidates per root with `prune` on (docs/design.md "Ownership inventory"): its
    /// recorded nodes inside it (none when the root moved), and with `prune: exclusive` every
    /// live node under it; never the root itself, a declared, ignored or protected node, an
    /// ephemeral node or a sequential child.
    fn prune_roots(&mut self) {
        let (desired, live, inventory) = (self.desired, self.live, self.inventory);
        for info in self.roots.values() {
            let r = info.root;
            if r.prune == Prune::Off {
                continue;
            }
            // Two sorted runs of candidates; declared ones are skipped by walking the declared
            // nodes alongside each run (a merge), not by a lookup per candidate.
            let mut candidates: Vec<&ZPath> = Vec::new();
            if let Some(inv) = inventory.owners.get(&r.owner)
                && inv.root == r.root
            {
                candidates.extend(not_declared(
                    desired,
                    inv.paths.iter().filter(|p| p.is_within(&r.root)),
                ));
            }
            if r.prune == Prune::Exclusive {
                // Byte order puts `/c-x` and `/c.x` between `/c` and `/c/...`: walk the whole
                // prefix, keep what is inside the root.
                candidates.extend(not_declared(
                    desired,
                    live.nodes
                        .range(r.root.clone()..)
                        .take_while(|(p, _)| p.as_str().starts_with(r.root.as_str()))
                        .filter(|(p, _)| p.is_within(&r.root))
                        .map(|(p, _)| p),
                ));
            }
            // Two sorted runs: one merge makes them one.
            candidates.sort();
            candidates.dedup();
            for (p, node) in present(live, candidates) {
                if *p == r.root || self.ignored(p) || self.protected.contains(p) {
                    continue;
                }
                if node.is_ephemeral() || is_sequential_name(p.name()) {
                    continue;
                }
                self.delete_set
                    .insert(p.clone(), (r.owner.clone(), info.observe, node));
            }
        }
    }

    /// Removed owners, recorded but not in the manifest set (docs/contract.md §3 "Only what it
    /// was given"): kept and reported, unless `prune_removed` and their last recorded `prune`
    /// was on; then their recorded nodes inside their recorded root are delete candidates
    /// (never a declared, ignored, protected or ephemeral node).
    fn prune_removed_owners(&mut self) {
        let (desired, live, inventory) = (self.desired, self.live, self.inventory);
        for (owner, inv) in &inventory.owners {
            if self.declared(owner) {
                continue;
            }
            if self.keeps_removed(inv) {
                self.kept_owners.push(KeptOwner {
                    owner: owner.clone(),
                    root: inv.root.clone(),
                    nodes: inv.paths.len() + inv.orphaned.len(),
                    prune: inv.prune,
                });
                continue;
            }
            let undeclared = not_declared(desired, inv.paths.iter());
            for (p, node) in present(live, undeclared) {
                if !p.is_within(&inv.root)
                    || self.ignored(p)
                    || self.protected.contains(p)
                    || node.is_ephemeral()
                {
                    continue;
                }
                self.delete_set
                    .insert(p.clone(), (owner.clone(), self.opts.observe_all, node));
            }
        }
    }

    /// Children-first deletes (reverse path order, docs/design.md "Planning"): a candidate
    /// that still has a live child not deleted too keeps living, with a note.
    fn order_deletes(&mut self) {
        let delete_set = std::mem::take(&mut self.delete_set);
        // Reverse path order meets every child before its parent: a parent is free to go when
        // as many of its children were deleted as it has (counted by parent, no path built),
        // and only a blocked one looks for the child that stays.
        let mut gone: HashSet<&str> = HashSet::with_capacity(delete_set.len());
        let mut gone_children: HashMap<&str, usize> = HashMap::new();
        let mut deleted: Vec<ZPath> = Vec::with_capacity(delete_set.len());
        for (p, (owner, observe, node)) in delete_set.iter().rev() {
            let all_gone =
                gone_children.get(p.as_str()).copied().unwrap_or(0) == node.children.len();
            if !all_gone {
                let child = node
                    .children
                    .iter()
                    .map(|c| p.child(c))
                    .find(|c| !gone.contains(c.as_str()));
                if let Some(child) = child {
                    self.notes.push(Note {
                        path: p.to_string(),
                        message: format!(
                            "not pruned: it still has a child zkstate does not delete ({child})"
                        ),
                    });
                    continue;
                }
            }
            gone.insert(p.as_str());
            if let Some(i) = p.as_str().rfind('/') {
                let parent = if i == 0 { "/" } else { &p.as_str()[..i] };
                *gone_children.entry(parent).or_default() += 1;
            }
            deleted.push(p.clone());
            self.deletes.push(Change::Delete {
                at: target(p, owner, *observe),
                version: node.version,
                size: node.data.len(),
            });
        }
        deleted.reverse();
        self.deleted = deleted.into_iter().collect();
    }

    /// The inventory after this plan (docs/design.md "Ownership inventory"): a new record for
    /// each enforced, not host-scoped root this plan acts on, and removed owners' records
    /// without what this plan deletes.
    fn new_inventory(&mut self) -> Inventory {
        let recorded: Vec<&'a ManagedRoot> = self
            .roots
            .values()
            .filter(|info| !(info.root.host_scoped || info.observe))
            .map(|info| info.root)
            .collect();
        // Records this plan rewrites are not copied first.
        let mut new_inv = Inventory {
            owners: self
                .inventory
                .owners
                .iter()
                .filter(|(o, _)| !recorded.iter().any(|r| r.owner == **o))
                .map(|(o, inv)| (o.clone(), inv.clone()))
                .collect(),
        };
        for r in recorded {
            let record = self.record_root(r);
            new_inv.owners.insert(r.owner.clone(), record);
        }
        self.forget_removed_owners(&mut new_inv);
        new_inv
    }

    /// One root's record after this plan: its declared nodes (not `create-only`, ephemeral or
    /// ignored; parents only when this plan creates them or the record holds them), recorded
    /// nodes it no longer declares that still live (prune off, or blocked), and orphans: what
    /// the record held under an earlier root or outside this one (docs/contract.md §3 "Moving a
    /// root"). Also notes its orphans and the nodes it adopts.
    fn record_root(&mut self, r: &'a ManagedRoot) -> OwnerInventory {
        let (desired, live) = (self.desired, self.live);
        let old = self.inventory.owners.get(&r.owner);
        let mut paths: BTreeSet<ZPath> = desired
            .nodes
            .iter()
            .filter(|(p, n)| {
                n.owner == r.owner
                    && p.is_within(&r.root)
                    && n.policy != DataPolicy::CreateOnly
                    && n.mode != NodeMode::Ephemeral
                    && !self.ignored(p)
                    && (n.policy != DataPolicy::Parent
                        || self.created.contains(p.as_str())
                        || old.is_some_and(|o| o.paths.contains(*p)))
            })
            .map(|(p, _)| p.clone())
            .collect();
        let mut orphans: BTreeSet<ZPath> = BTreeSet::new();
        if let Some(old) = old {
            let moved = old.root != r.root;
            // Both sets are sorted: `difference` merges them.
            let mut still: Vec<ZPath> = Vec::new();
            for p in old.paths.difference(&paths) {
                if moved || !p.is_within(&r.root) {
                    // Moved root: never deleted, kept on record and reported.
                    orphans.insert(p.clone());
                } else if !self.deleted.contains(p)
                    && live.nodes.contains_key(p)
                    && !desired.nodes.contains_key(p)
                {
                    // Still there (prune off or blocked): stays on record.
                    still.push(p.clone());
                }
            }
            paths.extend(still);
            // Declared again: owned again; else stays orphaned.
            orphans.extend(old.orphaned.iter().filter(|p| !paths.contains(*p)).cloned());
        }
        self.adopt(r, old, &paths);
        if !orphans.is_empty() {
            self.orphaned
                .insert(r.owner.clone(), orphans.iter().cloned().collect());
        }
        OwnerInventory {
            root: r.root.clone(),
            prune: r.prune,
            paths,
            orphaned: orphans,
            recipe: desired.recipes.get(&r.owner).cloned(),
        }
    }

    /// Adoption (docs/design.md "Ownership inventory"): declared data nodes in a root's new
    /// record that exist but that neither this plan creates nor its old record holds.
    fn adopt(&mut self, r: &ManagedRoot, old: Option<&OwnerInventory>, paths: &BTreeSet<ZPath>) {
        let (desired, live) = (self.desired, self.live);
        let empty = BTreeSet::new();
        // Both sets are sorted: `difference` merges them.
        for p in paths.difference(old.map_or(&empty, |o| &o.paths)) {
            if !self.created.contains(p.as_str())
                && live.nodes.contains_key(p)
                && desired
                    .nodes
                    .get(p)
                    .is_some_and(|n| n.policy != DataPolicy::Parent)
            {
                self.adopted.push(Adopted {
                    path: p.clone(),
                    owner: r.owner.clone(),
                });
            }
        }
    }

    /// Removed owners' records lose the nodes this plan deletes, and go once nothing of them is
    /// left (docs/contract.md §3 "Only what it was given"); with `observe_all` they stay as read.
    fn forget_removed_owners(&self, new_inv: &mut Inventory) {
        for (owner, inv) in &self.inventory.owners {
            if self.roots.contains_key(owner) || self.declared(owner) {
                continue;
            }
            if self.opts.observe_all {
                continue;
            }
            let left: BTreeSet<ZPath> = inv
                .paths
                .iter()
                .filter(|p| !self.deleted.contains(*p))
                .cloned()
                .collect();
            if left.is_empty() && inv.orphaned.is_empty() {
                new_inv.owners.remove(owner);
            } else if let Some(o) = new_inv.owners.get_mut(owner) {
                o.paths = left;
            }
        }
    }

    /// Assembling: the changes in execution order (creates with their seeds, updates, deletes,
    /// then ACL changes, docs/design.md "Planning"), the new inventory and what was reported.
    fn into_plan(self, inventory: Inventory) -> Plan {
        let mut changes = self.creates;
        changes.extend(self.updates);
        changes.extend(self.deletes);
        changes.extend(self.acls);
        let inventory_changed = inventory != *self.inventory;
        Plan {
            changes,
            inventory,
            inventory_changed,
            orphaned: self.orphaned,
            kept_owners: self.kept_owners,
            adopted: self.adopted,
            notes: self.notes,
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;
