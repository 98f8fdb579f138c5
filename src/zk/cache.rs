//! The leader's live cache, a reflector of the managed subtrees (docs/agent.md, "The live
//! cache"). A full read fills it; from then on the paths that the leader's persistent recursive
//! watches name are re-read and folded in, and a pass plans against it instead of reading the
//! whole tree again.
//!
//! It keeps, per node, the stat fields the planner uses and a keyed 64-bit digest of the data,
//! never the bytes. When a pass asks for a [`LiveTree`], a node whose digest equals the desired
//! data's is given the desired bytes; every other node (drifted, undeclared, an implicit
//! parent, a node outside the watched roots) is read from ZooKeeper in the same pass, so the
//! plan only ever carries bytes and versions that were read. A stale entry can therefore only
//! make a fenced, version-checked multi fail, and a failed multi re-reads everything.
//!
//! The cache trusts its entries only while the watches that fed it are the ones in force: the
//! agent keys it by session and watch set ([`LiveCache::key`]) and drops it on any change, and
//! [`LiveCache::invalidate`] (lost events, a stale answer) makes the next pass read in full.
use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;

use zookeeper_client as zk;

use super::ZkError;
use super::snapshot::{Areas, read_nodes};
use crate::model::{DesiredState, LiveNode, LiveTree, ZPath};
use crate::plan::CreateKind;
use crate::records::WriteOp;

/// Most dirty paths kept between passes; more (a bulk change) make the next pass read in full.
pub const MAX_DIRTY: usize = 10_000;

/// Most nodes one refresh reads (children found on the way included) before it gives up and
/// leaves the cache to a full read.
const MAX_REFRESH: usize = 20_000;

/// One node as the cache keeps it: what the planner compares, without the data (16 bytes).
/// `aversion` is not kept (declared ACLs are read each pass, with their `aversion`), and the
/// few ephemeral nodes' owners are kept beside ([`LiveCache`]'s `ephemerals`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachedNode {
    /// Keyed digest of the data ([`LiveCache::digest`]).
    pub digest: u64,
    pub version: i32,
    pub cversion: i32,
}

/// Which session and which watches fed a cache; any change voids it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheKey {
    /// The agent's session generation.
    pub session: u64,
    /// Bumped by the agent every time its watch set changes.
    pub watches: u64,
    /// The persistent recursive watches in force: only nodes inside them are cached.
    pub roots: Vec<ZPath>,
}

/// Counters of the cache's work, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Nodes re-read because a watch event named them (or a listing showed them).
    pub refreshed: usize,
    /// Nodes read while building a pass's tree (drifted, undeclared, outside the watches).
    pub verified: usize,
}

/// The reflector. See the module docs.
#[derive(Debug)]
pub struct LiveCache {
    key: CacheKey,
    /// What the last full read covered; `None` until filled and after [`Self::invalidate`].
    areas: Option<Areas>,
    nodes: BTreeMap<ZPath, CachedNode>,
    /// `ephemeralOwner` of the cached ephemeral nodes.
    ephemerals: BTreeMap<ZPath, i64>,
    dirty: BTreeSet<ZPath>,
    keys: RandomState,
    stats: CacheStats,
}

impl LiveCache {
    /// An empty cache for the session and watches of `key`.
    pub fn new(key: CacheKey) -> Self {
        LiveCache {
            key,
            areas: None,
            nodes: BTreeMap::new(),
            ephemerals: BTreeMap::new(),
            dirty: BTreeSet::new(),
            keys: RandomState::new(),
            stats: CacheStats::default(),
        }
    }

    pub fn key(&self) -> &CacheKey {
        &self.key
    }

    /// Nodes held.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether a full read filled it and nothing voided it since.
    pub fn is_filled(&self) -> bool {
        self.areas.is_some()
    }

    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// The digest the cache compares data by: SipHash with this process's random keys, so
    /// nobody who writes to the tree can choose data that collides with the declared bytes.
    pub fn digest(&self, data: &[u8]) -> u64 {
        self.keys.hash_one(data)
    }

    /// Drops every entry: the next pass reads in full and fills it again.
    pub fn invalidate(&mut self) {
        self.areas = None;
        self.nodes = BTreeMap::new();
        self.ephemerals = BTreeMap::new();
        self.dirty = BTreeSet::new();
    }

