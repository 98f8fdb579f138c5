//! Opening a ZooKeeper session: connection string (with chroot), digest auth, TLS and SASL
//! ([`super::security`]), timeouts, and a fast, honest failure when no host can answer.
//!
//! `zookeeper-client` retries every endpoint until the session timeout and then reports only
//! "timeout", hiding why. So [`connect`] probes every host of the connection string with a plain
//! TCP connect, concurrently with the real connect: once every host has definitely failed
//! (connection refused, no route, DNS failure) it stops with those causes. A host that accepts
//! the TCP connection or does not answer yet might still become the session: then only the real
//! connect and its timeout decide. Over TLS the probe goes on to a TLS handshake with the
//! session's own roots and certificate, so an untrusted server certificate, a hostname mismatch
//! or a refused client certificate is named within a few seconds (docs/security.md).
use std::time::Duration;

use tokio::net::{TcpStream, lookup_host};

use zookeeper_client as zk;

use super::ZkError;
use super::security::{self, Security};
use crate::model::AclEntry;

/// How to connect.
#[derive(Clone)]
pub struct ConnectOptions {
    /// `host:port,...[/chroot]`.
    pub hosts: String,
    /// `digest` credentials `user:password` (never logged).
    pub digest_auth: Vec<String>,
    pub session_timeout: Duration,
    /// TLS and SASL (never logged: its `Debug` hides the password).
    pub security: Security,
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
            .field("security", &self.security)
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
    security::preflight(&opts.security, &opts.hosts).await?;
    let connector = zk::Client::connector()
        .with_session_timeout(opts.session_timeout)
        .with_connection_timeout(opts.session_timeout.min(Duration::from_secs(5)));
    let (mut connector, secure) = security::configure(connector, &opts.security, &opts.hosts)?;
    for cred in &opts.digest_auth {
        connector = connector.with_auth("digest", cred.as_bytes());
    }
    let fut = async {
        if secure {
            connector.secure_connect(&opts.hosts).await
        } else {
            connector.connect(&opts.hosts).await
        }
    };
    let limit = opts.session_timeout + Duration::from_secs(1);
    tokio::select! {
        biased;
        r = tokio::time::timeout(limit, fut) => match r {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(zk::Error::AuthFailed)) => Err(ZkError::AuthFailed {
                hosts: opts.hosts.clone(),
                who: opts
                    .security
                    .sasl
                    .as_ref()
                    .map(|s| s.describe())
                    .unwrap_or_else(|| "these credentials".into()),
            }),
            Ok(Err(zk::Error::Timeout)) => Err(ZkError::NoAnswer {
                hosts: opts.hosts.clone(),
                waited: opts.session_timeout,
            }),
            Ok(Err(source)) if opts.security.tls_for(&opts.hosts).is_some()
                && ["certificate", "private key"].iter().any(|w| source.to_string().contains(w)) =>
            {
                // The client refused its own TLS settings before sending anything.
                Err(ZkError::Credentials(security::identity_error(&opts.security, &source)))
            }
            Ok(Err(source)) => Err(ZkError::Connect {
                hosts: opts.hosts.clone(),
                source,
            }),
            Err(_) => Err(ZkError::NoAnswer {
                hosts: opts.hosts.clone(),
                waited: limit,
            }),
        },
        Some(failure) = all_hosts_fail(opts, opts.session_timeout) => Err(match failure {
            Failure::Network(cause) => ZkError::Unreachable { hosts: opts.hosts.clone(), cause },
            Failure::Tls(cause) => ZkError::Tls { hosts: opts.hosts.clone(), cause },
        })
    }
}

/// How long the real connect runs alone before the hosts are probed.
const PROBE_DELAY: Duration = Duration::from_millis(300);

/// `(host, port)` of every endpoint of a connection string (`tcp://` / `tcp+tls://` prefixes
/// and the chroot removed, port 2181 by default); `None` when one cannot be read (the client
/// reports that itself).
pub fn endpoints(hosts: &str) -> Option<Vec<(String, u16)>> {
    let mut out = Vec::new();
    for part in hosts.split(',') {
        let part = part.trim();
        let part = part
            .strip_prefix("tcp://")
            .or_else(|| part.strip_prefix("tcp+tls://"))
            .unwrap_or(part);
        let addr = part.split('/').next().unwrap_or_default();
        let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            match after.strip_prefix(':') {
                Some(p) => (host, p.parse().ok()?),
                None if after.is_empty() => (host, 2181),
                None => return None,
            }
        } else {
            match addr.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().ok()?),
                None => (addr, 2181),
            }
        };
        if host.is_empty() {
            return None;
        }
        out.push((host.to_owned(), port));
    }
    (!out.is_empty()).then_some(out)
}

