//! The layout of zkstate's own leader lock at `<state-path>/lock` (docs/contract.md §4, §6): kazoo's `Lock`
//! by default (`<uuid4 hex>__lock__<seq>`, data = the holder's identifier), Curator's
//! `InterProcessMutex` with `--lock-format curator` (`_c_<uuid>-lock-<seq>`). Either way an
//! operator's kazoo or Curator script sees the agent's node as a contender and can hold the lock
//! to pause it.
//!
//! The `zk` module does the creating and watching; this module only names and orders the nodes.
use uuid::Uuid;

use super::election::{self, Contender, ContenderLayout};
use crate::model::ZPath;

/// Which library's lock layout zkstate uses for its own node.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum LockFormat {
    /// kazoo `Lock`: `<uuid4 hex>__lock__<seq>`.
    #[default]
    Kazoo,
    /// Curator `InterProcessMutex`: `_c_<uuid>-lock-<seq>`.
    Curator,
}

impl LockFormat {
    /// The layout of the nodes this format creates.
    pub fn layout(self) -> ContenderLayout {
        match self {
            LockFormat::Kazoo => ContenderLayout::KazooLock,
            LockFormat::Curator => ContenderLayout::CuratorLock,
        }
    }
}

/// The node name (without the sequence) of our lock node: `<hex>__lock__` or `_c_<uuid>-lock-`.
pub fn lock_node_name_prefix(format: LockFormat, uuid: Uuid) -> String {
    match format {
        LockFormat::Kazoo => election::kazoo_contender_prefix(uuid),
        LockFormat::Curator => election::curator_lock_prefix(uuid),
    }
}

/// The path to create ephemeral-sequential, with the identifier as data:
/// `<dir>/<hex>__lock__` or `<dir>/_c_<uuid>-lock-`.
pub fn lock_node_prefix(format: LockFormat, dir: &ZPath, uuid: Uuid) -> String {
    dir.child(&lock_node_name_prefix(format, uuid))
        .as_str()
        .to_owned()
}

/// The contenders of a lock directory in lock order, the holder first.
///
/// Every contender layout counts, whichever format this agent writes: a kazoo `Lock`, a kazoo
/// `ReadLock`, a Curator mutex or latch in the directory all hold zkstate off while ahead of it.
/// Counting too many is the safe side of mutual exclusion; kazoo's own `Lock` would ignore the
/// Curator nodes and Curator would sort the kazoo names as text.
pub fn lock_contenders<S: AsRef<str>>(names: &[S]) -> Vec<Contender> {
    election::order_contenders(names)
}

/// Our own node among `names`, found by its prefix, as both libraries do after a create whose
/// response was lost.
pub fn find_own_node<'a, S: AsRef<str>>(names: &'a [S], name_prefix: &str) -> Option<&'a str> {
    names
        .iter()
        .map(AsRef::as_ref)
        .find(|n| n.starts_with(name_prefix) && n.len() > name_prefix.len())
}

/// The contender that `own` (a node name) waits for: the one just before it in lock order, or
/// `None` when `own` holds the lock (or is not among `names`).
pub fn predecessor<S: AsRef<str>>(names: &[S], own: &str) -> Option<Contender> {
    let ordered = lock_contenders(names);
    let pos = ordered.iter().position(|c| c.name == own)?;
    pos.checked_sub(1).map(|p| ordered[p].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let u = Uuid::parse_str("53345f98-9423-4e0c-a7b5-9f819e3ec2e1").unwrap();
        let dir = ZPath::parse("/zkstate/lock").unwrap();
        assert_eq!(
            lock_node_prefix(LockFormat::Kazoo, &dir, u),
            "/zkstate/lock/53345f9894234e0ca7b59f819e3ec2e1__lock__"
        );
        assert_eq!(
            lock_node_prefix(LockFormat::Curator, &dir, u),
            "/zkstate/lock/_c_53345f98-9423-4e0c-a7b5-9f819e3ec2e1-lock-"
        );
        let name = format!(
            "{}0000000004",
            lock_node_name_prefix(LockFormat::Curator, u)
        );
        assert_eq!(
            election::parse_contender(&name).map(|c| c.layout),
            Some(LockFormat::Curator.layout())
        );
    }

    #[test]
    fn holder_and_predecessor_across_layouts() {
        let names = [
            "53345f9894234e0ca7b59f819e3ec2e1__lock__0000000003",
            "_c_53345f98-9423-4e0c-a7b5-9f819e3ec2e1-lock-0000000001",
            "ffff5f9894234e0ca7b59f819e3ec2e1__lock__0000000002",
        ];
        assert_eq!(
            lock_contenders(&names)[0].name,
            "_c_53345f98-9423-4e0c-a7b5-9f819e3ec2e1-lock-0000000001"
        );
        assert_eq!(
            predecessor(&names, names[0]).map(|c| c.name),
            Some(names[2].to_owned())
        );
        assert_eq!(predecessor(&names, names[1]), None);
        assert_eq!(
            find_own_node(&names, "ffff5f9894234e0ca7b59f819e3ec2e1__lock__"),
            Some(names[2])
        );
        assert_eq!(find_own_node(&names, "0000__lock__"), None);
    }
}
