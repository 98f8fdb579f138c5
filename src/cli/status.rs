//! `zkstate status`: leader lock holder, last apply, drift per tree, queue depths, election
//! leaders, registered services (SPEC §2). With `-f` it reports the declared resources; without,
//! what the inventory records.
use std::fmt::Write as _;

use serde_json::{Value, json};
use zookeeper_client as zk;

use super::common::{block_on, fail, load_manifests, open, pass_options, print_json};
use super::{Exit, GlobalArgs, OutputFormat, StatusArgs};
use crate::manifest::spec::{ElectionFormat, QueueFormat};
use crate::model::{DesiredState, Kind, Mode, Owner, RecipeInfo, ZPath};
use crate::recipes;
use crate::zk::reconcile::{self, PassOptions};
use crate::zk::{ZkError, lock};

pub fn run(args: &StatusArgs, global: &GlobalArgs) -> Exit {
    block_on(run_async(args, global))
}

/// `status` on the caller's runtime.
pub async fn run_async(args: &StatusArgs, global: &GlobalArgs) -> Exit {
    let manifests = if args.files.is_empty() {
        None
    } else {
        match load_manifests(&args.files, global) {
            Ok(m) => Some(m),
            // SPEC §2: status exits 0 or 2; a manifest set it cannot use is trouble.
            Err(_) => return Exit::Trouble,
        }
    };
    let digest = manifests
        .as_ref()
        .map(|m| m.digest.clone())
        .unwrap_or_default();
    async move {
        let (client, state) = match open(global).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        let opts = pass_options(global, state, digest);
        let desired = manifests.as_ref().map(|m| &m.desired);
        let v = match collect(&client, desired, &opts).await {
            Ok(v) => v,
            Err(e) => return fail(Exit::Trouble, e),
        };
        match args.output {
            OutputFormat::Json => print_json(&v),
            OutputFormat::Text => print!("{}", text(&v)),
        }
        Exit::Ok
    }
    .await
}

