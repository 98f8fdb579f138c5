//! The reconcile engine: one pass over one manifest set, shared by `diff`, `apply`, `status`,
//! `suspend`/`resume`, `dev` and the agent. It owns the order of the stages — (lock) → read
//! zkstate's records → snapshot the managed subtrees → plan → guards (suspend, `--max-deletes`,
//! size) → fenced commit, re-planning on conflict → (release) — and returns a typed
//! [`PassReport`]; the stages themselves live in [`crate::zk::reconcile`] (`observe`, `apply`),
//! which the engine calls and never duplicates. The engine prints nothing: `cli/` renders its
//! reports ([`PlanReport`], [`StatusReport`]) as text or JSON, the agent serves them on
//! `/status` and turns them into metrics.
//!
//! # The API, for the CLI and the agent
//!
//! - A [`Session`] (from `zk/`) is opened by the caller and given to [`Engine::new`] together
//!   with the [`PassOptions`]; the engine never connects or reconnects. After a session expiry
//!   the agent builds a new `Session` and a new `Engine` (or [`Engine::set_session`]).
//! - The leader lock is a [`Leadership`] value whose lifetime the caller controls:
//!   [`Leadership::acquire`] (waits, honours a timeout and a [`CancellationToken`]) and
//!   [`Leadership::release`]. The agent holds one across many passes; one-shot commands use
//!   [`Engine::apply_once`], which acquires, runs one pass and releases.
//! - [`Engine::pass`] runs one pass: [`PassMode::Observe`] plans and reports without the lock and
//!   writes nothing (`diff`, `status`, the agent's `--observe`, a standby); [`PassMode::Apply`]
//!   borrows the held [`Leadership`] and commits. Every pass reads the inventory and the live
//!   tree (a trigger is a reason, never a diff); [`Engine::pass_cached`] takes the tree from the
//!   agent's live cache ([`LiveCache`]), reading only the nodes that differ.
//! - [`Engine::suspended`] / [`Engine::set_suspended`] read and write `<state-path>/suspend`;
//!   an apply pass also reports [`Outcome::Suspended`] by itself.
//! - [`Engine::status`] builds the docs/contract.md §2 [`StatusReport`].
//! - Every [`PassReport`] carries the plan, the [`Outcome`], [`Timings`] (snapshot, plan,
//!   commit, total), attempts, ops, bytes and batches, with helpers for metrics
//!   ([`PassReport::counts`], [`PassReport::drift_by_owner`]).
//!
//! # Cancellation
//!
//! Shutdown is passed in as a [`CancellationToken`]. It is honoured while waiting for the lock
//! and before a pass starts; a pass that has started runs to its end (a multi is never abandoned
//! half-way, and the number of conflict retries is bounded), so the caller can cancel and then
//! await the pass to shut down cleanly.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use tokio_util::sync::CancellationToken;

use crate::model::{DesiredState, Owner};
use crate::plan::{Plan, Summary};
use crate::records::StatePaths;
use crate::zk::ZkError;
use crate::zk::apply::ExecError;
pub use crate::zk::cache::LiveCache;
use crate::zk::lock::{self, LeaderLock, LockFormat};
pub use crate::zk::reconcile::PassOptions;
use crate::zk::reconcile::{self, ApplyError, ApplyOutcome, Observed};
pub use crate::zk::session::{ConnectOptions, Session};

mod report;
mod status;

pub use report::{
    AdoptedReport, ChangeReport, KeptOwnerReport, PlanReport, SENSITIVE, Shown, kept_hint,
};
pub use status::{
    ElectionStatus, InstanceStatus, LastApply, LockStatus, QueueStatus, ServiceStatus,
    StatusReport, TreeStatus,
};

