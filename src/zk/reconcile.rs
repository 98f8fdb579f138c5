//! One reconcile pass, shared by `diff`, `apply`, `status` and the agent: read zkstate's records,
//! snapshot the managed subtrees, plan, and (for apply) commit under the leader lock with
//! optimistic concurrency — a conflict re-reads, re-plans and retries a bounded number of times.
use std::collections::BTreeSet;
use std::time::SystemTime;

use zookeeper_client as zk;

use super::ZkError;
use super::apply::{ExecError, ExecOptions, ExecReport, execute, set_acls};
use super::cache::LiveCache;
use super::lock::LeaderLock;
use super::snapshot::{Areas, read_acls, snapshot, snapshot_batched, snapshot_structure};
use crate::model::{DesiredState, Kind, LiveTree, Prune};
use crate::plan::{self, Change, Op, Plan};
use crate::records::{
    AppliedRecord, StatePaths, StoredState, WriteOp, applied_op, decode, format_ops, inventory_ops,
};

/// Options of a pass.
#[derive(Clone, Debug)]
pub struct PassOptions {
    pub state: StatePaths,
    pub planner: plan::Options,
    pub exec: ExecOptions,
    /// Refuse to delete more than this many nodes unless `force`.
    pub max_deletes: usize,
    pub force: bool,
    /// Recorded with the apply (e.g. a git commit).
    pub revision: Option<String>,
    /// Who applies (host:pid or host id), recorded with the apply.
    pub identifier: String,
    /// Digest of the manifest set, recorded with the apply.
    pub digest: String,
    /// Plan/commit attempts before giving up on conflicts.
    pub max_attempts: usize,
}

impl PassOptions {
    /// Guards the state for the identities `session` authenticated as (SASL principal,
    /// certificate DN), beside the `--auth` digests (docs/contract.md §3 "State", docs/security.md).
    pub fn guard_for(&mut self, session: &super::session::Session) {
        if session.identities().is_empty() {
            return;
        }
        self.state = self.state.clone().with_identities(session.identities());
        if self.exec.progress_path.is_some() {
            self.exec.progress_acl = self.state.acl.clone();
        }
    }
}

/// A plan together with what it was computed from.
#[derive(Clone, Debug)]
pub struct Observed {
    pub plan: Plan,
    pub live: LiveTree,
    pub stored: StoredState,
    /// How long reading (records + managed subtrees) and planning took.
    pub timings: ObserveTimings,
    /// The tree came from the leader's live cache, not a full read.
    pub from_cache: bool,
}

/// Durations of the read and plan stages of one [`observe`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObserveTimings {
    pub snapshot: std::time::Duration,
    pub plan: std::time::Duration,
}

/// What an apply pass ended with.
#[derive(Clone, Debug)]
pub enum ApplyOutcome {
    /// Nothing to write.
    InSync(Observed),
    Applied {
        observed: Observed,
        report: ExecReport,
        attempts: usize,
    },
    /// `<state-path>/suspend` exists: planned and reported, nothing written.
    Suspended(Observed),
    /// A safety guard refused the plan; nothing written.
    Refused { observed: Observed, reason: String },
}

/// Why an apply pass failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApplyError {
    #[error(
        "gave up after {attempts} attempts: {path} kept changing under us ({message}); nothing more was written"
    )]
    Conflicts {
        path: String,
        message: String,
        attempts: usize,
    },
    #[error(
        "gave up after {attempts} attempts: the connection to ZooKeeper was lost while committing ({message}), and the applied record shows the last attempt did not land; nothing more was written"
    )]
    ConnectionLost { message: String, attempts: usize },
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Zk(#[from] ZkError),
}

/// Reads zkstate's own records; records of a newer format are refused
/// ([`crate::records::NewerFormat`]).
pub async fn read_stored(client: &zk::Client, state: &StatePaths) -> Result<StoredState, ZkError> {
    let stored = read_stored_any_format(client, state).await?;
    stored.check_format(state)?;
    Ok(stored)
}

