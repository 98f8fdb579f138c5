//! `zkstate diff`: compare the manifests with the live tree and print the plan; never takes the
//! lock, never writes. Exit 0 in sync, 1 differences, 2 trouble.
use super::common::{block_on, fail, load_manifests, open, pass_options, print_json};
use super::render::{plan_json, plan_text};
use super::{Exit, GlobalArgs, OutputFormat, PlanArgs};
use crate::zk::reconcile;

pub fn run(args: &PlanArgs, global: &GlobalArgs) -> Exit {
    let m = match load_manifests(&args.files.files, global) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let exit = block_on(async {
        let (client, state) = match open(global).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        let mut opts = pass_options(global, state, m.digest.clone());
        opts.planner.prune_removed = args.prune_removed;
        let observed = match reconcile::observe(&client, &m.desired, &opts).await {
            Ok(o) => o,
            Err(e) => return fail(Exit::Trouble, e),
        };
        match args.output {
            OutputFormat::Json => print_json(&plan_json(&observed.plan)),
            OutputFormat::Text => print!("{}", plan_text(&observed.plan)),
        }
        let exit = if observed.plan.is_empty() {
            Exit::Ok
        } else {
            Exit::Finding
        };
        // The process exits next: freeing 100k-node trees piece by piece only costs time.
        std::mem::forget(observed);
        exit
    });
    std::mem::forget(m);
    exit
}
