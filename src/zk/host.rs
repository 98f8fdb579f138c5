//! Host-scoped nodes the agent keeps for its own session: ephemeral service registrations and
//! election contenders. Every call compares with the live node first, so keeping is idempotent
//! and a pass that changes nothing writes nothing. Nodes of other sessions are never touched.
use zookeeper_client as zk;

use super::ZkError;
use super::session::Session;
use super::snapshot::to_zk_acl;
use crate::model::{AclEntry, NodeMode};

/// What [`ensure_ephemeral`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    Unchanged,
    Created,
    /// Our node had other data (an out-of-band write): rewritten.
    Updated,
    /// The path is taken by another session's node (another host, or our own expired session
    /// whose node the server has not removed yet); left alone.
    Taken {
        owner: i64,
    },
}

fn acls(acl: &Option<Vec<AclEntry>>) -> Vec<zk::Acl> {
    match acl {
        Some(a) if !a.is_empty() => a.iter().map(to_zk_acl).collect(),
        _ => zk::Acls::anyone_all().to_vec(),
    }
}

/// Creates the missing `parents` (in order, with their create mode).
pub async fn ensure_parents(
    session: &Session,
    parents: &[(String, NodeMode)],
    acl: &Option<Vec<AclEntry>>,
) -> Result<(), ZkError> {
    let client = session.client();
    let acl = acls(acl);
    for (path, mode) in parents {
        if client
            .check_stat(path)
            .await
            .map_err(|e| ZkError::op("stat", path, e))?
            .is_some()
        {
            continue;
        }
        let mode = match mode {
            NodeMode::Container => zk::CreateMode::Container,
            _ => zk::CreateMode::Persistent,
        };
        let opts = mode.with_acls(zk::Acls::new(&acl));
        match client.create(path, &[], &opts).await {
            Ok(_) | Err(zk::Error::NodeExists) => {}
            Err(e) => return Err(ZkError::op("create", path, e)),
        }
    }
    Ok(())
}

/// Makes `path` an ephemeral node of this session holding `data`.
pub async fn ensure_ephemeral(
    session: &Session,
    path: &str,
    data: &[u8],
    parents: &[(String, NodeMode)],
    acl: &Option<Vec<AclEntry>>,
) -> Result<Kept, ZkError> {
    let client = session.client();
    let own = client.session_id().0;
    match client.get_data(path).await {
        Ok((live, stat)) if stat.ephemeral_owner == own => {
            if live == data {
                return Ok(Kept::Unchanged);
            }
            client
                .set_data(path, data, Some(stat.version))
                .await
                .map_err(|e| ZkError::op("update", path, e))?;
            return Ok(Kept::Updated);
        }
        Ok((_, stat)) => {
            return Ok(Kept::Taken {
                owner: stat.ephemeral_owner,
            });
        }
        Err(zk::Error::NoNode) => {}
        Err(e) => return Err(ZkError::op("read", path, e)),
    }
    ensure_parents(session, parents, acl).await?;
    let acl = acls(acl);
    let opts = zk::CreateMode::Ephemeral.with_acls(zk::Acls::new(&acl));
    match client.create(path, data, &opts).await {
        Ok(_) => Ok(Kept::Created),
        // Lost a race; the next pass looks again.
        Err(zk::Error::NodeExists) => Ok(Kept::Taken { owner: 0 }),
        Err(e) => Err(ZkError::op("create", path, e)),
    }
}

/// Deletes `path` if it is an ephemeral node of this session; true when it deleted it.
pub async fn remove_ephemeral(session: &Session, path: &str) -> Result<bool, ZkError> {
    let client = session.client();
    let own = client.session_id().0;
    match client.check_stat(path).await {
        Ok(Some(stat)) if stat.ephemeral_owner == own => {
            match client.delete(path, Some(stat.version)).await {
                Ok(()) | Err(zk::Error::NoNode) => Ok(true),
                Err(e) => Err(ZkError::op("delete", path, e)),
            }
        }
        Ok(_) => Ok(false),
        Err(e) => Err(ZkError::op("stat", path, e)),
    }
}

/// Makes sure this session has a contender node in `group`: keeps `current` when it still exists
/// and is ours, else creates `<group>/<prefix><seq>` (ephemeral-sequential, data = identifier).
/// Returns the contender's node name.
pub async fn ensure_contender(
    session: &Session,
    group: &str,
    prefix: &str,
    identifier: &str,
    current: Option<&str>,
    parents: &[(String, NodeMode)],
) -> Result<String, ZkError> {
    let client = session.client();
    let own = client.session_id().0;
    if let Some(name) = current {
        let path = format!("{group}/{name}");
        match client.check_stat(&path).await {
            Ok(Some(stat)) if stat.ephemeral_owner == own => return Ok(name.to_owned()),
            Ok(_) => {}
            Err(e) => return Err(ZkError::op("stat", path, e)),
        }
    }
    ensure_parents(session, parents, &None).await?;
    let path = format!("{group}/{prefix}");
    let opts = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let (_, seq) = client
        .create(&path, identifier.as_bytes(), &opts)
        .await
        .map_err(|e| ZkError::op("create contender", &path, e))?;
    Ok(format!("{prefix}{seq}"))
}

/// Deletes our contender node (leaving an election).
pub async fn remove_contender(session: &Session, group: &str, name: &str) -> Result<(), ZkError> {
    remove_ephemeral(session, &format!("{group}/{name}"))
        .await
        .map(|_| ())
}

/// The child names of `group` (empty when it does not exist).
pub async fn children(session: &Session, group: &str) -> Result<Vec<String>, ZkError> {
    let client = session.client();
    match client.list_children(group).await {
        Ok(c) => Ok(c),
        Err(zk::Error::NoNode) => Ok(Vec::new()),
        Err(e) => Err(ZkError::op("list", group, e)),
    }
}
