//! `zkstate apply`: plan and apply atomically under the leader lock. Exit 0 applied or nothing to
//! do, 1 invalid manifests, 2 trouble, 3 refused by a safety guard, 4 lock timeout.
use super::common::{block_on, fail, load_manifests, open, pass_options, print_json};
use super::render::{plan_json, plan_text};
use super::{ApplyArgs, Exit, GlobalArgs, OutputFormat};
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
    let json = args.plan.output == OutputFormat::Json;
    async move {
        let (client, state) = match open(global).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        let mut opts = pass_options(global, state.clone(), m.digest.clone());
        opts.max_deletes = args.max_deletes;
        opts.force = args.force;
        opts.planner.prune_removed = args.plan.prune_removed;
        opts.revision = args.revision.clone();
        opts.exec.allow_split = args.allow_split;
        opts.exec.max_request_bytes = args.max_request_bytes;
        match reconcile::prepare_state(&client, &state).await {
            Ok(n) if n > 0 => eprintln!(
                "Tightened the ACL of {n} zkstate state nodes under {}: only the --auth identities may write them now.",
                state.root
            ),
            Ok(_) => {}
            Err(e) => return fail(Exit::Trouble, e),
        }
        if print && !state.is_guarded() {
            eprintln!(
                "warning: zkstate's state under {} (lock, inventory, applied record, suspend) is open to any client; pass --auth digest:USER:PASSWORD to guard it",
                state.root
            );
        }
        let format: LockFormat = args.lock_format.into();
        let held = match lock::acquire_with_acl(
            &client,
            state.root.as_str(),
            &opts.identifier,
            format,
            args.lock_timeout.map(Into::into),
            &state.acl,
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
                let mut msg = if report.confirmed_by_record {
                    format!(
                        "Applied {n} changes: the connection was lost while committing and no reply came, but the applied record shows the commit landed (transaction sizes unknown)."
                    )
                } else if report.batches > 1 {
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
        if json {
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