/// Why a pass or a lock acquisition failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The lock was not acquired within the timeout (CLI exit 4).
    #[error(transparent)]
    LockTimeout(ZkError),
    /// Shutdown was requested before the pass started.
    #[error("cancelled before the pass started; nothing was written")]
    Cancelled,
    /// The plan is larger than one request and splitting is off: a guard refusal (CLI exit 3).
    #[error(transparent)]
    TooLarge(ExecError),
    /// Conflicts exhausted, I/O, connection, corrupt records (CLI exit 2).
    #[error(transparent)]
    Apply(ApplyError),
}

impl From<ZkError> for EngineError {
    fn from(e: ZkError) -> Self {
        match e {
            e @ ZkError::LockTimeout { .. } => EngineError::LockTimeout(e),
            e => EngineError::Apply(ApplyError::Zk(e)),
        }
    }
}

impl From<ApplyError> for EngineError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Exec(e @ ExecError::TooLarge { .. }) => EngineError::TooLarge(e),
            ApplyError::Zk(e) => e.into(),
            e => EngineError::Apply(e),
        }
    }
}

/// The leader lock, held. Fences every commit of [`PassMode::Apply`]. Dropping it without
/// [`Leadership::release`] leaves the lock node until the session closes.
#[derive(Debug)]
pub struct Leadership {
    lock: LeaderLock,
    /// State nodes whose open ACL was tightened to the `--auth` identities while acquiring.
    pub tightened: usize,
}

/// How to take the lock for a one-shot apply.
#[derive(Clone, Debug)]
pub struct LockRequest {
    pub format: LockFormat,
    /// Give up after this long ([`EngineError::LockTimeout`]); `None` waits until cancelled.
    pub timeout: Option<Duration>,
}

impl Leadership {
    /// The targeted revert of `paths` ([`reconcile::revert_data`]) under this lock.
    ///
    /// # Errors
    /// As [`reconcile::revert_data`].
    pub async fn revert_data(
        &self,
        session: &Session,
        desired: &crate::model::DesiredState,
        paths: &[crate::model::ZPath],
        opts: &PassOptions,
    ) -> Result<Option<reconcile::Reverted>, ZkError> {
        reconcile::revert_data(session.client(), &self.lock, desired, paths, opts).await
    }

    /// Creates zkstate's lock and inventory directories when missing (with the state ACL; an
    /// open state is tightened under `--auth`, see [`Leadership::tightened`]), then contends for
    /// `<state-path>/lock` as `identifier` and waits to lead.
    ///
    /// # Errors
    /// [`EngineError::LockTimeout`] naming the holder after `req.timeout`;
    /// [`EngineError::Cancelled`] when `cancel` fires first (our contender node, if created, is
    /// deleted, so an abandoned wait never blocks a later one); session errors otherwise.
    pub async fn acquire(
        session: &Session,
        state: &StatePaths,
        identifier: &str,
        req: &LockRequest,
        cancel: &CancellationToken,
    ) -> Result<Self, EngineError> {
        let work = async {
            let tightened = reconcile::prepare_state(session.client(), state).await?;
            let lock = lock::acquire_with_acl(
                session.client(),
                state.root.as_str(),
                identifier,
                req.format,
                req.timeout,
                &state.acl,
            )
            .await?;
            Ok::<_, ZkError>((lock, tightened))
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                if let Err(e) = session.delete_own_children(state.lock().as_str()).await {
                    tracing::warn!(error = %e, "failed to withdraw from the lock; it goes with the session");
                }
                Err(EngineError::Cancelled)
            }
            r = work => {
                let (lock, tightened) = r?;
                Ok(Self { lock, tightened })
            }
        }
    }

    /// The full path of our lock node.
    pub fn node(&self) -> &str {
        &self.lock.node
    }

    /// Deletes our lock node.
    pub async fn release(self, session: &Session) -> Result<(), ZkError> {
        lock::release(session.client(), &self.lock).await
    }
}

/// What a pass may do.
#[derive(Clone, Copy, Debug)]
pub enum PassMode<'a> {
    /// Plan and report; no lock, no writes.
    Observe,
    /// Plan and commit, fenced by the held lock.
    Apply(&'a Leadership),
}

