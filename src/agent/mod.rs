//! `zkstate agent`: the long-running reconciler of docs/contract.md §4, wired in one loop you can read top
//! to bottom ([`run`]):
//!
//! ```text
//! file events (notify, debounced) ─┐
//! ZK watches (leader: managed     ─┤
//!   subtrees; all: own nodes)      │
//! resync timer, SIGHUP            ─┼─► Reason queue ─► coalesce ─► one pass:
//! session events, lock, checks    ─┘                                 every host: keep host-scoped nodes
//!                                                                     leader: engine pass (fenced multi)
//!                      pass report ─► metrics, /status, /readyz, sd_notify, one tracing span
//! ```
//!
//! - A trigger is a [`Reason`], never a diff: every pass reads the live tree and re-plans; the
//!   leader reads it through its live cache ([`LiveCache`], fed by its watches and its own
//!   commits; docs/agent.md "The live cache"), in full at start, reconnects, leadership,
//!   resyncs, reloads and retries.
//!   Reasons that arrive while a pass runs are drained into the next one, so a burst of watch
//!   events (including those the agent's own writes fire) costs at most one extra pass.
//! - The reconcile itself is the engine's ([`engine`]); the agent adds triggers, the leader
//!   lock's lifetime ([`crate::zk::lock`]), the host keeper ([`host`]) and the session policy:
//!   on disconnect wait; after a reconnect add the watches again and resync; on expiry build a
//!   new client, contend again, re-create host nodes, resync. Failures back off (connects at
//!   most half the session timeout apart); ZooKeeper being down never ends the agent.
//! - Watches follow the role ([`Live::follow_role`], before every pass): only the leader watches
//!   the managed subtrees; every agent watches its own host-scoped nodes. A standby costs the
//!   ensemble nothing per change to the managed trees (docs/agent.md, "Leader and standbys").
//! - What a pass reports, and how it becomes metrics and `/status`, is in [`report`].
//! - Shutdown is a value ([`signals::Controls`]): the in-flight pass may finish (bounded by the
//!   session timeout), then the lock is released and the session closed, so ephemeral nodes
//!   vanish at once.
pub mod calls;
pub mod git;
pub mod host;
pub mod manifests;
pub mod reload;
mod report;
pub mod signals;
pub mod webhook;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use self::calls::{LockRequest, PassOptions};
use self::host::{HostDesired, HostKeeper, host_desired};
use self::manifests::ManifestSource;
use self::report::{
    PassResult, PassSummary, StatusView, fail_pass, fill_drift, finish, record, status_source,
    update_view,
};
use self::signals::Controls;
use crate::engine::{CancellationToken, EngineError, Leadership, LiveCache, Outcome};
use crate::manifest::{LoadOptions, LoadedSet};
use crate::telemetry::http::{Endpoints, Health};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::systemd;
use crate::zk::ZkError;
use crate::zk::agent_session::{self, SessionEvent};
use crate::zk::apply::ExecError;
use crate::zk::cache::CacheKey;
use crate::zk::lock::LockFormat;
use crate::zk::reconcile::ApplyError;
use crate::zk::session::{ConnectOptions, Session};
use crate::zk::watch::{TreeWatches, WatchSet, watch};

/// Resolved agent settings (flags over config file over defaults).
#[derive(Clone, Debug)]
pub struct Settings {
    pub files: Vec<PathBuf>,
    /// `--git`: follow a Git repository instead of `files` (docs/contract.md §4a).
    pub git: Option<git::GitSettings>,
    pub connect: ConnectOptions,
    /// Engine options (state paths, max deletes, identifier = host id, ...).
    pub pass: PassOptions,
    /// `--observe`: plan and report, never write cluster-scoped nodes.
    pub observe: bool,
    pub resync_interval: Duration,
    pub host_id: String,
    pub lock_format: LockFormat,
    /// `--prune-removed` (also set in `pass.planner`).
    pub prune_removed: bool,
    pub listen: Option<SocketAddr>,
    /// Quiet time after the last file event before the manifests are re-read.
    pub debounce: Duration,
    /// Election hooks: run (the agent) or only shown (`zkstate dev` without `--run-hooks`).
    pub hooks: host::Hooks,
    /// Keep the leader's live cache (docs/agent.md, "The live cache"); off with
    /// `ZKSTATE_LIVE_CACHE=off`, a diagnostic switch that makes every pass read in full.
    pub live_cache: bool,
}

/// Why a pass runs. Only a reason: every pass reads and re-plans.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    Start,
    /// A manifest file changed.
    Files,
    /// A node under a managed root changed (its path).
    Tree(String),
    /// The periodic resync.
    Resync,
    /// SIGHUP.
    Reload,
    /// The session (re)connected: events may have been lost.
    Reconnected,
    /// This agent became the leader.
    Leader,
    /// Another agent leads: this one is a standby.
    Standby,
    /// A health check changed.
    Check,
    /// Retrying after a failed pass.
    Retry,
    /// `--git`: the poll timer (or its backoff after a failed fetch).
    Git,
    /// `--git`: a signed `POST /hooks/git`.
    Hook,
}

impl Reason {
    pub fn label(&self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::Files => "files",
            Reason::Tree(_) => "tree",
            Reason::Resync => "resync",
            Reason::Reload => "reload",
            Reason::Reconnected => "reconnected",
            Reason::Leader => "leader",
            Reason::Standby => "standby",
            Reason::Check => "check",
            Reason::Retry => "retry",
            Reason::Git => "git",
            Reason::Hook => "hook",
        }
    }

    /// Reasons a pass may answer from the leader's live cache; any other reason in a pass
    /// (start, reconnect, a new leader, the resync, a reload, a retry) reads the tree in full
    /// (docs/agent.md, "The live cache").
    fn trusts_cache(&self) -> bool {
        matches!(
            self,
            Reason::Tree(_) | Reason::Files | Reason::Check | Reason::Git | Reason::Hook
        )
    }

    /// Reasons that re-read the manifest files.
    fn reloads(&self) -> bool {
        matches!(
            self,
            Reason::Start
                | Reason::Files
                | Reason::Reload
                | Reason::Resync
                | Reason::Retry
                | Reason::Git
                | Reason::Hook
        )
    }

    /// Reasons that fetch from Git (`--git`); the others re-check what was fetched last.
    fn fetches(&self) -> bool {
        matches!(
            self,
            Reason::Start | Reason::Reload | Reason::Git | Reason::Hook
        )
    }
}