    fn watched(&self, p: &ZPath) -> bool {
        self.key.roots.iter().any(|r| p.is_within(r))
    }

    /// Takes the nodes a full read found (`live`, read for `areas`) as the new contents. Only
    /// nodes inside the watched roots are kept; paths named before this read are forgotten
    /// (the read is newer than their events).
    pub fn fill(&mut self, areas: &Areas, live: &LiveTree, desired: &DesiredState) {
        // Keys are shared with the declared nodes where they are the same path (a clone of a
        // `ZPath` is a reference count): one merge walk, both maps being sorted.
        let mut declared = desired.nodes.keys().peekable();
        let nodes: BTreeMap<ZPath, CachedNode> = live
            .nodes
            .iter()
            .filter(|(p, _)| self.watched(p))
            .map(|(p, n)| {
                while declared.next_if(|k| *k < p).is_some() {}
                let key = declared.peek().filter(|k| **k == p).unwrap_or(&p);
                ((*key).clone(), self.entry(n))
            })
            .collect();
        self.nodes = nodes;
        self.ephemerals = live
            .nodes
            .iter()
            .filter(|(p, n)| n.ephemeral_owner != 0 && self.watched(p))
            .map(|(p, n)| (p.clone(), n.ephemeral_owner))
            .collect();
        self.dirty.clear();
        self.areas = Some(areas.clone());
    }

    fn entry(&self, n: &LiveNode) -> CachedNode {
        CachedNode {
            digest: self.digest(&n.data),
            version: n.version,
            cversion: n.cversion,
        }
    }

    /// Puts what a read of `p` gave.
    fn put(&mut self, p: &ZPath, n: &LiveNode) {
        if n.ephemeral_owner != 0 {
            self.ephemerals.insert(p.clone(), n.ephemeral_owner);
        } else {
            self.ephemerals.remove(p);
        }
        self.nodes.insert(p.clone(), self.entry(n));
    }

    /// Forgets `p` and everything below it.
    fn forget(&mut self, p: &ZPath) {
        remove_subtree(&mut self.nodes, p);
        let gone: Vec<ZPath> = self
            .ephemerals
            .keys()
            .filter(|k| k.is_within(p))
            .cloned()
            .collect();
        for k in gone {
            self.ephemerals.remove(&k);
        }
    }

    /// Records paths that watch events named since the last pass; they are re-read by the next
    /// [`Self::refresh`]. Too many at once void the cache.
    pub fn mark<I: IntoIterator<Item = ZPath>>(&mut self, paths: I) {
        if !self.is_filled() {
            return;
        }
        for p in paths {
            // The parent too: a child created or deleted changes its `cversion` and its list of
            // children, and the watch names only the child.
            if let Some(parent) = p.parent()
                && self.watched(&parent)
            {
                self.dirty.insert(parent);
            }
            if self.watched(&p) {
                self.dirty.insert(p);
            }
        }
        if self.dirty.len() > MAX_DIRTY {
            tracing::debug!(
                dirty = self.dirty.len(),
                "too many changed paths; the next pass reads in full"
            );
            self.invalidate();
        }
    }

    /// Folds in what a committed multi wrote, so the pass after our own commit finds the cache
    /// current before the commit's own watch events arrive (they still mark the paths, and the
    /// refresh then reads what is already known). Writes whose result the cache cannot know
    /// (sequential and ephemeral creates, unconditional sets) mark the paths for a refresh.
    pub fn committed(&mut self, ops: &[WriteOp]) {
        if !self.is_filled() {
            return;
        }
        for op in ops {
            let p = op.zpath().clone();
            if !self.watched(&p) {
                continue;
            }
            match op {
                WriteOp::Create {
                    data,
                    mode: CreateKind::Persistent | CreateKind::Container,
                    ..
                } => {
                    let entry = CachedNode {
                        digest: self.digest(data),
                        version: 0,
                        cversion: 0,
                    };
                    self.nodes.insert(p.clone(), entry);
                    self.child_changed(&p);
                }
                WriteOp::Set { data, version, .. } if *version >= 0 => {
                    let digest = self.digest(data);
                    match self.nodes.get_mut(&p) {
                        Some(n) if n.version == *version => {
                            n.digest = digest;
                            n.version = version.wrapping_add(1);
                        }
                        _ => {
                            self.dirty.insert(p);
                        }
                    }
                }
                WriteOp::Delete { .. } => {
                    self.forget(&p);
                    self.child_changed(&p);
                }
                _ => {
                    if let Some(parent) = p.parent() {
                        self.dirty.insert(parent);
                    }
                    self.dirty.insert(p);
                }
            }
        }
    }

