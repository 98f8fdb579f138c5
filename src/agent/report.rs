//! What one agent pass reports and where it goes: the [`PassSummary`] a pass fills, its
//! tracing span fields, the Prometheus metrics it updates, and the `/status` view served
//! between passes (the engine's typed status plus an `agent` member).
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use serde_json::json;

use super::calls::{self, PassOptions};
use super::host::HostReport;
use super::{Live, Settings};
use crate::engine::PassReport as EngineReport;
use crate::manifest::LoadedSet;
use crate::model::Kind;
use crate::telemetry::http::StatusSource;
use crate::telemetry::metrics::{
    Metrics, QueueLabel, ResultLabel, ServiceLabel, SourceLabel, TreeLabel,
};
use crate::zk::session::Session;

/// How a pass ended: the `result` label of `zkstate_reconcile_total` and `/status`'s
/// `agent.lastPass.result`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PassResult {
    /// Not decided yet (a pass in progress).
    #[default]
    Undecided,
    Applied,
    InSync,
    Suspended,
    /// A safety guard (or the size limit without `--allow-split`) refused the plan.
    Refused,
    /// `--observe`: planned and reported, nothing written.
    Observe,
    Standby,
    Error,
    NoManifests,
}

impl PassResult {
    pub fn as_str(self) -> &'static str {
        match self {
            PassResult::Undecided => "undecided",
            PassResult::Applied => "applied",
            PassResult::InSync => "in_sync",
            PassResult::Suspended => "suspended",
            PassResult::Refused => "refused",
            PassResult::Observe => "observe",
            PassResult::Standby => "standby",
            PassResult::Error => "error",
            PassResult::NoManifests => "no_manifests",
        }
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub(super) struct PassSummary {
    pub(super) result: PassResult,
    pub(super) leader: bool,
    pub(super) drift: BTreeMap<String, i64>,
    pub(super) changes: usize,
    pub(super) written: usize,
    pub(super) multi_ops: usize,
    pub(super) multi_bytes: Vec<usize>,
    pub(super) error: Option<String>,
    pub(super) lock_lost: bool,
    /// What may be watched, for the roles' watches.
    pub(super) watch: super::WatchTargets,
    pub(super) host: Option<HostReport>,
    pub(super) set: Option<Arc<LoadedSet>>,
    pub(super) manifest_errors: Vec<String>,
    /// Depth of every declared queue, read after the pass.
    pub(super) queues: Vec<(String, u64)>,
    /// Where a leader's pass got the tree: `targeted` (the named nodes only), `cache` (the live
    /// cache) or `read` (a full read, which fills the cache); `None` for other passes.
    pub(super) source: Option<&'static str>,
    /// Nodes the live cache holds after the pass.
    pub(super) cache_nodes: usize,
    /// `--git`: the source's status (docs/contract.md §4a).
    pub(super) git: Option<serde_json::Value>,
    /// `--git`: fetches since start by result (`ok`, `error`, `rejected`) and the last
    /// fetch's Unix time.
    pub(super) git_fetches: Option<([u64; 3], Option<f64>)>,
}

/// What `/status` needs between passes.
#[derive(Default)]
pub(super) struct StatusView {
    pub(super) session: Option<Session>,
    pub(super) set: Option<Arc<LoadedSet>>,
    pub(super) opts: Option<PassOptions>,
    pub(super) agent: serde_json::Value,
    /// Why the last connect failed (bad credentials, untrusted certificate, no server), until
    /// a connect succeeds.
    pub(super) connect_error: Option<String>,
}

/// Records why connecting failed (`None` once connected), for `/status` and `/readyz`.
pub(super) fn set_connect_error(view: &Mutex<StatusView>, error: Option<String>) {
    if let Ok(mut v) = view.lock() {
        if error.is_some() {
            // The last session ended: `/status` must not read through it.
            v.session = None;
        }
        v.connect_error = error;
    }
}

pub(super) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

pub(super) fn fail_pass(report: &mut PassSummary, error: String, lock_lost: bool) {
    tracing::warn!(%error, "reconcile pass failed; retrying with backoff");
    report.result = PassResult::Error;
    report.error = Some(error);
    report.lock_lost = lock_lost;
}

pub(super) fn finish(report: &PassSummary, started: std::time::Instant) {
    let span = tracing::Span::current();
    let elapsed = started.elapsed();
    span.record("result", report.result.as_str());
    span.record("written", report.written);
    span.record("duration_ms", elapsed.as_secs_f64() * 1000.0);
    tracing::info!(
        result = report.result.as_str(),
        changes = report.changes,
        written = report.written,
        duration_ms = elapsed.as_secs_f64() * 1000.0,
        "agent pass finished"
    );
}

/// Per-owner drift of a pass (zero for owners in sync), and its counts on the span.
pub(super) fn fill_drift(report: &mut PassSummary, set: &LoadedSet, pass: &EngineReport) {
    let by_owner = pass.drift_by_owner();
    let mut drift: BTreeMap<String, i64> = BTreeMap::new();
    for r in set.state.roots.iter().filter(|r| !r.host_scoped) {
        let n = by_owner
            .get(&r.owner)
            .map(|s| s.create + s.update + s.delete)
            .unwrap_or(0);
        drift.insert(owner_label(&r.owner), n as i64);
    }
    report.drift = drift;
    report.changes = pass.plan.changes.len();
    let s = pass.counts();
    let span = tracing::Span::current();
    span.record("creates", s.create);
    span.record("updates", s.update);
    span.record("deletes", s.delete);
}

/// `tree` label: a ConfigTree's name, `Kind/name` for recipe owners.
pub(super) fn owner_label(owner: &crate::model::Owner) -> String {
    if owner.kind == Kind::ConfigTree {
        owner.name.to_string()
    } else {
        owner.to_string()
    }
}

/// Pass report → metrics.
pub(super) fn record(metrics: &Metrics, report: &PassSummary) {
    metrics
        .reconcile_total
        .get_or_create(&ResultLabel {
            result: report.result.as_str().to_owned(),
        })
        .inc();
    metrics
        .manifest_errors
        .set(report.manifest_errors.len() as i64);
    for (tree, n) in &report.drift {
        metrics
            .drift_nodes
            .get_or_create(&TreeLabel { tree: tree.clone() })
            .set(*n);
    }
    if report.written > 0 {
        metrics.drift_reverted.inc_by(report.written as u64);
        metrics.last_apply_timestamp.set(unix_now());
        metrics.multi_ops.inc_by(report.multi_ops as u64);
        for b in &report.multi_bytes {
            metrics.multi_bytes.observe(*b as f64);
        }
    }
    if let Some(source) = report.source {
        metrics
            .pass_sources
            .get_or_create(&SourceLabel {
                source: source.to_owned(),
            })
            .inc();
    }
    metrics.cache_nodes.set(report.cache_nodes as i64);
    if let Some((counts, last)) = &report.git_fetches {
        for (result, n) in ["ok", "error", "rejected"].into_iter().zip(counts) {
            let c = metrics.source_fetch_total.get_or_create(&ResultLabel {
                result: result.to_owned(),
            });
            let seen = c.get();
            if *n > seen {
                c.inc_by(n - seen);
            }
        }
        if let Some(t) = last {
            metrics.source_last_fetch_timestamp.set(*t);
        }
    }
    for (queue, depth) in &report.queues {
        metrics
            .queue_depth
            .get_or_create(&QueueLabel {
                queue: queue.clone(),
            })
            .set(*depth as i64);
    }
    if let Some(h) = &report.host {
        for (service, n) in &h.registered {
            metrics
                .services_registered
                .get_or_create(&ServiceLabel {
                    service: service.clone(),
                })
                .set(*n as i64);
        }
    }
}

pub(super) fn update_view(
    view: &Mutex<StatusView>,
    session: Option<&Live>,
    report: &PassSummary,
    settings: &Settings,
) {
    let Ok(mut v) = view.lock() else { return };
    v.session = session.map(|s| s.session.clone());
    if report.set.is_some() {
        v.set = report.set.clone();
    }
    v.opts = Some(settings.pass.clone());
    let host = report.host.clone().unwrap_or_default();
    v.agent = json!({
        "hostId": settings.host_id,
        "leader": report.leader,
        "observe": settings.observe,
        "session": session.map(|s| format!("{:#x}", s.session.id())),
        // What the server says this session is (whoAmI: SASL principal, certificate DN).
        "identities": session.map(|s| {
            s.session
                .identities()
                .iter()
                .map(|a| format!("{}:{}", a.scheme, a.id))
                .collect::<Vec<_>>()
        }),
        "lastPass": {
            "result": report.result.as_str(),
            "time": humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            "changes": report.changes,
            "written": report.written,
            "error": report.error,
            "source": report.source,
            "cacheNodes": report.cache_nodes,
        },
        "manifestErrors": report.manifest_errors,
        "registered": host.registered,
        "elected": host.elected,
        "git": report.git,
    });
}

/// `/status`: the docs/contract.md §2 status object for the enforced set, plus an `agent` member; refreshes
/// the queue-depth metric on the way.
pub(super) fn status_source(view: Arc<Mutex<StatusView>>, metrics: Arc<Metrics>) -> StatusSource {
    Arc::new(move || {
        let snapshot = view
            .lock()
            .map(|v| {
                (
                    v.session.clone(),
                    v.set.clone(),
                    v.opts.clone(),
                    v.agent.clone(),
                    v.connect_error.clone(),
                )
            })
            .map_err(|_| ());
        let metrics = metrics.clone();
        async move {
            let Ok((session, set, opts, agent, connect_error)) = snapshot else {
                return Err("status unavailable".to_owned());
            };
            let (Some(session), Some(opts)) = (session, opts) else {
                return Err(match connect_error {
                    Some(e) => format!("not connected to ZooKeeper: {e}"),
                    None => "not connected to ZooKeeper yet".to_owned(),
                });
            };
            let report = calls::status(&session, set.as_ref().map(|s| &s.state), &opts)
                .await
                .map_err(|e| e.to_string())?;
            record_queues(&metrics, &report);
            let mut v = serde_json::to_value(&report).map_err(|e| e.to_string())?;
            if let Some(obj) = v.as_object_mut() {
                // docs/contract.md §4a: `source` at the top, the same as `agent.git`.
                if let Some(git) = agent.get("git").filter(|g| !g.is_null()) {
                    obj.insert("source".into(), git.clone());
                }
                obj.insert("agent".into(), agent);
            }
            Ok(v)
        }
        .boxed()
    })
}

/// `zkstate_queue_depth{queue}` from a status report.
pub(super) fn record_queues(metrics: &Metrics, report: &crate::engine::StatusReport) {
    for q in &report.queues {
        metrics
            .queue_depth
            .get_or_create(&QueueLabel {
                queue: q.name.clone(),
            })
            .set(q.depth as i64);
    }
}
