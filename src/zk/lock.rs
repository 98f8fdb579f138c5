//! The leader lock at `<state-path>/lock`, laid out like kazoo's `Lock` recipe
//! (`<uuid4 hex>__lock__<seq10>`, data = identifier) or Curator's mutex (`_c_<uuid>-lock-<seq10>`),
//! so an operator's kazoo or Curator script sees it and can contend for it. Contenders are
//! ordered by their sequence as a signed 32-bit integer (a wrapped parent counter must not crown
//! the newest contender).
use std::time::Duration;

use zookeeper_client as zk;

use super::ZkError;
use super::snapshot::to_zk_acl;
use crate::model::{AclEntry, ZPath};
pub use crate::recipes::LockFormat;
use crate::recipes::lock::{lock_contenders, lock_node_prefix};

/// A held lock: our ephemeral node.
#[derive(Debug, Clone)]
pub struct LeaderLock {
    /// Full path of our lock node; every fenced multi checks it.
    pub node: String,
}

/// The lock directory under a state path.
pub fn lock_dir(state_path: &str) -> String {
    format!("{}/lock", state_path.trim_end_matches('/'))
}

/// Creates `path` and its ancestors as persistent nodes when missing.
pub async fn ensure_path(client: &zk::Client, path: &str) -> Result<(), ZkError> {
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    match client.mkdir(path, &opts).await {
        Ok(()) | Err(zk::Error::NodeExists) => Ok(()),
        Err(e) => Err(ZkError::op("create", path, e)),
    }
}

/// Creates `path` (at or below the state root `root`) when missing: the ancestors of `root` open
/// (as [`ensure_path`]), `root` and everything below it with `acl` (the state ACL).
pub async fn ensure_state_path(
    client: &zk::Client,
    root: &ZPath,
    path: &ZPath,
    acl: &[AclEntry],
) -> Result<(), ZkError> {
    if let Some(parent) = root.parent().filter(|p| !p.is_root()) {
        ensure_path(client, parent.as_str()).await?;
    }
    let acl: Vec<zk::Acl> = acl.iter().map(to_zk_acl).collect();
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acl));
    let mut chain: Vec<ZPath> = path.ancestors().take_while(|a| a.is_within(root)).collect();
    chain.reverse();
    chain.push(path.clone());
    for p in chain {
        match client.create(p.as_str(), b"", &opts).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(ZkError::op("create", p.as_str(), e)),
        }
    }
    Ok(())
}