/// Resolves to the causes once every host has definitely failed; never resolves while one of
/// them might answer (it accepted a TCP connection, or has not answered within `wait`).
async fn all_hosts_fail(opts: &ConnectOptions, wait: Duration) -> Option<Failure> {
    let hosts = opts.hosts.as_str();
    let Some(endpoints) = endpoints(hosts) else {
        return std::future::pending().await;
    };
    // A healthy ensemble usually answers the real connect first: probing it too would only
    // leave an "unable to read additional data" warning in its log.
    tokio::time::sleep(PROBE_DELAY.min(wait / 4)).await;
    let probes = endpoints.iter().map(|(host, port)| async move {
        if let Some(cause) = probe(host, *port, wait).await {
            return Some(Failure::Network(cause));
        }
        if tls_endpoint(hosts, host, *port, &opts.security) {
            // The port answers: see whether a TLS handshake can work.
            return security::diagnose_tls(&opts.security, hosts, host, *port)
                .await
                .map(Failure::Tls);
        }
        // A plaintext session that has not started after a while: a secureClientPort would
        // wait forever for a TLS handshake.
        tokio::time::sleep(PLAINTEXT_TO_TLS_DELAY.min(wait / 2)).await;
        security::speaks_tls(host, *port).await.then(|| {
            Failure::Tls(format!(
                "{host}:{port} speaks TLS (a secureClientPort): write it as tcp+tls://{host}:{port} or pass --tls"
            ))
        })
    });
    let results = futures::future::join_all(probes).await;
    let mut causes = Vec::new();
    let mut tls = false;
    for r in results {
        match r {
            Some(Failure::Network(cause)) => causes.push(cause),
            Some(Failure::Tls(cause)) => {
                tls = true;
                causes.push(cause);
            }
            None => return std::future::pending().await,
        }
    }
    tracing::debug!(?causes, "no ZooKeeper host can answer");
    let causes = causes.join("; ");
    Some(if tls {
        Failure::Tls(causes)
    } else {
        Failure::Network(causes)
    })
}

/// Why no host of a connection string can serve this session.
#[derive(Debug)]
enum Failure {
    /// Nothing can answer (refused, unreachable, unknown host).
    Network(String),
    /// A host answers, but TLS cannot work with these settings (at least one host).
    Tls(String),
}

/// How long a plaintext connect waits before checking whether the port speaks TLS.
const PLAINTEXT_TO_TLS_DELAY: Duration = Duration::from_millis(1200);

/// True when the session talks TLS to this endpoint: written `tcp+tls://`, or `--tls` and not
/// written `tcp://`.
fn tls_endpoint(hosts: &str, host: &str, port: u16, security: &Security) -> bool {
    let all = security.tls.as_ref().is_some_and(|t| t.all_hosts);
    hosts.split(',').map(str::trim).any(|part| {
        let (tls, rest) = if let Some(r) = part.strip_prefix("tcp+tls://") {
            (true, r)
        } else if let Some(r) = part.strip_prefix("tcp://") {
            (false, r)
        } else {
            (all, part)
        };
        tls && endpoints(rest).is_some_and(|e| e.first() == Some(&(host.to_owned(), port)))
    })
}

/// `Some(cause)` when `host:port` definitely cannot answer; `None` when it might.
async fn probe(host: &str, port: u16, wait: Duration) -> Option<String> {
    let addrs: Vec<std::net::SocketAddr> = match lookup_host((host, port)).await {
        Ok(a) => a.collect(),
        Err(e) => return Some(format!("{host}: cannot resolve the host name ({e})")),
    };
    if addrs.is_empty() {
        return Some(format!("{host}: the host name has no address"));
    }
    let mut causes = Vec::new();
    for addr in addrs {
        match tokio::time::timeout(wait, TcpStream::connect(addr)).await {
            Ok(Err(e)) if definite(&e) => causes.push(format!("{addr}: {}", describe(&e))),
            _ => return None,
        }
    }
    Some(causes.join(", "))
}

