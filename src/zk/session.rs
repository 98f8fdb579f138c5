//! Opening a ZooKeeper session: connection string (with chroot), digest auth, timeouts.
use std::time::Duration;

use zookeeper_client as zk;

use super::ZkError;

/// How to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    /// `host:port,...[/chroot]`.
    pub hosts: String,
    /// `digest` credentials `user:password` (never logged).
    pub digest_auth: Vec<String>,
    pub session_timeout: Duration,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("hosts", &self.hosts)
            .field(
                "digest_auth",
                &format!("({} credentials)", self.digest_auth.len()),
            )
            .field("session_timeout", &self.session_timeout)
            .finish()
    }
}

impl ConnectOptions {
    /// Parses `--auth` values (`digest:USER:PASSWORD`).
    pub fn parse_auth(values: &[String]) -> Result<Vec<String>, ZkError> {
        values
            .iter()
            .filter(|v| !v.is_empty())
            .map(|v| match v.split_once(':') {
                Some(("digest", rest)) if rest.contains(':') => Ok(rest.to_owned()),
                _ => Err(ZkError::Invalid(
                    "--auth must look like digest:USER:PASSWORD".into(),
                )),
            })
            .collect()
    }
}

/// Connects and waits for the session, failing after about the session timeout.
pub async fn connect(opts: &ConnectOptions) -> Result<zk::Client, ZkError> {
    let mut connector = zk::Client::connector()
        .with_session_timeout(opts.session_timeout)
        .with_connection_timeout(opts.session_timeout.min(Duration::from_secs(5)));
    for cred in &opts.digest_auth {
        connector = connector.with_auth("digest", cred.as_bytes());
    }
    let fut = connector.connect(&opts.hosts);
    match tokio::time::timeout(opts.session_timeout + Duration::from_secs(1), fut).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(source)) => Err(ZkError::Connect {
            hosts: opts.hosts.clone(),
            source,
        }),
        Err(_) => Err(ZkError::Connect {
            hosts: opts.hosts.clone(),
            source: zk::Error::Timeout,
        }),
    }
}

/// An open ZooKeeper session: the handle everything outside `zk/` holds (the CLI, the engine and
/// the agent never name the client crate). Cheap to clone; clones share the session. Dropping the
/// last clone closes the session (its ephemeral nodes vanish).
#[derive(Clone, Debug)]
pub struct Session {
    client: zk::Client,
}

impl Session {
    /// Connects and waits for the session (see [`connect`]).
    ///
    /// # Errors
    /// [`ZkError::Connect`] when no server answers within about the session timeout.
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, ZkError> {
        connect(opts).await.map(Self::from_client)
    }

    /// Wraps a client opened elsewhere (tests, the local-server harness).
    pub fn from_client(client: zk::Client) -> Self {
        Self { client }
    }

    /// The client, for the other `zk/` modules (`reconcile`, `snapshot`, `lock`).
    pub fn client(&self) -> &zk::Client {
        &self.client
    }

    /// The session id (0 before the session is established).
    pub fn id(&self) -> i64 {
        self.client.session_id().0
    }

    /// Creates `path` and its missing ancestors as open persistent nodes.
    pub async fn ensure_path(&self, path: &str) -> Result<(), ZkError> {
        super::lock::ensure_path(&self.client, path).await
    }

    /// Creates zkstate's state node `path` (and its missing ancestors up to `state.root`) with
    /// the state ACL ([`StatePaths::acl`]: open, or read-for-all and write-for-the-identities
    /// under `--auth`); `false` when it already exists.
    pub async fn create_state_node(
        &self,
        state: &super::state::StatePaths,
        path: &crate::model::ZPath,
        data: &[u8],
    ) -> Result<bool, ZkError> {
        if let Some(parent) = path.parent() {
            super::lock::ensure_state_path(&self.client, &state.root, &parent, &state.acl).await?;
        }
        let acl: Vec<zk::Acl> = state.acl.iter().map(super::snapshot::to_zk_acl).collect();
        let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acl));
        match self.client.create(path.as_str(), data, &opts).await {
            Ok(_) => Ok(true),
            Err(zk::Error::NodeExists) => Ok(false),
            Err(zk::Error::NoAuth) => Err(ZkError::NotAuthorized {
                what: "create",
                path: path.to_string(),
            }),
            Err(e) => Err(ZkError::op("create", path.as_str(), e)),
        }
    }

    /// Deletes a node (any version); `false` when it did not exist.
    pub async fn delete_if_present(&self, path: &str) -> Result<bool, ZkError> {
        match self.client.delete(path, None).await {
            Ok(()) => Ok(true),
            Err(zk::Error::NoNode) => Ok(false),
            Err(e) => Err(ZkError::op("delete", path, e)),
        }
    }

    /// The children of `path`, sorted; empty when it does not exist.
    pub async fn children(&self, path: &str) -> Result<Vec<String>, ZkError> {
        match self.client.list_children(path).await {
            Ok(mut c) => {
                c.sort();
                Ok(c)
            }
            Err(zk::Error::NoNode) => Ok(Vec::new()),
            Err(e) => Err(ZkError::op("list", path, e)),
        }
    }

    /// Data and ephemeral flag of `parent/name` for each name, in the given order, read
    /// pipelined; children that vanished meanwhile are skipped.
    pub async fn child_data(
        &self,
        parent: &crate::model::ZPath,
        names: &[String],
    ) -> Result<Vec<(String, Vec<u8>, bool)>, ZkError> {
        let futs: Vec<_> = names
            .iter()
            .map(|n| self.client.get_data(parent.child(n).as_str()))
            .collect();
        let mut out = Vec::new();
        for (name, r) in names.iter().zip(futures::future::join_all(futs).await) {
            match r {
                Ok((data, stat)) => out.push((name.clone(), data, stat.ephemeral_owner != 0)),
                Err(zk::Error::NoNode) => {}
                Err(e) => return Err(ZkError::op("read", parent.child(name).as_str(), e)),
            }
        }
        Ok(out)
    }

    /// Deletes the ephemeral children of `dir` that this session owns (a lock contender left by
    /// an abandoned wait). Requests of one session run in order, so a create sent before this
    /// call is seen and removed. Returns how many were deleted.
    pub async fn delete_own_children(&self, dir: &str) -> Result<usize, ZkError> {
        let me = self.id();
        let parent =
            crate::model::ZPath::parse(dir).map_err(|e| ZkError::Invalid(format!("{dir}: {e}")))?;
        let names = self.children(dir).await?;
        let futs: Vec<_> = names
            .iter()
            .map(|n| self.client.check_stat(parent.child(n).as_str()))
            .collect();
        let mut deleted = 0;
        for (name, r) in names.iter().zip(futures::future::join_all(futs).await) {
            let path = parent.child(name);
            match r {
                Ok(Some(stat)) if stat.ephemeral_owner == me => {
                    if self.delete_if_present(path.as_str()).await? {
                        deleted += 1;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(ZkError::op("read", path.as_str(), e)),
            }
        }
        Ok(deleted)
    }

    /// Reads the subtree under `root` (data, stats, children), pipelined.
    pub async fn read_subtree(
        &self,
        root: &crate::model::ZPath,
    ) -> Result<crate::model::LiveTree, ZkError> {
        let mut areas = super::snapshot::Areas::default();
        areas.subtrees.insert(root.clone());
        super::snapshot::snapshot(&self.client, &areas).await
    }
}
