//! Snapshots: read the live subtrees the desired state touches, level by level, with
//! `MultiReader` batches in flight together (one `get_data` per node is ~40x slower).
use std::collections::BTreeSet;

use futures::future::join_all;
use zookeeper_client as zk;

use super::ZkError;
use crate::model::{AclEntry, LiveNode, LiveTree, Perms, ZPath};

/// Nodes per `MultiReader` request (two reads per node).
const BATCH: usize = 500;
/// Requests in flight at once.
const IN_FLIGHT: usize = 8;

/// What to read.
#[derive(Clone, Debug, Default)]
pub struct Areas {
    /// Subtrees read completely.
    pub subtrees: BTreeSet<ZPath>,
    /// Single nodes (data and children names).
    pub nodes: BTreeSet<ZPath>,
    /// Nodes whose ACL must be read too.
    pub acls: BTreeSet<ZPath>,
}

impl Areas {
    /// Whether `p` lies in these areas (a listed node, or in a subtree).
    pub fn contains(&self, p: &ZPath) -> bool {
        self.nodes.contains(p) || self.subtrees.iter().any(|s| p.is_within(s))
    }

    /// Whether a structure read of these areas holds everything one of `other` would.
    pub fn covers(&self, other: &Areas) -> bool {
        other
            .subtrees
            .iter()
            .all(|s| self.subtrees.iter().any(|o| s.is_within(o)))
            && other.nodes.iter().all(|n| self.contains(n))
    }
}

/// Reads the areas into a [`LiveTree`].
pub async fn snapshot(client: &zk::Client, areas: &Areas) -> Result<LiveTree, ZkError> {
    snapshot_batched(client, areas, BATCH).await
}

/// [`snapshot`] with at most `batch` nodes per multi-read. The client's receive buffer grows to
/// the largest response it has held and keeps that size for the session's life, so areas of
/// large nodes (zkstate's inventory segments, up to 256 KiB each) are read a few at a time:
/// 500 segments in one response made a 32 MiB buffer.
pub async fn snapshot_batched(
    client: &zk::Client,
    areas: &Areas,
    batch: usize,
) -> Result<LiveTree, ZkError> {
    let mut tree = read_structure(client, areas, batch.max(1)).await?;
    read_acls(client, areas, &mut tree).await?;
    Ok(tree)
}

/// [`snapshot`] without the ACLs: data, stat and children of every node in the areas.
pub async fn snapshot_structure(client: &zk::Client, areas: &Areas) -> Result<LiveTree, ZkError> {
    read_structure(client, areas, BATCH).await
}

async fn read_structure(
    client: &zk::Client,
    areas: &Areas,
    batch: usize,
) -> Result<LiveTree, ZkError> {
    // Nodes are collected in read order and the map is built once at the end: inserting 100k
    // paths one by one, level after level, was mostly `memcmp` of their common prefixes.
    let mut read: Vec<(ZPath, LiveNode)> = Vec::new();
    // Subtrees nested in another subtree are read once.
    let mut level: Vec<ZPath> = Vec::new();
    for s in &areas.subtrees {
        if !areas.subtrees.iter().any(|o| o != s && s.is_within(o)) {
            level.push(s.clone());
        }
    }
    let singles: Vec<ZPath> = areas
        .nodes
        .iter()
        .filter(|p| !areas.subtrees.iter().any(|s| p.is_within(s)))
        .cloned()
        .collect();
    read_level(client, &singles, batch, &mut read).await?;
    while !level.is_empty() {
        let start = read.len();
        read_level(client, &level, batch, &mut read).await?;
        level = read[start..]
            .iter()
            .flat_map(|(p, n)| n.children.iter().map(move |c| p.child(c)))
            .collect();
    }
    // Each level is sorted already (parents in order, children sorted): the sort merges runs.
    Ok(LiveTree {
        nodes: read.into_iter().collect(),
    })
}

/// Reads data, stat and children of `paths` (in batches, several in flight); returns those that
/// exist, in order. The live cache re-reads the paths watch events name with it.
pub async fn read_nodes(
    client: &zk::Client,
    paths: &[ZPath],
) -> Result<Vec<(ZPath, LiveNode)>, ZkError> {
    let mut read = Vec::new();
    read_level(client, paths, BATCH, &mut read).await?;
    Ok(read)
}