/// [`read_stored`] without the format check, for `status`, which shows what it can of newer
/// records before it exits 2.
pub async fn read_stored_any_format(
    client: &zk::Client,
    state: &StatePaths,
) -> Result<StoredState, ZkError> {
    let mut areas = Areas::default();
    areas.subtrees.insert(state.inventory());
    areas.nodes.insert(state.applied());
    areas.nodes.insert(state.suspend());
    areas.nodes.insert(state.root.clone());
    // Segments are up to 256 KiB: four per multi-read keep each response near 1 MiB.
    let live = snapshot_batched(client, &areas, 4).await?;
    Ok(decode(state, &live)?)
}

/// True when anyone may change the node (a `world:anyone` entry with more than READ).
fn is_open(acl: &[crate::model::AclEntry]) -> bool {
    acl.iter().any(|e| {
        e.scheme == "world" && e.id == "anyone" && e.perms.0 & !crate::model::Perms::READ.0 != 0
    })
}

/// Most state nodes `prepare_state` walks (lock contenders, owners, segments included).
const STATE_WALK_LIMIT: usize = 100_000;

/// Creates the lock and inventory directories with the state ACL and, when the state is guarded
/// (`--auth`, SASL, a client certificate), tightens every existing persistent node under
/// `<state-path>` that anyone may change (an older, open state). Returns how many nodes were
/// tightened.
pub async fn prepare_state(client: &zk::Client, state: &StatePaths) -> Result<usize, ZkError> {
    for dir in [state.lock(), state.inventory()] {
        super::lock::ensure_state_path(client, &state.root, &dir, &state.acl).await?;
    }
    if !state.is_guarded() {
        return Ok(0);
    }
    let want: Vec<zk::Acl> = state.acl.iter().map(super::snapshot::to_zk_acl).collect();
    let mut tightened = 0;
    let mut queue = std::collections::VecDeque::from([state.root.clone()]);
    let mut seen = 0;
    while let Some(p) = queue.pop_front() {
        seen += 1;
        if seen > STATE_WALK_LIMIT {
            break;
        }
        let (acl, stat) = match client.get_acl(p.as_str()).await {
            Ok(x) => x,
            Err(zk::Error::NoNode) => continue,
            Err(e) => return Err(ZkError::op("read the ACL of", p.as_str(), e)),
        };
        if stat.ephemeral_owner != 0 {
            // A lock contender: its own session's node, gone with it.
            continue;
        }
        let have: Vec<crate::model::AclEntry> =
            acl.iter().map(super::snapshot::from_zk_acl).collect();
        // Only an open node is tightened: a node already guarded (for this identity, or for
        // others that share the state with it, e.g. CI by digest and agents by certificate)
        // is left as it is, so differently authenticated runs never rewrite each other's ACLs
        // back and forth (docs/security.md).
        if is_open(&have) {
            match client.set_acl(p.as_str(), &want, Some(stat.aversion)).await {
                Ok(_) => tightened += 1,
                Err(zk::Error::NoNode) => continue,
                Err(zk::Error::NoAuth) => {
                    return Err(ZkError::NotAuthorized {
                        what: "tighten the ACL of",
                        path: p.to_string(),
                    });
                }
                Err(e) => return Err(ZkError::op("set the ACL of", p.as_str(), e)),
            }
        }
        match client.list_children(p.as_str()).await {
            Ok(children) => queue.extend(children.iter().map(|c| p.child(c))),
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(ZkError::op("list", p.as_str(), e)),
        }
    }
    Ok(tightened)
}