/// The contenders of a lock directory in lock order, with their data (identifier).
pub async fn contenders(client: &zk::Client, dir: &str) -> Result<Vec<(String, String)>, ZkError> {
    let children = match client.list_children(dir).await {
        Ok(c) => c,
        Err(zk::Error::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(ZkError::op("list", dir, e)),
    };
    let ordered = order_contender_names(&children);
    let mut out = Vec::with_capacity(ordered.len());
    for name in ordered {
        let path = format!("{dir}/{name}");
        match client.get_data(&path).await {
            Ok((data, _)) => out.push((name, String::from_utf8_lossy(&data).into_owned())),
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(ZkError::op("read", path, e)),
        }
    }
    Ok(out)
}

/// Acquires the lock, waiting at most `timeout` (forever when `None`). On timeout our node is
/// deleted and [`ZkError::LockTimeout`] names the holder.
pub async fn acquire(
    client: &zk::Client,
    state_path: &str,
    identifier: &str,
    format: LockFormat,
    timeout: Option<Duration>,
) -> Result<LeaderLock, ZkError> {
    acquire_with_acl(
        client,
        state_path,
        identifier,
        format,
        timeout,
        &[AclEntry::open()],
    )
    .await
}

/// Attempts at creating our lock node when the reply of a create is lost.
const CREATE_ATTEMPTS: usize = 5;

/// [`acquire`] with the state ACL (`--auth`): the lock directory (and the state root, when
/// missing) and our lock node are created with `acl`.
pub async fn acquire_with_acl(
    client: &zk::Client,
    state_path: &str,
    identifier: &str,
    format: LockFormat,
    timeout: Option<Duration>,
    acl: &[AclEntry],
) -> Result<LeaderLock, ZkError> {
    let dir = lock_dir(state_path);
    let dir_path =
        ZPath::parse(&dir).map_err(|e| ZkError::Invalid(format!("state path {dir}: {e}")))?;
    let root = dir_path.parent().unwrap_or_else(|| dir_path.clone());
    ensure_state_path(client, &root, &dir_path, acl).await?;
    let uuid = uuid::Uuid::new_v4();
    let prefix = lock_node_prefix(format, &dir_path, uuid);
    let node = create_lock_node(client, &dir, &prefix, identifier, acl).await?;
    let name = node.rsplit('/').next().unwrap_or_default().to_owned();
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    loop {
        let children = client
            .list_children(&dir)
            .await
            .map_err(|e| ZkError::op("list", &dir, e))?;
        let ordered = order_contender_names(&children);
        let Some(pos) = ordered.iter().position(|c| *c == name) else {
            return Err(ZkError::LockLost(node));
        };
        if pos == 0 {
            tracing::debug!(lock = %node, "leader lock acquired");
            return Ok(LeaderLock { node });
        }
        let pred = format!("{dir}/{}", ordered[pos - 1]);
        let watcher = match client.check_and_watch_stat(&pred).await {
            Ok((Some(_), w)) => w,
            Ok((None, _)) => continue,
            Err(e) => return Err(ZkError::op("watch", pred, e)),
        };
        let waited = match deadline {
            Some(d) => tokio::time::timeout_at(d, watcher.changed()).await.is_ok(),
            None => {
                watcher.changed().await;
                true
            }
        };
        if !waited {
            let holder = contenders(client, &dir)
                .await
                .ok()
                .and_then(|c| c.into_iter().next().map(|(_, id)| id))
                .unwrap_or_else(|| "unknown".into());
            let _ = client.delete(&node, None).await;
            return Err(ZkError::LockTimeout {
                path: dir,
                holder,
                timeout: timeout.unwrap_or_default(),
            });
        }
    }
}

/// Creates our ephemeral-sequential lock node. When the reply is lost (connection loss) the node
/// may exist anyway: like kazoo, we look for a child carrying our uuid prefix before trying
/// again, so a lost reply never leaves an orphan contender ahead of us.
async fn create_lock_node(
    client: &zk::Client,
    dir: &str,
    prefix: &str,
    identifier: &str,
    acl: &[AclEntry],
) -> Result<String, ZkError> {
    let acl: Vec<zk::Acl> = acl.iter().map(to_zk_acl).collect();
    let opts = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::new(&acl));
    let ours = prefix.rsplit('/').next().unwrap_or_default();
    let mut last = zk::Error::ConnectionLoss;
    for attempt in 1..=CREATE_ATTEMPTS {
        if attempt > 1 {
            // Did the lost create land? Our uuid is in the name.
            match client.list_children(dir).await {
                Ok(children) => {
                    if let Some(c) = children.iter().find(|c| c.starts_with(ours)) {
                        tracing::info!(lock = %c, "lock node create landed although its reply was lost");
                        return Ok(format!("{dir}/{c}"));
                    }
                }
                Err(e) if is_connection_trouble(&e) => {
                    last = e;
                    tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
                    continue;
                }
                Err(e) => return Err(ZkError::op("list", dir, e)),
            }
        }
        match client.create(prefix, identifier.as_bytes(), &opts).await {
            Ok((_, seq)) => return Ok(format!("{prefix}{seq}")),
            Err(e) if is_connection_trouble(&e) => {
                tracing::info!(error = %e, attempt, "lock node create: reply lost; checking whether it landed");
                last = e;
            }
            Err(e) => return Err(ZkError::op("create lock node", prefix, e)),
        }
    }
    Err(ZkError::op("create lock node", prefix, last))
}

fn is_connection_trouble(e: &zk::Error) -> bool {
    matches!(e, zk::Error::ConnectionLoss | zk::Error::Timeout)
}

/// Releases the lock (deletes our node).
pub async fn release(client: &zk::Client, lock: &LeaderLock) -> Result<(), ZkError> {
    match client.delete(&lock.node, None).await {
        Ok(()) | Err(zk::Error::NoNode) => Ok(()),
        Err(e) => Err(ZkError::op("delete", &lock.node, e)),
    }
}

/// Orders lock/election contender names by their sequence as a signed 32-bit integer.
pub fn order_contender_names(names: &[String]) -> Vec<String> {
    lock_contenders(names).into_iter().map(|c| c.name).collect()
}