/// How a pass ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An observe pass: planned, nothing written by design.
    Planned,
    /// Nothing to write.
    InSync,
    /// Committed.
    Applied {
        /// Changes written (observe-mode changes excluded).
        changes: usize,
        /// Changes of `mode: observe` owners, reported and not written.
        observe_only: usize,
    },
    /// `<state-path>/suspend` exists: planned and reported, nothing written.
    Suspended,
    /// A safety guard refused the plan; nothing written.
    Refused { reason: String },
}

impl Outcome {
    /// A short label for logs and the `result` metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Planned => "planned",
            Outcome::InSync => "in_sync",
            Outcome::Applied { .. } => "applied",
            Outcome::Suspended => "suspended",
            Outcome::Refused { .. } => "refused",
        }
    }
}

/// Where a pass spent its time. `snapshot` and `plan` are those of the last attempt; `commit` is
/// the rest of the pass (the multi(s), ACL changes, and earlier attempts lost to conflicts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timings {
    pub snapshot: Duration,
    pub plan: Duration,
    pub commit: Duration,
    pub total: Duration,
}

/// The result of one pass.
#[derive(Clone, Debug)]
pub struct PassReport {
    pub plan: Plan,
    pub outcome: Outcome,
    pub timings: Timings,
    /// Plan/commit attempts (1 unless conflicts forced re-plans; 1 for observe passes).
    pub attempts: usize,
    /// Ops sent in multis (inventory and applied record included); 0 when nothing was written.
    pub ops: usize,
    /// Serialized request bytes sent.
    pub bytes: usize,
    /// Atomic transactions (more than one only with `allow_split`).
    pub batches: usize,
    /// `<state-path>/suspend` existed when the pass read the records.
    pub suspended: bool,
    /// The commit's reply was lost with the connection, and the applied record showed it
    /// landed (transaction sizes unknown).
    pub confirmed_by_record: bool,
    /// [`Engine::apply_once`]: state nodes whose open ACL was tightened while taking the lock.
    pub tightened: usize,
    /// The last attempt planned from the leader's live cache ([`Engine::pass_cached`]).
    pub from_cache: bool,
}

impl PassReport {
    fn new(observed: Observed, outcome: Outcome, total: Duration) -> Self {
        let t = observed.timings;
        Self {
            suspended: observed.stored.suspended,
            from_cache: observed.from_cache,
            plan: observed.plan,
            outcome,
            timings: Timings {
                snapshot: t.snapshot,
                plan: t.plan,
                commit: total.saturating_sub(t.snapshot + t.plan),
                total,
            },
            attempts: 1,
            ops: 0,
            bytes: 0,
            batches: 0,
            confirmed_by_record: false,
            tightened: 0,
        }
    }

    /// Changes counted by op (create / update / delete), observe-mode changes included.
    pub fn counts(&self) -> Summary {
        self.plan.summary()
    }

    /// Drift per owner (tree, service, queue, election group) found by this pass.
    pub fn drift_by_owner(&self) -> BTreeMap<Owner, Summary> {
        self.plan.drift_by_owner()
    }

    /// True when the live tree matched the manifests (nothing to create, update or delete).
    pub fn in_sync(&self) -> bool {
        self.plan.is_empty()
    }

    /// The typed docs/contract.md §2 plan object of this pass.
    pub fn plan_report(&self) -> PlanReport {
        PlanReport::new(&self.plan)
    }
}

/// One session, one set of pass options: runs passes and reads status.
#[derive(Debug)]
pub struct Engine {
    session: Session,
    opts: PassOptions,
}

