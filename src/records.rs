//! zkstate's own records under `<state-path>` (default `/zkstate`):
//!
//! - `lock/`: the leader lock (see [`super::lock`]);
//! - `inventory/<Kind>.<name>`: one node per owner (JSON header: root, prune), whose children
//!   `seg-<n>` are append-only segments of `+/path` / `-/path` lines, replayed in order. Segments
//!   keep every write small enough for one multi even for 100k-node trees; they are compacted
//!   into one when there are many and the whole list is small;
//! - `applied`: the applied-state record (revision, time, digest, by, counts, transaction id);
//! - `suspend`: while it exists, the leader plans and reports but does not write;
//! - the `<state-path>` node's own data: `{"format": N}`, the records' format version, and
//!   `inventory/format`, a marker with the same data that releases before format 1 cannot
//!   decode as an owner, so they refuse these records (exit 2) instead of misreading them
//!   (docs/design.md, "Format history").
//!
//! Everything here is written in the same multi as the changes it records. This module is the
//! pure encoding (no I/O): it decodes the records from a snapshot and turns a new inventory and
//! applied record into [`WriteOp`]s; `zk` reads the snapshot and sends the ops.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{
    AclEntry, Inventory, Kind, LiveTree, Owner, OwnerInventory, Perms, Prune, ZPath,
};
use crate::plan::CreateKind;

/// The format of the records this zkstate reads and writes (docs/design.md, "Format history").
/// 0: no version (releases up to 2026-12-05); 1: `{"format":1}` in the `<state-path>` node and
/// the `inventory/format` marker, applied records name the writer's version.
pub const FORMAT: u32 = 1;
/// The child of `inventory/` that marks versioned records (never an owner: owner nodes are
/// named `Kind.name`).
const FORMAT_MARKER: &str = "format";

/// Largest inventory segment written at once.
const SEGMENT_BYTES: usize = 256 * 1024;
/// Compact an owner's segments into one once there are this many.
const COMPACT_SEGMENTS: usize = 8;

/// One write inside a multi.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    Create {
        path: ZPath,
        data: Vec<u8>,
        mode: CreateKind,
        acl: Vec<crate::model::AclEntry>,
    },
    Set {
        path: ZPath,
        data: Vec<u8>,
        version: i32,
    },
    Delete {
        path: ZPath,
        version: i32,
    },
}

impl WriteOp {
    pub fn path(&self) -> &str {
        self.zpath().as_str()
    }

    pub fn zpath(&self) -> &ZPath {
        match self {
            WriteOp::Create { path, .. }
            | WriteOp::Set { path, .. }
            | WriteOp::Delete { path, .. } => path,
        }
    }
}

/// Paths of the records under a state path, and the ACL every node under it is created with.
#[derive(Clone, Debug)]
pub struct StatePaths {
    pub root: ZPath,
    /// Open without `--auth`; with it, read for everyone and all permissions only for the
    /// authenticated digest identities (docs/contract.md §3 "State").
    pub acl: Vec<AclEntry>,
}

