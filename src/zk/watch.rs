//! Persistent recursive watches on the managed roots, for the agent's level-based triggers.
//!
//! The client does not re-register persistent watches after a reconnect and events during a
//! reconnect are lost (ZOOKEEPER-4698), so the agent drops a [`TreeWatches`] and calls
//! [`watch_roots`] again after every reconnect, followed by a full resync. An event only says
//! "something under a root changed": it carries the path for logging, never a diff.
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use super::ZkError;
use super::session::Session;

/// Live watch tasks; dropping this stops them.
#[derive(Debug, Default)]
pub struct TreeWatches {
    tasks: Vec<JoinHandle<()>>,
    /// The roots watched (nested roots are covered by their ancestor's watch).
    pub roots: Vec<String>,
}

impl Drop for TreeWatches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The roots that need a watch of their own: `roots` minus those inside another one.
pub fn outermost(roots: &[String]) -> Vec<String> {
    let mut sorted: Vec<String> = roots.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    for r in sorted {
        let covered = out.iter().any(|o| {
            o == "/"
                || r == *o
                || r.strip_prefix(o.as_str())
                    .is_some_and(|t| t.starts_with('/'))
        });
        if !covered {
            out.push(r);
        }
    }
    out
}

/// Adds a persistent recursive watch on each of `roots` (they need not exist yet) and forwards
/// the path of every node event to `events`.
///
/// # Notable behaviors
/// A watch task ends at a terminal session state (the client's watcher panics when polled after
/// one) or when `events` is closed.
pub async fn watch_roots(
    session: &Session,
    roots: &[String],
    events: UnboundedSender<String>,
) -> Result<TreeWatches, ZkError> {
    let roots = outermost(roots);
    let mut watches = TreeWatches {
        tasks: Vec::with_capacity(roots.len()),
        roots: roots.clone(),
    };
    for root in &roots {
        let mut watcher = session
            .client()
            .watch(root, zk::AddWatchMode::PersistentRecursive)
            .await
            .map_err(|e| ZkError::op("watch", root, e))?;
        let tx = events.clone();
        watches.tasks.push(tokio::spawn(async move {
            loop {
                let event = watcher.changed().await;
                if event.event_type == zk::EventType::Session {
                    if event.session_state.is_terminated() {
                        break;
                    }
                    continue;
                }
                if tx.send(event.path).is_err() {
                    break;
                }
            }
        }));
    }
    Ok(watches)
}

#[cfg(test)]
mod tests {
    use super::outermost;

    #[test]
    fn nested_roots_share_their_ancestor_watch() {
        let roots = ["/a/b", "/a", "/ab", "/c/d", "/a/b/c"].map(String::from);
        assert_eq!(outermost(&roots), ["/a", "/ab", "/c/d"]);
        assert_eq!(outermost(&["/".into(), "/x".into()]), ["/"]);
    }
}
