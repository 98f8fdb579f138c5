//! zkstate: declarative config-sync and reconciliation for Apache ZooKeeper.
//!
//! The stages, read top to bottom:
//!
//! - [`manifest`]: YAML manifests → typed, validated [`model::DesiredState`] (pure, no I/O below the loader).
//! - [`recipes`]: pure expansion of Service / Queue / ElectionGroup into znodes; the only place
//!   that knows kazoo and Curator node formats.
//! - [`model`]: value types shared by every stage: validated znode paths, ACLs, desired and live trees.
//! - [`plan`]: `plan(&DesiredState, &LiveTree, &Options) -> Plan`, pure and deterministic.
//! - [`records`]: the pure encoding of zkstate's own records (inventory, applied record) read
//!   from a snapshot and written as multi ops.
//! - [`zk`]: the only module that talks to ZooKeeper: sessions, snapshots, the leader lock, atomic apply.
//! - [`engine`]: one reconcile pass (lock, snapshot, plan, guards, commit, release) with typed
//!   plan, pass and status reports; what the CLI and the agent call.
//! - [`agent`]: the long-running reconciler: triggers → coalesce → one engine pass; the leader
//!   lock's lifetime; the host keeper (ephemeral registrations, election contenders).
//! - [`telemetry`]: metrics, HTTP endpoints, systemd notify.
//! - [`localzk`]: throwaway local ZooKeeper servers (a JVM on a free loopback port) for `dev` and tests.
//! - [`cli`]: clap types, one file per subcommand, plan and status rendering.

/// The git commit this binary was built from (`git rev-parse --short=12 HEAD`, set by
/// `build.rs`), or `unknown` when it was built outside a git checkout (from a source tarball).
pub const COMMIT: &str = env!("ZKSTATE_COMMIT");

/// `X.Y.Z (COMMIT)`: what `zkstate --version` and `-V` print after the name, `zkstate`
/// (docs/contract.md §3 "Upgrades").
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("ZKSTATE_COMMIT"), ")");

pub mod agent;
pub mod cli;
pub mod engine;
pub mod localzk;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod recipes;
pub mod records;
pub mod telemetry;
pub mod zk;