/// The status object of SPEC §2 (also served by the agent's `/status`).
pub async fn collect(
    client: &zk::Client,
    desired: Option<&DesiredState>,
    opts: &PassOptions,
) -> Result<Value, ZkError> {
    let contenders = lock::contenders(client, opts.state.lock().as_str()).await?;
    let ids: Vec<String> = contenders.iter().map(|(_, id)| id.clone()).collect();
    let stored = reconcile::read_stored(client, &opts.state).await?;
    let last = stored.applied.as_ref().map(
        |(r, _)| json!({"revision": r.revision, "time": r.time, "digest": r.digest, "by": r.by}),
    );
    let mut trees = Vec::new();
    match desired {
        Some(d) => {
            let observed = reconcile::observe(client, d, opts).await?;
            let drift = observed.plan.drift_by_owner();
            for r in d.roots.iter().filter(|r| r.owner.kind == Kind::ConfigTree) {
                let s = drift.get(&r.owner).copied().unwrap_or_default();
                let orphaned: Vec<String> = observed
                    .plan
                    .orphaned
                    .get(&r.owner)
                    .map(|v| v.iter().map(|p| p.to_string()).collect())
                    .unwrap_or_default();
                trees.push(json!({
                    "name": r.owner.name,
                    "root": r.root.as_str(),
                    "mode": if r.mode == Mode::Observe { "observe" } else { "enforce" },
                    "inSync": s.create + s.update + s.delete == 0,
                    "drift": s,
                    "orphaned": orphaned,
                }));
            }
        }
        None => {
            for (owner, inv) in stored
                .inventory
                .owners
                .iter()
                .filter(|(o, _)| o.kind == Kind::ConfigTree)
            {
                let mut areas = crate::zk::snapshot::Areas::default();
                areas.nodes.extend(inv.paths.iter().cloned());
                areas.nodes.extend(inv.orphaned.iter().cloned());
                let live = crate::zk::snapshot::snapshot(client, &areas).await?;
                let missing = inv
                    .paths
                    .iter()
                    .filter(|p| p.is_within(&inv.root) && !live.nodes.contains_key(*p))
                    .count();
                let orphaned: Vec<String> = inv
                    .paths
                    .iter()
                    .filter(|p| !p.is_within(&inv.root))
                    .chain(inv.orphaned.iter())
                    .filter(|p| live.nodes.contains_key(*p))
                    .map(|p| p.to_string())
                    .collect();
                trees.push(json!({
                    "name": owner.name,
                    "root": inv.root.as_str(),
                    "mode": "enforce",
                    "inSync": missing == 0,
                    "drift": {"create": missing, "update": 0, "delete": 0},
                    "orphaned": orphaned,
                }));
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
    let mut queues = Vec::new();
    let mut elections = Vec::new();
    let mut services = Vec::new();
    for (owner, root, info) in &resources {
        match owner.kind {
            Kind::Queue => queues.push(queue_status(client, owner, root, info).await?),
            Kind::ElectionGroup => {
                elections.push(election_status(client, owner, root, info).await?)
            }
            Kind::Service => services.push(service_status(client, owner, root, info).await?),
            Kind::ConfigTree => {}
        }
    }
    Ok(json!({
        "lock": {"holder": ids.first(), "contenders": ids},
        "suspended": stored.suspended,
        "lastApply": last,
        "trees": trees,
        "queues": queues,
        "elections": elections,
        "services": services,
    }))
}

async fn children(client: &zk::Client, path: &ZPath) -> Result<Vec<String>, ZkError> {
    match client.list_children(path.as_str()).await {
        Ok(mut c) => {
            c.sort();
            Ok(c)
        }
        Err(zk::Error::NoNode) => Ok(Vec::new()),
        Err(e) => Err(ZkError::op("list", path.as_str(), e)),
    }
}

/// Data and ephemeral flag of each child, in the given order; vanished children are skipped.
async fn child_data(
    client: &zk::Client,
    parent: &ZPath,
    names: &[String],
) -> Result<Vec<(String, Vec<u8>, bool)>, ZkError> {
    let futs: Vec<_> = names
        .iter()
        .map(|n| client.get_data(parent.child(n).as_str()))
        .collect();
    let mut out = Vec::new();
    for (name, r) in names.iter().zip(futures::future::join_all(futs).await) {
        match r {
            Ok((data, stat)) => out.push((name.clone(), data, stat.ephemeral_owner != 0)),
            Err(zk::Error::NoNode) => {}
            Err(e) => return Err(ZkError::op("read", parent.child(name).as_str(), e)),
        }
    }
    Ok(out)
}

fn queue_format(s: &str) -> QueueFormat {
    match s {
        "kazoo-locking" => QueueFormat::KazooLocking,
        "curator" => QueueFormat::Curator,
        _ => QueueFormat::Kazoo,
    }
}

async fn queue_status(
    client: &zk::Client,
    owner: &Owner,
    path: &ZPath,
    info: &RecipeInfo,
) -> Result<Value, ZkError> {
    let format = queue_format(&info.format);
    let top = children(client, path).await?;
    let entries = if format == QueueFormat::KazooLocking {
        Some(children(client, &recipes::queue::items_parent(format, path)).await?)
    } else {
        None
    };
    let depth = recipes::queue_depth(format, &top, entries.as_deref());
    Ok(json!({
        "name": owner.name,
        "path": path.as_str(),
        "format": info.format,
        "depth": depth,
        "alert": info.alert_depth.is_some_and(|a| depth > a),
    }))
}

async fn election_status(
    client: &zk::Client,
    owner: &Owner,
    path: &ZPath,
    info: &RecipeInfo,
) -> Result<Value, ZkError> {
    let format = if info.format == "curator" {
        ElectionFormat::Curator
    } else {
        ElectionFormat::Kazoo
    };
    let names: Vec<String> =
        recipes::election::election_contenders(format, &children(client, path).await?)
            .into_iter()
            .map(|c| c.name)
            .collect();
    let ids: Vec<String> = child_data(client, path, &names)
        .await?
        .into_iter()
        .map(|(_, data, _)| String::from_utf8_lossy(&data).into_owned())
        .collect();
    Ok(json!({
        "name": owner.name,
        "path": path.as_str(),
        "format": info.format,
        "leader": ids.first(),
        "contenders": ids,
    }))
}

async fn service_status(
    client: &zk::Client,
    owner: &Owner,
    root: &ZPath,
    info: &RecipeInfo,
) -> Result<Value, ZkError> {
    let names = children(client, root).await?;
    let mut instances = Vec::new();
    for (name, data, ephemeral) in child_data(client, root, &names).await? {
        let Some(view) = recipes::parse_service_instance(&data) else {
            continue;
        };
        instances.push(json!({
            "id": if view.id.is_empty() { name } else { view.id },
            "address": view.address,
            "port": view.port,
            "ephemeral": ephemeral,
        }));
    }
    Ok(json!({
        "name": owner.name,
        "basePath": root.parent().map(|p| p.to_string()),
        "format": info.format,
        "instances": instances,
    }))
}

/// Human-readable status.
pub fn text(v: &Value) -> String {
    let mut out = String::new();
    let holder = v["lock"]["holder"].as_str().unwrap_or("(none)");
    let _ = writeln!(out, "Leader lock: {holder}");
    let contenders = v["lock"]["contenders"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    if contenders > 1 {
        let _ = writeln!(out, "  {} waiting", contenders - 1);
    }
    if v["suspended"].as_bool() == Some(true) {
        let _ = writeln!(
            out,
            "SUSPENDED: the leader plans and reports but does not write"
        );
    }
    match v["lastApply"].as_object() {
        Some(l) => {
            let _ = writeln!(
                out,
                "Last apply: revision {} at {} by {}",
                l["revision"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .unwrap_or("(none)"),
                l["time"].as_str().unwrap_or("?"),
                l["by"].as_str().unwrap_or("?")
            );
        }
        None => out.push_str("Last apply: never\n"),
    }
    for t in v["trees"].as_array().into_iter().flatten() {
        let d = &t["drift"];
        let state = if t["inSync"].as_bool() == Some(true) {
            "in sync".to_owned()
        } else {
            format!(
                "drift: {} to create, {} to update, {} to delete",
                d["create"], d["update"], d["delete"]
            )
        };
        let _ = writeln!(
            out,
            "Tree {} at {} ({}): {state}",
            t["name"].as_str().unwrap_or("?"),
            t["root"].as_str().unwrap_or("?"),
            t["mode"].as_str().unwrap_or("?")
        );
        for o in t["orphaned"].as_array().into_iter().flatten() {
            let _ = writeln!(
                out,
                "  orphaned (outside the current root, never deleted): {}",
                o.as_str().unwrap_or("?")
            );
        }
    }
    for q in v["queues"].as_array().into_iter().flatten() {
        let alert = if q["alert"].as_bool() == Some(true) {
            "  ALERT: above alertDepth"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "Queue {} at {} ({}): depth {}{alert}",
            q["name"].as_str().unwrap_or("?"),
            q["path"].as_str().unwrap_or("?"),
            q["format"].as_str().unwrap_or("?"),
            q["depth"]
        );
    }
    for e in v["elections"].as_array().into_iter().flatten() {
        let contenders: Vec<&str> = e["contenders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let _ = writeln!(
            out,
            "Election {} at {} ({}): leader {}; contenders [{}]",
            e["name"].as_str().unwrap_or("?"),
            e["path"].as_str().unwrap_or("?"),
            e["format"].as_str().unwrap_or("?"),
            e["leader"].as_str().unwrap_or("(none)"),
            contenders.join(", ")
        );
    }
    for s in v["services"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "Service {} at {} ({}):",
            s["name"].as_str().unwrap_or("?"),
            s["basePath"].as_str().unwrap_or("?"),
            s["format"].as_str().unwrap_or("?")
        );
        for i in s["instances"].as_array().into_iter().flatten() {
            let eph = if i["ephemeral"].as_bool() == Some(true) {
                " (ephemeral)"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "  {} {}:{}{eph}",
                i["id"].as_str().unwrap_or("?"),
                i["address"].as_str().unwrap_or("?"),
                i["port"]
            );
        }
    }
    out
}
