use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use super::{AclEntry, ZPath};

/// The manifest kinds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize)]
pub enum Kind {
    ConfigTree,
    Service,
    Queue,
    ElectionGroup,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ConfigTree => "ConfigTree",
            Kind::Service => "Service",
            Kind::Queue => "Queue",
            Kind::ElectionGroup => "ElectionGroup",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "ConfigTree" => Kind::ConfigTree,
            "Service" => Kind::Service,
            "Queue" => Kind::Queue,
            "ElectionGroup" => Kind::ElectionGroup,
            _ => return None,
        })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which manifest document a znode belongs to: `(kind, metadata.name)`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Owner {
    pub kind: Kind,
    /// Shared: every node of a document carries its owner, and a clone is a reference count.
    pub name: Arc<str>,
}

impl Owner {
    pub fn new(kind: Kind, name: impl Into<Arc<str>>) -> Self {
        Owner {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// How zkstate treats the data of a desired node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DataPolicy {
    /// Created when missing; data drift is reverted.
    Enforce,
    /// Created when missing, never updated or pruned afterwards (`policy: create-only`).
    CreateOnly,
    /// An implicit parent of declared nodes: created with empty data when missing, its data is
    /// never compared.
    Parent,
}

/// The create mode zkstate uses for a node it creates.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NodeMode {
    Persistent,
    /// A container node (Curator creates its recipe parents as containers).
    Container,
    /// Ephemeral, bound to the session that creates it (host-scoped services; agent only).
    Ephemeral,
}

/// One znode as the manifests declare it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct DesiredNode {
    pub path: ZPath,
    pub data: Vec<u8>,
    /// Secret data: never printed, never logged.
    pub secret: bool,
    pub policy: DataPolicy,
    /// ACL to create with and to enforce; `None` = create with the open ACL and never compare.
    pub acl: Option<Vec<AclEntry>>,
    pub mode: NodeMode,
    pub owner: Owner,
}

/// A sequential child that is created once, in the same transaction that creates its parent
/// (queue seeds). Never updated, never pruned.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SeedItem {
    /// The queue node the item is created under (must be created by the same plan).
    pub parent: ZPath,
    /// Path prefix of the persistent-sequential create, e.g. `/queues/jobs/entry-100-`.
    pub prefix: ZPath,
    pub data: Vec<u8>,
    pub owner: Owner,
}

/// What `prune` does for a managed root.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prune {
    /// Never delete.
    Off,
    /// Delete nodes this owner applied earlier (its inventory) and no longer declares.
    Owned,
    /// Additionally delete every undeclared node under the root.
    Exclusive,
}

/// `mode:` of a managed root.
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Enforce,
    Observe,
}

/// A subtree that one manifest document manages.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ManagedRoot {
    pub owner: Owner,
    pub root: ZPath,
    pub prune: Prune,
    pub mode: Mode,
    /// Globs relative to `root` (`runtime/**`) whose nodes are never compared, written or pruned.
    pub ignore: super::IgnoreMatcher,
    /// Host-scoped resources are kept by the agent for its own session; `apply` skips them.
    pub host_scoped: bool,
}

/// A recipe's node format, parsed once: from the manifest by the loader, from the inventory
/// header by `records`. A spelling this version does not know (an inventory written by a newer
/// zkstate) stays [`RecipeFormat::Unknown`]; readers refuse to interpret it, never guess.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RecipeFormat {
    Kazoo,
    KazooLocking,
    Curator,
    Json,
    Unknown(String),
}

impl Default for RecipeFormat {
    fn default() -> Self {
        RecipeFormat::Unknown(String::new())
    }
}

impl RecipeFormat {
    /// Parses the manifest / inventory spelling; never fails (see [`RecipeFormat::Unknown`]).
    pub fn parse(s: &str) -> Self {
        match s {
            "kazoo" => RecipeFormat::Kazoo,
            "kazoo-locking" => RecipeFormat::KazooLocking,
            "curator" => RecipeFormat::Curator,
            "json" => RecipeFormat::Json,
            other => RecipeFormat::Unknown(other.to_owned()),
        }
    }

    /// The manifest / inventory spelling.
    pub fn as_str(&self) -> &str {
        match self {
            RecipeFormat::Kazoo => "kazoo",
            RecipeFormat::KazooLocking => "kazoo-locking",
            RecipeFormat::Curator => "curator",
            RecipeFormat::Json => "json",
            RecipeFormat::Unknown(s) => s,
        }
    }
}

impl fmt::Display for RecipeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for RecipeFormat {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What `status` needs to read a recipe's nodes back: its format and alert threshold.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct RecipeInfo {
    /// The manifest's `format`.
    pub format: RecipeFormat,
    /// Queues: `alertDepth`.
    pub alert_depth: Option<u64>,
    /// Services: the health check of each instance that has one, by instance id.
    pub checks: BTreeMap<String, super::HealthCheck>,
}

/// Everything a manifest set declares, expanded into znodes. Built by `manifest` + `recipes`.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct DesiredState {
    pub nodes: BTreeMap<ZPath, DesiredNode>,
    pub seeds: Vec<SeedItem>,
    pub roots: Vec<ManagedRoot>,
    /// Format facts of Service / Queue / ElectionGroup owners.
    pub recipes: BTreeMap<Owner, RecipeInfo>,
}

/// One znode as a snapshot read it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct LiveNode {
    pub data: Vec<u8>,
    /// Data version (`Stat.version`).
    pub version: i32,
    /// Child version (`Stat.cversion`), also the next sequence number of sequential children.
    pub cversion: i32,
    /// ACL version (`Stat.aversion`).
    pub aversion: i32,
    /// Session id of an ephemeral node's owner; 0 for persistent nodes.
    pub ephemeral_owner: i64,
    /// `None` when the snapshot did not read the ACL.
    pub acl: Option<Vec<AclEntry>>,
    /// Child names, sorted.
    pub children: Vec<String>,
}

impl LiveNode {
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral_owner != 0
    }
}

/// A snapshot of the live subtrees that the desired state touches. A path absent from `nodes`
/// but inside a snapshotted area does not exist.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct LiveTree {
    pub nodes: BTreeMap<ZPath, LiveNode>,
}

/// What one owner applied earlier: kept in ZooKeeper under `<state-path>/inventory`, updated in
/// the same transaction as every change.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OwnerInventory {
    pub root: ZPath,
    pub prune: Prune,
    pub paths: BTreeSet<ZPath>,
    /// Nodes applied under an earlier root of this owner (the root moved): never deleted, only
    /// reported (`status` lists them as orphaned). Disjoint from `paths`.
    pub orphaned: BTreeSet<ZPath>,
    /// Recipe owners: what `status` needs without manifests.
    pub recipe: Option<RecipeInfo>,
}

/// Every owner's inventory.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct Inventory {
    pub owners: BTreeMap<Owner, OwnerInventory>,
}
