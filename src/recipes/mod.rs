//! Recipes: pure expansion of `Service`, `Queue` and `ElectionGroup` documents into znodes, and
//! the parsers that read those znodes back for `status` and the agent. This module owns every
//! kazoo 2.11 and Apache Curator 5.x node format (docs/contract.md §6): names, encodings, create modes.
//! Nothing else in zkstate should spell `__lock__`, `_c_`, `queue-` or a `ServiceInstance` key.
//!
//! No I/O, no async, no ZooKeeper client types, no clock: times and UUIDs come in as arguments.
//!
//! | file | owns |
//! | --- | --- |
//! | [`sequence`] | the server's `%010d` sequence suffix, signed |
//! | [`kazoo`] | kazoo names (`__lock__`, `entry-100-`), Python `repr(float)` |
//! | [`curator`] | Curator names (`_c_<uuid>-`, `lock-`, `latch-`, `queue-`), queue-item framing, `UriSpec` |
//! | [`service`] | `Service` expansion, `ServiceInstance` JSON, the plain JSON format, parsing both |
//! | [`queue`] | `Queue` expansion, queue depth |
//! | [`election`] | `ElectionGroup` expansion, contender names and their order |
//! | [`lock`] | the layout of zkstate's own leader lock |
//! | [`counter`] | `SharedCount` / `DistributedAtomicLong` / kazoo `Counter` encodings |
//!
//! # Nodes shared between documents
//!
//! An expansion lists the recipe's ancestors as [`DataPolicy::Parent`] nodes (Curator formats:
//! [`NodeMode::Container`], as `creatingParentContainersIfNeeded()` makes them; kazoo and plain
//! formats: persistent, as kazoo's `ensure_path` makes them), without an ACL: a document's `acl`
//! applies to its root and the nodes below it only. Two documents often share such a parent
//! (`/services` for every `Service` with `basePath: /services`); the loader merges `Parent`
//! declarations of the same path instead of reporting a duplicate path.
pub mod counter;
pub mod curator;
pub mod election;
mod jackson;
pub mod kazoo;
pub mod lock;
pub mod queue;
pub mod sequence;
pub mod service;

use crate::model::RecipeFormat;
use crate::model::{
    AclEntry, DataPolicy, DesiredNode, ManagedRoot, NodeMode, Owner, SeedItem, ZPath,
};

pub use counter::{
    KazooCounterValue, decode_int32, decode_int64, decode_kazoo_counter, encode_int32,
    encode_int64, encode_kazoo_counter,
};
pub use curator::{
    FrameError, decode_items as decode_curator_items, encode_items as encode_curator_items,
};
pub use election::{
    Contender, ContenderLayout, curator_latch_prefix, curator_lock_prefix, election_contenders,
    expand_election, kazoo_contender_prefix, order_contenders, parse_contender,
};
pub use lock::{LockFormat, lock_node_name_prefix, lock_node_prefix};
pub use queue::{expand_queue, queue_depth};
pub use service::{
    ServiceInstanceView, ServiceType, expand_service, parse_service_instance, registration_times,
    stabilize_registration_times,
};

/// What one document expands into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// Declared nodes, parents before children, including the recipe's own parents (with
    /// `DataPolicy::Parent`).
    pub nodes: Vec<DesiredNode>,
    /// Sequential children created once together with their parent (queue seeds), in order.
    pub seeds: Vec<SeedItem>,
    /// Format facts `status` needs to read the nodes back.
    pub info: crate::model::RecipeInfo,
    /// The subtree this document manages.
    pub root: ManagedRoot,
}

impl Expansion {
    /// A recipe's expansion: its root is pruned by inventory (`prune: true`), enforced, and
    /// host-scoped when its nodes belong to the agent's session.
    pub(crate) fn recipe(
        owner: crate::model::Owner,
        root: ZPath,
        nodes: Vec<DesiredNode>,
        seeds: Vec<SeedItem>,
        info: crate::model::RecipeInfo,
        host_scoped: bool,
    ) -> Self {
        Expansion {
            nodes,
            seeds,
            info,
            root: ManagedRoot {
                owner,
                root,
                prune: crate::model::Prune::Owned,
                mode: crate::model::Mode::Enforce,
                ignore: crate::model::IgnoreMatcher::default(),
                host_scoped,
            },
        }
    }
}

