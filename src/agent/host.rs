//! The host keeper: resources every agent keeps for its own host, leader or not.
//!
//! - `Service` documents with `scope: host`: one ephemeral node per instance, owned by this
//!   agent's session, registered only while the instance's optional TCP `check` passes.
//! - `ElectionGroup` documents with `participate`: one contender node (kazoo `Election` or
//!   Curator `LeaderLatch` layout); `onElected` / `onRevoked` run on transitions.
//!
//! [`HostKeeper::keep`] is level-based like the rest of the agent: it compares what should exist
//! with what does and fixes the difference, so it runs on every pass. After a session change
//! (expiry) it starts over: contenders and registrations are created again in the new session
//! and an elected contender is revoked first.
//!
//! # Hook environment
//! Hooks run without a shell, as the agent's user, with the agent's environment plus
//! `ZKSTATE_EVENT` (`elected` or `revoked`), `ZKSTATE_ELECTION` (metadata.name),
//! `ZKSTATE_ELECTION_PATH`, `ZKSTATE_ELECTION_FORMAT` (`kazoo` or `curator`),
//! `ZKSTATE_IDENTIFIER` (the contender's data), `ZKSTATE_HOST_ID` and `ZKSTATE_CONTENDER` (the
//! contender node's full path). The agent does not wait for a hook; its exit status is logged.
//! With [`Hooks::Show`] (`zkstate dev` without `--run-hooks`, docs/contract.md §2) a hook is logged with its
//! argv and those variables instead of run, so trying manifests out never acts on the machine.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::Reason;
use crate::manifest::spec::ElectionFormat;
use crate::manifest::{DocumentSpec, LoadedSet};
use crate::model::{AclEntry, DesiredState, Kind, LiveTree, NodeMode, ZPath};
use crate::recipes::election::{election_contender_prefix, election_contenders};
use crate::zk::ZkError;
use crate::zk::host::{self as zkhost, Kept};
use crate::zk::session::Session;

/// One host-scoped registration the manifests declare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub service: String,
    pub path: String,
    /// Rendered data (Curator: `registrationTimeUTC` 0, filled in when registering).
    pub data: Vec<u8>,
    pub parents: Vec<(String, NodeMode)>,
    pub acl: Option<Vec<AclEntry>>,
    pub check: Option<Check>,
}

/// A TCP health check, as the service recipe parsed it from the manifest.
pub use crate::model::HealthCheck as Check;

/// One election this host runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Participation {
    pub name: String,
    pub group: String,
    pub format: ElectionFormat,
    pub identifier: String,
    pub on_elected: Vec<String>,
    pub on_revoked: Vec<String>,
    pub parents: Vec<(String, NodeMode)>,
}

/// What the manifests ask this host to keep.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostDesired {
    pub registrations: Vec<Registration>,
    pub participations: Vec<Participation>,
}

/// Derives the host-scoped resources from a manifest set (pure).
pub fn host_desired(set: &LoadedSet) -> HostDesired {
    let mut out = HostDesired::default();
    for doc in &set.documents {
        if let DocumentSpec::ElectionGroup(spec) = &doc.spec {
            let Some(p) = &spec.participate else { continue };
            let mode = match spec.format {
                ElectionFormat::Kazoo => NodeMode::Persistent,
                ElectionFormat::Curator => NodeMode::Container,
            };
            let mut parents: Vec<(String, NodeMode)> = doc
                .root
                .ancestors()
                .filter(|a| !a.is_root())
                .map(|a| (a.to_string(), mode))
                .collect();
            parents.sort_by(|a, b| a.0.cmp(&b.0));
            parents.push((doc.root.to_string(), mode));
            out.participations.push(Participation {
                name: doc.name.clone(),
                group: doc.root.to_string(),
                format: spec.format,
                identifier: p.identifier.clone(),
                on_elected: p.on_elected.clone(),
                on_revoked: p.on_revoked.clone(),
                parents,
            });
        }
    }
    for root in set.state.roots.iter().filter(|r| r.host_scoped) {
        if root.owner.kind != Kind::Service {
            continue;
        }
        let owned: Vec<_> = set
            .state
            .nodes
            .values()
            .filter(|n| n.owner == root.owner)
            .collect();
        let parents: Vec<(String, NodeMode)> = owned
            .iter()
            .filter(|n| n.mode != NodeMode::Ephemeral)
            .map(|n| (n.path.to_string(), n.mode))
            .collect();
        for n in owned.iter().filter(|n| n.mode == NodeMode::Ephemeral) {
            let id = n.path.as_str().rsplit('/').next().unwrap_or_default();
            out.registrations.push(Registration {
                service: root.owner.name.to_string(),
                path: n.path.to_string(),
                data: n.data.clone(),
                parents: parents.clone(),
                acl: n.acl.clone(),
                // Typed by the service recipe (docs/formats.md), never re-parsed here.
                check: set
                    .state
                    .recipes
                    .get(&root.owner)
                    .and_then(|r| r.checks.get(id))
                    .cloned(),
            });
        }
    }
    out
}