/// Why the agent could not run at all (bad `--listen`, unwatchable manifest paths).
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("failed to listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Watch(String),
}

/// Tree events kept per pending pass (for the log); more are dropped, they change nothing.
const MAX_TREE_REASONS: usize = 64;

/// Exponential backoff between failed connects and passes (no busy loop).
struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const MIN: Duration = Duration::from_millis(250);
    const MAX: Duration = Duration::from_secs(10);

    fn new() -> Self {
        Self::up_to(Self::MAX)
    }

    /// Waits growing from [`Self::MIN`] to `max` (clamped to `[MIN, MAX]`).
    fn up_to(max: Duration) -> Self {
        Backoff {
            next: Self::MIN,
            max: max.clamp(Self::MIN, Self::MAX),
        }
    }

    /// The wait between connects after a session ended: at most half the session timeout.
    /// The server removes the old session's ephemeral nodes one session timeout after it is
    /// back; a new session by then lets the host's registrations return right after them,
    /// however long ZooKeeper was down.
    fn for_connects(session_timeout: Duration) -> Self {
        Self::up_to(session_timeout / 2)
    }

    fn next(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    fn reset(&mut self) {
        self.next = Self::MIN;
    }
}

/// One ZooKeeper session and what hangs off it.
struct Live {
    generation: u64,
    session: Session,
    leader: watch::Receiver<Option<Arc<Leadership>>>,
    /// True once the lock contention has an answer (leader, or another agent leads): passes
    /// wait for it, so the first pass is not mistaken for a standby's.
    lock_known: watch::Receiver<bool>,
    lock_task: JoinHandle<()>,
    state_task: JoinHandle<()>,
    watches: Option<TreeWatches>,
    /// The watch set last asked for (added or failed); `None` after a (re)connect.
    watching: Option<WatchSet>,
    /// Bumped whenever the watches change: a live cache fed by other watches is void.
    watch_epoch: u64,
    connected: bool,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.lock_task.abort();
        self.state_task.abort();
    }
}

/// State a pass owns while it runs (moved into the pass future and back).
struct PassCtx {
    manifests: ManifestSource,
    keeper: HostKeeper,
    host: HostDesired,
    /// The leader's live cache of the managed subtrees (docs/agent.md, "The live cache").
    cache: Option<LiveCache>,
}

