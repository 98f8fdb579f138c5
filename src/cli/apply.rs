//! `zkstate apply`: plan and apply atomically under the leader lock. Exit 0 applied or nothing to
//! do, 1 invalid manifests, 2 trouble, 3 refused by a safety guard, 4 lock timeout.
use super::common::{
    self, Manifests, block_on, engine, fail, load_manifests, load_while, print_json,
    quiet_session_args,
};
use super::markdown::plan_markdown;
use super::render::plan_text;
use super::{ApplyArgs, Exit, GlobalArgs, PlanOutput};
use crate::engine::{
    CancellationToken, Engine, EngineError, LockRequest, Outcome, PassOptions, PassReport, Session,
};
use crate::records::StatePaths;
use crate::zk::lock::LockFormat;

pub fn run(args: &ApplyArgs, global: &GlobalArgs) -> Exit {
    if args.dry_run {
        return super::diff::run(&args.plan, global);
    }
    let Some((copts, state)) = quiet_session_args(global) else {
        // A flag is wrong: the ordinary order reports it after the manifests.
        return block_on(run_async(args, global));
    };
    // The session opens and the records and the subtrees they name are read while the
    // manifests load, as for `diff`; the apply reads its records again under the lock and
    // plans its first attempt from that tree (docs/design.md, "Reading while the manifests load").
    let read = async {
        let session = Session::connect(&copts).await.map_err(|e| e.to_string())?;
        let engine = Engine::new(session, common::pass_options(global, state, String::new()));
        // A failed read ahead is not reported: the pass reads again and reports that.
        let prefetched = engine.prefetch().await.ok();
        Ok::<_, String>((engine, prefetched))
    };
    load_while(&args.plan.files.files, global, read, async |m, read| {
        let (mut engine, prefetched) = match read {
            Ok(x) => x,
            Err(e) => return fail(Exit::Trouble, e),
        };
        engine.options_mut().digest.clone_from(&m.digest);
        finish(args, engine, m, prefetched).await
    })
}

/// Loads, then connects: used when a connection flag is wrong.
async fn run_async(args: &ApplyArgs, global: &GlobalArgs) -> Exit {
    let m = match load_manifests(&args.plan.files.files, global) {
        Ok(m) => m,
        Err(e) => return e,
    };
    let engine = match engine(global, m.digest.clone()).await {
        Ok(x) => x,
        Err(e) => return e,
    };
    finish(args, engine, m, None).await
}

async fn finish(
    args: &ApplyArgs,
    mut engine: Engine,
    m: Manifests,
    prefetched: Option<crate::zk::reconcile::Prefetch>,
) -> Exit {
    pass_options(args, engine.options_mut());
    // A one-shot command: Ctrl-C kills the process (the session goes, and with it the lock).
    let never = CancellationToken::new();
    let result = engine
        .apply_once_prefetched(&m.desired, &lock_request(args), &never, prefetched)
        .await;
    let exit = render(&result, args.plan.output, true, &engine.options().state);
    // The process exits next: freeing 100k-node trees piece by piece only costs time.
    std::mem::forget(result);
    std::mem::forget(m);
    exit
}

/// Applies `apply`'s flags to the pass options.
pub fn pass_options(args: &ApplyArgs, opts: &mut PassOptions) {
    opts.max_deletes = args.max_deletes;
    opts.force = args.force;
    opts.planner.prune_removed = args.plan.prune_removed;
    opts.revision = args.revision.clone();
    opts.exec.allow_split = args.allow_split;
    opts.exec.max_request_bytes = args.max_request_bytes;
}

/// `--lock-format` and `--lock-timeout`.
pub fn lock_request(args: &ApplyArgs) -> LockRequest {
    LockRequest {
        format: args.lock_format.into(),
        timeout: args.lock_timeout.map(Into::into),
    }
}

/// Prints an apply pass (plan and outcome line) and maps it to the exit code. With `print` false
/// an empty plan prints nothing (the dev loop's quiet resyncs).
pub fn render(
    result: &Result<PassReport, EngineError>,
    output: PlanOutput,
    print: bool,
    state: &StatePaths,
) -> Exit {
    let report = match result {
        Ok(r) => r,
        Err(e @ EngineError::LockTimeout(_)) => return fail(Exit::LockTimeout, e),
        Err(e @ EngineError::TooLarge(_)) => return fail(Exit::Refused, e),
        Err(e) => return fail(Exit::Trouble, e),
    };
    let mut plan = crate::engine::PlanReport::default();
    let (exit, message) = match &report.outcome {
        Outcome::InSync | Outcome::Planned => {
            plan.applied = Some(false);
            (Exit::Ok, None)
        }
        Outcome::Applied {
            changes,
            observe_only,
        } => {
            let mut msg = if report.confirmed_by_record {
                format!(
                    "Applied {changes} changes: the connection was lost while committing and no reply came, but the applied record shows the commit landed (transaction sizes unknown)."
                )
            } else if report.batches > 1 {
                format!(
                    "Applied {changes} changes as {} ordered atomic batches (--allow-split): each batch is atomic, the whole plan is not.",
                    report.batches
                )
            } else {
                format!(
                    "Applied {changes} changes in one atomic transaction ({} bytes).",
                    report.bytes
                )
            };
            if *observe_only > 0 {
                msg.push_str(&format!(
                    " {observe_only} changes in observe mode were not applied."
                ));
            }
            plan.applied = Some(true);
            plan.transactions = Some(report.batches);
            (Exit::Ok, Some(msg))
        }
        Outcome::Suspended => {
            plan.applied = Some(false);
            plan.suspended = Some(true);
            (
                Exit::Ok,
                Some(format!(
                    "Suspended: {} exists, so nothing was written (zkstate resume lifts it).",
                    state.suspend()
                )),
            )
        }
        Outcome::Refused { reason } => {
            plan.applied = Some(false);
            plan.refused = Some(reason.clone());
            (Exit::Refused, Some(format!("Refused: {reason}")))
        }
    };
    if report.tightened > 0 {
        eprintln!(
            "Tightened the ACL of {} zkstate state nodes under {}: only this session's identities (--auth, SASL principal, certificate DN) may write them now.",
            report.tightened, state.root
        );
    }
    if !print && report.plan.is_empty() {
        return exit;
    }
    if !state.is_guarded() {
        eprintln!(
            "warning: zkstate's state under {} (lock, inventory, applied record, suspend) is open to any client; authenticate (--auth digest:USER:PASSWORD, --sasl, or --tls-cert with the server's x509 provider) to guard it",
            state.root
        );
    }
    if output == PlanOutput::Markdown {
        print!(
            "{}",
            plan_markdown(&report.plan, "zkstate apply", message.as_deref())
        );
    } else if output == PlanOutput::Json {
        let full = report.plan_report();
        plan.changes = full.changes;
        plan.summary = full.summary;
        plan.kept_owners = full.kept_owners;
        plan.adopted = full.adopted;
        print_json(&plan);
        // Freeing a 100k-change report piece by piece only costs time.
        std::mem::forget(plan);
        if let Some(m) = &message {
            eprintln!("{m}");
        }
    } else {
        print!("{}", plan_text(&report.plan));
        if let Some(m) = &message {
            println!("{m}");
        }
    }
    exit
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
