//! `Queue`: the queue's structure nodes and its seed items, per format.
//!
//! | format | structure | item (persistent-sequential) | item data |
//! | --- | --- | --- | --- |
//! | `kazoo` (`Queue`) | `<path>`, persistent, empty | `<path>/entry-100-<seq>` | raw bytes |
//! | `kazoo-locking` (`LockingQueue`) | `<path>`, `<path>/entries`, `<path>/taken`, persistent, empty | `<path>/entries/entry-100-<seq>` | raw bytes |
//! | `curator` (`DistributedQueue`) | `<path>` persistent, its missing ancestors containers | `<path>/queue-<seq>` | one item framed by `ItemSerializer` |
//!
//! Seeds are the UTF-8 bytes of each `seed` string, enqueued at kazoo's default priority 100; for
//! Curator, that is what a `QueueSerializer<String>` writing UTF-8 would produce.
use super::{Expansion, RecipeError, ancestors, curator, kazoo, node};
use crate::model::spec::{QueueFormat, QueueSpec};
use crate::model::{AclEntry, DataPolicy, Kind, MAX_NODE_DATA, NodeMode, Owner, SeedItem, ZPath};

/// Expands a `Queue` document. `path` is the validated `spec.path`.
///
/// The queue node's data is no part of either library's format. kazoo's `ensure_path` leaves it
/// empty, so zkstate declares it empty (`DataPolicy::Enforce`). Curator's `DistributedQueue.start()`
/// creates it with `forPath(path)`, i.e. with the client's *default data* (the local IP address
/// unless the application configured otherwise), so for `curator` the node is declared with
/// `DataPolicy::Parent`: created empty, its data never compared, so a queue a Curator
/// application created first shows no drift.
///
/// Seeds are created only in the plan that creates their parent (the queue node, or `entries`
/// for `kazoo-locking`); zkstate never deletes or reorders items.
pub fn expand_queue(
    name: &str,
    spec: &QueueSpec,
    path: &ZPath,
    acl: Option<Vec<AclEntry>>,
) -> Result<Expansion, Vec<RecipeError>> {
    let owner = Owner::new(Kind::Queue, name);
    let mut errors = Vec::new();
    if path.is_root() {
        errors.push(RecipeError::new(
            "/path",
            "a queue cannot be `/`; name a node below it",
        ));
    }
    let mut seeds_data = Vec::with_capacity(spec.seed.len());
    for (i, item) in spec.seed.iter().enumerate() {
        let data = match spec.format {
            QueueFormat::Kazoo | QueueFormat::KazooLocking => item.as_bytes().to_vec(),
            QueueFormat::Curator => curator::encode_items(&[item.as_bytes()]),
        };
        if data.len() > MAX_NODE_DATA {
            errors.push(RecipeError::new(
                format!("/seed/{i}"),
                format!(
                    "seed item is {} bytes, more than a znode holds ({MAX_NODE_DATA} bytes)",
                    data.len()
                ),
            ));
        }
        seeds_data.push(data);
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let (ancestor_mode, queue_policy) = match spec.format {
        QueueFormat::Kazoo | QueueFormat::KazooLocking => {
            (NodeMode::Persistent, DataPolicy::Enforce)
        }
        QueueFormat::Curator => (NodeMode::Container, DataPolicy::Parent),
    };
    let mut nodes = ancestors(path, ancestor_mode, &owner);
    nodes.push(node(
        path.clone(),
        Vec::new(),
        queue_policy,
        NodeMode::Persistent,
        &acl,
        &owner,
    ));
    let (items_parent, item_prefix) = match spec.format {
        QueueFormat::Kazoo => (
            path.clone(),
            kazoo::queue_entry_prefix(kazoo::DEFAULT_PRIORITY),
        ),
        QueueFormat::KazooLocking => {
            let entries = path.child(kazoo::LOCKING_QUEUE_ENTRIES);
            let taken = path.child(kazoo::LOCKING_QUEUE_TAKEN);
            nodes.push(node(
                entries.clone(),
                Vec::new(),
                DataPolicy::Enforce,
                NodeMode::Persistent,
                &acl,
                &owner,
            ));
            nodes.push(node(
                taken,
                Vec::new(),
                DataPolicy::Enforce,
                NodeMode::Persistent,
                &acl,
                &owner,
            ));
            (entries, kazoo::queue_entry_prefix(kazoo::DEFAULT_PRIORITY))
        }
        QueueFormat::Curator => (path.clone(), curator::QUEUE_ITEM_PREFIX.to_owned()),
    };
    let prefix = items_parent.child(&item_prefix);
    let seeds = seeds_data
        .into_iter()
        .map(|data| SeedItem {
            parent: items_parent.clone(),
            prefix: prefix.clone(),
            data,
            owner: owner.clone(),
        })
        .collect();
    let info = crate::model::RecipeInfo {
        format: spec.format.into(),
        alert_depth: spec.alert_depth,
        checks: Default::default(),
    };
    Ok(Expansion::recipe(
        owner,
        path.clone(),
        nodes,
        seeds,
        info,
        false,
    ))
}

/// The queue's depth as the library itself counts it:
///
/// - `kazoo`: every child of the queue node (`len(Queue)` is the node's `numChildren`, and
///   `Queue.get()` takes whatever child sorts first);
/// - `kazoo-locking`: every child of `entries`, claimed ones included (`len(LockingQueue)`);
///   `None` (no `entries` node yet) is 0;
/// - `curator`: the `queue-` children (`DistributedQueue` skips other children as foreign).
pub fn queue_depth(
    format: QueueFormat,
    children_of_queue: &[String],
    children_of_entries: Option<&[String]>,
) -> u64 {
    match format {
        QueueFormat::Kazoo => children_of_queue.len() as u64,
        QueueFormat::KazooLocking => children_of_entries.map_or(0, |c| c.len() as u64),
        QueueFormat::Curator => children_of_queue
            .iter()
            .filter(|c| c.starts_with(curator::QUEUE_ITEM_PREFIX))
            .count() as u64,
    }
}

/// Where `format` keeps its items: the queue node, or `entries` below it for `kazoo-locking`.
pub fn items_parent(format: QueueFormat, path: &ZPath) -> ZPath {
    match format {
        QueueFormat::KazooLocking => path.child(kazoo::LOCKING_QUEUE_ENTRIES),
        QueueFormat::Kazoo | QueueFormat::Curator => path.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> QueueSpec {
        serde_json::from_value(json).unwrap()
    }

    use crate::recipes::node_summary as summary;

    #[test]
    fn kazoo_queue_and_seeds() {
        let s = spec(
            serde_json::json!({"path": "/queues/jobs", "format": "kazoo", "seed": ["job-a", "job-b"]}),
        );
        let path = ZPath::parse("/queues/jobs").unwrap();
        let e = expand_queue("jobs", &s, &path, None).unwrap();
        assert_eq!(
            summary(&e),
            vec![
                ("/queues", DataPolicy::Parent, NodeMode::Persistent),
                ("/queues/jobs", DataPolicy::Enforce, NodeMode::Persistent),
            ]
        );
        assert_eq!(e.seeds.len(), 2);
        assert_eq!(e.seeds[0].parent, path);
        assert_eq!(e.seeds[0].prefix.as_str(), "/queues/jobs/entry-100-");
        assert_eq!(e.seeds[0].data, b"job-a");
        assert_eq!(e.seeds[1].data, b"job-b");
        assert_eq!(e.seeds[1].owner, Owner::new(Kind::Queue, "jobs"));
        assert_eq!(e.root.root, path);
        assert_eq!(e.root.prune, crate::model::Prune::Owned);
    }

    #[test]
    fn kazoo_locking_queue_layout() {
        let s = spec(serde_json::json!({"path": "/q", "format": "kazoo-locking", "seed": ["x"]}));
        let path = ZPath::parse("/q").unwrap();
        let e = expand_queue("q", &s, &path, None).unwrap();
        assert_eq!(
            summary(&e),
            vec![
                ("/q", DataPolicy::Enforce, NodeMode::Persistent),
                ("/q/entries", DataPolicy::Enforce, NodeMode::Persistent),
                ("/q/taken", DataPolicy::Enforce, NodeMode::Persistent),
            ]
        );
        assert_eq!(e.seeds[0].parent.as_str(), "/q/entries");
        assert_eq!(e.seeds[0].prefix.as_str(), "/q/entries/entry-100-");
        assert_eq!(
            items_parent(QueueFormat::KazooLocking, &path).as_str(),
            "/q/entries"
        );
    }

    #[test]
    fn curator_queue_layout_and_framing() {
        let s =
            spec(serde_json::json!({"path": "/a/b/jobs", "format": "curator", "seed": ["job-a"]}));
        let path = ZPath::parse("/a/b/jobs").unwrap();
        let e = expand_queue("jobs", &s, &path, None).unwrap();
        assert_eq!(
            summary(&e),
            vec![
                ("/a", DataPolicy::Parent, NodeMode::Container),
                ("/a/b", DataPolicy::Parent, NodeMode::Container),
                ("/a/b/jobs", DataPolicy::Parent, NodeMode::Persistent),
            ]
        );
        assert_eq!(e.seeds[0].prefix.as_str(), "/a/b/jobs/queue-");
        assert_eq!(
            e.seeds[0].data,
            [0, 1, 0, 1, 1, 0, 0, 0, 5, b'j', b'o', b'b', b'-', b'a', 2]
        );
        assert_eq!(
            curator::decode_items(&e.seeds[0].data).unwrap(),
            vec![b"job-a".to_vec()]
        );
    }

    #[test]
    fn oversized_seed_is_rejected() {
        let big = "x".repeat(MAX_NODE_DATA + 1);
        let s = spec(serde_json::json!({"path": "/q", "format": "kazoo", "seed": ["ok", big]}));
        let errs = expand_queue("q", &s, &ZPath::parse("/q").unwrap(), None).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pointer, "/seed/1");
    }

    #[test]
    fn depth_per_format() {
        let q: Vec<String> = ["entry-100-0000000001", "entry-100-0000000002"]
            .map(String::from)
            .to_vec();
        assert_eq!(queue_depth(QueueFormat::Kazoo, &q, None), 2);
        let c: Vec<String> = ["queue-0000000001", "queue-0000000002", "lock", "foreign"]
            .map(String::from)
            .to_vec();
        assert_eq!(queue_depth(QueueFormat::Curator, &c, None), 2);
        let l: Vec<String> = ["entries", "taken"].map(String::from).to_vec();
        assert_eq!(queue_depth(QueueFormat::KazooLocking, &l, Some(&q)), 2);
        assert_eq!(queue_depth(QueueFormat::KazooLocking, &l, None), 0);
    }
}
