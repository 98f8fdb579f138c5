//! The only module that talks to ZooKeeper: sessions ([`session`], secured by [`security`]), snapshots of the managed
//! subtrees ([`snapshot`]) and the leader's live cache of them ([`cache`]), the leader lock ([`lock`]), reading and writing the ownership
//! inventory and applied-state record (encoded by [`crate::records`]), and the atomic executor that turns a plan into fenced multi-op
//! transactions ([`apply`]). [`reconcile`] wires them into one pass that the CLI and the agent
//! share.
pub mod agent_session;
pub mod apply;
pub mod cache;
pub mod error;
pub mod host;
pub mod lock;
pub mod reconcile;
pub mod security;
pub mod session;
pub mod snapshot;
pub mod watch;

pub use error::ZkError;
