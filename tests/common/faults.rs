//! Shared by the fault suites (`tests/faults.rs`, `tests/faults_agent.rs`): trial counts and
//! replayable randomness from the environment, the two states a trial flips a large tree
//! between, and reading the tree and zkstate's inventory back with a raw client (retrying while
//! an ensemble elects).
use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::{Duration, Instant};

use zkstate::model::{LiveNode, LiveTree, Owner, ZPath};
use zkstate::records::{StatePaths, decode};
use zookeeper_client as zkc;

use super::raw::block;

/// The root of the tree the trials flip (`ConfigTree/big`).
pub const ROOT: &str = "/big";

pub fn trials() -> usize {
    std::env::var("ZKSTATE_FAULT_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// xorshift64*: enough randomness for kill points, replayable from the printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(name: &str) -> Rng {
        let seed = std::env::var("ZKSTATE_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            })
            | 1;
        println!("{name}: ZKSTATE_FAULT_SEED={seed}");
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `[0, max)`.
    pub fn below(&mut self, max: Duration) -> Duration {
        let ms = max.as_millis().max(1) as u64;
        Duration::from_millis(self.next_u64() % ms)
    }
}

/// The two states the trials flip between. Old has `n*` and `d*`, new has `n*` (other data)
/// and `m*`; `prune: true`, so old→new creates, updates and deletes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Side {
    Old,
    New,
}

impl Side {
    pub fn flip(self) -> Side {
        match self {
            Side::Old => Side::New,
            Side::New => Side::Old,
        }
    }
}

#[derive(Clone, Copy)]
pub struct Shape {
    /// Nodes updated.
    pub shared: usize,
    /// Nodes created or deleted.
    pub extra: usize,
    /// Bytes of data per node.
    pub size: usize,
}

/// The tree of the ensemble-leader kills: 200 updates, 40 creates and 40 deletes of 1 KB
/// nodes, ~240 KB in one multi.
pub const ENSEMBLE_SHAPE: Shape = Shape {
    shared: 200,
    extra: 40,
    size: 1000,
};

pub fn value(side: Side, name: &str, size: usize) -> String {
    let tag = match side {
        Side::Old => "old",
        Side::New => "new",
    };
    let mut v = format!("{tag}-{name}-");
    while v.len() < size {
        v.push('x');
    }
    v
}

/// The znodes (relative name → data) of one side.
pub fn nodes(side: Side, shape: Shape) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for i in 0..shape.shared {
        let name = format!("n{i:04}");
        out.insert(name.clone(), value(side, &name, shape.size));
    }
    let prefix = match side {
        Side::Old => "d",
        Side::New => "m",
    };
    for i in 0..shape.extra {
        let name = format!("{prefix}{i:04}");
        out.insert(name.clone(), value(side, &name, shape.size));
    }
    out
}

pub fn manifest(side: Side, shape: Shape) -> String {
    let mut s = format!(
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata:\n  name: big\nspec:\n  root: {ROOT}\n  prune: true\n  nodes:\n"
    );
    for (name, data) in nodes(side, shape) {
        s.push_str(&format!("    {name}: \"{data}\"\n"));
    }
    s
}

/// What [`observe`] reads: the tree, the inventory and the applied record.
const OBSERVED: [&str; 3] = [ROOT, "/zkstate/inventory", APPLIED];
const APPLIED: &str = "/zkstate/applied";

/// Reads the subtrees under `roots` (data, version, children) into a [`LiveTree`], retrying
/// on connection trouble (an ensemble may be electing).
pub fn read_tree(hosts: &str, roots: &[&str]) -> LiveTree {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match block(try_read_tree(hosts, roots)) {
            Ok(t) => return t,
            Err(e) if Instant::now() < deadline => {
                eprintln!("read_tree: {e}; retrying");
                thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("read_tree {roots:?}: {e}"),
        }
    }
}

async fn connect(hosts: &str) -> Result<zkc::Client, zkc::Error> {
    zkc::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(hosts)
        .await
}

pub async fn try_read_tree(hosts: &str, roots: &[&str]) -> Result<LiveTree, zkc::Error> {
    read_subtrees(&connect(hosts).await?, roots).await
}

