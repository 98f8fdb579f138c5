//! The typed docs/contract.md §2 status object, built from the lock directory, zkstate's records, a snapshot
//! and the recipe nodes. `status --output json` serializes it, the text renderer in `cli/` walks
//! it, the agent serves it on `/status`.
use serde::Serialize;

use crate::model::{DesiredState, Kind, Mode, Owner, RecipeFormat, RecipeInfo, ZPath};
use crate::plan::Summary;
use crate::recipes;
use crate::zk::reconcile::{self, PassOptions};
use crate::zk::session::Session;
use crate::zk::{ZkError, lock, snapshot};

/// `zkstate status` (docs/contract.md §2).
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub lock: LockStatus,
    pub suspended: bool,
    pub last_apply: Option<LastApply>,
    pub trees: Vec<TreeStatus>,
    pub queues: Vec<QueueStatus>,
    pub elections: Vec<ElectionStatus>,
    pub services: Vec<ServiceStatus>,
    /// Records of a newer format: the report holds only the lock, suspend and last apply, and
    /// `status` exits 2 after printing it (docs/design.md, "Format history").
    #[serde(skip)]
    pub newer_format: Option<crate::records::NewerFormat>,
}

/// The leader lock: identifiers in lock order.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LockStatus {
    pub holder: Option<String>,
    pub contenders: Vec<String>,
}

/// The applied-state record.
#[derive(Clone, Debug, Serialize)]
pub struct LastApply {
    pub revision: String,
    /// RFC 3339.
    pub time: String,
    pub digest: String,
    pub by: String,
    /// The zkstate that wrote it (`zkstate --version`); null for records of format 0.
    pub version: Option<String>,
}