/// Fills in a Curator registration's `registrationTimeUTC` (now), as Curator does when it
/// registers; other formats are returned as they are.
fn registration_bytes(reg: &Registration) -> Vec<u8> {
    let Ok(path) = ZPath::parse(&reg.path) else {
        return reg.data.clone();
    };
    let mut state = DesiredState::default();
    state.nodes.insert(
        path.clone(),
        crate::model::DesiredNode {
            path: path.clone(),
            data: reg.data.clone(),
            secret: false,
            policy: crate::model::DataPolicy::Enforce,
            acl: None,
            mode: NodeMode::Ephemeral,
            owner: crate::model::Owner::new(Kind::Service, reg.service.clone()),
        },
    );
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    crate::recipes::stabilize_registration_times(&mut state, &LiveTree::default(), now_ms);
    state
        .nodes
        .remove(&path)
        .map(|n| n.data)
        .unwrap_or_else(|| reg.data.clone())
}

/// Background TCP checks, one task per distinct (address, interval).
#[derive(Default)]
struct Checks {
    tasks: HashMap<Check, (JoinHandle<()>, Arc<AtomicBool>)>,
}

impl Checks {
    fn sync(&mut self, wanted: &BTreeSet<Check>, triggers: &UnboundedSender<Reason>) {
        self.tasks.retain(|c, (task, _)| {
            let keep = wanted.contains(c);
            if !keep {
                task.abort();
            }
            keep
        });
        for c in wanted {
            if self.tasks.contains_key(c) {
                continue;
            }
            let healthy = Arc::new(AtomicBool::new(false));
            let flag = healthy.clone();
            let check = c.clone();
            let tx = triggers.clone();
            let task = tokio::spawn(async move {
                let mut last = None;
                loop {
                    let limit = check.interval.min(Duration::from_secs(2));
                    let ok = matches!(
                        tokio::time::timeout(
                            limit,
                            tokio::net::TcpStream::connect((
                                check.tcp.host.as_str(),
                                check.tcp.port
                            )),
                        )
                        .await,
                        Ok(Ok(_))
                    );
                    flag.store(ok, Ordering::Relaxed);
                    if last != Some(ok) {
                        tracing::info!(tcp = %check.tcp, healthy = ok, "health check changed");
                        last = Some(ok);
                        if tx.send(Reason::Check).is_err() {
                            break;
                        }
                    }
                    // At most ten checks a second, whatever the manifest asks.
                    tokio::time::sleep(check.interval.max(Duration::from_millis(100))).await;
                }
            });
            self.tasks.insert(c.clone(), (task, healthy));
        }
    }

    fn healthy(&self, c: &Check) -> bool {
        self.tasks
            .get(c)
            .is_some_and(|(_, h)| h.load(Ordering::Relaxed))
    }
}

impl Drop for Checks {
    fn drop(&mut self) {
        for (t, _) in self.tasks.values() {
            t.abort();
        }
    }
}

#[derive(Clone, Debug)]
struct ContenderState {
    spec: Participation,
    /// Our contender node name in the group.
    node: Option<String>,
    elected: bool,
}

/// What one [`HostKeeper::keep`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostReport {
    pub created: usize,
    pub updated: usize,
    pub removed: usize,
    /// Registered instances per service (for `zkstate_services_registered`).
    pub registered: BTreeMap<String, usize>,
    /// Paths taken by another session.
    pub taken: Vec<String>,
    /// Elections this host currently leads.
    pub elected: Vec<String>,
}

