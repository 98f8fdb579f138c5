//! The one place the agent calls the reconcile engine. Every pass goes through these functions,
//! so moving to a new engine API changes this file only.
use crate::model::DesiredState;
use crate::zk::ZkError;
use crate::zk::agent_session::Client;
use crate::zk::lock::LeaderLock;
pub use crate::zk::reconcile::{ApplyError, ApplyOutcome, Observed, PassOptions};

/// A leader's pass: plan and apply under the lock (fenced multi, conflicts re-planned).
pub async fn apply(
    client: &Client,
    lock: &LeaderLock,
    desired: &DesiredState,
    opts: &PassOptions,
) -> Result<ApplyOutcome, ApplyError> {
    crate::zk::reconcile::apply(client, lock, desired, opts).await
}

/// An observe-only pass: plan, write nothing.
pub async fn observe(
    client: &Client,
    desired: &DesiredState,
    opts: &PassOptions,
) -> Result<Observed, ZkError> {
    crate::zk::reconcile::observe(client, desired, opts).await
}

/// The status report of SPEC §2 (`zkstate status --output json`).
pub async fn status(
    client: &Client,
    desired: Option<&DesiredState>,
    opts: &PassOptions,
) -> Result<serde_json::Value, ZkError> {
    crate::cli::status::collect(client, desired, opts).await
}