/// Errors that will not go away by waiting a few seconds.
fn definite(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable
    ) || matches!(
        e.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH)
    )
}

fn describe(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused (nothing listens on that port)".into(),
        HostUnreachable => "no route to host".into(),
        NetworkUnreachable => "network unreachable".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(hosts: &str) -> ConnectOptions {
        ConnectOptions {
            hosts: hosts.into(),
            digest_auth: vec![],
            session_timeout: Duration::from_secs(5),
            security: Security::default(),
        }
    }

    #[test]
    fn tls_endpoints_follow_the_prefix_and_the_flag() {
        let none = Security::default();
        let all = Security {
            tls: Some(security::TlsSettings {
                all_hosts: true,
                ..Default::default()
            }),
            sasl: None,
        };
        let h = "a:1,tcp+tls://b:2,tcp://c:3";
        assert!(!tls_endpoint(h, "a", 1, &none));
        assert!(tls_endpoint(h, "b", 2, &none));
        assert!(tls_endpoint(h, "a", 1, &all));
        assert!(!tls_endpoint(h, "c", 3, &all));
    }

    #[test]
    fn endpoints_of_connection_strings() {
        let e = |s: &str| endpoints(s);
        assert_eq!(e("127.0.0.1:1"), Some(vec![("127.0.0.1".into(), 1)]));
        assert_eq!(
            e("a:2182,tcp://b,[::1]:2183/chroot/x"),
            Some(vec![
                ("a".into(), 2182),
                ("b".into(), 2181),
                ("::1".into(), 2183)
            ])
        );
        assert_eq!(e("host/app"), Some(vec![("host".into(), 2181)]));
        assert_eq!(e("a:notaport"), None);
        assert_eq!(e(""), None);
    }

    #[tokio::test]
    async fn refused_everywhere_is_reported_with_the_cause() {
        // A port that was just free on loopback: nothing listens there.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let hosts = format!("127.0.0.1:{port},127.0.0.1:{port}");
        let Some(Failure::Network(cause)) =
            all_hosts_fail(&plain(&hosts), Duration::from_secs(5)).await
        else {
            panic!("a refused connection is a network failure");
        };
        assert!(cause.contains("connection refused"), "{cause}");
    }

    #[tokio::test]
    async fn a_listening_host_keeps_the_wait_going() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let hosts = format!("127.0.0.1:1,{}", listener.local_addr().unwrap());
        let r = tokio::time::timeout(
            Duration::from_millis(500),
            all_hosts_fail(&plain(&hosts), Duration::from_secs(5)),
        )
        .await;
        assert!(
            r.is_err(),
            "must keep waiting while a host might answer: {r:?}"
        );
    }
}

/// An open ZooKeeper session: the handle everything outside `zk/` holds (the CLI, the engine and
/// the agent never name the client crate). Cheap to clone; clones share the session. Dropping the
/// last clone closes the session (its ephemeral nodes vanish).
#[derive(Clone, Debug)]
pub struct Session {
    client: zk::Client,
    /// The identities the server gave this session beyond `--auth` digest (SASL principal,
    /// certificate DN), as ACL entries with all permissions; empty without TLS client
    /// certificate or SASL.
    identities: Vec<AclEntry>,
}

impl Session {
    /// Connects and waits for the session (see [`connect`]).
    ///
    /// # Errors
    /// [`ZkError::Connect`] when no server answers within about the session timeout.
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, ZkError> {
        let client = connect(opts).await?;
        let identities = if opts.security.authenticates() {
            security::identities(&client).await.map_err(|e| {
                ZkError::op("ask the server who this session is (whoAmI) at", "/", e)
            })?
        } else {
            Vec::new()
        };
        if !identities.is_empty() {
            tracing::debug!(?identities, "authenticated");
        }
        Ok(Self { client, identities })
    }

    /// Wraps a client opened elsewhere (tests, the local-server harness).
    pub fn from_client(client: zk::Client) -> Self {
        Self {
            client,
            identities: Vec::new(),
        }
    }

    /// The identities the server gave this session beyond `--auth` digest (see
    /// [`crate::records::StatePaths::with_identities`]).
    pub fn identities(&self) -> &[AclEntry] {
        &self.identities
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
        state: &crate::records::StatePaths,
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
