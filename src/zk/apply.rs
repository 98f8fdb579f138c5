//! The executor: turns write operations into fenced multi-op transactions. One plan is one
//! multi unless `--allow-split`, which packs ordered atomic batches. Every multi starts with a
//! check of our leader-lock node, so a process that lost the lock cannot write.
use zookeeper_client as zk;

use super::ZkError;
use super::lock::LeaderLock;
use crate::model::{AclEntry, JUTE_MAXBUFFER};
use crate::plan::CreateKind;
use crate::records::WriteOp;

/// Executor options.
#[derive(Clone, Debug)]
pub struct ExecOptions {
    /// The server's jute.maxbuffer: the largest request it accepts.
    pub max_request_bytes: usize,
    /// Apply a too-large plan as ordered atomic batches instead of refusing it.
    pub allow_split: bool,
    /// Length of the connection string's chroot (every path is sent with it).
    pub chroot_len: usize,
    /// `<state-path>/progress`: chains split batches (see [`execute`]).
    pub progress_path: Option<String>,
    /// The ACL `progress` is created with (the state ACL).
    pub progress_acl: Vec<AclEntry>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            max_request_bytes: JUTE_MAXBUFFER,
            allow_split: false,
            chroot_len: 0,
            progress_path: None,
            progress_acl: vec![AclEntry::open()],
        }
    }
}

/// Why a transaction did not land.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExecError {
    #[error(
        "the plan needs a {bytes}-byte transaction, more than one ZooKeeper request may carry ({limit} bytes, jute.maxbuffer); nothing was written. Re-run with --allow-split to apply it as ordered atomic batches, or split the change"
    )]
    TooLarge { bytes: usize, limit: usize },
    #[error("conflict on {path}: {source}")]
    Conflict {
        path: String,
        #[source]
        source: zk::Error,
        /// Batches that had landed before the conflict.
        landed: usize,
    },
    #[error("lost the leader lock before writing; nothing of this batch was written")]
    LockLost { landed: usize },
    /// The connection dropped while a multi was in flight: it may or may not have landed.
    #[error("connection lost while committing: {source}")]
    Uncertain {
        #[source]
        source: zk::Error,
        landed: usize,
    },
    #[error(transparent)]
    Zk(#[from] ZkError),
}

/// What the executor did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecReport {
    pub batches: usize,
    pub ops: usize,
    pub bytes: usize,
    /// Serialized size of each batch.
    pub batch_bytes: Vec<usize>,
    /// The connection was lost while committing and the reply never came; the applied record
    /// (written in the same transaction) showed that the commit landed. Sizes are then unknown.
    pub confirmed_by_record: bool,
}

fn acl_len(acl: &[AclEntry]) -> usize {
    4 + acl
        .iter()
        .map(|a| 4 + 4 + a.scheme.len() + 4 + a.id.len())
        .sum::<usize>()
}

/// Bytes of every multi around its ops: the request header and the closing `MultiHeader`.
pub const MULTI_ENVELOPE_BYTES: usize = 8 + 9;

/// The `MultiHeader` in front of each op.
const OP_HEADER: usize = 4 + 1 + 4;

/// A path as sent: the client prepends its chroot.
fn path_len(path: &str, chroot_len: usize) -> usize {
    4 + chroot_len + path.len()
}

/// Serialized size of one create inside a multi (jute encoding, including its `MultiHeader`).
pub fn create_op_size(path: &str, data_len: usize, acl: &[AclEntry], chroot_len: usize) -> usize {
    OP_HEADER + path_len(path, chroot_len) + 4 + data_len + acl_len(acl) + 4
}

/// Serialized size of one op inside a multi (jute encoding, including its `MultiHeader`).
pub fn op_size(op: &WriteOp, chroot_len: usize) -> usize {
    match op {
        WriteOp::Create {
            path, data, acl, ..
        } => create_op_size(path, data.len(), acl, chroot_len),
        WriteOp::Set { path, data, .. } => {
            OP_HEADER + path_len(path, chroot_len) + 4 + data.len() + 4
        }
        WriteOp::Delete { path, .. } => OP_HEADER + path_len(path, chroot_len) + 4,
    }
}

/// Request header + the closing `MultiHeader` + the fencing check.
fn fixed_size(lock: &LeaderLock, chroot_len: usize) -> usize {
    MULTI_ENVELOPE_BYTES + (OP_HEADER + path_len(&lock.node, chroot_len) + 4)
}