/// The digest ACL id of `user:password`: `user:base64(sha1(user:password))`, as ZooKeeper's
/// `DigestAuthenticationProvider` computes it.
pub fn digest_id(cred: &str) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let user = cred.split_once(':').map(|(u, _)| u).unwrap_or(cred);
    let hash = sha1::Sha1::digest(cred.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

impl StatePaths {
    /// Open state (no `--auth`).
    pub fn new(root: ZPath) -> Self {
        StatePaths {
            root,
            acl: vec![AclEntry::open()],
        }
    }

    /// State guarded for the digest credentials `user:password` (`--auth`); open when none.
    pub fn guarded(root: ZPath, digest_creds: &[String]) -> Self {
        if digest_creds.is_empty() {
            return Self::new(root);
        }
        let mut acl = vec![AclEntry {
            scheme: "world".into(),
            id: "anyone".into(),
            perms: Perms::READ,
        }];
        for c in digest_creds {
            acl.push(AclEntry {
                scheme: "digest".into(),
                id: digest_id(c),
                perms: Perms::ALL,
            });
        }
        acl.sort();
        acl.dedup();
        StatePaths { root, acl }
    }

    /// The same state, also writable by `identities` (what the server says the session is:
    /// SASL principals, certificate DNs); an open state becomes read-for-all and
    /// write-for-them (docs/contract.md §3 "State", docs/security.md). Unchanged when `identities` is empty.
    pub fn with_identities(mut self, identities: &[AclEntry]) -> Self {
        if identities.is_empty() {
            return self;
        }
        if !self.is_guarded() {
            self.acl = vec![AclEntry {
                scheme: "world".into(),
                id: "anyone".into(),
                perms: Perms::READ,
            }];
        }
        self.acl.extend(identities.iter().cloned());
        self.acl.sort();
        self.acl.dedup();
        self
    }

    /// True when only the `--auth` identities may write the state.
    pub fn is_guarded(&self) -> bool {
        !self.acl.contains(&AclEntry::open())
    }
    pub fn inventory(&self) -> ZPath {
        self.root.child("inventory")
    }
    pub fn applied(&self) -> ZPath {
        self.root.child("applied")
    }
    pub fn suspend(&self) -> ZPath {
        self.root.child("suspend")
    }
    pub fn lock(&self) -> ZPath {
        self.root.child("lock")
    }
    /// Chains the batches of a split apply (see `crate::zk::apply::execute`).
    pub fn progress(&self) -> ZPath {
        self.root.child("progress")
    }
    fn owner_node(&self, owner: &Owner) -> ZPath {
        self.inventory()
            .child(&format!("{}.{}", owner.kind, owner.name))
    }
}

/// The applied-state record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRecord {
    pub revision: String,
    /// RFC 3339.
    pub time: String,
    pub digest: String,
    pub by: String,
    pub txn: String,
    pub counts: crate::plan::Summary,
    /// The zkstate that wrote it (`zkstate --version`); absent in records of format 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The data of the `<state-path>` node (and of the `inventory/format` marker).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct FormatData {
    format: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct OwnerHeader {
    kind: String,
    name: String,
    root: String,
    prune: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<String>,
    #[serde(
        default,
        rename = "alertDepth",
        skip_serializing_if = "Option::is_none"
    )]
    alert_depth: Option<u64>,
}

/// How an owner's inventory is stored now.
#[derive(Clone, Debug, Default)]
pub struct OwnerRecord {
    pub header_version: i32,
    /// `(segment path, version, bytes)` in replay order.
    pub segments: Vec<(ZPath, i32, usize)>,
    pub next_seq: u64,
}

/// zkstate's records as read from ZooKeeper.
#[derive(Clone, Debug, Default)]
pub struct StoredState {
    pub inventory: Inventory,
    pub records: BTreeMap<Owner, OwnerRecord>,
    pub applied: Option<(AppliedRecord, i32)>,
    pub suspended: bool,
    /// The records' format (0 when the state node has no data or does not exist yet).
    pub format: u32,
    /// Version of the `<state-path>` node, when it exists.
    pub root_version: Option<i32>,
    /// True when `inventory/format` exists.
    pub format_marker: bool,
}

/// Records written by a newer zkstate: this one must write nothing (docs/design.md, "Format
/// history").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "zkstate's records under {path} are format {found}, newer than this zkstate knows (format {known}): upgrade zkstate here; nothing was written"
)]
pub struct NewerFormat {
    pub path: String,
    pub found: u32,
    pub known: u32,
}

impl StoredState {
    /// Refuses records of a format newer than [`FORMAT`].
    pub fn check_format(&self, paths: &StatePaths) -> Result<(), NewerFormat> {
        if self.format > FORMAT {
            return Err(NewerFormat {
                path: paths.root.to_string(),
                found: self.format,
                known: FORMAT,
            });
        }
        Ok(())
    }

    /// True when a commit must also rewrite the records in the current format.
    pub fn needs_upgrade(&self) -> bool {
        self.format < FORMAT || !self.format_marker
    }
}

/// A record that cannot be decoded: never a reason to delete anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt zkstate record at {path}: {message}")]
pub struct Corrupt {
    pub path: String,
    pub message: String,
}

fn corrupt(path: &ZPath, message: impl Into<String>) -> Corrupt {
    Corrupt {
        path: path.to_string(),
        message: message.into(),
    }
}