/// Reads data, stat and children of `paths`; appends those that exist to `read`, in order.
async fn read_level(
    client: &zk::Client,
    paths: &[ZPath],
    per_multi: usize,
    read: &mut Vec<(ZPath, LiveNode)>,
) -> Result<(), ZkError> {
    read.reserve(paths.len());
    for group in paths.chunks(per_multi * IN_FLIGHT) {
        let mut futs = Vec::new();
        for batch in group.chunks(per_multi) {
            let mut reader = client.new_multi_reader();
            for p in batch {
                reader
                    .add_get_data(p.as_str())
                    .map_err(|e| ZkError::op("read", p.as_str(), e))?;
                reader
                    .add_get_children(p.as_str())
                    .map_err(|e| ZkError::op("read", p.as_str(), e))?;
            }
            futs.push(reader.commit());
        }
        let results = join_all(futs).await;
        for (batch, result) in group.chunks(per_multi).zip(results) {
            let result = result.map_err(|e| ZkError::op("read", batch[0].as_str(), e))?;
            let mut it = result.into_iter();
            for p in batch {
                let data = it.next();
                let children = it.next();
                match (data, children) {
                    (
                        Some(zk::MultiReadResult::Data { data, stat }),
                        Some(zk::MultiReadResult::Children { mut children }),
                    ) => {
                        children.sort();
                        read.push((
                            p.clone(),
                            LiveNode {
                                data,
                                version: stat.version,
                                cversion: stat.cversion,
                                aversion: stat.aversion,
                                ephemeral_owner: stat.ephemeral_owner,
                                acl: None,
                                children,
                            },
                        ));
                    }
                    (
                        Some(zk::MultiReadResult::Error {
                            err: zk::Error::NoNode,
                        }),
                        _,
                    )
                    | (
                        _,
                        Some(zk::MultiReadResult::Error {
                            err: zk::Error::NoNode,
                        }),
                    ) => {
                        // Gone, or deleted between the two reads: absent.
                    }
                    (Some(zk::MultiReadResult::Error { err }), _)
                    | (_, Some(zk::MultiReadResult::Error { err })) => {
                        return Err(ZkError::op("read", p.as_str(), err));
                    }
                    _ => {
                        return Err(ZkError::op(
                            "read",
                            p.as_str(),
                            zk::Error::UnexpectedError("short multi-read response".into()),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Reads the ACLs of `areas.acls` that `tree` holds into it.
pub async fn read_acls(
    client: &zk::Client,
    areas: &Areas,
    tree: &mut LiveTree,
) -> Result<(), ZkError> {
    let wanted: Vec<&ZPath> = areas
        .acls
        .iter()
        .filter(|p| tree.nodes.contains_key(*p))
        .collect();
    for group in wanted.chunks(1000) {
        let futs: Vec<_> = group.iter().map(|p| client.get_acl(p.as_str())).collect();
        for (p, r) in group.iter().zip(join_all(futs).await) {
            match r {
                Ok((acls, stat)) => {
                    if let Some(n) = tree.nodes.get_mut(*p) {
                        n.acl = Some(acls.iter().map(from_zk_acl).collect());
                        n.aversion = stat.aversion;
                    }
                }
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(ZkError::op("read ACL of", p.as_str(), e)),
            }
        }
    }
    Ok(())
}

/// Converts a client ACL into the model's.
pub fn from_zk_acl(a: &zk::Acl) -> AclEntry {
    AclEntry {
        scheme: a.scheme().to_owned(),
        id: a.id().to_owned(),
        perms: Perms(perm_bits(a.permission())),
    }
}

/// Client permission flags and the model's bits, one table for both directions.
const PERMS: [(zk::Permission, u32); 5] = [
    (zk::Permission::READ, 1),
    (zk::Permission::WRITE, 2),
    (zk::Permission::CREATE, 4),
    (zk::Permission::DELETE, 8),
    (zk::Permission::ADMIN, 16),
];

fn perm_bits(p: zk::Permission) -> u32 {
    PERMS
        .iter()
        .filter(|(perm, _)| p.has(*perm))
        .map(|(_, bit)| bit)
        .sum()
}

/// Converts a model ACL into the client's.
pub fn to_zk_acl(a: &AclEntry) -> zk::Acl {
    let p = PERMS
        .iter()
        .filter(|(_, bit)| a.perms.0 & bit != 0)
        .fold(zk::Permission::NONE, |acc, (perm, _)| acc | *perm);
    zk::Acl::new(p, zk::AuthId::new(&a.scheme, &a.id))
}