    /// A child of `p`'s parent was created or deleted: the parent's `cversion` moved by one.
    fn child_changed(&mut self, p: &ZPath) {
        if let Some(n) = p.parent().and_then(|parent| self.nodes.get_mut(&parent)) {
            n.cversion = n.cversion.wrapping_add(1);
        }
    }

    /// Whether a pass over `areas` can plan from the cache: filled, and every subtree it needs
    /// is inside both the filled areas and the watched roots.
    pub fn covers(&self, areas: &Areas) -> bool {
        self.areas.as_ref().is_some_and(|a| a.covers(areas))
            && areas.subtrees.iter().all(|s| self.watched(s))
    }

    /// Re-reads the dirty paths and folds the answers in: a node read is updated, a node gone is
    /// removed with its subtree, children a listing names that the cache lacks are read too,
    /// and cached children the listing lacks are removed. Gives up (and invalidates) after
    /// [`MAX_REFRESH`] reads.
    ///
    /// # Errors
    /// Reading failed; the cache is invalidated.
    pub async fn refresh(&mut self, client: &zk::Client) -> Result<(), ZkError> {
        let mut budget = MAX_REFRESH;
        while !self.dirty.is_empty() && self.is_filled() {
            let paths: Vec<ZPath> = std::mem::take(&mut self.dirty).into_iter().collect();
            if paths.len() > budget {
                self.invalidate();
                return Ok(());
            }
            budget -= paths.len();
            self.stats.refreshed += paths.len();
            let read = match read_nodes(client, &paths).await {
                Ok(r) => r,
                Err(e) => {
                    self.invalidate();
                    return Err(e);
                }
            };
            let found = fold(self, &paths, read);
            self.dirty.extend(found);
        }
        Ok(())
    }

    /// The tree a pass plans `desired` against, for `areas` (which [`Self::covers`] must
    /// accept). Nodes whose digest matches the desired data get its bytes; the others, and the
    /// single nodes outside the watched roots, are read now. `Ok(None)` when a read shows the
    /// cache was stale (it is invalidated): the caller reads in full.
    ///
    /// # Errors
    /// Reading failed; the cache is invalidated.
    pub async fn tree(
        &mut self,
        client: &zk::Client,
        desired: &DesiredState,
        areas: &Areas,
    ) -> Result<Option<LiveTree>, ZkError> {
        // Cached nodes in the areas, each with the declared bytes when its digest matches them.
        // Both maps are sorted: one merge walk, no lookup per node.
        let mut slots: Vec<(&ZPath, &CachedNode, Option<&Vec<u8>>)> = Vec::new();
        let mut verify: Vec<ZPath> = areas
            .nodes
            .iter()
            .filter(|p| !self.watched(p))
            .cloned()
            .collect();
        for root in outermost(&areas.subtrees) {
            let mut declared = desired.nodes.range(root.clone()..).peekable();
            for (p, c) in subtree(&self.nodes, root) {
                while declared.next_if(|(k, _)| *k < p).is_some() {}
                let same = declared
                    .peek()
                    .filter(|(k, d)| *k == p && self.digest(&d.data) == c.digest)
                    .map(|(_, d)| &d.data);
                if same.is_none() {
                    verify.push(p.clone());
                }
                slots.push((p, c, same));
            }
        }
        self.stats.verified += verify.len();
        let read = read_nodes(client, &verify).await;
        let Ok(read) = read else {
            self.invalidate();
            return read.map(|_| None);
        };
        let fresh: BTreeMap<ZPath, LiveNode> = read.into_iter().collect();
        // A verified node that changed or vanished since its entry was made means events are
        // still on their way: plan from a full read instead.
        let behind = verify.iter().filter(|p| self.watched(p)).find(|p| {
            match (self.nodes.get(*p), fresh.get(*p)) {
                (Some(c), Some(n)) => c.version != n.version || c.cversion != n.cversion,
                _ => true,
            }
        });
        if let Some(p) = behind {
            tracing::debug!(path = %p, "the live cache was behind; reading in full");
            self.invalidate();
            return Ok(None);
        }
        // Nodes not read in this pass carry no child names: the planner consults children only
        // of nodes it may delete, and those are undeclared, so never given the declared bytes,
        // so always read (with their children).
        let mut fresh = fresh.into_iter().peekable();
        let mut tree: Vec<(ZPath, LiveNode)> = Vec::with_capacity(slots.len() + 16);
        for (p, c, same) in slots {
            while let Some(f) = fresh.next_if(|(k, _)| k < p) {
                tree.push(f);
            }
            if let Some(f) = fresh.next_if(|(k, _)| k == p) {
                tree.push(f);
                continue;
            }
            let node = LiveNode {
                data: same.cloned().unwrap_or_default(),
                version: c.version,
                cversion: c.cversion,
                aversion: 0,
                ephemeral_owner: self.ephemerals.get(p).copied().unwrap_or(0),
                acl: None,
                children: Vec::new(),
            };
            tree.push((p.clone(), node));
        }
        tree.extend(fresh);
        // Runs from several roots and the singles: sorting merges them.
        tree.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Some(LiveTree {
            nodes: tree.into_iter().collect(),
        }))
    }
}