fn prune_word(p: Prune) -> &'static str {
    match p {
        Prune::Off => "off",
        Prune::Owned => "owned",
        Prune::Exclusive => "exclusive",
    }
}

/// Decodes the records from a snapshot that read `inventory` as a subtree and `applied` and
/// `suspend` as nodes.
pub fn decode(paths: &StatePaths, live: &LiveTree) -> Result<StoredState, Corrupt> {
    let mut out = StoredState::default();
    if let Some(root) = live.nodes.get(&paths.root) {
        out.root_version = Some(root.version);
        if !root.data.is_empty() {
            let data: FormatData = serde_json::from_slice(&root.data).map_err(|e| {
                corrupt(
                    &paths.root,
                    format!("the state node's data must be {{\"format\": N}}: {e}"),
                )
            })?;
            out.format = data.format;
        }
    }
    let inv = paths.inventory();
    if let Some(dir) = live.nodes.get(&inv) {
        for name in &dir.children {
            if name == FORMAT_MARKER {
                out.format_marker = true;
                continue;
            }
            let owner_path = inv.child(name);
            let Some(node) = live.nodes.get(&owner_path) else {
                continue;
            };
            let header: OwnerHeader = serde_json::from_slice(&node.data)
                .map_err(|e| corrupt(&owner_path, format!("bad inventory header: {e}")))?;
            let kind =
                Kind::parse(&header.kind).ok_or_else(|| corrupt(&owner_path, "unknown kind"))?;
            let owner = Owner::new(kind, header.name);
            let root =
                ZPath::parse(&header.root).map_err(|e| corrupt(&owner_path, e.to_string()))?;
            let prune = match header.prune.as_str() {
                "owned" => Prune::Owned,
                "exclusive" => Prune::Exclusive,
                "off" => Prune::Off,
                other => return Err(corrupt(&owner_path, format!("unknown prune {other:?}"))),
            };
            let mut segs: Vec<(u64, ZPath)> = node
                .children
                .iter()
                .filter_map(|c| {
                    c.strip_prefix("seg-")
                        .and_then(|n| n.parse().ok())
                        .map(|n| (n, owner_path.child(c)))
                })
                .collect();
            segs.sort();
            let mut set: BTreeSet<ZPath> = BTreeSet::new();
            // Runs of `+` lines are added in bulk (one sort of mostly sorted paths and one
            // merge) instead of 100k single inserts; any other line sees them added first.
            let mut added: Vec<ZPath> = Vec::new();
            let flush = |set: &mut BTreeSet<ZPath>, added: &mut Vec<ZPath>| {
                if !added.is_empty() {
                    let mut more: BTreeSet<ZPath> = std::mem::take(added).into_iter().collect();
                    set.append(&mut more);
                }
            };
            let mut orphaned: BTreeSet<ZPath> = BTreeSet::new();
            let mut rec = OwnerRecord {
                header_version: node.version,
                ..Default::default()
            };
            for (n, sp) in &segs {
                let Some(seg) = live.nodes.get(sp) else {
                    continue;
                };
                let text = std::str::from_utf8(&seg.data)
                    .map_err(|_| corrupt(sp, "segment is not UTF-8"))?;
                // `@/base` sets the base of the relative lines that follow.
                let mut base: Option<ZPath> = None;
                for line in text.lines() {
                    if let Some(b) = line.strip_prefix('@') {
                        base = Some(
                            ZPath::parse(b)
                                .map_err(|_| corrupt(sp, format!("bad line {line:?}")))?,
                        );
                        continue;
                    }
                    let (sign, p) = line.split_at(1.min(line.len()));
                    let p = if p.starts_with('/') {
                        ZPath::parse(p)
                    } else {
                        match &base {
                            Some(b) => b.join(p),
                            None => ZPath::parse(p),
                        }
                    };
                    let Ok(p) = p else {
                        return Err(corrupt(sp, format!("bad line {line:?}")));
                    };
                    match sign {
                        "+" => {
                            if !orphaned.is_empty() {
                                orphaned.remove(&p);
                            }
                            added.push(p);
                        }
                        "~" => {
                            flush(&mut set, &mut added);
                            set.remove(&p);
                            orphaned.insert(p);
                        }
                        "-" => {
                            flush(&mut set, &mut added);
                            set.remove(&p);
                            orphaned.remove(&p);
                        }
                        _ => return Err(corrupt(sp, format!("bad line {line:?}"))),
                    }
                }
                rec.segments.push((sp.clone(), seg.version, seg.data.len()));
                rec.next_seq = n + 1;
            }
            flush(&mut set, &mut added);
            out.records.insert(owner.clone(), rec);
            let recipe = header.format.map(|format| crate::model::RecipeInfo {
                format: crate::model::RecipeFormat::parse(&format),
                alert_depth: header.alert_depth,
                checks: Default::default(),
            });
            out.inventory.owners.insert(
                owner,
                OwnerInventory {
                    root,
                    prune,
                    paths: set,
                    orphaned,
                    recipe,
                },
            );
        }
    }
    if let Some(node) = live.nodes.get(&paths.applied()) {
        let rec: AppliedRecord = serde_json::from_slice(&node.data)
            .map_err(|e| corrupt(&paths.applied(), format!("bad applied record: {e}")))?;
        out.applied = Some((rec, node.version));
    }
    out.suspended = live.nodes.contains_key(&paths.suspend());
    Ok(out)
}

