//! Errors of the ZooKeeper side, classified for the exit-code scheme.
use zookeeper_client as zk;

/// A failure talking to ZooKeeper.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ZkError {
    #[error("failed to connect to ZooKeeper at {hosts}: {source}")]
    Connect {
        hosts: String,
        #[source]
        source: zk::Error,
    },
    #[error(
        "failed to connect to ZooKeeper at {hosts}: {cause}; check --zk (or ZKSTATE_ZK) and that ZooKeeper is running there"
    )]
    Unreachable { hosts: String, cause: String },
    #[error(
        "no ZooKeeper server at {hosts} answered within {waited:?}; check --zk (or ZKSTATE_ZK), and that the ports are the secureClientPort when using TLS (tcp+tls:// or --tls) or the plaintext clientPort otherwise"
    )]
    NoAnswer {
        hosts: String,
        waited: std::time::Duration,
    },
    #[error(
        "failed to authenticate to ZooKeeper at {hosts} with {who}: the server refused the credentials (AUTH_FAILED); check --sasl (or ZKSTATE_SASL) and the server's JAAS configuration"
    )]
    AuthFailed { hosts: String, who: String },
    #[error("failed to connect to ZooKeeper at {hosts}: TLS cannot work: {cause}")]
    Tls { hosts: String, cause: String },
    #[error(transparent)]
    NewerFormat(crate::records::NewerFormat),
    #[error("failed to set up a secured connection: {0}")]
    Credentials(String),
    #[error("failed to {op} {path}: {source}")]
    Op {
        op: &'static str,
        path: String,
        #[source]
        source: zk::Error,
    },
    #[error(
        "not authorized to {what} {path}: the ACL does not allow it for this session's identity (--auth digest:USER:PASSWORD, --sasl, or a --tls-cert the ACL names); nothing was written"
    )]
    NotAuthorized { what: &'static str, path: String },
    #[error("invalid option: {0}")]
    Invalid(String),
    #[error("leader lock {path} not acquired within {timeout:?} (held by {holder})")]
    LockTimeout {
        path: String,
        holder: String,
        timeout: std::time::Duration,
    },
    #[error("lost the leader lock {0}: refusing to write")]
    LockLost(String),
    #[error(
        "corrupt zkstate record at {path}: {message}; nothing was written (an unreadable record is never a reason to delete: repair or remove that node by hand)"
    )]
    Corrupt { path: String, message: String },
}

impl ZkError {
    pub fn op(op: &'static str, path: impl Into<String>, source: zk::Error) -> Self {
        ZkError::Op {
            op,
            path: path.into(),
            source,
        }
    }
}

impl From<crate::records::NewerFormat> for ZkError {
    fn from(e: crate::records::NewerFormat) -> Self {
        ZkError::NewerFormat(e)
    }
}

impl From<crate::records::Corrupt> for ZkError {
    fn from(c: crate::records::Corrupt) -> Self {
        ZkError::Corrupt {
            path: c.path,
            message: c.message,
        }
    }
}