/// What a snapshot must read to plan `desired`.
pub fn areas_for(desired: &DesiredState, stored: &StoredState, opts: &plan::Options) -> Areas {
    let mut areas = Areas::default();
    for r in &desired.roots {
        if opts.skip_host_scoped && r.host_scoped {
            continue;
        }
        areas.subtrees.insert(r.root.clone());
        areas.nodes.extend(r.root.ancestors());
    }
    let roots: BTreeSet<_> = desired.roots.iter().map(|r| &r.owner).collect();
    for (owner, inv) in &stored.inventory.owners {
        if opts.prune_removed && !roots.contains(owner) && inv.prune != Prune::Off {
            areas.subtrees.insert(inv.root.clone());
        }
    }
    for (p, n) in &desired.nodes {
        if !areas.subtrees.iter().any(|s| p.is_within(s)) {
            areas.nodes.insert(p.clone());
        }
        if n.acl.is_some() {
            areas.acls.insert(p.clone());
        }
    }
    areas
}

/// zkstate's records and the subtrees they name, read before the desired state is known (while
/// the manifests still load): a no-op `diff` then needs no read after loading.
#[derive(Clone, Debug)]
pub struct Prefetch {
    pub stored: StoredState,
    /// What was read: every recorded owner's root and its ancestors.
    pub areas: Areas,
    /// Structure only (no ACLs).
    pub live: LiveTree,
    pub read: std::time::Duration,
}

/// Reads the records, then the subtrees of every owner they list.
pub async fn prefetch(client: &zk::Client, opts: &PassOptions) -> Result<Prefetch, ZkError> {
    let started = std::time::Instant::now();
    let stored = read_stored(client, &opts.state).await?;
    let mut areas = Areas::default();
    for inv in stored.inventory.owners.values() {
        areas.subtrees.insert(inv.root.clone());
        areas.nodes.extend(inv.root.ancestors());
    }
    let live = snapshot_structure(client, &areas).await?;
    Ok(Prefetch {
        stored,
        areas,
        live,
        read: started.elapsed(),
    })
}

/// Snapshot + plan, no writes, no lock (`diff`, `status`, and every apply attempt).
pub async fn observe(
    client: &zk::Client,
    desired: &DesiredState,
    opts: &PassOptions,
) -> Result<Observed, ZkError> {
    observe_prefetched(client, desired, opts, None).await
}

/// [`observe`], reusing a [`Prefetch`] when it read everything `desired` needs (the ACLs are
/// read now); otherwise reads the areas afresh. Nodes the prefetch read beyond the areas are
/// dropped, so the plan is the one [`observe`] makes of the same tree.
pub async fn observe_prefetched(
    client: &zk::Client,
    desired: &DesiredState,
    opts: &PassOptions,
    prefetched: Option<Prefetch>,
) -> Result<Observed, ZkError> {
    observe_from(client, desired, opts, prefetched, false).await
}

/// [`observe_prefetched`]; with `reread_records` the records are read again now and only the
/// prefetched tree is reused: an apply takes its records under the lock, while the tree read
/// ahead is safe to plan from because every write checks the version it was planned with.
async fn observe_from(
    client: &zk::Client,
    desired: &DesiredState,
    opts: &PassOptions,
    prefetched: Option<Prefetch>,
    reread_records: bool,
) -> Result<Observed, ZkError> {
    let started = std::time::Instant::now();
    let (stored, live, before) = match prefetched {
        Some(p) => {
            let stored = if reread_records {
                read_stored(client, &opts.state).await?
            } else {
                p.stored
            };
            let areas = areas_for(desired, &stored, &opts.planner);
            let live = if p.areas.covers(&areas) {
                let mut live = p.live;
                if live.nodes.keys().any(|k| !areas.contains(k)) {
                    live.nodes.retain(|k, _| areas.contains(k));
                }
                read_acls(client, &areas, &mut live).await?;
                live
            } else {
                snapshot(client, &areas).await?
            };
            (stored, live, p.read)
        }
        None => {
            let stored = read_stored(client, &opts.state).await?;
            let areas = areas_for(desired, &stored, &opts.planner);
            let live = snapshot(client, &areas).await?;
            (stored, live, std::time::Duration::ZERO)
        }
    };
    let read = started.elapsed();
    Ok(plan_observed(desired, live, stored, opts, read + before))
}