/// One inventory line: `+rel` (owned) / `~rel` (orphaned: applied under an earlier root, never
/// deleted) / `-rel` (forgotten) relative to the segment's `@base`, or absolute.
fn line(sign: char, p: &ZPath, base: &ZPath) -> String {
    match p.relative_to(base) {
        Some(rel) if !rel.is_empty() => format!("{sign}{rel}"),
        _ => format!("{sign}{p}"),
    }
}

/// Segments holding `lines`, each at most `SEGMENT_BYTES`, each starting with `@base`.
fn segment_ops(
    acl: &[AclEntry],
    owner_path: &ZPath,
    mut seq: u64,
    base: &ZPath,
    lines: &[String],
) -> (Vec<WriteOp>, u64) {
    let header = format!("@{base}\n");
    let mut ops = Vec::new();
    let mut buf = header.clone();
    let flush = |buf: &mut String, seq: &mut u64, ops: &mut Vec<WriteOp>| {
        if buf.len() > header.len() {
            ops.push(WriteOp::Create {
                path: owner_path.child(&format!("seg-{:010}", *seq)),
                data: std::mem::replace(buf, header.clone()).into_bytes(),
                mode: CreateKind::Persistent,
                acl: acl.to_vec(),
            });
            *seq += 1;
        }
    };
    for l in lines {
        if buf.len() + l.len() + 1 > SEGMENT_BYTES {
            flush(&mut buf, &mut seq, &mut ops);
        }
        buf.push_str(l);
        buf.push('\n');
    }
    flush(&mut buf, &mut seq, &mut ops);
    (ops, seq)
}

