//! Value types shared by every stage: validated znode paths ([`ZPath`]), ACLs, the desired
//! state that manifests expand into, the live tree a snapshot reads, and the ownership inventory;
//! and ([`spec`]) the Service / Queue / ElectionGroup and ACL specs that the manifest and the
//! recipes share.
//!
//! Pure data: no I/O, no async, no ZooKeeper client types.
mod acl;
mod check;
mod ignore;
mod path;
pub mod spec;
mod state;

pub use acl::{AclEntry, Perms};
pub use check::{DEFAULT_CHECK_INTERVAL, HealthCheck, HostPort, parse_positive_duration};
pub use ignore::{IgnoreError, IgnoreMatcher};
pub use path::{PathError, ZPath};
pub use state::*;

/// Default jute.maxbuffer of a ZooKeeper server: the largest request (and znode) it accepts.
pub const JUTE_MAXBUFFER: usize = 1024 * 1024 - 1;
/// Largest data a single znode may hold (ZooKeeper rejects a request of 1 MiB or more).
pub const MAX_NODE_DATA: usize = 1024 * 1024 - 1024;