/// The plan stage of every observe: plans `desired` against what was read.
fn plan_observed(
    desired: &DesiredState,
    live: LiveTree,
    stored: StoredState,
    opts: &PassOptions,
    read: std::time::Duration,
) -> Observed {
    let planning = std::time::Instant::now();
    let plan = if desired.roots.iter().any(|r| r.owner.kind == Kind::Service) {
        // Curator registrations keep the registrationTimeUTC already live, so re-applies are no-ops.
        // Planned with the new data as overrides: no copy of the desired state per pass.
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let overrides = crate::recipes::registration_times(desired, &live, now_ms);
        plan::plan_with(desired, &overrides, &live, &stored.inventory, &opts.planner)
    } else {
        plan::plan(desired, &live, &stored.inventory, &opts.planner)
    };
    let timings = ObserveTimings {
        snapshot: read,
        plan: planning.elapsed(),
    };
    Observed {
        plan,
        live,
        stored,
        timings,
        from_cache: false,
    }
}

/// [`observe`] from the leader's live cache ([`LiveCache`]): the records are read, the dirty
/// paths refreshed, and the tree assembled from the cache with only drifted, undeclared and
/// unwatched nodes read. `Ok(None)` when the cache cannot answer (not filled, does not cover
/// what `desired` needs, or was found behind): the caller reads in full and fills it.
///
/// # Errors
/// Reading failed.
pub async fn observe_cached(
    client: &zk::Client,
    desired: &DesiredState,
    opts: &PassOptions,
    cache: &mut LiveCache,
) -> Result<Option<Observed>, ZkError> {
    let started = std::time::Instant::now();
    if !cache.is_filled() {
        return Ok(None);
    }
    let stored = read_stored(client, &opts.state).await?;
    let areas = areas_for(desired, &stored, &opts.planner);
    if !cache.covers(&areas) {
        return Ok(None);
    }
    let records = started.elapsed();
    cache.refresh(client).await?;
    let refreshed = started.elapsed();
    let Some(mut live) = cache.tree(client, desired, &areas).await? else {
        return Ok(None);
    };
    read_acls(client, &areas, &mut live).await?;
    let read = started.elapsed();
    let mut observed = plan_observed(desired, live, stored, opts, read);
    observed.from_cache = true;
    tracing::debug!(
        records_ms = records.as_secs_f64() * 1e3,
        refresh_ms = (refreshed - records).as_secs_f64() * 1e3,
        tree_ms = (read - refreshed).as_secs_f64() * 1e3,
        plan_ms = observed.timings.plan.as_secs_f64() * 1e3,
        cached = cache.len(),
        "planned from the live cache"
    );
    Ok(Some(observed))
}

/// [`observe`], from `cache` when it can answer, else a full read that fills it.
///
/// # Errors
/// Reading failed.
pub async fn observe_through(
    client: &zk::Client,
    desired: &DesiredState,
    opts: &PassOptions,
    cache: &mut LiveCache,
) -> Result<Observed, ZkError> {
    if let Some(o) = observe_cached(client, desired, opts, cache).await? {
        return Ok(o);
    }
    let observed = observe(client, desired, opts).await?;
    cache.fill(
        &areas_for(desired, &observed.stored, &opts.planner),
        &observed.live,
        desired,
    );
    Ok(observed)
}

/// What a targeted revert did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reverted {
    /// Nodes whose data was written back, with their owners' names.
    pub nodes: Vec<(crate::model::ZPath, std::sync::Arc<str>)>,
    /// Bytes of the multi (0 when nothing differed).
    pub bytes: usize,
}