/// One ConfigTree.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeStatus {
    pub name: String,
    pub root: String,
    /// `enforce` or `observe`.
    pub mode: &'static str,
    pub in_sync: bool,
    pub drift: Summary,
    pub orphaned: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct QueueStatus {
    pub name: String,
    pub path: String,
    pub format: RecipeFormat,
    pub depth: u64,
    pub alert: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ElectionStatus {
    pub name: String,
    pub path: String,
    pub format: RecipeFormat,
    pub leader: Option<String>,
    pub contenders: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub name: String,
    pub base_path: Option<String>,
    pub format: RecipeFormat,
    pub instances: Vec<InstanceStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InstanceStatus {
    pub id: String,
    pub address: Option<String>,
    pub port: Option<u32>,
    pub ephemeral: bool,
}

/// Builds the status; with `desired`, the declared resources (and drift from one observe pass),
/// else what the inventory records.
pub async fn collect(
    session: &Session,
    desired: Option<&DesiredState>,
    opts: &PassOptions,
) -> Result<StatusReport, ZkError> {
    let client = session.client();
    let contenders = lock::contenders(client, opts.state.lock().as_str()).await?;
    let ids: Vec<String> = contenders.into_iter().map(|(_, id)| id).collect();
    let stored = reconcile::read_stored_any_format(client, &opts.state).await?;
    let last_apply = stored.applied.as_ref().map(|(r, _)| LastApply {
        revision: r.revision.clone(),
        time: r.time.clone(),
        digest: r.digest.clone(),
        by: r.by.clone(),
        version: r.version.clone(),
    });
    if let Err(newer) = stored.check_format(&opts.state) {
        // The inventory of a newer format cannot be read here: only what is certain.
        return Ok(StatusReport {
            lock: LockStatus {
                holder: ids.first().cloned(),
                contenders: ids,
            },
            suspended: stored.suspended,
            last_apply,
            newer_format: Some(newer),
            ..StatusReport::default()
        });
    }
    let mut trees = Vec::new();
    match desired {
        Some(d) => {
            let observed = reconcile::observe(client, d, opts).await?;
            let drift = observed.plan.drift_by_owner();
            for r in d.roots.iter().filter(|r| r.owner.kind == Kind::ConfigTree) {
                let s = drift.get(&r.owner).copied().unwrap_or_default();
                let orphaned = observed
                    .plan
                    .orphaned
                    .get(&r.owner)
                    .map(|v| v.iter().map(|p| p.to_string()).collect())
                    .unwrap_or_default();
                trees.push(TreeStatus {
                    name: r.owner.name.to_string(),
                    root: r.root.to_string(),
                    mode: if r.mode == Mode::Observe {
                        "observe"
                    } else {
                        "enforce"
                    },
                    in_sync: s.create + s.update + s.delete == 0,
                    drift: s,
                    orphaned,
                });
            }
        }
        None => {
            for (owner, inv) in stored
                .inventory
                .owners
                .iter()
                .filter(|(o, _)| o.kind == Kind::ConfigTree)
            {
                let mut areas = snapshot::Areas::default();
                areas.nodes.extend(inv.paths.iter().cloned());
                areas.nodes.extend(inv.orphaned.iter().cloned());
                let live = snapshot::snapshot(client, &areas).await?;
                let missing = inv
                    .paths
                    .iter()
                    .filter(|p| p.is_within(&inv.root) && !live.nodes.contains_key(*p))
                    .count();
                let orphaned = inv
                    .paths
                    .iter()
                    .filter(|p| !p.is_within(&inv.root))
                    .chain(inv.orphaned.iter())
                    .filter(|p| live.nodes.contains_key(*p))
                    .map(|p| p.to_string())
                    .collect();
                trees.push(TreeStatus {
                    name: owner.name.to_string(),
                    root: inv.root.to_string(),
                    mode: "enforce",
                    in_sync: missing == 0,
                    drift: Summary {
                        create: missing,
                        update: 0,
                        delete: 0,
                    },
                    orphaned,
                });
            }
        }
    }
    // Recipe resources: declared ones with -f, else what the inventory records.
    let resources: Vec<(Owner, ZPath, RecipeInfo)> = match desired {
        Some(d) => d
            .roots
            .iter()
            .filter(|r| r.owner.kind != Kind::ConfigTree)
            .map(|r| {
                let info = d.recipes.get(&r.owner).cloned().unwrap_or_default();
                (r.owner.clone(), r.root.clone(), info)
            })
            .collect(),
        None => stored
            .inventory
            .owners
            .iter()
            .filter(|(o, _)| o.kind != Kind::ConfigTree)
            .map(|(o, inv)| {
                (
                    o.clone(),
                    inv.root.clone(),
                    inv.recipe.clone().unwrap_or_default(),
                )
            })
            .collect(),
    };
    let mut report = StatusReport {
        lock: LockStatus {
            holder: ids.first().cloned(),
            contenders: ids,
        },
        suspended: stored.suspended,
        last_apply,
        trees,
        ..StatusReport::default()
    };
    for (owner, root, info) in &resources {
        match owner.kind {
            Kind::Queue => report
                .queues
                .push(queue_status(session, owner, root, info).await?),
            Kind::ElectionGroup => report
                .elections
                .push(election_status(session, owner, root, info).await?),
            Kind::Service => report
                .services
                .push(service_status(session, owner, root, info).await?),
            Kind::ConfigTree => {}
        }
    }
    Ok(report)
}

/// A recipe whose recorded format this version does not know: its nodes are not interpreted.
fn unknown_format(owner: &Owner, info: &RecipeInfo) -> ZkError {
    ZkError::Corrupt {
        path: format!("the inventory of {} {}", owner.kind, owner.name),
        message: format!(
            "format {:?} is not one this zkstate reads for a {}; upgrade zkstate, or re-apply the manifest that declares it",
            info.format.as_str(),
            owner.kind
        ),
    }
}

/// The depth of every queue `desired` declares (what `zkstate_queue_depth` shows after each
/// agent pass): one or two child listings per queue, no tree snapshot.
pub async fn queue_depths(
    session: &Session,
    desired: &DesiredState,
) -> Result<Vec<QueueStatus>, ZkError> {
    let mut out = Vec::new();
    for r in desired.roots.iter().filter(|r| r.owner.kind == Kind::Queue) {
        let info = desired.recipes.get(&r.owner).cloned().unwrap_or_default();
        out.push(queue_status(session, &r.owner, &r.root, &info).await?);
    }
    Ok(out)
}

async fn queue_status(
    session: &Session,
    owner: &Owner,
    path: &ZPath,
    info: &RecipeInfo,
) -> Result<QueueStatus, ZkError> {
    let Some(format) = recipes::queue_format_of(&info.format) else {
        return Err(unknown_format(owner, info));
    };
    let top = session.children(path.as_str()).await?;
    let entries = if format == crate::model::spec::QueueFormat::KazooLocking {
        Some(
            session
                .children(recipes::queue::items_parent(format, path).as_str())
                .await?,
        )
    } else {
        None
    };
    let depth = recipes::queue_depth(format, &top, entries.as_deref());
    Ok(QueueStatus {
        name: owner.name.to_string(),
        path: path.to_string(),
        format: info.format.clone(),
        depth,
        alert: info.alert_depth.is_some_and(|a| depth > a),
    })
}

async fn election_status(
    session: &Session,
    owner: &Owner,
    path: &ZPath,
    info: &RecipeInfo,
) -> Result<ElectionStatus, ZkError> {
    let Some(format) = recipes::election_format_of(&info.format) else {
        return Err(unknown_format(owner, info));
    };
    let names: Vec<String> =
        recipes::election::election_contenders(format, &session.children(path.as_str()).await?)
            .into_iter()
            .map(|c| c.name)
            .collect();
    let ids: Vec<String> = session
        .child_data(path, &names)
        .await?
        .into_iter()
        .map(|(_, data, _)| String::from_utf8_lossy(&data).into_owned())
        .collect();
    Ok(ElectionStatus {
        name: owner.name.to_string(),
        path: path.to_string(),
        format: info.format.clone(),
        leader: ids.first().cloned(),
        contenders: ids,
    })
}

async fn service_status(
    session: &Session,
    owner: &Owner,
    root: &ZPath,
    info: &RecipeInfo,
) -> Result<ServiceStatus, ZkError> {
    let names = session.children(root.as_str()).await?;
    let mut instances = Vec::new();
    for (name, data, ephemeral) in session.child_data(root, &names).await? {
        let Some(view) = recipes::parse_service_instance(&data) else {
            continue;
        };
        instances.push(InstanceStatus {
            id: if view.id.is_empty() { name } else { view.id },
            address: view.address,
            port: view.port,
            ephemeral,
        });
    }
    Ok(ServiceStatus {
        name: owner.name.to_string(),
        base_path: root.parent().map(|p| p.to_string()),
        format: info.format.clone(),
        instances,
    })
}