/// Packs ops into batches under the size limit, keeping their order.
pub fn batches(
    ops: &[WriteOp],
    lock: &LeaderLock,
    opts: &ExecOptions,
) -> Result<Vec<std::ops::Range<usize>>, ExecError> {
    let fixed = fixed_size(lock, opts.chroot_len);
    let total: usize = fixed
        + ops
            .iter()
            .map(|o| op_size(o, opts.chroot_len))
            .sum::<usize>();
    if total <= opts.max_request_bytes {
        return Ok(std::iter::once(0..ops.len()).collect());
    }
    if !opts.allow_split {
        return Err(ExecError::TooLarge {
            bytes: total,
            limit: opts.max_request_bytes,
        });
    }
    let fixed = fixed + chain_size(opts);
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = fixed;
    for (i, op) in ops.iter().enumerate() {
        let s = op_size(op, opts.chroot_len);
        if fixed + s > opts.max_request_bytes {
            return Err(ExecError::TooLarge {
                bytes: fixed + s,
                limit: opts.max_request_bytes,
            });
        }
        if size + s > opts.max_request_bytes {
            out.push(start..i);
            start = i;
            size = fixed;
        }
        size += s;
    }
    if start < ops.len() {
        out.push(start..ops.len());
    }
    Ok(out)
}

fn create_mode(k: CreateKind) -> zk::CreateMode {
    match k {
        CreateKind::Persistent => zk::CreateMode::Persistent,
        CreateKind::Container => zk::CreateMode::Container,
        CreateKind::PersistentSequential => zk::CreateMode::PersistentSequential,
        CreateKind::Ephemeral => zk::CreateMode::Ephemeral,
    }
}

/// How many split batches are in flight at once.
const IN_FLIGHT: usize = 4;

/// Size of the chain op (`set_data(progress, "<k>", v0 + k)`) a split batch carries.
fn chain_size(opts: &ExecOptions) -> usize {
    opts.progress_path
        .as_ref()
        .map(|p| 9 + 4 + opts.chroot_len + p.len() + 4 + 20 + 4)
        .unwrap_or(0)
}