/// Reverts the data of `paths` without a full read and plan: when every path is
/// [`plan::revertible`], exists and the records are this build's format and not suspended, the
/// nodes whose data differs are set back in one fenced multi that also rewrites the applied
/// record, each version-checked against what was just read. `Ok(None)` whenever that does not
/// hold or the multi meets a conflict: the caller then runs a full pass, which decides
/// everything (docs/agent.md, "How a pass is triggered").
///
/// # Errors
/// Session errors, and a lost lock ([`ZkError::LockLost`]).
pub async fn revert_data(
    client: &zk::Client,
    lock: &LeaderLock,
    desired: &DesiredState,
    paths: &[crate::model::ZPath],
    opts: &PassOptions,
) -> Result<Option<Reverted>, ZkError> {
    let mut nodes = Vec::with_capacity(paths.len());
    for p in paths {
        match plan::revertible(desired, p, &opts.planner) {
            Some(n) => nodes.push(n),
            None => return Ok(None),
        }
    }
    // One round trip: the nodes, the applied record, the state node (format), suspend.
    let state = &opts.state;
    let reads: Vec<_> = nodes
        .iter()
        .map(|n| client.get_data(n.path.as_str()))
        .collect();
    let applied = client.get_data(state.applied().as_str());
    let root = client.get_data(state.root.as_str());
    let suspend = client.check_stat(state.suspend().as_str());
    let mut changes = Vec::new();
    for (n, r) in nodes.iter().zip(futures::future::join_all(reads).await) {
        match r {
            Ok((data, stat)) if data != n.data => changes.push((*n, stat.version)),
            Ok(_) => {}
            Err(zk::Error::NoNode) => return Ok(None),
            Err(e) => return Err(ZkError::op("read", n.path.as_str(), e)),
        }
    }
    let (applied, root, suspend) = (applied.await, root.await, suspend.await);
    let Ok((applied_data, applied_stat)) = applied else {
        return Ok(None);
    };
    let current_format = root.is_ok_and(|(d, _)| {
        serde_json::from_slice::<serde_json::Value>(&d)
            .ok()
            .and_then(|v| v["format"].as_u64())
            == Some(u64::from(crate::records::FORMAT))
    });
    if !current_format || !matches!(suspend, Ok(None)) {
        return Ok(None);
    }
    if changes.is_empty() {
        return Ok(Some(Reverted::default()));
    }
    let previous: AppliedRecord = match serde_json::from_slice(&applied_data) {
        Ok(r) => r,
        Err(_) => return Ok(None),
    };
    let record = AppliedRecord {
        revision: opts.revision.clone().unwrap_or(previous.revision),
        time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        digest: opts.digest.clone(),
        by: opts.identifier.clone(),
        txn: uuid::Uuid::new_v4().simple().to_string(),
        counts: plan::Summary {
            update: changes.len(),
            ..Default::default()
        },
        version: Some(crate::VERSION.to_owned()),
    };
    let mut ops: Vec<WriteOp> = changes
        .iter()
        .map(|(n, version)| WriteOp::Set {
            path: n.path.clone(),
            data: n.data.clone(),
            version: *version,
        })
        .collect();
    ops.push(WriteOp::Set {
        path: state.applied(),
        data: serde_json::to_vec(&record).unwrap_or_default(),
        version: applied_stat.version,
    });
    let exec = ExecOptions {
        allow_split: false,
        ..opts.exec.clone()
    };
    match execute(client, lock, &ops, &exec).await {
        Ok(report) => Ok(Some(Reverted {
            nodes: changes
                .iter()
                .map(|(n, _)| (n.path.clone(), n.owner.name.clone()))
                .collect(),
            bytes: report.bytes,
        })),
        Err(ExecError::LockLost { .. }) => Err(ZkError::LockLost(lock.node.clone())),
        Err(ExecError::Zk(e)) => Err(e),
        // A conflict, a lost reply, a batch too large: the full pass re-reads and decides.
        Err(_) => Ok(None),
    }
}