/// The writes that turn the stored inventory into `new`, in a safe order (headers before their
/// segments, segments before their headers on removal).
pub fn inventory_ops(paths: &StatePaths, stored: &StoredState, new: &Inventory) -> Vec<WriteOp> {
    let mut ops = Vec::new();
    let owners: BTreeSet<&Owner> = stored
        .inventory
        .owners
        .keys()
        .chain(new.owners.keys())
        .collect();
    for owner in owners {
        let owner_path = paths.owner_node(owner);
        let old = stored.inventory.owners.get(owner);
        let rec = stored.records.get(owner);
        match (old, new.owners.get(owner)) {
            (None, None) => {}
            (Some(_), None) => {
                if let Some(rec) = rec {
                    for (sp, v, _) in &rec.segments {
                        ops.push(WriteOp::Delete {
                            path: sp.clone(),
                            version: *v,
                        });
                    }
                    ops.push(WriteOp::Delete {
                        path: owner_path.clone(),
                        version: rec.header_version,
                    });
                }
            }
            (None, Some(n)) => {
                ops.push(WriteOp::Create {
                    path: owner_path.clone(),
                    data: header_bytes(owner, n),
                    mode: CreateKind::Persistent,
                    acl: paths.acl.clone(),
                });
                let lines = all_lines(n);
                ops.extend(segment_ops(&paths.acl, &owner_path, 0, &n.root, &lines).0);
            }
            (Some(o), Some(n)) => {
                let rec = rec.cloned().unwrap_or_default();
                if o.root != n.root || o.prune != n.prune || o.recipe != n.recipe {
                    ops.push(WriteOp::Set {
                        path: owner_path.clone(),
                        data: header_bytes(owner, n),
                        version: rec.header_version,
                    });
                }
                if o.paths == n.paths && o.orphaned == n.orphaned {
                    continue;
                }
                let full_bytes: usize = all_lines(n).iter().map(|l| l.len() + 1).sum();
                if rec.segments.len() + 1 >= COMPACT_SEGMENTS && full_bytes <= SEGMENT_BYTES {
                    for (sp, v, _) in &rec.segments {
                        ops.push(WriteOp::Delete {
                            path: sp.clone(),
                            version: *v,
                        });
                    }
                    let lines = all_lines(n);
                    ops.extend(
                        segment_ops(&paths.acl, &owner_path, rec.next_seq, &n.root, &lines).0,
                    );
                } else {
                    let mut lines: Vec<String> = n
                        .paths
                        .difference(&o.paths)
                        .map(|p| line('+', p, &n.root))
                        .collect();
                    lines.extend(
                        n.orphaned
                            .difference(&o.orphaned)
                            .map(|p| line('~', p, &n.root)),
                    );
                    lines.extend(
                        o.paths
                            .union(&o.orphaned)
                            .filter(|p| !n.paths.contains(*p) && !n.orphaned.contains(*p))
                            .map(|p| line('-', p, &n.root)),
                    );
                    ops.extend(
                        segment_ops(&paths.acl, &owner_path, rec.next_seq, &n.root, &lines).0,
                    );
                }
            }
        }
    }
    ops
}

/// Every line of a full listing: owned paths, then orphaned ones.
fn all_lines(n: &OwnerInventory) -> Vec<String> {
    n.paths
        .iter()
        .map(|p| line('+', p, &n.root))
        .chain(n.orphaned.iter().map(|p| line('~', p, &n.root)))
        .collect()
}

fn header_bytes(owner: &Owner, inv: &OwnerInventory) -> Vec<u8> {
    let h = OwnerHeader {
        kind: owner.kind.to_string(),
        name: owner.name.to_string(),
        root: inv.root.to_string(),
        prune: prune_word(inv.prune).to_owned(),
        format: inv.recipe.as_ref().map(|r| r.format.to_string()),
        alert_depth: inv.recipe.as_ref().and_then(|r| r.alert_depth),
    };
    serde_json::to_vec(&h).unwrap_or_default()
}

/// Compact an owner's segments once they hold this much more than its full list (in
/// quarters: 5 = 1.25x), so the records stay within about what one fresh apply writes.
const COMPACT_RATIO_QUARTERS: usize = 5;

/// A compaction of the records too large to ride in an apply's multi (docs/design.md,
/// "Ownership inventory"): `creates` write an owner's full list as new segments, then `deletes`
/// remove its older segments, oldest first. Sent as ordered batches after the apply's commit,
/// every intermediate state replays to the same inventory: the new segments only repeat what the
/// old ones already add (`+` and `~` of the full list), and removing a *prefix* of the old
/// segments cannot bring back a path a later line removed, since that later line goes last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compaction {
    pub creates: Vec<WriteOp>,
    pub deletes: Vec<WriteOp>,
}

impl Compaction {
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.deletes.is_empty()
    }

    /// Creates first, then deletes: the order the batches must land in.
    pub fn ops(&self) -> Vec<WriteOp> {
        self.creates.iter().chain(&self.deletes).cloned().collect()
    }
}

