//! `zkstate diff`: compare the manifests with the live tree and print the plan; never takes the
//! lock, never writes. Exit 0 in sync, 1 differences, 2 trouble.
//!
//! The session opens and zkstate's records (with the subtrees they name) are read while the
//! manifests still load; a no-op diff then only plans once loading ends.
use super::common::{
    block_on, engine, fail, load_manifests, load_while, pass_options, print_json,
    quiet_session_args,
};
use super::markdown::plan_markdown;
use super::render::plan_text;
use super::{Exit, GlobalArgs, PlanArgs, PlanOutput};
use crate::engine::{Engine, PassMode, Session};
use crate::zk::reconcile::Prefetch;

pub fn run(args: &PlanArgs, global: &GlobalArgs) -> Exit {
    let Some((copts, state)) = quiet_session_args(global) else {
        // A flag is wrong: the ordinary order reports it after the manifests.
        return run_after_load(args, global);
    };
    let read = async {
        let session = Session::connect(&copts).await.map_err(|e| e.to_string())?;
        let engine = Engine::new(session, pass_options(global, state, String::new()));
        // A failed read ahead is not reported: the pass reads again and reports that.
        let prefetched = engine.prefetch().await.ok();
        Ok::<_, String>((engine, prefetched))
    };
    load_while(&args.files.files, global, read, async |m, read| {
        let (mut engine, prefetched) = match read {
            Ok(x) => x,
            Err(e) => return fail(Exit::Trouble, e),
        };
        engine.options_mut().digest.clone_from(&m.digest);
        let exit = finish(args, &mut engine, &m.desired, prefetched).await;
        std::mem::forget(m);
        exit
    })
}

/// Loads, then connects: used when a connection flag is wrong.
fn run_after_load(args: &PlanArgs, global: &GlobalArgs) -> Exit {
    let m = match load_manifests(&args.files.files, global) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let exit = block_on(async {
        let mut engine = match engine(global, m.digest.clone()).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        finish(args, &mut engine, &m.desired, None).await
    });
    std::mem::forget(m);
    exit
}

async fn finish(
    args: &PlanArgs,
    engine: &mut Engine,
    desired: &crate::model::DesiredState,
    prefetched: Option<Prefetch>,
) -> Exit {
    engine.options_mut().planner.prune_removed = args.prune_removed;
    let report = match engine
        .pass_prefetched(desired, PassMode::Observe, prefetched)
        .await
    {
        Ok(o) => o,
        Err(e) => return fail(Exit::Trouble, e),
    };
    match args.output {
        PlanOutput::Json => print_json(&report.plan_report()),
        PlanOutput::Text => print!("{}", plan_text(&report.plan)),
        PlanOutput::Markdown => print!("{}", plan_markdown(&report.plan, "zkstate diff", None)),
    }
    let exit = if report.in_sync() {
        Exit::Ok
    } else {
        Exit::Finding
    };
    // The process exits next: freeing 100k-node trees piece by piece only costs time.
    std::mem::forget(report);
    exit
}