async fn read_subtrees(client: &zkc::Client, roots: &[&str]) -> Result<LiveTree, zkc::Error> {
    let mut tree = LiveTree::default();
    let mut todo: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
    while let Some(path) = todo.pop() {
        let (data, stat) = match client.get_data(&path).await {
            Ok(x) => x,
            Err(zkc::Error::NoNode) => continue,
            Err(e) => return Err(e),
        };
        let mut children = match client.list_children(&path).await {
            Ok(c) => c,
            Err(zkc::Error::NoNode) => continue,
            Err(e) => return Err(e),
        };
        children.sort();
        for c in &children {
            todo.push(if path == "/" {
                format!("/{c}")
            } else {
                format!("{path}/{c}")
            });
        }
        tree.nodes.insert(
            ZPath::parse(&path).expect("path"),
            LiveNode {
                data,
                version: stat.version,
                cversion: stat.cversion,
                aversion: stat.aversion,
                ephemeral_owner: stat.ephemeral_owner,
                acl: None,
                children,
            },
        );
    }
    Ok(tree)
}

/// What a read found under [`ROOT`] and in the inventory.
pub struct Observed {
    /// Relative name → data of every node under the root.
    pub tree: BTreeMap<String, String>,
    /// Relative names the inventory records for `ConfigTree/big` (the root itself left out).
    pub recorded: BTreeSet<String>,
    /// Version of `/zkstate/applied` (-1: none).
    pub applied_version: i32,
}

/// Reads the tree, the inventory and the applied record (retrying while an ensemble elects).
/// For a tree nothing commits to meanwhile; see [`observe_between_commits`].
pub fn observe(hosts: &str) -> Observed {
    observed(&read_tree(hosts, &OBSERVED))
}

/// [`observe`] while a live writer (an agent) may commit: one session reads the applied
/// record's `mzxid`, the tree and the inventory, then the `mzxid` again, and reads again when a
/// commit landed in between (every commit rewrites the applied record in its multi). So what it
/// returns is one state of the tree, never a mix of two read at different times.
pub fn observe_between_commits(hosts: &str) -> Observed {
    async fn mzxid(client: &zkc::Client) -> Result<Option<i64>, zkc::Error> {
        Ok(client.check_stat(APPLIED).await?.map(|s| s.mzxid))
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let read = block(async {
            let client = connect(hosts).await?;
            let before = mzxid(&client).await?;
            let live = read_subtrees(&client, &OBSERVED).await?;
            let after = mzxid(&client).await?;
            Ok::<_, zkc::Error>((before == after).then_some(live))
        });
        match read {
            Ok(Some(live)) => return observed(&live),
            Ok(None) => eprintln!("observe: a commit landed during the read; reading again"),
            Err(e) => eprintln!("observe: {e}; retrying"),
        }
        assert!(
            Instant::now() < deadline,
            "no consistent read of {OBSERVED:?} in 60 s"
        );
        thread::sleep(Duration::from_millis(200));
    }
}

fn observed(live: &LiveTree) -> Observed {
    let root = ZPath::parse(ROOT).expect("root");
    let tree = live
        .nodes
        .iter()
        .filter(|(p, _)| p.is_within(&root) && **p != root)
        .map(|(p, n)| {
            (
                p.name().to_owned(),
                String::from_utf8_lossy(&n.data).into_owned(),
            )
        })
        .collect();
    let paths = StatePaths::new(ZPath::parse("/zkstate").expect("state path"));
    let stored = decode(&paths, live).expect("the inventory decodes");
    let owner = Owner::new(zkstate::model::Kind::ConfigTree, "big");
    let recorded = stored
        .inventory
        .owners
        .get(&owner)
        .map(|o| {
            o.paths
                .iter()
                .filter(|p| **p != root)
                .map(|p| p.name().to_owned())
                .collect()
        })
        .unwrap_or_default();
    let applied_version = live
        .nodes
        .get(&ZPath::parse(APPLIED).expect("path"))
        .map_or(-1, |n| n.version);
    Observed {
        tree,
        recorded,
        applied_version,
    }
}