impl Engine {
    /// The state is guarded for the identities the session authenticated as
    /// ([`PassOptions::guard_for`]).
    pub fn new(session: Session, mut opts: PassOptions) -> Self {
        opts.guard_for(&session);
        Self { session, opts }
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Replaces the session (after an expiry); a [`Leadership`] from the old one is void.
    pub fn set_session(&mut self, session: Session) {
        self.opts.guard_for(&session);
        self.session = session;
    }

    pub fn options(&self) -> &PassOptions {
        &self.opts
    }

    /// Options for the next passes (e.g. a new manifest digest after a reload).
    pub fn options_mut(&mut self) -> &mut PassOptions {
        &mut self.opts
    }

    /// Runs one pass over `desired`.
    ///
    /// # Errors
    /// [`EngineError::TooLarge`] for a plan over one request without `allow_split`;
    /// [`EngineError::Apply`] for exhausted conflicts, connection and record errors. Nothing is
    /// half-applied: every error leaves each batch either fully committed or not at all.
    pub async fn pass(
        &self,
        desired: &DesiredState,
        mode: PassMode<'_>,
    ) -> Result<PassReport, EngineError> {
        self.pass_prefetched(desired, mode, None).await
    }

    /// Reads the records and the subtrees they name before the desired state is known (see
    /// [`reconcile::prefetch`]); hand the result to [`Engine::pass_prefetched`].
    ///
    /// # Errors
    /// Reading failed.
    pub async fn prefetch(&self) -> Result<reconcile::Prefetch, ZkError> {
        reconcile::prefetch(self.session.client(), &self.opts).await
    }

    /// [`Engine::pass`] reusing `prefetched` when it covers what `desired` needs: an observe
    /// pass takes it whole, an apply pass reads the records again under its lock and reuses
    /// the tree for its first attempt.
    ///
    /// # Errors
    /// As [`Engine::pass`].
    #[tracing::instrument(name = "pass", skip_all, fields(session = self.session.id(), mode = mode_name(&mode)))]
    pub async fn pass_prefetched(
        &self,
        desired: &DesiredState,
        mode: PassMode<'_>,
        prefetched: Option<reconcile::Prefetch>,
    ) -> Result<PassReport, EngineError> {
        self.run_pass(desired, mode, prefetched, None).await
    }

    /// [`Engine::pass`] that plans from the leader's live cache when it can answer, and
    /// otherwise reads in full and fills it ([`LiveCache`], docs/agent.md "The live cache").
    /// `trust = false` reads in full whatever the cache holds (start, reconnect, resync).
    ///
    /// # Errors
    /// As [`Engine::pass`].
    pub async fn pass_cached(
        &self,
        desired: &DesiredState,
        mode: PassMode<'_>,
        cache: &mut LiveCache,
        trust: bool,
    ) -> Result<PassReport, EngineError> {
        if !trust {
            cache.invalidate();
        }
        self.run_pass(desired, mode, None, Some(cache)).await
    }

    async fn run_pass(
        &self,
        desired: &DesiredState,
        mode: PassMode<'_>,
        prefetched: Option<reconcile::Prefetch>,
        cache: Option<&mut LiveCache>,
    ) -> Result<PassReport, EngineError> {
        let started = Instant::now();
        let client = self.session.client();
        let report = match mode {
            PassMode::Observe => {
                let observed = match cache {
                    Some(c) => reconcile::observe_through(client, desired, &self.opts, c).await?,
                    None => {
                        reconcile::observe_prefetched(client, desired, &self.opts, prefetched)
                            .await?
                    }
                };
                PassReport::new(observed, Outcome::Planned, started.elapsed())
            }
            PassMode::Apply(leader) => {
                match reconcile::apply_with(
                    client,
                    &leader.lock,
                    desired,
                    &self.opts,
                    cache,
                    prefetched,
                )
                .await?
                {
                    ApplyOutcome::InSync(o) => {
                        PassReport::new(o, Outcome::InSync, started.elapsed())
                    }
                    ApplyOutcome::Suspended(o) => {
                        PassReport::new(o, Outcome::Suspended, started.elapsed())
                    }
                    ApplyOutcome::Refused { observed, reason } => {
                        PassReport::new(observed, Outcome::Refused { reason }, started.elapsed())
                    }
                    ApplyOutcome::Applied {
                        observed,
                        report,
                        attempts,
                    } => {
                        let changes = observed.plan.writable().count();
                        let observe_only = observed.plan.changes.len() - changes;
                        let mut r = PassReport::new(
                            observed,
                            Outcome::Applied {
                                changes,
                                observe_only,
                            },
                            started.elapsed(),
                        );
                        r.attempts = attempts;
                        r.ops = report.ops;
                        r.bytes = report.bytes;
                        r.batches = report.batches;
                        r.confirmed_by_record = report.confirmed_by_record;
                        r
                    }
                }
            }
        };
        let c = report.counts();
        tracing::info!(
            outcome = report.outcome.label(),
            from_cache = report.from_cache,
            creates = c.create,
            updates = c.update,
            deletes = c.delete,
            attempts = report.attempts,
            ms = report.timings.total.as_millis() as u64,
            "pass done"
        );
        Ok(report)
    }

    /// A one-shot apply: takes the lock, runs one [`PassMode::Apply`] pass, releases the lock
    /// (also when the pass failed).
    ///
    /// # Errors
    /// As [`Leadership::acquire`] and [`Engine::pass`].
    pub async fn apply_once(
        &self,
        desired: &DesiredState,
        req: &LockRequest,
        cancel: &CancellationToken,
    ) -> Result<PassReport, EngineError> {
        self.apply_once_prefetched(desired, req, cancel, None).await
    }

    /// [`Engine::apply_once`] whose first attempt plans from the tree in `prefetched` (read
    /// while the manifests loaded, [`Engine::prefetch`]); the records are read again under the
    /// lock, and a tree that changed in between only fails a version check, which re-reads.
    ///
    /// # Errors
    /// As [`Engine::apply_once`].
    pub async fn apply_once_prefetched(
        &self,
        desired: &DesiredState,
        req: &LockRequest,
        cancel: &CancellationToken,
        prefetched: Option<reconcile::Prefetch>,
    ) -> Result<PassReport, EngineError> {
        let leader = Leadership::acquire(
            &self.session,
            &self.opts.state,
            &self.opts.identifier,
            req,
            cancel,
        )
        .await?;
        if cancel.is_cancelled() {
            let _ = leader.release(&self.session).await;
            return Err(EngineError::Cancelled);
        }
        let mut result = self
            .pass_prefetched(desired, PassMode::Apply(&leader), prefetched)
            .await;
        if let Ok(r) = &mut result {
            r.tightened = leader.tightened;
        }
        if let Err(e) = leader.release(&self.session).await {
            tracing::warn!(error = %e, "failed to release the leader lock; it goes with the session");
        }
        result
    }

    /// Whether `<state-path>/suspend` exists.
    pub async fn suspended(&self) -> Result<bool, ZkError> {
        Ok(
            reconcile::read_stored(self.session.client(), &self.opts.state)
                .await?
                .suspended,
        )
    }

    /// Creates (`true`) or deletes (`false`) `<state-path>/suspend`, recording our identifier
    /// in it. Returns whether anything changed (`false`: it already was so).
    pub async fn set_suspended(&self, suspend: bool) -> Result<bool, ZkError> {
        let path = self.opts.state.suspend();
        if suspend {
            self.session
                .create_state_node(&self.opts.state, &path, self.opts.identifier.as_bytes())
                .await
        } else {
            self.session.delete_if_present(path.as_str()).await
        }
    }

    /// The depth of every declared queue (cheap: child listings only).
    pub async fn queue_depths(&self, desired: &DesiredState) -> Result<Vec<QueueStatus>, ZkError> {
        status::queue_depths(&self.session, desired).await
    }

    /// The docs/contract.md §2 status: with `desired`, the declared resources and their drift; without,
    /// what the inventory records.
    pub async fn status(&self, desired: Option<&DesiredState>) -> Result<StatusReport, ZkError> {
        status::collect(&self.session, desired, &self.opts).await
    }
}

fn mode_name(m: &PassMode<'_>) -> &'static str {
    match m {
        PassMode::Observe => "observe",
        PassMode::Apply(_) => "apply",
    }
}

#[cfg(test)]
mod tests;
