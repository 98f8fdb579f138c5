//! The leader lock at `<state-path>/lock`, laid out like kazoo's `Lock` recipe
//! (`<uuid4 hex>__lock__<seq10>`, data = identifier) or Curator's mutex (`_c_<uuid>-lock-<seq10>`),
//! so an operator's kazoo or Curator script sees it and can contend for it. Contenders are
//! ordered by their sequence as a signed 32-bit integer (a wrapped parent counter must not crown
//! the newest contender).
use std::time::Duration;

use zookeeper_client as zk;

use super::ZkError;
use crate::model::ZPath;
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
    let dir = lock_dir(state_path);
    ensure_path(client, &dir).await?;
    let uuid = uuid::Uuid::new_v4();
    let dir_path =
        ZPath::parse(&dir).map_err(|e| ZkError::Invalid(format!("state path {dir}: {e}")))?;
    let prefix = lock_node_prefix(format, &dir_path, uuid);
    let opts = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let (_, seq) = client
        .create(&prefix, identifier.as_bytes(), &opts)
        .await
        .map_err(|e| ZkError::op("create lock node", &prefix, e))?;
    let node = format!("{prefix}{seq}");
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
