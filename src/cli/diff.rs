//! `zkstate diff`: compare the manifests with the live tree and print the plan; never takes the
//! lock, never writes. Exit 0 in sync, 1 differences, 2 trouble.
use super::common::{block_on, engine, fail, load_manifests, print_json};
use super::markdown::plan_markdown;
use super::render::plan_text;
use super::{Exit, GlobalArgs, PlanArgs, PlanOutput};
use crate::engine::PassMode;

pub fn run(args: &PlanArgs, global: &GlobalArgs) -> Exit {
    let m = match load_manifests(&args.files.files, global) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let exit = block_on(async {
        let mut engine = match engine(global, m.digest.clone()).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        engine.options_mut().planner.prune_removed = args.prune_removed;
        let report = match engine.pass(&m.desired, PassMode::Observe).await {
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
    });
    std::mem::forget(m);
    exit
}
