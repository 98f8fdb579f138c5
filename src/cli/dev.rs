//! `zkstate dev -f PATH...`: the quick start. Starts a throwaway local ZooKeeper from the installed
//! `zookeeper` package on a free loopback port, applies the manifests, shows the plan and the
//! status, then keeps reconciling (every `--resync-interval`) until Ctrl-C or SIGTERM, which stop
//! the server and remove its data. Exit 0 after Ctrl-C, 2 if ZooKeeper cannot start.
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

use super::common::{fail, runtime};
use super::{ApplyArgs, DevArgs, Exit, GlobalArgs, OutputFormat, PlanArgs, PlanOutput, StatusArgs};
use crate::zk::server::{ServerOptions, ZkServer};

pub fn run(args: &DevArgs, global: &GlobalArgs) -> Exit {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return e,
    };
    // Signals first: a Ctrl-C at any moment from here on stops the loop and the server.
    let signals = rt.block_on(async {
        (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        )
    });
    let (mut int, mut term) = match signals {
        (Ok(i), Ok(t)) => (i, t),
        _ => return fail(Exit::Trouble, "failed to install signal handlers"),
    };
    let server = match ZkServer::start_with(ServerOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                Exit::Trouble,
                format!("failed to start a local ZooKeeper: {e}"),
            );
        }
    };
    let hosts = server.connect_string();
    println!(
        "Local ZooKeeper running: --zk {hosts}  (data in {})",
        server.data_dir().display()
    );
    println!("  e.g. ZKSTATE_ZK={hosts} zkstate status\n");
    let mut global = global.clone();
    global.zk = Some(hosts);
    let apply = ApplyArgs {
        plan: PlanArgs {
            files: args.files.clone(),
            output: PlanOutput::Text,
        },
        dry_run: false,
        revision: Some("dev".into()),
        max_deletes: 50,
        force: false,
        lock_timeout: Some(Duration::from_secs(10).into()),
        allow_split: true,
        max_request_bytes: crate::model::JUTE_MAXBUFFER,
        lock_format: super::apply::LockFormatArg::Kazoo,
    };
    let status = StatusArgs {
        files: args.files.files.clone(),
        output: OutputFormat::Text,
    };
    let interval: Duration = args.resync_interval.into();
    rt.block_on(async {
        let work = async {
            let first = super::apply::run_async(&apply, &global, true, false).await;
            if first != Exit::Ok {
                eprintln!("(the first apply exited {first:?}; fix the manifests: they are retried every resync)");
            }
            println!();
            let _ = super::status::run_async(&status, &global).await;
            println!("\nReconciling every {}; Ctrl-C stops ZooKeeper and removes its data.", args.resync_interval);
            loop {
                tokio::time::sleep(interval).await;
                let _ = super::apply::run_async(&apply, &global, false, false).await;
            }
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = work => {}
        }
    });
    drop(server);
    println!("\nStopped the local ZooKeeper and removed its data.");
    Exit::Ok
}
