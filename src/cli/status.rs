//! `zkstate status`: leader lock holder, last apply, drift per tree, queue depths, election
//! leaders, registered services (docs/contract.md §2). With `-f` it reports the declared resources; without,
//! what the inventory records.
use std::fmt::Write as _;

use super::common::{block_on, engine, fail, load_manifests, print_json};
use super::{Exit, GlobalArgs, OutputFormat, StatusArgs};
use crate::engine::StatusReport;

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
            // docs/contract.md §2: status exits 0 or 2; a manifest set it cannot use is trouble.
            Err(_) => return Exit::Trouble,
        }
    };
    let digest = manifests
        .as_ref()
        .map(|m| m.digest.clone())
        .unwrap_or_default();
    async move {
        let engine = match engine(global, digest).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        let desired = manifests.as_ref().map(|m| &m.desired);
        let report = match engine.status(desired).await {
            Ok(v) => v,
            Err(e) => return fail(Exit::Trouble, e),
        };
        match args.output {
            OutputFormat::Json => print_json(&report),
            OutputFormat::Text => print!("{}", text(&report)),
        }
        match &report.newer_format {
            Some(e) => fail(Exit::Trouble, e),
            None => Exit::Ok,
        }
    }
    .await
}

/// Human-readable status.
pub fn text(v: &StatusReport) -> String {
    let mut out = String::new();
    let holder = v.lock.holder.as_deref().unwrap_or("(none)");
    let _ = writeln!(out, "Leader lock: {holder}");
    let contenders = v.lock.contenders.len();
    if contenders > 1 {
        let _ = writeln!(out, "  {} waiting", contenders - 1);
    }
    if v.suspended {
        let _ = writeln!(
            out,
            "SUSPENDED: the leader plans and reports but does not write"
        );
    }
    match &v.last_apply {
        Some(l) => {
            let revision = if l.revision.is_empty() {
                "(none)"
            } else {
                &l.revision
            };
            let written_by = l
                .version
                .as_deref()
                .map(|v| format!(" (zkstate {v})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "Last apply: revision {revision} at {} by {}{written_by}",
                l.time, l.by
            );
        }
        None => out.push_str("Last apply: never\n"),
    }
    for t in &v.trees {
        let d = &t.drift;
        let state = if t.in_sync {
            "in sync".to_owned()
        } else {
            format!(
                "drift: {} to create, {} to update, {} to delete",
                d.create, d.update, d.delete
            )
        };
        let _ = writeln!(out, "Tree {} at {} ({}): {state}", t.name, t.root, t.mode);
        for o in &t.orphaned {
            let _ = writeln!(
                out,
                "  orphaned (outside the current root, never deleted): {o}"
            );
        }
    }
    for q in &v.queues {
        let alert = if q.alert {
            "  ALERT: above alertDepth"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "Queue {} at {} ({}): depth {}{alert}",
            q.name, q.path, q.format, q.depth
        );
    }
    for e in &v.elections {
        let _ = writeln!(
            out,
            "Election {} at {} ({}): leader {}; contenders [{}]",
            e.name,
            e.path,
            e.format,
            e.leader.as_deref().unwrap_or("(none)"),
            e.contenders.join(", ")
        );
    }
    for s in &v.services {
        let _ = writeln!(
            out,
            "Service {} at {} ({}):",
            s.name,
            s.base_path.as_deref().unwrap_or("?"),
            s.format
        );
        for i in &s.instances {
            let eph = if i.ephemeral { " (ephemeral)" } else { "" };
            let port = i.port.map_or_else(|| "null".to_owned(), |p| p.to_string());
            let _ = writeln!(
                out,
                "  {} {}:{port}{eph}",
                i.id,
                i.address.as_deref().unwrap_or("?")
            );
        }
    }
    out
}