/// The subtrees of `set` that no other one contains.
fn outermost(set: &BTreeSet<ZPath>) -> Vec<&ZPath> {
    set.iter()
        .filter(|s| !set.iter().any(|o| o != *s && s.is_within(o)))
        .collect()
}

/// Folds the answers to a refresh of `asked` into the cache; returns children the listings
/// named that the cache did not hold (to be read next). Pure: the unit tests drive it.
fn fold(cache: &mut LiveCache, asked: &[ZPath], read: Vec<(ZPath, LiveNode)>) -> BTreeSet<ZPath> {
    let mut read: BTreeMap<ZPath, LiveNode> = read.into_iter().collect();
    let mut missing = BTreeSet::new();
    for p in asked {
        match read.remove(p) {
            Some(n) => {
                let listed: BTreeSet<&str> = n.children.iter().map(String::as_str).collect();
                let held: Vec<ZPath> = direct_children(&cache.nodes, p);
                for c in held {
                    if !listed.contains(c.name()) {
                        cache.forget(&c);
                    }
                }
                for name in &n.children {
                    let c = p.child(name);
                    if !cache.nodes.contains_key(&c) {
                        missing.insert(c);
                    }
                }
                cache.put(p, &n);
            }
            None => cache.forget(p),
        }
    }
    missing
}

/// `root` and every cached node below it, in path order. Byte order puts siblings that
/// extend the root's name (`/a-b`, `/a.b`) between `/a` and `/a/x`, so the walk runs over the
/// whole prefix and skips those.
fn subtree<'a>(
    nodes: &'a BTreeMap<ZPath, CachedNode>,
    root: &'a ZPath,
) -> impl Iterator<Item = (&'a ZPath, &'a CachedNode)> + 'a {
    nodes
        .range(root.clone()..)
        .take_while(move |(k, _)| k.as_str().starts_with(root.as_str()))
        .filter(move |(k, _)| k.is_within(root))
}

/// The cached children of `p`.
fn direct_children(nodes: &BTreeMap<ZPath, CachedNode>, p: &ZPath) -> Vec<ZPath> {
    subtree(nodes, p)
        .filter(|(k, _)| k.parent().as_ref() == Some(p))
        .map(|(k, _)| k.clone())
        .collect()
}

