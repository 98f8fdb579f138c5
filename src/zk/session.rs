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