/// The compaction due after `committed` (the writes of a commit that turned `stored` into `new`)
/// landed: for every owner whose segments now hold more than 1.25x its full list, the full list
/// as new segments and the deletes of all its earlier ones.
pub fn compaction(
    paths: &StatePaths,
    stored: &StoredState,
    new: &Inventory,
    committed: &[WriteOp],
) -> Compaction {
    let mut out = Compaction::default();
    for (owner, n) in &new.owners {
        let owner_path = paths.owner_node(owner);
        let prefix = format!("{owner_path}/seg-");
        // The owner's segments after the commit: the stored ones it did not delete, then the
        // ones it created (segments are never modified: version 0).
        let deleted: BTreeSet<&str> = committed
            .iter()
            .filter_map(|op| match op {
                WriteOp::Delete { path, .. } if path.starts_with(&prefix) => Some(path.as_str()),
                _ => None,
            })
            .collect();
        let mut segs: Vec<(ZPath, i32, usize)> = stored
            .records
            .get(owner)
            .map(|r| {
                r.segments
                    .iter()
                    .filter(|(p, _, _)| !deleted.contains(p.as_str()))
                    .map(|(p, v, b)| (p.clone(), *v, *b))
                    .collect()
            })
            .unwrap_or_default();
        segs.extend(committed.iter().filter_map(|op| match op {
            WriteOp::Create { path, data, .. } if path.starts_with(&prefix) => {
                Some((path.clone(), 0, data.len()))
            }
            _ => None,
        }));
        let next_seq = segs
            .iter()
            .filter_map(|(p, _, _)| p.strip_prefix(&prefix)?.parse::<u64>().ok())
            .max()
            .map_or(0, |m| m + 1);
        let lines = all_lines(n);
        let full: usize =
            lines.iter().map(|l| l.len() + 1).sum::<usize>() + n.root.as_str().len() + 2;
        let held: usize = segs.iter().map(|(_, _, b)| b).sum();
        if segs.len() < 2 || held * 4 <= full * COMPACT_RATIO_QUARTERS {
            continue;
        }
        out.creates
            .extend(segment_ops(&paths.acl, &owner_path, next_seq, &n.root, &lines).0);
        out.deletes.extend(
            segs.into_iter()
                .map(|(path, version, _)| WriteOp::Delete { path, version }),
        );
    }
    out
}

/// The writes that put the records in the current format: the `<state-path>` node's data and
/// the `inventory/format` marker (sent in the same multi as the apply that needs them).
pub fn format_ops(paths: &StatePaths, stored: &StoredState) -> Vec<WriteOp> {
    let data = serde_json::to_vec(&FormatData { format: FORMAT }).unwrap_or_default();
    let mut ops = Vec::new();
    if stored.format != FORMAT
        && let Some(version) = stored.root_version
    {
        ops.push(WriteOp::Set {
            path: paths.root.clone(),
            data: data.clone(),
            version,
        });
    }
    if !stored.format_marker {
        ops.push(WriteOp::Create {
            path: paths.inventory().child(FORMAT_MARKER),
            data,
            mode: CreateKind::Persistent,
            acl: paths.acl.clone(),
        });
    }
    ops
}