/// After a commit: compacts owners whose segments grew past 1.25x their full list, as its own
/// chain of fenced batches whose every intermediate state replays to the same inventory
/// ([`crate::records::Compaction`]). A failure leaves valid records and is only logged: the
/// next apply compacts again (docs/design.md, "Ownership inventory").
async fn compact(
    client: &zk::Client,
    lock: &LeaderLock,
    opts: &PassOptions,
    observed: &Observed,
    committed: &[WriteOp],
) {
    let c = crate::records::compaction(
        &opts.state,
        &observed.stored,
        &observed.plan.inventory,
        committed,
    );
    if c.is_empty() {
        return;
    }
    let exec = ExecOptions {
        allow_split: true,
        ..opts.exec.clone()
    };
    match execute(client, lock, &c.ops(), &exec).await {
        Ok(r) => tracing::info!(
            segments = c.creates.len(),
            removed = c.deletes.len(),
            batches = r.batches,
            "compacted the inventory"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "inventory compaction stopped; the next apply resumes it")
        }
    }
}

/// The node writes of a plan (ACL changes excluded), in plan order.
pub fn plan_ops(plan: &Plan) -> Vec<WriteOp> {
    plan.writable()
        .filter_map(|c| match c {
            Change::Create {
                at,
                data,
                mode,
                acl,
                ..
            } => Some(WriteOp::Create {
                path: at.path.clone(),
                data: data.clone(),
                mode: *mode,
                acl: acl.clone(),
            }),
            Change::Update {
                at, after, version, ..
            } => Some(WriteOp::Set {
                path: at.path.clone(),
                data: after.clone(),
                version: *version,
            }),
            Change::Delete { at, version, .. } => Some(WriteOp::Delete {
                path: at.path.clone(),
                version: *version,
            }),
            Change::Acl { .. } => None,
        })
        .collect()
}

/// Plans and applies under `lock`, retrying on conflicts.
#[tracing::instrument(name = "reconcile", skip_all, fields(session = ?client.session_id(), lock = %lock.node))]
pub async fn apply(
    client: &zk::Client,
    lock: &LeaderLock,
    desired: &DesiredState,
    opts: &PassOptions,
) -> Result<ApplyOutcome, ApplyError> {
    apply_cached(client, lock, desired, opts, None).await
}

/// [`apply`] with the leader's live cache: the first attempt plans from it when it can answer
/// (else reads in full and fills it); an attempt after a conflict always reads in full and
/// fills it again, so a stale cache costs one failed multi, never a wrong write.
///
/// # Errors
/// As [`apply`].
pub async fn apply_cached(
    client: &zk::Client,
    lock: &LeaderLock,
    desired: &DesiredState,
    opts: &PassOptions,
    cache: Option<&mut LiveCache>,
) -> Result<ApplyOutcome, ApplyError> {
    apply_with(client, lock, desired, opts, cache, None).await
}