/// Runs the agent until `controls.shutdown` fires; returns after the lock is released and the
/// session closed.
///
/// The loop reads top to bottom: connect when there is no session, start a pass when there is
/// work, then wait for one event and hand it to the [`AgentLoop`] handler that owns it (session,
/// lock, trigger, pass, reload).
///
/// # Errors
/// Only for what makes running impossible: `--listen` cannot be bound, the manifest paths cannot
/// be watched. ZooKeeper trouble is retried, never returned.
pub async fn run(settings: Settings, mut controls: Controls) -> Result<(), AgentError> {
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    health.beat();
    let view = Arc::new(Mutex::new(StatusView::default()));
    let (http_stop_tx, http_stop_rx) = watch::channel(false);
    let (trig_tx, mut trig_rx) = mpsc::unbounded_channel::<Reason>();
    let hook = git_hook(&settings, &metrics, &trig_tx);
    let http = serve_http(&settings, &metrics, &health, &view, hook, http_stop_rx).await?;
    let (tree_tx, mut tree_rx) = mpsc::unbounded_channel::<String>();
    let (sess_tx, mut sess_rx) = mpsc::unbounded_channel::<(u64, SessionEvent)>();
    let mut l = AgentLoop::new(settings, metrics, health, view, trig_tx, tree_tx, sess_tx)?;
    l.resync.tick().await;
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    let mut running: Option<BoxFuture<'static, (Box<PassCtx>, PassSummary)>> = None;
    systemd::status("starting");

    loop {
        if l.wants_session() {
            l.connect(&mut controls.shutdown).await;
        }
        if l.stop_at.is_some() && running.is_none() {
            break;
        }
        if running.is_none() {
            running = l.start_pass().await;
        }
        tokio::select! {
            _ = controls.shutdown.wait_for(|s| *s), if l.stop_at.is_none() => l.on_shutdown(),
            _ = sleep_until_opt(l.stop_at), if l.stop_at.is_some() && running.is_some() => {
                tracing::warn!("the in-flight pass did not finish in time; stopping without it");
                running = None;
                break;
            }
            (c, report) = async { running.as_mut().expect("guarded").await }, if running.is_some() => {
                running = None;
                l.on_pass_done(c, report).await;
                if l.stop_at.is_some() {
                    break;
                }
            }
            Some(r) = trig_rx.recv() => l.pending.push(r),
            Some(path) = tree_rx.recv() => l.on_tree_event(path),
            Some(()) = controls.reload.recv() => l.on_reload_signal(),
            Some((generation, event)) = sess_rx.recv() => l.on_session_event(generation, event),
            _ = sleep_until_opt(l.retry_at), if l.retry_at.is_some() => {
                l.retry_at = None;
                l.pending.push(Reason::Retry);
            }
            _ = l.resync.tick() => l.pending.push(Reason::Resync),
            _ = sleep_until_opt(Some(l.connect_at)), if l.session.is_none() && l.stop_at.is_none() => {}
            _ = beat.tick() => l.on_beat(),
        }
        l.after_event();
    }

    l.stop(running).await;
    let _ = http_stop_tx.send(true);
    if let Some(h) = http {
        let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Serves `/metrics`, `/healthz`, `/readyz` and `/status` on `--listen` until `stop` turns true.
async fn serve_http(
    settings: &Settings,
    metrics: &Arc<Metrics>,
    health: &Arc<Health>,
    view: &Arc<Mutex<StatusView>>,
    hook: Option<crate::telemetry::http::Hook>,
    stop: watch::Receiver<bool>,
) -> Result<Option<JoinHandle<()>>, AgentError> {
    let Some(addr) = settings.listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::Listen { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(%bound, "serving /metrics, /healthz, /readyz, /status");
    let endpoints = Endpoints {
        metrics: metrics.clone(),
        health: health.clone(),
        status: status_source(view.clone(), metrics.clone()),
        hook,
    };
    let mut stop = stop;
    Ok(Some(tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        if let Err(e) = crate::telemetry::http::serve(listener, endpoints, shutdown).await {
            tracing::error!(error = %e, "HTTP server failed");
        }
    })))
}

/// `POST /hooks/git` with `--webhook-secret-file` (docs/contract.md §4a): 401 unless signed
/// with the secret; signed: 202, and the leader fetches at once (a standby does nothing else).
fn git_hook(
    settings: &Settings,
    metrics: &Arc<Metrics>,
    triggers: &mpsc::UnboundedSender<Reason>,
) -> Option<crate::telemetry::http::Hook> {
    let secret = settings.git.as_ref()?.webhook_secret.clone()?;
    let metrics = metrics.clone();
    let triggers = triggers.clone();
    Some(Arc::new(move |headers, body| {
        if !webhook::is_signed(&secret, headers, body) {
            tracing::warn!("POST /hooks/git without a valid signature; nothing fetched");
            return 401;
        }
        if metrics.leader.get() == 1 {
            tracing::info!("POST /hooks/git: fetching");
            let _ = triggers.send(Reason::Hook);
        }
        202
    }))
}

/// The agent's state between events; each handler owns one concern.
struct AgentLoop {
    settings: Settings,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    view: Arc<Mutex<StatusView>>,
    trig_tx: mpsc::UnboundedSender<Reason>,
    tree_tx: mpsc::UnboundedSender<String>,
    sess_tx: mpsc::UnboundedSender<(u64, SessionEvent)>,
    /// The manifest paths' file watch (replaced when a reload changes them).
    files_watch: manifests::FileWatch,
    /// Moved into the running pass and back.
    ctx: Option<Box<PassCtx>>,
    session: Option<Live>,
    generation: u64,
    connect_backoff: Backoff,
    /// Sessions that connect but cannot contend for the lock (not reset by a connect).
    contention_backoff: Backoff,
    pass_backoff: Backoff,
    connect_at: Instant,
    retry_at: Option<Instant>,
    pending: Vec<Reason>,
    /// Paths the tree watches named since the last pass started, for the live cache.
    changed: TreeChanges,
    /// When the running pass started: `zkstate_reconcile_duration_seconds`.
    pass_started: Instant,
    stop_at: Option<Instant>,
    targets: WatchTargets,
    notified_ready: bool,
    /// SIGHUP: the settings are resolved again before the next pass (see [`reload`]).
    reload_settings: bool,
    resync: tokio::time::Interval,
    watchdog: Option<Duration>,
    last_watchdog: Instant,
}

impl AgentLoop {
    fn new(
        settings: Settings,
        metrics: Arc<Metrics>,
        health: Arc<Health>,
        view: Arc<Mutex<StatusView>>,
        trig_tx: mpsc::UnboundedSender<Reason>,
        tree_tx: mpsc::UnboundedSender<String>,
        sess_tx: mpsc::UnboundedSender<(u64, SessionEvent)>,
    ) -> Result<Self, AgentError> {
        let load_options = LoadOptions {
            state_path: settings.pass.state.root.clone(),
            ..LoadOptions::default()
        };
        let files_watch =
            manifests::watch_files(&settings.files, settings.debounce, trig_tx.clone())
                .map_err(AgentError::Watch)?;
        let manifests = match &settings.git {
            Some(g) => ManifestSource::from_git(
                git::GitSource::new(g.clone(), load_options.clone(), trig_tx.clone()),
                load_options,
            ),
            None => ManifestSource::new(settings.files.clone(), load_options),
        };
        let ctx = Some(Box::new(PassCtx {
            manifests,
            keeper: HostKeeper::new(settings.host_id.clone(), settings.hooks, trig_tx.clone()),
            host: HostDesired::default(),
            cache: None,
        }));
        let mut resync = tokio::time::interval(settings.resync_interval);
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(AgentLoop {
            connect_backoff: Backoff::for_connects(settings.connect.session_timeout),
            settings,
            metrics,
            health,
            view,
            trig_tx,
            tree_tx,
            sess_tx,
            files_watch,
            ctx,
            session: None,
            generation: 0,
            contention_backoff: Backoff::new(),
            pass_backoff: Backoff::new(),
            connect_at: Instant::now(),
            retry_at: None,
            pending: vec![Reason::Start],
            changed: TreeChanges::default(),
            pass_started: Instant::now(),
            stop_at: None,
            targets: WatchTargets::default(),
            notified_ready: false,
            reload_settings: false,
            resync,
            watchdog: systemd::watchdog_interval(),
            last_watchdog: Instant::now(),
        })
    }

    /// No session, not stopping, and the backoff has passed.
    fn wants_session(&self) -> bool {
        self.session.is_none() && self.stop_at.is_none() && Instant::now() >= self.connect_at
    }

    /// Session: opens one (and contends for the lock), or backs off saying why not.
    async fn connect(&mut self, shutdown: &mut watch::Receiver<bool>) {
        self.metrics.set_session_state("connecting");
        self.generation += 1;
        let connecting = open_session(
            &self.settings,
            self.generation,
            self.sess_tx.clone(),
            self.trig_tx.clone(),
        );
        tokio::select! {
            r = connecting => match r {
                Ok(s) => {
                    tracing::info!(session = format!("{:#x}", s.session.id()), "connected to ZooKeeper");
                    self.metrics.set_session_state("connected");
                    report::set_connect_error(&self.view, None);
                    self.connect_backoff.reset();
                    self.session = Some(s);
                    self.pending.push(Reason::Reconnected);
                }
                Err(e) => {
                    let wait = self.connect_backoff.next();
                    tracing::warn!(error = %e, retry_in = ?wait, "ZooKeeper unavailable; retrying");
                    self.metrics.set_session_state("disconnected");
                    report::set_connect_error(&self.view, Some(e.to_string()));
                    systemd::status(&format!("waiting for ZooKeeper: {e}"));
                    self.connect_at = Instant::now() + wait;
                }
            },
            _ = shutdown.wait_for(|s| *s) => self.stop_at = Some(Instant::now()),
        }
    }

    /// Pass: starts one when there is work, no pass runs and the session knows its role.
    async fn start_pass(&mut self) -> Option<BoxFuture<'static, (Box<PassCtx>, PassSummary)>> {
        if self.stop_at.is_some() || self.pending.is_empty() {
            return None;
        }
        let s = self
            .session
            .as_mut()
            .filter(|s| s.connected && *s.lock_known.borrow())?;
        let c = self.ctx.take()?;
        let reasons = std::mem::take(&mut self.pending);
        self.retry_at = None;
        let leader = s.leader.borrow().clone();
        // Before the pass reads: a new leader's first pass re-reads what changed before its
        // watches existed.
        s.follow_role(&self.targets, leader.is_some(), &self.tree_tx)
            .await;
        let changes = CacheInput {
            key: s
                .cache_key()
                .filter(|_| leader.is_some() && self.settings.live_cache),
            changed: std::mem::take(&mut self.changed),
        };
        let span = tracing::info_span!(
            "pass",
            trigger = %summarize(&reasons),
            leader = leader.is_some(),
            result = tracing::field::Empty,
            creates = tracing::field::Empty,
            updates = tracing::field::Empty,
            deletes = tracing::field::Empty,
            written = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let fut = pass(
            c,
            s.session.clone(),
            leader,
            reasons,
            changes,
            self.settings.pass.clone(),
            self.settings.observe,
        );
        self.pass_started = Instant::now();
        Some(fut.instrument(span).boxed())
    }

    /// Pass: reports it (metrics, `/status`, readiness, systemd), follows the role's watches,
    /// and acts on the error policy.
    async fn on_pass_done(&mut self, c: Box<PassCtx>, mut report: PassSummary) {
        self.ctx = Some(c);
        let failed = report.result == PassResult::Error;
        record(&self.metrics, &report);
        self.metrics
            .reconcile_duration
            .observe(self.pass_started.elapsed().as_secs_f64());
        // /status and /metrics describe the same pass.
        update_view(&self.view, self.session.as_ref(), &report, &self.settings);
        self.targets = std::mem::take(&mut report.watch);
        if let Some(s) = self.session.as_mut() {
            let leader = s.leader.borrow().is_some();
            s.follow_role(&self.targets, leader, &self.tree_tx).await;
        }
        let standby = !report.leader && report.result == PassResult::Standby;
        let ready = self.session.as_ref().is_some_and(|s| s.connected)
            && (standby || (report.leader && !failed && report.result != PassResult::NoManifests));
        self.health.set_ready(ready);
        if ready && !self.notified_ready {
            self.notified_ready = true;
            systemd::ready(if standby {
                "standby"
            } else {
                "leader: reconciled"
            });
        } else if ready {
            systemd::status(if standby { "standby" } else { "leader" });
        }
        match policy(&report, &mut self.pass_backoff) {
            Action::NewSession => {
                tracing::warn!("lost the leader lock; starting a new session to contend again");
                self.drop_session();
                self.connect_at = Instant::now();
            }
            Action::RetryAfter(wait) => self.retry_at = Some(Instant::now() + wait),
            Action::Idle => {}
        }
    }

    /// Trigger: a tree event is one reason (capped per pass: the pass re-reads anyway).
    fn on_tree_event(&mut self, path: String) {
        self.changed.add(path.clone());
        let trees = self
            .pending
            .iter()
            .filter(|r| matches!(r, Reason::Tree(_)))
            .count();
        if trees < MAX_TREE_REASONS {
            self.pending.push(Reason::Tree(path));
        }
    }

    /// Reload: SIGHUP marks the settings for re-reading after this event.
    fn on_reload_signal(&mut self) {
        systemd::reloading();
        tracing::info!("SIGHUP: reloading the settings and the manifests");
        self.reload_settings = true;
        self.pending.push(Reason::Reload);
    }

    /// Session: a state change of the current session (events of older ones are ignored).
    fn on_session_event(&mut self, generation: u64, event: SessionEvent) {
        if self
            .session
            .as_ref()
            .is_none_or(|s| s.generation != generation)
        {
            return;
        }
        match event {
            SessionEvent::Connected => {
                self.metrics.set_session_state("connected");
                if let Some(s) = self.session.as_mut().filter(|s| !s.connected) {
                    tracing::info!("reconnected; adding the watches again and resyncing");
                    s.connected = true;
                    // The server lost them; the pass the reason starts adds them.
                    s.watches = None;
                    s.watching = None;
                    s.watch_epoch += 1;
                    self.pending.push(Reason::Reconnected);
                }
            }
            SessionEvent::Disconnected => {
                tracing::warn!("disconnected from ZooKeeper; waiting for the session to reconnect");
                self.metrics.set_session_state("disconnected");
                self.health.set_ready(false);
                if let Some(s) = self.session.as_mut() {
                    s.connected = false;
                }
            }
            SessionEvent::Ended(why) => {
                tracing::warn!(why, "ZooKeeper session ended; opening a new one");
                self.metrics.set_session_state("expired");
                self.drop_session();
                self.view.lock().map(|mut v| v.session = None).ok();
                self.connect_at = Instant::now();
            }
            SessionEvent::ContentionFailed(error) => {
                // Lock: not a lost session; retrying at once would only fail again.
                let wait = self.contention_backoff.next();
                self.metrics.set_session_state("disconnected");
                self.drop_session();
                report::set_connect_error(
                    &self.view,
                    Some(format!("failed to contend for the leader lock: {error}")),
                );
                self.connect_at = Instant::now() + wait;
            }
        }
    }

    /// Lock and session: forgets the session (its ephemerals and lock go with it).
    fn drop_session(&mut self) {
        self.metrics.leader.set(0);
        self.health.set_ready(false);
        self.session = None;
        if let Some(c) = self.ctx.as_mut() {
            c.keeper.session_lost();
        }
    }

    fn on_shutdown(&mut self) {
        systemd::stopping();
        self.health.set_ready(false);
        // The in-flight pass may finish its multi; bounded by the session timeout.
        self.stop_at = Some(Instant::now() + self.settings.connect.session_timeout);
    }

    fn on_beat(&mut self) {
        self.health.beat();
        if let Some(w) = self.watchdog
            && self.last_watchdog.elapsed() >= w
        {
            systemd::watchdog();
            self.last_watchdog = Instant::now();
        }
    }

    /// After every event: the leader gauge, and a pending reload of the settings.
    fn after_event(&mut self) {
        if let Some(s) = self.session.as_ref() {
            self.metrics
                .leader
                .set(i64::from(s.leader.borrow().is_some()));
        }
        if self.reload_settings && self.ctx.is_some() {
            self.reload_settings = false;
            self.reload();
        }
    }

    /// Reload: the settings resolved as at start; the next pass re-reads the manifests.
    fn reload(&mut self) {
        match reload::reread() {
            Some(new) => {
                let taken = reload::take(&mut self.settings, new);
                if taken.files {
                    tracing::info!(files = ?self.settings.files, "reload: new manifest paths");
                    if let Some(c) = self.ctx.as_mut() {
                        c.manifests.set_files(self.settings.files.clone());
                    }
                }
                if taken.files || taken.debounce {
                    match manifests::watch_files(
                        &self.settings.files,
                        self.settings.debounce,
                        self.trig_tx.clone(),
                    ) {
                        Ok(w) => self.files_watch = w,
                        Err(e) => {
                            tracing::error!(error = %e, "failed to watch the new manifest paths")
                        }
                    }
                }
                if taken.resync {
                    let period = self.settings.resync_interval;
                    self.resync = tokio::time::interval_at(Instant::now() + period, period);
                    self.resync
                        .set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                }
            }
            None => {
                tracing::error!("reload: the settings are invalid; the running ones stay in force")
            }
        }
        // systemd waits for READY=1 after RELOADING=1; the pass reports the manifests.
        if self.notified_ready {
            systemd::ready("reloaded");
        }
    }

    /// Stop: leave elections, release the lock, close the session.
    async fn stop(mut self, running: Option<BoxFuture<'static, (Box<PassCtx>, PassSummary)>>) {
        self.health.set_ready(false);
        drop(running);
        self.view.lock().map(|mut v| v.session = None).ok();
        if let Some(live) = self.session.take() {
            if let Some(c) = self.ctx.as_mut() {
                let _ = tokio::time::timeout(Duration::from_secs(2), c.keeper.leave(&live.session))
                    .await;
            }
            let held = live.leader.borrow().clone();
            if let Some(l) = held {
                let node = l.node().to_owned();
                let _ = tokio::time::timeout(
                    Duration::from_secs(2),
                    live.session.delete_if_present(&node),
                )
                .await;
            }
            let zs = live.session.clone();
            drop(live);
            agent_session::close(zs, Duration::from_secs(2)).await;
        }
        drop(self.ctx.take());
        drop(self.files_watch);
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// `files,tree x3` — the distinct reasons of a pass with counts.
fn summarize(reasons: &[Reason]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r.label()).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(k, n)| {
            if n > 1 {
                format!("{k} x{n}")
            } else {
                k.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Opens a session: connect, forward state changes, contend for the lock (the engine's
/// [`Leadership`], held across passes). The first pass adds the watches of its role.
async fn open_session(
    settings: &Settings,
    generation: u64,
    sess_tx: mpsc::UnboundedSender<(u64, SessionEvent)>,
    trig_tx: mpsc::UnboundedSender<Reason>,
) -> Result<Live, ZkError> {
    let zs = Session::connect(&settings.connect).await?;
    let state_task = agent_session::forward_state(&zs, generation, sess_tx.clone());
    let (leader_tx, leader_rx) = watch::channel(None);
    let (known_tx, known_rx) = watch::channel(false);
    let lock_session = zs.clone();
    let state = settings.pass.state.clone().with_identities(zs.identities());
    let host_id = settings.host_id.clone();
    let request = LockRequest {
        format: settings.lock_format,
        timeout: None,
    };
    let lock_task = tokio::spawn(async move {
        let never = CancellationToken::new();
        let acquire = Leadership::acquire(&lock_session, &state, &host_id, &request, &never);
        tokio::pin!(acquire);
        let dir = state.lock().to_string();
        let mut probe = tokio::time::interval(Duration::from_millis(100));
        let result = loop {
            tokio::select! {
                r = &mut acquire => break r,
                _ = probe.tick(), if !*known_tx.borrow() => {
                    // Standby once someone else's contender is first (ours may not exist yet).
                    if let Ok(c) = crate::zk::lock::contenders(lock_session.client(), &dir).await
                        && c.first().is_some_and(|(_, id)| *id != host_id)
                    {
                        tracing::info!(leader = %c[0].1, "standby: another agent holds the lock");
                        let _ = known_tx.send(true);
                        let _ = trig_tx.send(Reason::Standby);
                    }
                }
            }
        };
        match result {
            Ok(held) => {
                tracing::info!(lock = %held.node(), "became the leader");
                let _ = leader_tx.send(Some(Arc::new(held)));
                let _ = known_tx.send(true);
                let _ = trig_tx.send(Reason::Leader);
                // Keep the sender (and so the value) alive for the session's lifetime.
                std::future::pending::<()>().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "failed to contend for the leader lock; starting a new session");
                let _ = sess_tx.send((generation, SessionEvent::ContentionFailed(e.to_string())));
            }
        }
    });
    Ok(Live {
        generation,
        session: zs,
        leader: leader_rx,
        lock_known: known_rx,
        lock_task,
        state_task,
        watches: None,
        watching: None,
        watch_epoch: 0,
        connected: true,
    })
}

/// What the last pass says may be watched: the managed subtrees and `<state-path>/suspend`
/// (the leader's), this host's own registrations and election groups (every agent's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct WatchTargets {
    managed: Vec<String>,
    host: Vec<String>,
}

impl WatchTargets {
    fn new(set: &LoadedSet, host: &HostDesired, suspend: String) -> Self {
        // Host-scoped roots are the agents' own nodes: the leader's pass skips them, so the
        // leader watches only its own there, as every agent does.
        let mut managed: Vec<String> = set
            .state
            .roots
            .iter()
            .filter(|r| !r.host_scoped)
            .map(|r| r.root.to_string())
            .collect();
        managed.push(suspend);
        let host = host
            .registrations
            .iter()
            .map(|r| r.path.clone())
            .chain(host.participations.iter().map(|p| p.group.clone()))
            .collect();
        WatchTargets { managed, host }
    }

    /// The watches of a role (docs/agent.md, "Leader and standbys"): a standby watches only its
    /// own nodes, so changes to the managed trees cost it (and the ensemble) nothing.
    fn for_role(&self, leader: bool) -> WatchSet {
        WatchSet {
            recursive: if leader {
                self.managed.clone()
            } else {
                Vec::new()
            },
            exact: self.host.clone(),
        }
    }
}

impl Live {
    /// What a live cache filled now may be keyed by: the session, and the recursive watches in
    /// force (`None` without any: nothing would keep a cache current).
    fn cache_key(&self) -> Option<CacheKey> {
        let w = self.watches.as_ref()?;
        if w.set.recursive.is_empty() {
            return None;
        }
        Some(CacheKey {
            session: self.generation,
            watches: self.watch_epoch,
            roots: w
                .set
                .recursive
                .iter()
                .filter_map(|r| crate::model::ZPath::parse(r).ok())
                .collect(),
        })
    }

    /// Makes the session's watches those of its role for `targets`; nothing to do when they
    /// already are. The new watches are added before the old ones are dropped, so a change of
    /// roots leaves no gap. A failure is logged and not retried until the set changes or the
    /// session reconnects: the resync covers until then.
    async fn follow_role(
        &mut self,
        targets: &WatchTargets,
        leader: bool,
        events: &mpsc::UnboundedSender<String>,
    ) {
        let wanted = targets.for_role(leader);
        if !self.connected || self.watching.as_ref() == Some(&wanted) {
            return;
        }
        self.watching = Some(wanted.clone());
        self.watch_epoch += 1;
        if wanted.is_empty() {
            self.watches = None;
            return;
        }
        let timeout = self
            .session
            .client()
            .session_timeout()
            .max(Duration::from_secs(1));
        match tokio::time::timeout(timeout, watch(&self.session, &wanted, events.clone())).await {
            Ok(Ok(w)) => {
                tracing::debug!(leader, recursive = ?w.set.recursive, exact = ?w.set.exact, "watching");
                self.watches = Some(w);
            }
            Ok(Err(e)) => {
                self.watches = None;
                tracing::warn!(error = %e, "failed to add the watches; the resync covers until the next reconnect")
            }
            Err(_) => {
                self.watches = None;
                tracing::warn!(
                    "adding the watches timed out; the resync covers until the next reconnect"
                )
            }
        }
    }
}

/// One pass: reload manifests if a reason asks, keep host nodes, and (leader) reconcile.
async fn pass(
    mut ctx: Box<PassCtx>,
    session: Session,
    leader: Option<Arc<Leadership>>,
    reasons: Vec<Reason>,
    changes: CacheInput,
    opts: PassOptions,
    observe: bool,
) -> (Box<PassCtx>, PassSummary) {
    let started = std::time::Instant::now();
    let mut report = PassSummary {
        leader: leader.is_some(),
        ..PassSummary::default()
    };
    if reasons.iter().any(Reason::reloads) || ctx.manifests.current.is_none() {
        let before = ctx.manifests.current.as_ref().map(|s| s.digest.clone());
        // Git: the applied record names the commit a new one must descend from. When it cannot
        // be read, no new commit is taken (the rewrite check must not fail open).
        let base = match ctx.manifests.git {
            Some(_) => applied_commit(&session, &opts).await,
            None => Ok(None),
        };
        match base {
            Ok(base) => {
                // Only the leader polls; a standby fetches when the applied record moves past
                // the commit it holds, and takes that commit (docs/contract.md §4a).
                let fetch = match (&leader, ctx.manifests.git.as_ref()) {
                    (Some(_), _) => reasons.iter().any(Reason::fetches),
                    (None, Some(g)) => base.is_some() && base != g.applied,
                    (None, None) => false,
                };
                ctx.manifests.refresh(fetch, base, leader.is_none()).await;
            }
            Err(e) => tracing::warn!(
                error = %e,
                "failed to read the applied record; no new Git commit is taken this pass"
            ),
        }
        let after = ctx.manifests.current.as_ref().map(|s| s.digest.clone());
        if (before != after || ctx.host == HostDesired::default())
            && let Some(set) = &ctx.manifests.current
        {
            ctx.host = host_desired(set);
        }
    }
    report.manifest_errors = ctx.manifests.errors.clone();
    report.git = ctx.manifests.git.as_ref().map(git::GitSource::status);
    report.git_fetches = ctx.manifests.git.as_ref().map(|g| {
        let at = g
            .last_fetch
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        (g.fetch_counts, at.map(|d| d.as_secs_f64()))
    });
    let mut opts = opts;
    if let Some(revision) = ctx.manifests.revision() {
        opts.revision = Some(revision);
    }
    let Some(set) = ctx.manifests.current.clone() else {
        report.result = PassResult::NoManifests;
        report.error = Some("no valid manifest set yet".into());
        finish(&report, started);
        return (ctx, report);
    };
    // `zkstate suspend` / `resume` take effect at once, not at the next resync.
    report.watch = WatchTargets::new(&set, &ctx.host, opts.state.suspend().to_string());
    report.set = Some(set.clone());
    match ctx.keeper.keep(&session, &ctx.host).await {
        Ok(h) => report.host = Some(h),
        Err(e) => {
            tracing::warn!(error = %e, "failed to keep this host's registrations");
            report.error = Some(e.to_string());
            report.result = PassResult::Error;
        }
    }
    // The cache follows the watches that feed it; their events since the last pass are marked.
    follow_cache(&mut ctx.cache, changes);
    // A standby reads nothing of the managed trees, not even the queues' depths.
    let Some(held) = leader else {
        if report.result == PassResult::Undecided {
            report.result = PassResult::Standby;
        }
        finish(&report, started);
        return (ctx, report);
    };
    // Git: the commit in force lost its signer; nothing is applied until a verified one comes.
    if let Some(why) = ctx.manifests.hold() {
        report.error = Some(why);
        report.result = PassResult::Refused;
        finish(&report, started);
        return (ctx, report);
    }
    // Drift of declared data alone (the usual out-of-band `set`) is reverted from the paths the
    // watch events name, without reading the whole tree (docs/agent.md, "How a pass is
    // triggered"); anything else, or any doubt, falls through to the full pass.
    if !observe && let Some(paths) = tree_paths(&reasons) {
        match held.revert_data(&session, &set.state, &paths, &opts).await {
            Ok(Some(r)) => {
                report_revert(&mut report, &r);
                report.source = Some("targeted");
                report.cache_nodes = ctx.cache.as_ref().map_or(0, LiveCache::len);
                finish(&report, started);
                return (ctx, report);
            }
            Ok(None) => {}
            Err(ZkError::LockLost(_)) => {
                fail_pass(&mut report, "lost the leader lock".into(), true);
                finish(&report, started);
                return (ctx, report);
            }
            Err(e) => tracing::debug!(error = %e, "targeted revert failed; full pass"),
        }
    }
    let trust = reasons.iter().all(Reason::trusts_cache);
    let result = if observe {
        opts.planner.observe_all = true;
        calls::observe(&session, &set.state, &opts, ctx.cache.as_mut(), trust).await
    } else {
        calls::apply(
            &session,
            &held,
            &set.state,
            &opts,
            ctx.cache.as_mut(),
            trust,
        )
        .await
    };
    report.cache_nodes = ctx.cache.as_ref().map_or(0, LiveCache::len);
    match result {
        Ok(r) => {
            report.source = Some(if r.from_cache { "cache" } else { "read" });
            fill_drift(&mut report, &set, &r);
            report.result = match &r.outcome {
                Outcome::Planned => PassResult::Observe,
                Outcome::InSync => PassResult::InSync,
                Outcome::Applied { changes, .. } => {
                    report.written = *changes;
                    report.multi_ops = r.ops;
                    report.multi_bytes = vec![r.bytes];
                    if r.batches > 1 {
                        tracing::info!(
                            batches = r.batches,
                            "applied as ordered atomic batches (--allow-split): each batch is \
                             atomic, the whole plan is not"
                        );
                    }
                    PassResult::Applied
                }
                Outcome::Suspended => PassResult::Suspended,
                Outcome::Refused { reason } => {
                    tracing::error!(%reason, "refused by a safety guard; nothing written");
                    report.error = Some(reason.clone());
                    PassResult::Refused
                }
            };
        }
        Err(EngineError::Apply(ApplyError::Exec(ExecError::LockLost { .. })))
        | Err(EngineError::Apply(ApplyError::Zk(ZkError::LockLost(_)))) => {
            fail_pass(&mut report, "lost the leader lock".into(), true)
        }
        // Over one request without --allow-split: a guard refusal like --max-deletes, reported
        // once and not retried until a trigger (docs/agent.md, "Plans larger than one request").
        Err(EngineError::TooLarge(e)) => {
            tracing::error!(
                reason = %e,
                "refused: the plan is larger than one request; nothing written"
            );
            report.error = Some(e.to_string());
            report.result = PassResult::Refused;
        }
        Err(e) => fail_pass(&mut report, e.to_string(), false),
    }
    read_queue_depths(&mut report, &session, &set.state, &opts).await;
    finish(&report, started);
    (ctx, report)
}

/// The commit the applied record names (`<ref>@sha1:<id>`); `None` without a record or when
/// its revision is not a Git one (e.g. after `-f`).
///
/// # Errors
/// The record cannot be read or parsed.
async fn applied_commit(session: &Session, opts: &PassOptions) -> Result<Option<String>, String> {
    let data = session
        .child_data(&opts.state.root, &["applied".to_owned()])
        .await
        .map_err(|e| e.to_string())?;
    let Some((_, bytes, _)) = data.into_iter().next() else {
        return Ok(None);
    };
    let record: crate::records::AppliedRecord = serde_json::from_slice(&bytes)
        .map_err(|e| format!("failed to parse the applied record: {e}"))?;
    Ok(git::commit_of_revision(&record.revision))
}

/// Paths the tree watches named between two passes (bounded: past
/// [`crate::zk::cache::MAX_DIRTY`] only the fact that some were lost is kept).
#[derive(Debug, Default)]
struct TreeChanges {
    paths: std::collections::BTreeSet<String>,
    lost: bool,
}

impl TreeChanges {
    fn add(&mut self, path: String) {
        if self.paths.len() < crate::zk::cache::MAX_DIRTY {
            self.paths.insert(path);
        } else {
            self.lost = true;
        }
    }
}

/// What a pass needs to keep the live cache: the key of the watches in force (`None`: no
/// cache) and the paths their events named.
#[derive(Debug)]
struct CacheInput {
    key: Option<CacheKey>,
    changed: TreeChanges,
}

/// Keeps `cache` in step with the watches: dropped without a key, replaced when the key
/// changed, voided when events were lost, and the changed paths marked for a refresh.
fn follow_cache(cache: &mut Option<LiveCache>, input: CacheInput) {
    let Some(key) = input.key else {
        *cache = None;
        return;
    };
    let c = match cache {
        Some(c) if *c.key() == key => c,
        _ => cache.insert(LiveCache::new(key)),
    };
    if input.changed.lost {
        c.invalidate();
        return;
    }
    c.mark(
        input
            .changed
            .paths
            .iter()
            .filter_map(|p| crate::model::ZPath::parse(p).ok()),
    );
}

/// What the loop does after a pass (the error policy, kept apart from the pass itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Wait for the next trigger.
    Idle,
    /// A failed pass: try again after this backoff (reset by the next success).
    RetryAfter(Duration),
    /// The lock was lost: drop the session and contend again in a new one.
    NewSession,
}

/// The error policy: a pure function of the pass's typed result (and the backoff's state).
fn policy(report: &PassSummary, backoff: &mut Backoff) -> Action {
    if report.lock_lost {
        return Action::NewSession;
    }
    match report.result {
        PassResult::Error => Action::RetryAfter(backoff.next()),
        // A refusal is reported once and waits for a trigger; it is not retried in a loop.
        _ => {
            backoff.reset();
            Action::Idle
        }
    }
}

/// The paths of a pass triggered by tree events alone (none lost to the per-pass cap), or
/// `None` when anything else asks for a full pass.
fn tree_paths(reasons: &[Reason]) -> Option<Vec<crate::model::ZPath>> {
    if reasons.is_empty() || reasons.len() >= MAX_TREE_REASONS {
        return None;
    }
    let mut paths = Vec::with_capacity(reasons.len());
    for r in reasons {
        match r {
            Reason::Tree(p) => paths.push(crate::model::ZPath::parse(p).ok()?),
            _ => return None,
        }
    }
    paths.sort();
    paths.dedup();
    Some(paths)
}

/// A targeted revert as a pass report: `applied` with the nodes written, or `in_sync`.
fn report_revert(report: &mut PassSummary, r: &crate::zk::reconcile::Reverted) {
    if r.nodes.is_empty() {
        report.result = PassResult::InSync;
        return;
    }
    report.result = PassResult::Applied;
    report.changes = r.nodes.len();
    report.written = r.nodes.len();
    report.multi_ops = r.nodes.len() + 2;
    report.multi_bytes = vec![r.bytes];
    let mut drift: BTreeMap<String, i64> = BTreeMap::new();
    for (_, owner) in &r.nodes {
        *drift.entry(owner.to_string()).or_default() += 1;
    }
    report.drift = drift;
    tracing::Span::current().record("updates", r.nodes.len());
}

/// `zkstate_queue_depth`: read after the pass (a first pass creates and seeds the queues).
async fn read_queue_depths(
    report: &mut PassSummary,
    session: &Session,
    desired: &crate::model::DesiredState,
    opts: &PassOptions,
) {
    match calls::queue_depths(session, desired, opts).await {
        Ok(qs) => report.queues = qs.into_iter().map(|q| (q.name, q.depth)).collect(),
        Err(e) => tracing::debug!(error = %e, "failed to read queue depths"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn failed_passes_back_off_and_a_success_resets_the_wait() {
        let mut backoff = Backoff::new();
        let failed = PassSummary {
            result: PassResult::Error,
            error: Some("boom".into()),
            ..PassSummary::default()
        };
        let ok = PassSummary {
            result: PassResult::InSync,
            ..PassSummary::default()
        };
        // Consecutive failures wait 250 ms, 500 ms, 1 s, ... up to 10 s, on tokio's clock.
        let start = tokio::time::Instant::now();
        let mut waits = Vec::new();
        for _ in 0..8 {
            let Action::RetryAfter(wait) = policy(&failed, &mut backoff) else {
                panic!("a failed pass is retried");
            };
            tokio::time::sleep(wait).await;
            waits.push(wait);
        }
        assert_eq!(
            waits,
            [250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000].map(Duration::from_millis)
        );
        assert_eq!(start.elapsed(), waits.iter().sum::<Duration>());
        // A success resets the backoff; refusals and standby passes are not retried.
        assert_eq!(policy(&ok, &mut backoff), Action::Idle);
        assert_eq!(
            policy(&failed, &mut backoff),
            Action::RetryAfter(Duration::from_millis(250))
        );
        for result in [
            PassResult::Refused,
            PassResult::Standby,
            PassResult::Applied,
        ] {
            let r = PassSummary {
                result,
                ..PassSummary::default()
            };
            assert_eq!(policy(&r, &mut backoff), Action::Idle, "{result:?}");
        }
        let lost = PassSummary {
            result: PassResult::Error,
            lock_lost: true,
            ..PassSummary::default()
        };
        assert_eq!(policy(&lost, &mut backoff), Action::NewSession);
    }

    #[test]
    fn only_passes_triggered_by_tree_events_alone_take_the_targeted_revert() {
        let tree = |p: &str| Reason::Tree(p.into());
        assert_eq!(
            tree_paths(&[tree("/a/x"), tree("/a/y"), tree("/a/x")]),
            Some(vec![
                crate::model::ZPath::parse("/a/x").unwrap(),
                crate::model::ZPath::parse("/a/y").unwrap()
            ])
        );
        assert_eq!(tree_paths(&[tree("/a/x"), Reason::Resync]), None);
        assert_eq!(tree_paths(&[Reason::Files]), None);
        assert_eq!(tree_paths(&[]), None);
        // The per-pass cap dropped events: their paths are unknown.
        let many: Vec<Reason> = (0..MAX_TREE_REASONS)
            .map(|i| tree(&format!("/a/n{i}")))
            .collect();
        assert_eq!(tree_paths(&many), None);
    }

    #[test]
    fn connect_backoff_stays_under_half_the_session_timeout() {
        let mut b = Backoff::for_connects(Duration::from_secs(2));
        let waits: Vec<Duration> = (0..8).map(|_| b.next()).collect();
        assert_eq!(waits[..3], [250, 500, 1000].map(Duration::from_millis));
        assert!(waits[3..].iter().all(|w| *w == Duration::from_secs(1)));
        // Long sessions keep the 10 s ceiling; tiny ones the 250 ms floor.
        let mut long = Backoff::for_connects(Duration::from_secs(60));
        assert_eq!((0..10).map(|_| long.next()).max(), Some(Backoff::MAX));
        let mut tiny = Backoff::for_connects(Duration::from_millis(100));
        assert_eq!((0..3).map(|_| tiny.next()).max(), Some(Backoff::MIN));
        b.reset();
        assert_eq!(b.next(), Backoff::MIN);
    }
}
