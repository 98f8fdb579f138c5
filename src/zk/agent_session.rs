//! The agent's view of its session: the client type, session state changes as plain events,
//! and a clean close (so ephemeral nodes vanish at once instead of after the session timeout).
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

pub use zk::Client;

/// A session state change the agent acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// (Re)connected: watches must be added again and the tree re-listed.
    Connected,
    /// Connection lost; the session may still be alive. Wait.
    Disconnected,
    /// Terminal: expired, closed or authentication failed. Build a new client.
    Ended(&'static str),
}

/// Forwards `client`'s state changes, tagged with `generation`, until a terminal state.
pub fn forward_state(
    client: &Client,
    generation: u64,
    events: UnboundedSender<(u64, SessionEvent)>,
) -> JoinHandle<()> {
    let mut watcher = client.state_watcher();
    tokio::spawn(async move {
        loop {
            let state = watcher.changed().await;
            let event = match state {
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

/// The session id (for ownership checks and logs).
pub fn session_id(client: &Client) -> i64 {
    client.session_id().0
}

/// True while the client is connected.
pub fn is_connected(client: &Client) -> bool {
    matches!(
        client.state(),
        zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly
    )
}

/// Closes the session: drops this (last) client handle and waits up to `timeout` for the close
/// to reach the server. Every other clone must be dropped before.
pub async fn close(client: Client, timeout: Duration) {
    let mut watcher = client.state_watcher();
    drop(client);
    let _ = tokio::time::timeout(timeout, async {
        loop {
            if watcher.changed().await.is_terminated() {
                break;
            }
        }
    })
    .await;
}