/// What happens to `onElected` / `onRevoked` hooks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Hooks {
    /// Run them (the agent).
    #[default]
    Run,
    /// Log their argv and environment, run nothing (`zkstate dev` without `--run-hooks`).
    Show,
}

/// Keeps this host's ephemeral registrations and election contenders.
pub struct HostKeeper {
    host_id: String,
    hooks: Hooks,
    session: Option<i64>,
    /// Registered path → (declared bytes, bytes written).
    registered: BTreeMap<String, (Vec<u8>, Vec<u8>)>,
    contenders: BTreeMap<String, ContenderState>,
    checks: Checks,
    triggers: UnboundedSender<Reason>,
}

impl HostKeeper {
    pub fn new(host_id: String, hooks: Hooks, triggers: UnboundedSender<Reason>) -> Self {
        HostKeeper {
            host_id,
            hooks,
            session: None,
            registered: BTreeMap::new(),
            contenders: BTreeMap::new(),
            checks: Checks::default(),
            triggers,
        }
    }

    /// The session ended: everything we had is gone with it; elected contenders are revoked.
    pub fn session_lost(&mut self) {
        self.session = None;
        self.registered.clear();
        for c in self.contenders.values_mut() {
            if c.elected {
                c.elected = false;
                run_hook(
                    &c.spec,
                    "revoked",
                    &self.host_id,
                    self.hooks,
                    c.node.as_deref(),
                );
            }
            c.node = None;
        }
    }

    /// Makes the live tree hold exactly this host's resources for `desired`.
    pub async fn keep(
        &mut self,
        session: &Session,
        desired: &HostDesired,
    ) -> Result<HostReport, ZkError> {
        if self.session != Some(session.id()) {
            if self.session.is_some() {
                self.session_lost();
            }
            self.session = Some(session.id());
        }
        let wanted: BTreeSet<Check> = desired
            .registrations
            .iter()
            .filter_map(|r| r.check.clone())
            .collect();
        self.checks.sync(&wanted, &self.triggers);
        let mut report = HostReport::default();
        let mut keep_paths = BTreeSet::new();
        for reg in &desired.registrations {
            report.registered.entry(reg.service.clone()).or_default();
            let healthy = reg.check.as_ref().is_none_or(|c| self.checks.healthy(c));
            if !healthy {
                continue;
            }
            keep_paths.insert(reg.path.clone());
            let bytes = match self.registered.get(&reg.path) {
                Some((declared, written)) if *declared == reg.data => written.clone(),
                _ => registration_bytes(reg),
            };
            match zkhost::ensure_ephemeral(session, &reg.path, &bytes, &reg.parents, &reg.acl)
                .await?
            {
                Kept::Unchanged => {}
                Kept::Created => {
                    tracing::info!(path = %reg.path, "registered");
                    report.created += 1;
                }
                Kept::Updated => {
                    tracing::info!(path = %reg.path, "registration rewritten");
                    report.updated += 1;
                }
                Kept::Taken { owner } => {
                    tracing::warn!(path = %reg.path, session = format!("{owner:#x}"), "registration path is held by another session; left alone");
                    report.taken.push(reg.path.clone());
                    continue;
                }
            }
            *report.registered.entry(reg.service.clone()).or_default() += 1;
            self.registered
                .insert(reg.path.clone(), (reg.data.clone(), bytes));
        }
        let stale: Vec<String> = self
            .registered
            .keys()
            .filter(|p| !keep_paths.contains(*p))
            .cloned()
            .collect();
        for path in stale {
            if zkhost::remove_ephemeral(session, &path).await? {
                tracing::info!(%path, "deregistered");
                report.removed += 1;
            }
            self.registered.remove(&path);
        }
        self.keep_elections(session, desired, &mut report).await?;
        Ok(report)
    }

