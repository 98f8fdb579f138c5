//! Signals as values: SIGTERM/SIGINT fire the shutdown channel (a second one aborts the process
//! at once, exit 2), SIGHUP sends a reload. Tests stop the agent through the same channel.
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

/// What the agent loop listens to besides its own triggers.
pub struct Controls {
    /// Becomes true when the agent should stop.
    pub shutdown: watch::Receiver<bool>,
    /// One message per reload request (SIGHUP).
    pub reload: mpsc::UnboundedReceiver<()>,
}

/// Installs the handlers; must run inside the runtime.
pub fn install() -> std::io::Result<Controls> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stops = 0;
        loop {
            tokio::select! {
                _ = term.recv() => stops += 1,
                _ = int.recv() => stops += 1,
                _ = hup.recv() => {
                    let _ = reload_tx.send(());
                    continue;
                }
            }
            if stops == 1 {
                tracing::info!(
                    "stopping: finishing the current pass, releasing the lock, closing the session (signal again to abort)"
                );
                let _ = stop_tx.send(true);
            } else {
                tracing::warn!("second signal: aborting");
                std::process::exit(2);
            }
        }
    });
    Ok(Controls {
        shutdown: stop_rx,
        reload: reload_rx,
    })
}
