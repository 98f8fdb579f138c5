//! The one place the agent calls the reconcile engine ([`crate::engine`]). Every pass goes
//! through these functions, so a change of the engine's API changes this file only.
use crate::engine::{
    Engine, EngineError, Leadership, LiveCache, PassMode, PassReport, QueueStatus, StatusReport,
};
pub use crate::engine::{LockRequest, PassOptions};
use crate::model::DesiredState;
use crate::zk::ZkError;
use crate::zk::session::Session;

/// A leader's pass: plan and apply under the held lock (fenced multi, conflicts re-planned).
/// With a live cache it plans from it when `trust` and the cache can answer.
pub async fn apply(
    session: &Session,
    leader: &Leadership,
    desired: &DesiredState,
    opts: &PassOptions,
    cache: Option<&mut LiveCache>,
    trust: bool,
) -> Result<PassReport, EngineError> {
    let engine = Engine::new(session.clone(), opts.clone());
    match cache {
        Some(c) => {
            engine
                .pass_cached(desired, PassMode::Apply(leader), c, trust)
                .await
        }
        None => engine.pass(desired, PassMode::Apply(leader)).await,
    }
}

/// An observe-only pass (`--observe`): plan, write nothing.
pub async fn observe(
    session: &Session,
    desired: &DesiredState,
    opts: &PassOptions,
    cache: Option<&mut LiveCache>,
    trust: bool,
) -> Result<PassReport, EngineError> {
    let engine = Engine::new(session.clone(), opts.clone());
    match cache {
        Some(c) => {
            engine
                .pass_cached(desired, PassMode::Observe, c, trust)
                .await
        }
        None => engine.pass(desired, PassMode::Observe).await,
    }
}

/// The docs/contract.md §2 status report.
pub async fn status(
    session: &Session,
    desired: Option<&DesiredState>,
    opts: &PassOptions,
) -> Result<StatusReport, ZkError> {
    Engine::new(session.clone(), opts.clone())
        .status(desired)
        .await
}

/// The depth of every declared queue, for `zkstate_queue_depth` after each pass.
pub async fn queue_depths(
    session: &Session,
    desired: &DesiredState,
    opts: &PassOptions,
) -> Result<Vec<QueueStatus>, ZkError> {
    Engine::new(session.clone(), opts.clone())
        .queue_depths(desired)
        .await
}