    async fn keep_elections(
        &mut self,
        session: &Session,
        desired: &HostDesired,
        report: &mut HostReport,
    ) -> Result<(), ZkError> {
        let names: BTreeSet<&str> = desired
            .participations
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let gone: Vec<String> = self
            .contenders
            .keys()
            .filter(|n| !names.contains(n.as_str()))
            .cloned()
            .collect();
        for name in gone {
            if let Some(c) = self.contenders.remove(&name) {
                if let Some(node) = &c.node {
                    zkhost::remove_contender(session, &c.spec.group, node).await?;
                }
                if c.elected {
                    run_hook(
                        &c.spec,
                        "revoked",
                        &self.host_id,
                        self.hooks,
                        c.node.as_deref(),
                    );
                }
            }
        }
        for p in &desired.participations {
            let state = self
                .contenders
                .entry(p.name.clone())
                .or_insert_with(|| ContenderState {
                    spec: p.clone(),
                    node: None,
                    elected: false,
                });
            if state.spec.group != p.group || state.spec.format != p.format {
                if let Some(node) = state.node.take() {
                    zkhost::remove_contender(session, &state.spec.group, &node).await?;
                }
                if state.elected {
                    state.elected = false;
                    run_hook(&state.spec, "revoked", &self.host_id, self.hooks, None);
                }
            }
            state.spec = p.clone();
            let prefix = election_contender_prefix(p.format, uuid::Uuid::new_v4());
            let node = zkhost::ensure_contender(
                session,
                &p.group,
                &prefix,
                &p.identifier,
                state.node.as_deref(),
                &p.parents,
            )
            .await?;
            if state.node.as_deref() != Some(node.as_str()) {
                tracing::info!(election = %p.name, contender = %node, "joined election");
            }
            state.node = Some(node.clone());
            let children = zkhost::children(session, &p.group).await?;
            let order = election_contenders(p.format, &children);
            let elected = order.first().is_some_and(|c| c.name == node);
            if elected != state.elected {
                state.elected = elected;
                let event = if elected { "elected" } else { "revoked" };
                tracing::info!(election = %p.name, event, "leadership changed");
                run_hook(&state.spec, event, &self.host_id, self.hooks, Some(&node));
            }
            if elected {
                report.elected.push(p.name.clone());
            }
        }
        Ok(())
    }

    /// Leaves every election (runs `onRevoked` where elected) and drops registrations; used on
    /// shutdown before the session is closed.
    pub async fn leave(&mut self, session: &Session) {
        for c in self.contenders.values_mut() {
            if let Some(node) = c.node.take() {
                let _ = zkhost::remove_contender(session, &c.spec.group, &node).await;
            }
            if c.elected {
                c.elected = false;
                run_hook(&c.spec, "revoked", &self.host_id, self.hooks, None);
            }
        }
    }
}

/// Starts `onElected` / `onRevoked`, or only logs it with [`Hooks::Show`] (see the module docs
/// for the environment).
fn run_hook(p: &Participation, event: &str, host_id: &str, hooks: Hooks, node: Option<&str>) {
    let argv = if event == "elected" {
        &p.on_elected
    } else {
        &p.on_revoked
    };
    let Some((program, args)) = argv.split_first() else {
        return;
    };
    let env = [
        ("ZKSTATE_EVENT", event.to_owned()),
        ("ZKSTATE_ELECTION", p.name.clone()),
        ("ZKSTATE_ELECTION_PATH", p.group.clone()),
        (
            "ZKSTATE_ELECTION_FORMAT",
            match p.format {
                ElectionFormat::Kazoo => "kazoo",
                ElectionFormat::Curator => "curator",
            }
            .to_owned(),
        ),
        ("ZKSTATE_IDENTIFIER", p.identifier.clone()),
        ("ZKSTATE_HOST_ID", host_id.to_owned()),
        (
            "ZKSTATE_CONTENDER",
            node.map(|n| format!("{}/{n}", p.group)).unwrap_or_default(),
        ),
    ];
    let election = p.name.clone();
    if hooks == Hooks::Show {
        let env: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        tracing::info!(
            %election,
            %event,
            ?argv,
            ?env,
            "election hook shown, not run (zkstate dev; --run-hooks runs it)"
        );
        return;
    }
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).envs(env).stdin(std::process::Stdio::null());
    let event = event.to_owned();
    match cmd.spawn() {
        Ok(mut child) => {
            tokio::spawn(async move {
                match child.wait().await {
                    Ok(s) if s.success() => {
                        tracing::info!(%election, %event, "hook finished")
                    }
                    Ok(s) => tracing::warn!(%election, %event, status = %s, "hook failed"),
                    Err(e) => tracing::warn!(%election, %event, error = %e, "hook failed"),
                }
            });
        }
        Err(e) => {
            tracing::warn!(%election, %event, program = %program, error = %e, "failed to start hook")
        }
    }
}