/// Commits `ops` as fenced multis, in order.
///
/// One batch when the plan fits one request. With `allow_split`, ordered atomic batches are
/// pipelined (up to 4 in flight) and chained on the server: batch k also sets
/// `<state-path>/progress` expecting version `v0 + k`, so when a batch fails, every later batch
/// fails on that op and writes nothing — the batches that landed are exactly a prefix.
pub async fn execute(
    client: &zk::Client,
    lock: &LeaderLock,
    ops: &[WriteOp],
    opts: &ExecOptions,
) -> Result<ExecReport, ExecError> {
    let ranges = batches(ops, lock, opts)?;
    let chain = if ranges.len() > 1 {
        match &opts.progress_path {
            Some(p) => Some((
                p.clone(),
                progress_version(client, p, &opts.progress_acl).await?,
            )),
            None => None,
        }
    } else {
        None
    };
    let in_flight = if chain.is_some() { IN_FLIGHT } else { 1 };
    let mut report = ExecReport::default();
    let mut pending = std::collections::VecDeque::new();
    let mut next = 0;
    let mut first_error: Option<ExecError> = None;
    while next < ranges.len() || !pending.is_empty() {
        while first_error.is_none() && next < ranges.len() && pending.len() < in_flight {
            let range = ranges[next].clone();
            let batch = &ops[range.clone()];
            let acls: Vec<Vec<zk::Acl>> = batch
                .iter()
                .map(|op| match op {
                    WriteOp::Create { acl, .. } => {
                        acl.iter().map(super::snapshot::to_zk_acl).collect()
                    }
                    _ => Vec::new(),
                })
                .collect();
            let mut writer = client.new_multi_writer();
            writer
                .add_check_version(&lock.node, 0)
                .map_err(|e| ZkError::op("check", &lock.node, e))?;
            for (op, acl) in batch.iter().zip(&acls) {
                let r = match op {
                    WriteOp::Create {
                        path, data, mode, ..
                    } => {
                        let o = create_mode(*mode).with_acls(zk::Acls::new(acl));
                        writer.add_create(path, data, &o)
                    }
                    WriteOp::Set {
                        path,
                        data,
                        version,
                    } => writer.add_set_data(path, data, Some(*version)),
                    WriteOp::Delete { path, version } => writer.add_delete(path, Some(*version)),
                };
                r.map_err(|e| ZkError::op("prepare", op.path(), e))?;
            }
            if let Some((path, v0)) = &chain {
                let k = next as i32;
                writer
                    .add_set_data(path, k.to_string().as_bytes(), Some(v0 + k))
                    .map_err(|e| ZkError::op("prepare", path.as_str(), e))?;
            }
            let bytes = fixed_size(lock, opts.chroot_len)
                + chain_size(opts)
                + batch
                    .iter()
                    .map(|o| op_size(o, opts.chroot_len))
                    .sum::<usize>();
            // The request is sent here; the future only waits for the reply.
            pending.push_back((next, range, bytes, writer.commit()));
            next += 1;
        }
        let Some((k, range, bytes, fut)) = pending.pop_front() else {
            break;
        };
        let result = fut.await;
        if first_error.is_some() {
            // Chained behind a failed batch: it failed too (or was never sent).
            continue;
        }
        let batch = &ops[range];
        match result {
            Ok(_) => {
                report.batches += 1;
                report.ops += batch.len();
                report.bytes += bytes;
                report.batch_bytes.push(bytes);
            }
            Err(e) => first_error = Some(classify(e, batch, k)),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// The progress node's data version, creating the node when missing.
async fn progress_version(
    client: &zk::Client,
    path: &str,
    acl: &[AclEntry],
) -> Result<i32, ZkError> {
    let acl: Vec<zk::Acl> = acl.iter().map(super::snapshot::to_zk_acl).collect();
    loop {
        match client.check_stat(path).await {
            Ok(Some(stat)) => return Ok(stat.version),
            Ok(None) => {
                let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acl));
                match client.create(path, b"", &opts).await {
                    Ok(_) | Err(zk::Error::NodeExists) => continue,
                    Err(e) => return Err(ZkError::op("create", path, e)),
                }
            }
            Err(e) => return Err(ZkError::op("read", path, e)),
        }
    }
}

/// Maps a failed batch to the executor's error.
fn classify(e: zk::MultiWriteError, batch: &[WriteOp], landed: usize) -> ExecError {
    match e {
        zk::MultiWriteError::OperationFailed { index: 0, .. } => ExecError::LockLost { landed },
        zk::MultiWriteError::OperationFailed { index, source } => {
            let op = batch.get(index - 1);
            let path = op.map(|o| o.path().to_owned()).unwrap_or_default();
            match source {
                // Someone else changed the tree since the snapshot: re-plan.
                zk::Error::BadVersion
                | zk::Error::NodeExists
                | zk::Error::NoNode
                | zk::Error::NotEmpty => ExecError::Conflict {
                    path,
                    source,
                    landed,
                },
                zk::Error::NoAuth => ExecError::Zk(ZkError::NotAuthorized {
                    what: match op {
                        Some(WriteOp::Create { .. }) => "create",
                        Some(WriteOp::Set { .. }) => "update",
                        _ => "delete",
                    },
                    path,
                }),
                source => ExecError::Zk(ZkError::op("apply", path, source)),
            }
        }
        zk::MultiWriteError::RequestFailed { source } => match source {
            zk::Error::SessionExpired | zk::Error::NoAuth | zk::Error::AuthFailed => {
                ExecError::Zk(ZkError::op(
                    "commit",
                    batch.first().map(WriteOp::path).unwrap_or(""),
                    source,
                ))
            }
            source => ExecError::Uncertain { source, landed },
        },
    }
}

/// Applies ACL changes (they cannot ride in a multi), each checked against the ACL version read.
///
/// Fencing: right before each `setACL`, a multi holding only the check of our lock node is sent
/// on the same session; ZooKeeper serves one session's requests in order, so the `setACL` runs
/// after a successful check. The remaining window: the lock can still be lost between that check
/// and the `setACL` (our session expiring in between, or an operator deleting our lock node);
/// a multi cannot carry a `setACL` to close it.
pub async fn set_acls(
    client: &zk::Client,
    lock: &LeaderLock,
    changes: &[(crate::model::ZPath, Vec<AclEntry>, i32)],
) -> Result<(), ExecError> {
    for (path, acl, version) in changes {
        let acl: Vec<zk::Acl> = acl.iter().map(super::snapshot::to_zk_acl).collect();
        let mut check = client.new_multi_writer();
        check
            .add_check_version(&lock.node, 0)
            .map_err(|e| ZkError::op("check", &lock.node, e))?;
        match check.commit().await {
            Ok(_) => {}
            Err(zk::MultiWriteError::OperationFailed { .. }) => {
                return Err(ExecError::LockLost { landed: 0 });
            }
            Err(zk::MultiWriteError::RequestFailed { source }) => {
                return Err(ExecError::Zk(ZkError::op("check", &lock.node, source)));
            }
        }
        client
            .set_acl(path, &acl, Some(*version))
            .await
            .map_err(|source| match source {
                zk::Error::BadVersion | zk::Error::NoNode => ExecError::Conflict {
                    path: path.to_string(),
                    source,
                    landed: 0,
                },
                e => ExecError::Zk(ZkError::op("set ACL of", path.as_str(), e)),
            })?;
    }
    Ok(())
}
