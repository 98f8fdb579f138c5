//! `zkstate diff`: compare the manifests with the live tree and print the plan; never takes the
//! lock, never writes. Exit 0 in sync, 1 differences, 2 trouble.
use super::common::{block_on, fail, load_manifests, open, pass_options, print_json};
use super::markdown::plan_markdown;
use super::render::{plan_json, plan_text};
use super::{Exit, GlobalArgs, PlanArgs, PlanOutput};
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
        let opts = pass_options(global, state, m.digest.clone());
        let observed = match reconcile::observe(&client, &m.desired, &opts).await {
            Ok(o) => o,
            Err(e) => return fail(Exit::Trouble, e),
        };
        match args.output {
            PlanOutput::Json => print_json(&plan_json(&observed.plan)),
            PlanOutput::Text => print!("{}", plan_text(&observed.plan)),
            PlanOutput::Markdown => {
                print!("{}", plan_markdown(&observed.plan, "zkstate diff", None))
            }
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
