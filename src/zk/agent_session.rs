//! The agent's view of its session: state changes as plain events, and a clean close (so
//! ephemeral nodes vanish at once instead of after the session timeout).
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use super::session::Session;

/// A session state change the agent acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// (Re)connected: watches must be added again and the tree re-listed.
    Connected,
    /// Connection lost; the session may still be alive. Wait.
    Disconnected,
    /// Terminal: expired, closed or authentication failed. Build a new session.
    Ended(&'static str),
    /// The session works but cannot contend for the leader lock (e.g. the state is guarded
    /// for another identity): build a new session after a backoff, reporting why.
    ContentionFailed(String),
}

/// Forwards the session's state changes, tagged with `generation`, until a terminal state.
pub fn forward_state(
    session: &Session,
    generation: u64,
    events: UnboundedSender<(u64, SessionEvent)>,
) -> JoinHandle<()> {
    let mut watcher = session.client().state_watcher();
    tokio::spawn(async move {
        loop {
            let event = match watcher.changed().await {
                zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                    SessionEvent::Connected
                }
                zk::SessionState::Disconnected => SessionEvent::Disconnected,
                zk::SessionState::Expired => SessionEvent::Ended("expired"),
                zk::SessionState::AuthFailed => SessionEvent::Ended("authentication failed"),
                zk::SessionState::Closed => SessionEvent::Ended("closed"),
            };
            let end = matches!(event, SessionEvent::Ended(_));
            if events.send((generation, event)).is_err() || end {
                break;
            }
        }
    })
}

/// Closes the session: drops this (last) handle and waits up to `timeout` for the close to
/// reach the server. Every other clone must be dropped before.
pub async fn close(session: Session, timeout: Duration) {
    let mut watcher = session.client().state_watcher();
    drop(session);
    let _ = tokio::time::timeout(timeout, async {
        loop {
            if watcher.changed().await.is_terminated() {
                break;
            }
        }
    })
    .await;
}
