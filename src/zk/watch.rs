//! Persistent watches for the agent's level-based triggers: recursive ones on the managed roots
//! (the leader's) and plain ones on single nodes (an agent's own host-scoped nodes).
//!
//! The client does not re-register persistent watches after a reconnect and events during a
//! reconnect are lost (docs/agent.md, "How a pass is triggered"), so the agent drops a
//! [`TreeWatches`] and calls [`watch`] again after every reconnect, followed by a full resync.
//! Dropping a [`TreeWatches`] also removes its watches from the server. An event only says
//! "something here changed": it carries the path for logging, never a diff.
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use super::ZkError;
use super::session::Session;

/// What one session watches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchSet {
    /// Persistent recursive watches: every node at or below each path.
    pub recursive: Vec<String>,
    /// Persistent watches: the node itself (created, changed, deleted) and its list of children.
    pub exact: Vec<String>,
}

impl WatchSet {
    pub fn is_empty(&self) -> bool {
        self.recursive.is_empty() && self.exact.is_empty()
    }
}

/// Live watch tasks; dropping this stops them and removes the watches.
#[derive(Debug, Default)]
pub struct TreeWatches {
    tasks: Vec<JoinHandle<()>>,
    /// What is watched: nested roots are covered by their ancestor's recursive watch, exact
    /// paths inside a recursive root by that root's.
    pub set: WatchSet,
}

impl Drop for TreeWatches {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Whether `path` is `root` or below it.
fn within(path: &str, root: &str) -> bool {
    root == "/" || path == root || path.strip_prefix(root).is_some_and(|t| t.starts_with('/'))
}

/// The roots that need a watch of their own: `roots` minus those inside another one.
pub fn outermost(roots: &[String]) -> Vec<String> {
    let mut sorted: Vec<String> = roots.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    for r in sorted {
        if !out.iter().any(|o| within(&r, o)) {
            out.push(r);
        }
    }
    out
}

/// `set` without overlaps: the outermost recursive roots, and the exact paths (sorted, once)
/// that no recursive root covers.
pub fn minimal(set: &WatchSet) -> WatchSet {
    let recursive = outermost(&set.recursive);
    let mut exact: Vec<String> = set
        .exact
        .iter()
        .filter(|p| !recursive.iter().any(|r| within(p, r)))
        .cloned()
        .collect();
    exact.sort();
    exact.dedup();
    WatchSet { recursive, exact }
}

/// Adds the watches of `set` (its paths need not exist yet) and forwards the path of every node
/// event to `events`.
///
/// # Notable behaviors
/// A watch task ends at a terminal session state (the client's watcher panics when polled after
/// one) or when `events` is closed.
pub async fn watch(
    session: &Session,
    set: &WatchSet,
    events: UnboundedSender<String>,
) -> Result<TreeWatches, ZkError> {
    let set = minimal(set);
    let mut watches = TreeWatches {
        tasks: Vec::with_capacity(set.recursive.len() + set.exact.len()),
        set: set.clone(),
    };
    let modes = set
        .recursive
        .iter()
        .map(|p| (p, zk::AddWatchMode::PersistentRecursive))
        .chain(set.exact.iter().map(|p| (p, zk::AddWatchMode::Persistent)));
    for (path, mode) in modes {
        let mut watcher = session
            .client()
            .watch(path, mode)
            .await
            .map_err(|e| ZkError::op("watch", path, e))?;
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
    use super::{WatchSet, minimal, outermost};

    #[test]
    fn nested_roots_share_their_ancestor_watch() {
        let roots = ["/a/b", "/a", "/ab", "/c/d", "/a/b/c"].map(String::from);
        assert_eq!(outermost(&roots), ["/a", "/ab", "/c/d"]);
        assert_eq!(outermost(&["/".into(), "/x".into()]), ["/"]);
    }

    #[test]
    fn exact_paths_inside_a_recursive_root_need_no_watch_of_their_own() {
        let set = WatchSet {
            recursive: ["/app", "/app/x", "/zkstate/suspend"]
                .map(String::from)
                .to_vec(),
            exact: ["/services/a/h1", "/app/leader", "/apps", "/services/a/h1"]
                .map(String::from)
                .to_vec(),
        };
        let m = minimal(&set);
        assert_eq!(m.recursive, ["/app", "/zkstate/suspend"]);
        assert_eq!(m.exact, ["/apps", "/services/a/h1"]);
    }
}