fn remove_subtree(nodes: &mut BTreeMap<ZPath, CachedNode>, p: &ZPath) {
    let gone: Vec<ZPath> = subtree(nodes, p).map(|(k, _)| k.clone()).collect();
    for k in gone {
        nodes.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ZPath {
        ZPath::parse(s).unwrap()
    }

    fn node(data: &str, version: i32, children: &[&str]) -> LiveNode {
        LiveNode {
            data: data.as_bytes().to_vec(),
            version,
            children: children.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }
    }

    fn filled() -> LiveCache {
        let mut c = LiveCache::new(CacheKey {
            session: 1,
            watches: 1,
            roots: vec![p("/app")],
        });
        let mut live = LiveTree::default();
        live.nodes.insert(p("/"), node("", 0, &["app"]));
        live.nodes.insert(p("/app"), node("", 0, &["a", "a-b"]));
        live.nodes.insert(p("/app/a"), node("x", 1, &["deep"]));
        live.nodes.insert(p("/app/a/deep"), node("d", 0, &[]));
        live.nodes.insert(p("/app/a-b"), node("y", 2, &[]));
        let mut areas = Areas::default();
        areas.subtrees.insert(p("/app"));
        areas.nodes.insert(p("/"));
        c.fill(&areas, &live, &DesiredState::default());
        c
    }

    #[test]
    fn a_fill_keeps_only_the_watched_nodes_and_their_digests() {
        let c = filled();
        assert_eq!(c.len(), 4, "the root / is outside the watched roots");
        assert_eq!(c.nodes[&p("/app/a")].digest, c.digest(b"x"));
        assert_eq!(c.nodes[&p("/app/a")].version, 1);
    }

    #[test]
    fn a_refresh_updates_removes_subtrees_and_finds_new_children() {
        let mut c = filled();
        // /app/a lost its child and changed; /app gained /app/new; /app/a-b is gone.
        let found = fold(
            &mut c,
            &[p("/app/a"), p("/app"), p("/app/a-b")],
            vec![
                (p("/app/a"), node("x2", 2, &[])),
                (p("/app"), node("", 0, &["a", "new"])),
            ],
        );
        assert_eq!(found, BTreeSet::from([p("/app/new")]));
        assert!(!c.nodes.contains_key(&p("/app/a/deep")));
        assert!(!c.nodes.contains_key(&p("/app/a-b")));
        assert_eq!(c.nodes[&p("/app/a")].digest, c.digest(b"x2"));
        assert_eq!(c.nodes[&p("/app/a")].version, 2);
    }

    #[test]
    fn removing_a_subtree_keeps_siblings_that_share_its_prefix() {
        let mut c = filled();
        remove_subtree(&mut c.nodes, &p("/app/a"));
        assert!(c.nodes.contains_key(&p("/app/a-b")));
        assert!(!c.nodes.contains_key(&p("/app/a")));
        assert!(!c.nodes.contains_key(&p("/app/a/deep")));
    }

    #[test]
    fn too_many_dirty_paths_void_the_cache_and_paths_outside_are_ignored() {
        let mut c = filled();
        c.mark([p("/elsewhere/x")]);
        assert!(c.dirty.is_empty());
        c.mark((0..=MAX_DIRTY).map(|i| p(&format!("/app/n{i}"))));
        assert!(!c.is_filled());
        assert!(c.is_empty());
    }

    #[test]
    fn a_commit_is_folded_in_with_the_versions_the_server_gives() {
        let mut c = filled();
        c.committed(&[
            WriteOp::Set {
                path: p("/app/a"),
                data: b"new".to_vec(),
                version: 1,
            },
            WriteOp::Create {
                path: p("/app/c"),
                data: b"c".to_vec(),
                mode: CreateKind::Persistent,
                acl: Vec::new(),
            },
            WriteOp::Delete {
                path: p("/app/a-b"),
                version: 2,
            },
            WriteOp::Create {
                path: p("/app/q-"),
                data: Vec::new(),
                mode: CreateKind::PersistentSequential,
                acl: Vec::new(),
            },
            WriteOp::Set {
                path: p("/zkstate/applied"),
                data: Vec::new(),
                version: 3,
            },
        ]);
        assert_eq!(c.nodes[&p("/app/a")].version, 2);
        assert_eq!(c.nodes[&p("/app/a")].digest, c.digest(b"new"));
        assert_eq!(c.nodes[&p("/app/c")].version, 0);
        assert!(!c.nodes.contains_key(&p("/app/a-b")));
        assert_eq!(c.nodes[&p("/app")].cversion, 2, "one create, one delete");
        // The sequential create's name is the server's: its parent is re-read.
        assert!(c.dirty.contains(&p("/app")));
        assert!(!c.nodes.contains_key(&p("/zkstate/applied")));
    }

    #[test]
    fn cover_needs_the_filled_areas_and_the_watches() {
        let c = filled();
        let mut want = Areas::default();
        want.subtrees.insert(p("/app/a"));
        assert!(c.covers(&want));
        want.subtrees.insert(p("/other"));
        assert!(!c.covers(&want));
    }
}