/// [`apply`] whose first attempt plans from `prefetched` (the tree read while the manifests
/// loaded; the records are read again under the lock), or from `cache`.
///
/// # Errors
/// As [`apply`].
pub async fn apply_with(
    client: &zk::Client,
    lock: &LeaderLock,
    desired: &DesiredState,
    opts: &PassOptions,
    mut cache: Option<&mut LiveCache>,
    mut prefetched: Option<Prefetch>,
) -> Result<ApplyOutcome, ApplyError> {
    let mut last_conflict = (String::new(), String::new());
    let mut connection_lost = false;
    for attempt in 1..=opts.max_attempts.max(1) {
        let observed = match (cache.as_deref_mut(), prefetched.take()) {
            (Some(c), _) => {
                if attempt > 1 {
                    c.invalidate();
                }
                observe_through(client, desired, opts, c).await?
            }
            (None, Some(p)) => observe_from(client, desired, opts, Some(p), true).await?,
            (None, None) => observe(client, desired, opts).await?,
        };
        if observed.stored.suspended {
            return Ok(ApplyOutcome::Suspended(observed));
        }
        let deletes = observed
            .plan
            .writable()
            .filter(|c| c.op() == Op::Delete)
            .count();
        if deletes > opts.max_deletes && !opts.force {
            let reason = format!(
                "the plan deletes {deletes} nodes, more than --max-deletes {}; nothing was written (re-run with --force if this is intended)",
                opts.max_deletes
            );
            return Ok(ApplyOutcome::Refused { observed, reason });
        }
        let mut ops = plan_ops(&observed.plan);
        let acl_changes: Vec<(crate::model::ZPath, Vec<crate::model::AclEntry>, i32)> = observed
            .plan
            .writable()
            .filter_map(|c| match c {
                Change::Acl {
                    at,
                    after,
                    aversion,
                    ..
                } => Some((at.path.clone(), after.clone(), *aversion)),
                _ => None,
            })
            .collect();
        // Records of an older format are rewritten by the next apply, even one that changes
        // nothing else (docs/design.md, "Format history").
        let upgrade = observed.stored.needs_upgrade();
        if ops.is_empty() && acl_changes.is_empty() && !observed.plan.inventory_changed && !upgrade
        {
            return Ok(ApplyOutcome::InSync(observed));
        }
        if upgrade {
            ops.extend(format_ops(&opts.state, &observed.stored));
        }
        ops.extend(inventory_ops(
            &opts.state,
            &observed.stored,
            &observed.plan.inventory,
        ));
        let txn = uuid::Uuid::new_v4().simple().to_string();
        let record = AppliedRecord {
            revision: opts.revision.clone().unwrap_or_default(),
            time: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            digest: opts.digest.clone(),
            by: opts.identifier.clone(),
            txn: txn.clone(),
            counts: observed.plan.summary(),
            version: Some(crate::VERSION.to_owned()),
        };
        ops.push(applied_op(&opts.state, &observed.stored, &record));
        let summary = observed.plan.summary();
        tracing::info!(
            attempt,
            creates = summary.create,
            updates = summary.update,
            deletes = summary.delete,
            ops = ops.len(),
            "committing"
        );
        match execute(client, lock, &ops, &opts.exec).await {
            Ok(report) => {
                tracing::info!(batches = report.batches, bytes = report.bytes, "applied");
                if let Some(c) = cache.as_deref_mut() {
                    c.committed(&ops);
                }
                set_acls(client, lock, &acl_changes).await?;
                compact(client, lock, opts, &observed, &ops).await;
                return Ok(ApplyOutcome::Applied {
                    observed,
                    report,
                    attempts: attempt,
                });
            }
            Err(ExecError::Conflict { path, source, .. }) => {
                tracing::info!(%path, error = %source, attempt, "conflict; re-planning");
                last_conflict = (path, source.to_string());
                connection_lost = false;
            }
            Err(ExecError::Uncertain { source, landed }) => {
                // The multi may have landed: the applied record tells.
                let stored = read_stored(client, &opts.state).await?;
                if stored.applied.as_ref().is_some_and(|(r, _)| r.txn == txn) {
                    set_acls(client, lock, &acl_changes).await?;
                    let report = ExecReport {
                        batches: landed + 1,
                        ops: ops.len(),
                        confirmed_by_record: true,
                        ..Default::default()
                    };
                    return Ok(ApplyOutcome::Applied {
                        observed,
                        report,
                        attempts: attempt,
                    });
                }
                tracing::info!(error = %source, attempt, "connection lost while committing; not applied, re-planning");
                last_conflict = (String::from("(connection)"), source.to_string());
                connection_lost = true;
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if connection_lost {
        return Err(ApplyError::ConnectionLost {
            message: last_conflict.1,
            attempts: opts.max_attempts,
        });
    }
    Err(ApplyError::Conflicts {
        path: last_conflict.0,
        message: last_conflict.1,
        attempts: opts.max_attempts,
    })
}
