//! Raw ZooKeeper access for assertions (the `zookeeper-client` crate, on a private runtime).
use std::time::Duration;

use zookeeper_client as zkc;

/// Runs `f` to completion on a private current-thread runtime.
pub fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// A raw client with a 5 s session.
pub async fn client(hosts: &str) -> zkc::Client {
    client_with_session(hosts, Duration::from_secs(5)).await
}

/// A raw client with the given session timeout (long reads of big trees want more).
pub async fn client_with_session(hosts: &str, session: Duration) -> zkc::Client {
    zkc::Client::connector()
        .with_session_timeout(session)
        .connect(hosts)
        .await
        .expect("connect")
}

/// `(data, version)` of a node, `None` when it does not exist.
pub fn get(hosts: &str, path: &str) -> Option<(Vec<u8>, i32)> {
    block(async {
        match client(hosts).await.get_data(path).await {
            Ok((d, s)) => Some((d, s.version)),
            Err(zkc::Error::NoNode) => None,
            Err(e) => panic!("get {path}: {e}"),
        }
    })
}

/// Data of a node as UTF-8 (panics when missing).
pub fn text(hosts: &str, path: &str) -> String {
    String::from_utf8(
        get(hosts, path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .0,
    )
    .expect("utf-8")
}

/// Sorted child names (empty when the node does not exist).
pub fn children(hosts: &str, path: &str) -> Vec<String> {
    block(async {
        match client(hosts).await.list_children(path).await {
            Ok(mut c) => {
                c.sort();
                c
            }
            Err(zkc::Error::NoNode) => Vec::new(),
            Err(e) => panic!("children {path}: {e}"),
        }
    })
}

/// Creates a persistent node (and its parents) with `data`.
pub fn create(hosts: &str, path: &str, data: &[u8]) {
    block(async {
        let c = client(hosts).await;
        let opts = zkc::CreateMode::Persistent.with_acls(zkc::Acls::anyone_all());
        if let Some(i) = path.rfind('/').filter(|i| *i > 0) {
            match c.mkdir(&path[..i], &opts).await {
                Ok(()) | Err(zkc::Error::NodeExists) => {}
                Err(e) => panic!("mkdir {path}: {e}"),
            }
        }
        c.create(path, data, &opts)
            .await
            .unwrap_or_else(|e| panic!("create {path}: {e}"));
    })
}

/// Creates a persistent-sequential node under an existing parent (a queue producer's enqueue).
pub fn create_sequential(hosts: &str, prefix: &str, data: &[u8]) {
    block(async {
        let c = client(hosts).await;
        let opts = zkc::CreateMode::PersistentSequential.with_acls(zkc::Acls::anyone_all());
        c.create(prefix, data, &opts)
            .await
            .unwrap_or_else(|e| panic!("create {prefix}: {e}"));
    })
}

/// Sets data unconditionally.
pub fn set(hosts: &str, path: &str, data: &[u8]) {
    block(async {
        client(hosts)
            .await
            .set_data(path, data, None)
            .await
            .unwrap_or_else(|e| panic!("set {path}: {e}"));
    })
}

/// The ACL of a node as `scheme:id:perms-bits` strings.
pub fn acl(hosts: &str, path: &str) -> Vec<String> {
    block(async {
        let (acl, _) = client(hosts)
            .await
            .get_acl(path)
            .await
            .unwrap_or_else(|e| panic!("acl {path}: {e}"));
        acl.iter()
            .map(|a| format!("{}:{}:{}", a.scheme(), a.id(), a.permission()))
            .collect()
    })
}

/// Bytes of data of every persistent node at or below `root` (ephemerals left out): the size of
/// zkstate's records when `root` is its state path.
pub fn record_bytes(hosts: &str, root: &str) -> usize {
    block(async {
        let c = client_with_session(hosts, Duration::from_secs(20)).await;
        let mut total = 0;
        let mut queue = vec![root.to_string()];
        while let Some(p) = queue.pop() {
            let Ok((data, stat)) = c.get_data(&p).await else {
                continue;
            };
            if stat.ephemeral_owner != 0 {
                continue;
            }
            total += data.len();
            match c.list_children(&p).await {
                Ok(children) => queue.extend(children.into_iter().map(|ch| format!("{p}/{ch}"))),
                Err(zkc::Error::NoNode) => {}
                Err(e) => panic!("list {p}: {e}"),
            }
        }
        total
    })
}