/// The write that records an apply.
pub fn applied_op(paths: &StatePaths, stored: &StoredState, rec: &AppliedRecord) -> WriteOp {
    let data = serde_json::to_vec(rec).unwrap_or_default();
    match &stored.applied {
        Some((_, version)) => WriteOp::Set {
            path: paths.applied(),
            data,
            version: *version,
        },
        None => WriteOp::Create {
            path: paths.applied(),
            data,
            mode: CreateKind::Persistent,
            acl: paths.acl.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_intermediate_state_of_a_compaction_replays_to_the_same_inventory() {
        let paths = StatePaths::new(p("/zkstate"));
        let owner = Owner::new(Kind::ConfigTree, "t");
        let mut live = LiveTree::default();
        live.nodes
            .insert(p("/zkstate/inventory"), crate::model::LiveNode::default());
        let mut stored = decode(&paths, &live).unwrap();
        // Cycles that replace every name (as repeated full re-applies of a renamed set do):
        // each commit's delta lands first, then its compaction when one is due.
        let mut compactions = 0;
        for cycle in 0..6 {
            let mut inv = Inventory::default();
            let root = p("/r");
            inv.owners.insert(
                owner.clone(),
                OwnerInventory {
                    root: root.clone(),
                    prune: Prune::Owned,
                    paths: (0..400)
                        .map(|i| {
                            root.join(&format!("c{cycle}/n{i:05}-{}", "x".repeat(40)))
                                .unwrap()
                        })
                        .collect(),
                    orphaned: if cycle == 3 {
                        [p("/old/o1")].into_iter().collect()
                    } else {
                        BTreeSet::new()
                    },
                    recipe: None,
                },
            );
            let ops = inventory_ops(&paths, &stored, &inv);
            apply(&mut live, &ops);
            stored = decode(&paths, &live).unwrap();
            assert_eq!(stored.inventory, inv, "cycle {cycle}: the commit");
            let c = compaction(&paths, &stored, &inv, &[]);
            // Every prefix of the compaction's ops replays to the same inventory.
            let all = c.ops();
            for k in 0..=all.len() {
                let mut step = live.clone();
                apply(&mut step, &all[..k]);
                assert_eq!(
                    decode(&paths, &step).unwrap().inventory,
                    inv,
                    "cycle {cycle}, after {k} of {} compaction ops",
                    all.len()
                );
            }
            if !c.is_empty() {
                compactions += 1;
                apply(&mut live, &all);
                stored = decode(&paths, &live).unwrap();
                let held: usize = stored.records[&owner].segments.iter().map(|s| s.2).sum();
                let full: usize = all_lines(&inv.owners[&owner])
                    .iter()
                    .map(|l| l.len() + 1)
                    .sum();
                assert!(
                    held <= full + 64,
                    "compacted to the full list: {held} > {full}"
                );
                assert!(compaction(&paths, &stored, &inv, &[]).is_empty());
            }
        }
        assert!(compactions >= 2, "{compactions} compactions");
    }

    #[test]
    fn format_is_read_upgraded_and_newer_ones_refused() {
        let paths = StatePaths::new(p("/zkstate"));
        let mut live = LiveTree::default();
        let node = |data: &[u8], children: &[&str], version: i32| crate::model::LiveNode {
            data: data.to_vec(),
            version,
            children: children.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        };
        // Format 0: no data in the state node, no marker.
        live.nodes
            .insert(p("/zkstate"), node(b"", &["inventory"], 3));
        live.nodes
            .insert(p("/zkstate/inventory"), node(b"", &[], 0));
        let old = decode(&paths, &live).unwrap();
        assert_eq!((old.format, old.root_version), (0, Some(3)));
        assert!(old.needs_upgrade());
        let ops = format_ops(&paths, &old);
        assert_eq!(ops.len(), 2, "{ops:?}");
        apply(&mut live, &ops);
        let now = decode(&paths, &live).unwrap();
        assert_eq!(now.format, FORMAT);
        assert!(now.format_marker, "the marker is not an owner");
        assert!(now.inventory.owners.is_empty());
        assert!(!now.needs_upgrade());
        assert!(format_ops(&paths, &now).is_empty());
        assert!(now.check_format(&paths).is_ok());
        // A newer format is refused.
        live.nodes.get_mut(&p("/zkstate")).unwrap().data = br#"{"format":2}"#.to_vec();
        let newer = decode(&paths, &live).unwrap();
        let e = newer.check_format(&paths).unwrap_err();
        assert_eq!((e.found, e.known), (2, FORMAT));
        // Anything else in the state node is corrupt, never "format 0".
        live.nodes.get_mut(&p("/zkstate")).unwrap().data = b"junk".to_vec();
        assert!(decode(&paths, &live).is_err());
    }

    #[test]
    fn session_identities_guard_the_state() {
        let root = ZPath::parse("/zkstate").unwrap();
        let x509 = AclEntry {
            scheme: "x509".into(),
            id: "CN=agent,O=org".into(),
            perms: Perms::ALL,
        };
        let open = StatePaths::new(root.clone());
        assert_eq!(open.clone().with_identities(&[]).acl, open.acl);
        let s = open.with_identities(std::slice::from_ref(&x509));
        assert!(s.is_guarded());
        assert_eq!(
            s.acl,
            vec![
                x509.clone(),
                AclEntry {
                    scheme: "world".into(),
                    id: "anyone".into(),
                    perms: Perms::READ
                }
            ]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
        let both =
            StatePaths::guarded(root, &["u:p".into()]).with_identities(std::slice::from_ref(&x509));
        assert_eq!(both.acl.len(), 3);
        assert!(both.acl.contains(&x509));
        assert!(both.acl.iter().any(|a| a.scheme == "digest"));
    }
    use crate::model::{LiveNode, OwnerInventory};

    fn p(s: &str) -> ZPath {
        ZPath::parse(s).unwrap()
    }

    /// Applies write ops to a live tree the way ZooKeeper would (for decode round trips).
    fn apply(live: &mut LiveTree, ops: &[WriteOp]) {
        for op in ops {
            match op {
                WriteOp::Create { path, data, .. } => {
                    let path = p(path);
                    if let Some(parent) = path.parent()
                        && let Some(n) = live.nodes.get_mut(&parent)
                    {
                        n.children.push(path.name().to_owned());
                        n.children.sort();
                    }
                    live.nodes.insert(
                        path,
                        LiveNode {
                            data: data.clone(),
                            ..Default::default()
                        },
                    );
                }
                WriteOp::Set { path, data, .. } => {
                    let n = live.nodes.get_mut(&p(path)).unwrap();
                    n.data = data.clone();
                    n.version += 1;
                }
                WriteOp::Delete { path, .. } => {
                    let path = p(path);
                    live.nodes.remove(&path);
                    if let Some(n) = path.parent().and_then(|pp| live.nodes.get_mut(&pp)) {
                        n.children.retain(|c| c != path.name());
                    }
                }
            }
        }
    }

    #[test]
    fn digest_ids_match_zookeeper() {
        // ZooKeeper's DigestAuthenticationProvider.generateDigest("super:test").
        assert_eq!(
            digest_id("super:test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        let s = StatePaths::guarded(p("/zkstate"), &["u:p".into()]);
        assert!(s.is_guarded());
        assert!(!StatePaths::guarded(p("/zkstate"), &[]).is_guarded());
    }

    #[test]
    fn inventory_round_trips_through_relative_segments() {
        let paths = StatePaths::new(p("/zkstate"));
        let mut live = LiveTree::default();
        live.nodes
            .insert(p("/zkstate/inventory"), LiveNode::default());
        let owner = Owner::new(Kind::ConfigTree, "t");
        let mut inv = Inventory::default();
        inv.owners.insert(
            owner.clone(),
            OwnerInventory {
                root: p("/c"),
                prune: Prune::Owned,
                paths: [p("/c"), p("/c/a"), p("/c/a/b"), p("/old/x")]
                    .into_iter()
                    .collect(),
                orphaned: BTreeSet::new(),
                recipe: None,
            },
        );
        let stored = decode(&paths, &live).unwrap();
        let ops = inventory_ops(&paths, &stored, &inv);
        let seg = ops.iter().find(|o| o.path().contains("seg-")).unwrap();
        let WriteOp::Create { data, .. } = seg else {
            panic!()
        };
        assert_eq!(
            std::str::from_utf8(data).unwrap(),
            "@/c\n+/c\n+a\n+a/b\n+/old/x\n"
        );
        apply(&mut live, &ops);
        let stored = decode(&paths, &live).unwrap();
        assert_eq!(stored.inventory, inv);
        // A removal and an addition append one segment; replay gives the new set.
        let mut next = inv.clone();
        let o = next.owners.get_mut(&owner).unwrap();
        o.paths.remove(&p("/c/a/b"));
        o.paths.insert(p("/c/z"));
        let ops = inventory_ops(&paths, &stored, &next);
        assert_eq!(ops.len(), 1, "{ops:?}");
        apply(&mut live, &ops);
        let stored = decode(&paths, &live).unwrap();
        assert_eq!(stored.inventory, next);
        // A moved root: the old paths become orphaned (`~` lines) and replay as such.
        let mut moved = next.clone();
        let o = moved.owners.get_mut(&owner).unwrap();
        o.root = p("/d");
        o.orphaned = std::mem::take(&mut o.paths);
        o.paths.insert(p("/d/x"));
        let ops = inventory_ops(&paths, &stored, &moved);
        apply(&mut live, &ops);
        assert_eq!(decode(&paths, &live).unwrap().inventory, moved);
    }
}