/// A problem in a recipe document, located by a JSON pointer relative to the document's `spec`
/// (e.g. `/instances/0/id`), so the loader can name `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecipeError {
    pub pointer: String,
    pub message: String,
}

impl RecipeError {
    pub(crate) fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        RecipeError {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// Escapes one JSON-pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`).
pub(crate) fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// True when `name` is usable as one znode name below an existing path.
pub(crate) fn is_node_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && ZPath::root().join(name).is_ok()
}

/// Every ancestor of `path` (excluding `/`), farthest first, as `Parent` nodes with `mode`.
///
/// They lie outside the document's managed root, so they carry no ACL (`None`: created with
/// the open ACL, as kazoo's and Curator's default ACL providers do, and never compared): a
/// document's `acl` is enforced only inside its own root, never on a shared directory above it.
pub(crate) fn ancestors(path: &ZPath, mode: NodeMode, owner: &Owner) -> Vec<DesiredNode> {
    let mut chain: Vec<ZPath> = path.ancestors().collect();
    chain.reverse();
    chain
        .into_iter()
        .map(|p| node(p, Vec::new(), DataPolicy::Parent, mode, &None, owner))
        .collect()
}

pub(crate) fn node(
    path: ZPath,
    data: Vec<u8>,
    policy: DataPolicy,
    mode: NodeMode,
    acl: &Option<Vec<AclEntry>>,
    owner: &Owner,
) -> DesiredNode {
    DesiredNode {
        path,
        data,
        secret: false,
        policy,
        acl: acl.clone(),
        mode,
        owner: owner.clone(),
    }
}

impl From<crate::model::spec::ServiceFormat> for RecipeFormat {
    fn from(f: crate::model::spec::ServiceFormat) -> Self {
        match f {
            crate::model::spec::ServiceFormat::Curator => RecipeFormat::Curator,
            crate::model::spec::ServiceFormat::Json => RecipeFormat::Json,
        }
    }
}

impl From<crate::model::spec::QueueFormat> for RecipeFormat {
    fn from(f: crate::model::spec::QueueFormat) -> Self {
        match f {
            crate::model::spec::QueueFormat::Kazoo => RecipeFormat::Kazoo,
            crate::model::spec::QueueFormat::KazooLocking => RecipeFormat::KazooLocking,
            crate::model::spec::QueueFormat::Curator => RecipeFormat::Curator,
        }
    }
}

impl From<crate::model::spec::ElectionFormat> for RecipeFormat {
    fn from(f: crate::model::spec::ElectionFormat) -> Self {
        match f {
            crate::model::spec::ElectionFormat::Kazoo => RecipeFormat::Kazoo,
            crate::model::spec::ElectionFormat::Curator => RecipeFormat::Curator,
        }
    }
}

/// The queue layout a recorded format names; `None` for a format queues do not have.
pub fn queue_format_of(f: &RecipeFormat) -> Option<crate::model::spec::QueueFormat> {
    use crate::model::spec::QueueFormat;
    match f {
        RecipeFormat::Kazoo => Some(QueueFormat::Kazoo),
        RecipeFormat::KazooLocking => Some(QueueFormat::KazooLocking),
        RecipeFormat::Curator => Some(QueueFormat::Curator),
        RecipeFormat::Json | RecipeFormat::Unknown(_) => None,
    }
}

/// The election layout a recorded format names; `None` for a format elections do not have.
pub fn election_format_of(f: &RecipeFormat) -> Option<crate::model::spec::ElectionFormat> {
    use crate::model::spec::ElectionFormat;
    match f {
        RecipeFormat::Kazoo => Some(ElectionFormat::Kazoo),
        RecipeFormat::Curator => Some(ElectionFormat::Curator),
        _ => None,
    }
}

/// `(path, policy, mode)` of every node of an expansion, in order: what the recipes' tests
/// compare a layout against.
#[cfg(test)]
pub(crate) fn node_summary(e: &Expansion) -> Vec<(&str, DataPolicy, NodeMode)> {
    e.nodes
        .iter()
        .map(|n| (n.path.as_str(), n.policy, n.mode))
        .collect()
}
