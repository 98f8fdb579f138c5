//! `zkstate apply`: plan and apply atomically under the leader lock. Exit 0 applied or nothing to
//! do, 1 invalid manifests, 2 trouble, 3 refused by a safety guard, 4 lock timeout.
use super::common::{block_on, fail, load_manifests, open, pass_options, print_json};
use super::markdown::plan_markdown;
use super::render::{plan_json, plan_text};
use super::{ApplyArgs, Exit, GlobalArgs, PlanOutput};
use crate::zk::ZkError;
use crate::zk::apply::ExecError;
use crate::zk::lock::{self, LockFormat};
use crate::zk::reconcile::{self, ApplyError, ApplyOutcome};

pub fn run(args: &ApplyArgs, global: &GlobalArgs) -> Exit {
    run_with(args, global, true)
}

/// Runs `apply` on a runtime of its own; with `print` false only changes and errors are printed.
pub fn run_with(args: &ApplyArgs, global: &GlobalArgs, print: bool) -> Exit {
    if args.dry_run {
        return super::diff::run(&args.plan, global);
    }
    block_on(run_async(args, global, print, true))
}

/// `apply` on the caller's runtime (the dev loop).
pub async fn run_async(args: &ApplyArgs, global: &GlobalArgs, print: bool, exiting: bool) -> Exit {
    let m = match load_manifests(&args.plan.files.files, global) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let output = args.plan.output;
    async move {
        let (client, state) = match open(global).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        let mut opts = pass_options(global, state.clone(), m.digest.clone());
        opts.max_deletes = args.max_deletes;
        opts.force = args.force;
        opts.revision = args.revision.clone();
        opts.exec.allow_split = args.allow_split;
        opts.exec.max_request_bytes = args.max_request_bytes;
        for dir in [state.lock(), state.inventory()] {
            if let Err(e) = lock::ensure_path(&client, dir.as_str()).await {
                return fail(Exit::Trouble, e);
            }
        }
        let format: LockFormat = args.lock_format.into();
        let held = match lock::acquire(
            &client,
            state.root.as_str(),
            &opts.identifier,
            format,
            args.lock_timeout.map(Into::into),
        )
        .await
        {
            Ok(l) => l,
            Err(e @ ZkError::LockTimeout { .. }) => return fail(Exit::LockTimeout, e),
            Err(e) => return fail(Exit::Trouble, e),
        };
        let result = reconcile::apply(&client, &held, &m.desired, &opts).await;
        let _ = lock::release(&client, &held).await;
        let (exit, plan, extra, message) = match result {
            Ok(ApplyOutcome::InSync(o)) => (Exit::Ok, o.plan, serde_json::json!({"applied": false}), None),
            Ok(ApplyOutcome::Applied { observed, report, .. }) => {
                let n = observed.plan.writable().count();
                let observed_only = observed.plan.changes.len() - n;
                let mut msg = if report.batches > 1 {
                    format!(
                        "Applied {n} changes as {} ordered atomic batches (--allow-split): each batch is atomic, the whole plan is not.",
                        report.batches
                    )
                } else {
                    format!("Applied {n} changes in one atomic transaction ({} bytes).", report.bytes)
                };
                if observed_only > 0 {
                    msg.push_str(&format!(" {observed_only} changes in observe mode were not applied."));
                }
                (
                    Exit::Ok,
                    observed.plan,
                    serde_json::json!({"applied": true, "transactions": report.batches}),
                    Some(msg),
                )
            }
            Ok(ApplyOutcome::Suspended(o)) => (
                Exit::Ok,
                o.plan,
                serde_json::json!({"applied": false, "suspended": true}),
                Some(format!(
                    "Suspended: {} exists, so nothing was written (zkstate resume lifts it).",
                    state.suspend()
                )),
            ),
            Ok(ApplyOutcome::Refused { observed, reason }) => (
                Exit::Refused,
                observed.plan,
                serde_json::json!({"applied": false, "refused": reason}),
                Some(format!("Refused: {reason}")),
            ),
            Err(ApplyError::Exec(e @ ExecError::TooLarge { .. })) => return fail(Exit::Refused, e),
            Err(e) => return fail(Exit::Trouble, e),
        };
        if !print && plan.is_empty() {
            return exit;
        }
        if output == PlanOutput::Markdown {
            print!("{}", plan_markdown(&plan, "zkstate apply", message.as_deref()));
        } else if output == PlanOutput::Json {
            let mut v = plan_json(&plan);
            if let (Some(obj), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                for (k, val) in extra {
                    obj.insert(k.clone(), val.clone());
                }
            }
            print_json(&v);
            if let Some(m) = &message {
                eprintln!("{m}");
            }
        } else {
            print!("{}", plan_text(&plan));
            if let Some(m) = &message {
                println!("{m}");
            }
        }
        if exiting {
            // The process exits next: freeing 100k-node trees piece by piece only costs time.
            std::mem::forget(plan);
            std::mem::forget(m);
        }
        exit
    }
    .await
}

impl From<LockFormatArg> for LockFormat {
    fn from(a: LockFormatArg) -> Self {
        match a {
            LockFormatArg::Kazoo => LockFormat::Kazoo,
            LockFormatArg::Curator => LockFormat::Curator,
        }
    }
}

/// `--lock-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LockFormatArg {
    #[default]
    Kazoo,
    Curator,
}
