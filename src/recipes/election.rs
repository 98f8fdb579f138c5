//! `ElectionGroup`: the group node, and the contender names both libraries create in it.
//!
//! - kazoo `Election(path, identifier)` is a `Lock`: contenders are ephemeral-sequential
//!   `<uuid4 hex>__lock__<seq>` with the identifier as data; `Election.contenders()` lists the
//!   data of the `__lock__` children in sequence order, the first being the leader. The group
//!   node is created by `ensure_path`: persistent, empty.
//! - Curator `LeaderLatch(client, path, id)`: contenders are ephemeral-sequential
//!   `_c_<uuid>-latch-<seq>` with the id as data; `getParticipants()` reads them in sequence
//!   order, the first being the leader. `LeaderSelector` (a mutex) uses `_c_<uuid>-lock-<seq>`.
//!   The group node and its missing ancestors are container nodes.
//!
//! Both libraries order contenders by the *text* of the sequence. zkstate orders by its value as
//! a signed 32-bit integer (docs/contract.md §6): once the parent's counter has wrapped, the text order puts
//! `-2147483647` before `-2147483648`, so every new contender would be crowned (kazoo issue 730).
//! The signed order still hands leadership over once at the wrap itself (`-2147483648` sorts
//! before `2147483647`); no ordering of the names alone can avoid that.
use uuid::Uuid;

use super::{Expansion, RecipeError, ancestors, curator, kazoo, node, sequence};
use crate::model::spec::{ElectionFormat, ElectionGroupSpec};
use crate::model::{AclEntry, DataPolicy, Kind, NodeMode, Owner, ZPath};

/// Which recipe created a contender node.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum ContenderLayout {
    /// kazoo `Lock`, `WriteLock`, `Election`: `<uuid hex>__lock__<seq>`.
    KazooLock,
    /// kazoo `ReadLock`: `<uuid hex>__rlock__<seq>`.
    KazooReadLock,
    /// Curator `InterProcessMutex` / `LeaderSelector`: `_c_<uuid>-lock-<seq>`.
    CuratorLock,
    /// Curator `LeaderLatch`: `_c_<uuid>-latch-<seq>`.
    CuratorLatch,
}

/// One contender node name, parsed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Contender {
    /// The full node name.
    pub name: String,
    pub layout: ContenderLayout,
    /// The name without its sequence: the prefix its creator passed to the sequential create
    /// (`<hex>__lock__`, `_c_<uuid>-latch-`); both libraries find their own node by it after a
    /// lost create response.
    pub prefix: String,
    /// The creator's UUID, when the name carries a well-formed one.
    pub uuid: Option<Uuid>,
    /// The server-appended sequence, signed.
    pub sequence: i32,
}

/// Parses a contender name of any [`ContenderLayout`].
///
/// kazoo layouts are recognised as kazoo does (`(?:__lock__)(-?\d{10})$`, any text before the
/// marker); Curator layouts need Curator's protected prefix. Sequences are accepted in every form
/// the server writes, including `-000000001`..`-999999999` (ten characters with the sign), which
/// kazoo's pattern misses.
pub fn parse_contender(name: &str) -> Option<Contender> {
    if let Some((uuid, rest)) = curator::split_protected(name) {
        for (marker, layout) in [
            (curator::LOCK_NAME, ContenderLayout::CuratorLock),
            (curator::LATCH_NAME, ContenderLayout::CuratorLatch),
        ] {
            if let Some(seq) = sequence::sequence_after(rest, marker) {
                return Some(Contender {
                    name: name.to_owned(),
                    layout,
                    prefix: name[..name.len() - (rest.len() - marker.len())].to_owned(),
                    uuid: Some(uuid),
                    sequence: seq,
                });
            }
        }
        return None;
    }
    for (marker, layout) in [
        (kazoo::LOCK_MARKER, ContenderLayout::KazooLock),
        (kazoo::READ_LOCK_MARKER, ContenderLayout::KazooReadLock),
    ] {
        let Some(at) = name.rfind(marker) else {
            continue;
        };
        let split = at + marker.len();
        let Some(seq) = sequence::parse_sequence(&name[split..]) else {
            continue;
        };
        let hex = &name[..at];
        let uuid = (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Uuid::parse_str(hex).ok())
            .flatten();
        return Some(Contender {
            name: name.to_owned(),
            layout,
            prefix: name[..split].to_owned(),
            uuid,
            sequence: seq,
        });
    }
    None
}

/// Every contender among `names`, ordered by sequence as a signed 32-bit integer (ties, which a
/// single parent cannot produce, by name). The leader or lock holder is the first.
pub fn order_contenders<S: AsRef<str>>(names: &[S]) -> Vec<Contender> {
    let mut v: Vec<Contender> = names
        .iter()
        .filter_map(|n| parse_contender(n.as_ref()))
        .collect();
    v.sort_by(|a, b| {
        a.sequence
            .cmp(&b.sequence)
            .then_with(|| a.name.cmp(&b.name))
    });
    v
}

/// The contenders an election of `format` counts, in order: kazoo `Election.contenders()` counts
/// `__lock__` nodes; Curator `LeaderLatch.getParticipants()` is meant for `latch-` nodes.
pub fn election_contenders<S: AsRef<str>>(format: ElectionFormat, names: &[S]) -> Vec<Contender> {
    let want = election_layout(format);
    order_contenders(names)
        .into_iter()
        .filter(|c| c.layout == want)
        .collect()
}

/// The layout of the contenders an election of `format` creates.
pub fn election_layout(format: ElectionFormat) -> ContenderLayout {
    match format {
        ElectionFormat::Kazoo => ContenderLayout::KazooLock,
        ElectionFormat::Curator => ContenderLayout::CuratorLatch,
    }
}

/// The node-name prefix zkstate creates (ephemeral-sequential, data = identifier) to run in an
/// election of `format`.
pub fn election_contender_prefix(format: ElectionFormat, uuid: Uuid) -> String {
    match format {
        ElectionFormat::Kazoo => kazoo_contender_prefix(uuid),
        ElectionFormat::Curator => curator_latch_prefix(uuid),
    }
}

/// `<uuid4 hex>__lock__`: a kazoo `Lock` / `Election` contender.
pub fn kazoo_contender_prefix(uuid: Uuid) -> String {
    kazoo::contender_prefix(uuid)
}

/// `_c_<uuid with dashes>-latch-`: a Curator `LeaderLatch` contender.
pub fn curator_latch_prefix(uuid: Uuid) -> String {
    format!("{}{}", curator::protected_prefix(uuid), curator::LATCH_NAME)
}

/// `_c_<uuid with dashes>-lock-`: a Curator `InterProcessMutex` / `LeaderSelector` contender.
pub fn curator_lock_prefix(uuid: Uuid) -> String {
    format!("{}{}", curator::protected_prefix(uuid), curator::LOCK_NAME)
}

/// Expands an `ElectionGroup` document. `path` is the validated `spec.path`.
///
/// The group node is declared with empty data (`DataPolicy::Enforce`): persistent for kazoo
/// (`ensure_path`), a container for Curator, whose missing ancestors are containers too.
/// Contenders are the agent's business (`participate`), never part of the desired state.
///
/// # Notable behaviors
///
/// A container node is deleted by the server (every `znode.container.checkIntervalMs`, 60 s by
/// default) once it has had a child and is empty again. When the last Curator contender leaves,
/// the group node and then its empty container ancestors vanish; the next pass (agent resync or
/// `apply`) sees them missing and creates them again. That is harmless (Curator itself re-creates
/// them on the next `LeaderLatch.start()`), but a `diff` run while the group is empty reports them
/// as creates. A container that never had a child is never removed.
pub fn expand_election(
    name: &str,
    spec: &ElectionGroupSpec,
    path: &ZPath,
    acl: Option<Vec<AclEntry>>,
) -> Result<Expansion, Vec<RecipeError>> {
    let owner = Owner::new(Kind::ElectionGroup, name);
    let mut errors = Vec::new();
    if path.is_root() {
        errors.push(RecipeError::new(
            "/path",
            "an election group cannot be `/`; name a node below it",
        ));
    }
    if let Some(p) = &spec.participate {
        if p.identifier.is_empty() {
            errors.push(RecipeError::new(
                "/participate/identifier",
                "identifier must not be empty: it is the contender's data that status and other contenders show",
            ));
        }
        for (field, argv) in [("onElected", &p.on_elected), ("onRevoked", &p.on_revoked)] {
            if argv.first().is_some_and(|a| a.is_empty()) {
                errors.push(RecipeError::new(
                    format!("/participate/{field}/0"),
                    "the command (first element) must not be empty",
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mode = match spec.format {
        ElectionFormat::Kazoo => NodeMode::Persistent,
        ElectionFormat::Curator => NodeMode::Container,
    };
    let mut nodes = ancestors(path, mode, &owner);
    nodes.push(node(
        path.clone(),
        Vec::new(),
        DataPolicy::Enforce,
        mode,
        &acl,
        &owner,
    ));
    let info = crate::model::RecipeInfo {
        format: spec.format.into(),
        alert_depth: None,
        checks: Default::default(),
    };
    Ok(Expansion::recipe(
        owner,
        path.clone(),
        nodes,
        Vec::new(),
        info,
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: &str = "53345f98-9423-4e0c-a7b5-9f819e3ec2e1";

    fn uuid() -> Uuid {
        Uuid::parse_str(U).unwrap()
    }

    fn spec(json: serde_json::Value) -> ElectionGroupSpec {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            kazoo_contender_prefix(uuid()),
            "53345f9894234e0ca7b59f819e3ec2e1__lock__"
        );
        assert_eq!(curator_latch_prefix(uuid()), format!("_c_{U}-latch-"));
        assert_eq!(curator_lock_prefix(uuid()), format!("_c_{U}-lock-"));
        assert_eq!(
            election_contender_prefix(ElectionFormat::Curator, uuid()),
            format!("_c_{U}-latch-")
        );
    }

    #[test]
    fn parses_real_looking_names() {
        let k = parse_contender("53345f9894234e0ca7b59f819e3ec2e1__lock__0000000007").unwrap();
        assert_eq!(k.layout, ContenderLayout::KazooLock);
        assert_eq!(k.prefix, "53345f9894234e0ca7b59f819e3ec2e1__lock__");
        assert_eq!(k.uuid, Some(uuid()));
        assert_eq!(k.sequence, 7);

        let r = parse_contender("53345f9894234e0ca7b59f819e3ec2e1__rlock__0000000008").unwrap();
        assert_eq!(r.layout, ContenderLayout::KazooReadLock);
        assert_eq!(r.sequence, 8);

        // kazoo accepts any text before the marker; the uuid is then unknown.
        let odd = parse_contender("scheduler__lock__-2147483648").unwrap();
        assert_eq!(
            (odd.layout, odd.uuid, odd.sequence),
            (ContenderLayout::KazooLock, None, i32::MIN)
        );

        let c = parse_contender(&format!("_c_{U}-latch-0000000012")).unwrap();
        assert_eq!(c.layout, ContenderLayout::CuratorLatch);
        assert_eq!(c.prefix, format!("_c_{U}-latch-"));
        assert_eq!(c.uuid, Some(uuid()));
        assert_eq!(c.sequence, 12);

        // Druid's overlord latch, as seen in the wild.
        let m = parse_contender("_c_3c32cd34-4370-4e26-922d-a9b24afa4a91-lock-0000102217").unwrap();
        assert_eq!(
            (m.layout, m.sequence),
            (ContenderLayout::CuratorLock, 102217)
        );

        let neg = parse_contender(&format!("_c_{U}-lock--000000003")).unwrap();
        assert_eq!(neg.sequence, -3);

        for bad in [
            "config",
            "entry-100-0000000001",
            "abc__lock__12",
            "abc__lock__0000000001x",
            &format!("_c_{U}-queue-0000000001"),
            "_c_nope-lock-0000000001",
            "lock-0000000001",
        ] {
            assert_eq!(parse_contender(bad), None, "{bad}");
        }
    }

    #[test]
    fn orders_by_signed_sequence() {
        let names = [
            "b__lock__0000000010",
            "a__lock__0000000002",
            "config",
            "c__rlock__0000000005",
        ];
        let seqs: Vec<i32> = order_contenders(&names)
            .iter()
            .map(|c| c.sequence)
            .collect();
        assert_eq!(seqs, vec![2, 5, 10]);
        let elected: Vec<String> = election_contenders(ElectionFormat::Kazoo, &names)
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(elected, vec!["a__lock__0000000002", "b__lock__0000000010"]);
    }

    /// kazoo issue 730: after the parent's counter wrapped, kazoo (and Curator) sort the sequence
    /// text, and `"-2147483647" < "-2147483648"`, so each newly created contender sorts first and
    /// takes over leadership ("perpetual re-election"). Ordered as signed integers, the first
    /// contender created after the wrap stays leader while newer ones queue behind it.
    #[test]
    fn wrapped_counter_does_not_crown_the_newest_contender() {
        // Created in this order once the counter is negative.
        let first = "aaaa__lock__-2147483648";
        let second = "bbbb__lock__-2147483647";
        let third = "cccc__lock__-2147483646";
        let fourth = "dddd__lock__-999999999";
        let fifth = "eeee__lock__-000000001";

        let text_leader = |names: &[&str]| {
            let mut v: Vec<&str> = names.to_vec();
            v.sort_by_key(|n| n.rsplit("__lock__").next().unwrap().to_owned());
            v[0].to_owned()
        };
        let leader = |names: &[&str]| order_contenders(names)[0].name.clone();

        // Text order: the newest contender wins every time.
        assert_eq!(text_leader(&[first, second]), second);
        assert_eq!(text_leader(&[first, second, third]), third);
        // Signed order: the oldest stays leader as others join.
        for set in [
            &[first][..],
            &[first, second],
            &[first, second, third],
            &[third, first, second, fourth, fifth],
        ] {
            assert_eq!(leader(set), first);
        }
        let order: Vec<String> = order_contenders(&[fifth, third, first, fourth, second])
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(order, vec![first, second, third, fourth, fifth]);
        // Before the wrap, signed and text order agree.
        assert_eq!(
            leader(&["x__lock__2147483646", "y__lock__2147483647"]),
            "x__lock__2147483646"
        );
    }

    #[test]
    fn kazoo_group_is_persistent() {
        let s = spec(serde_json::json!({"path": "/elections/scheduler", "format": "kazoo"}));
        let path = ZPath::parse("/elections/scheduler").unwrap();
        let e = expand_election("scheduler", &s, &path, None).unwrap();
        let got = crate::recipes::node_summary(&e);
        assert_eq!(
            got,
            vec![
                ("/elections", DataPolicy::Parent, NodeMode::Persistent),
                (
                    "/elections/scheduler",
                    DataPolicy::Enforce,
                    NodeMode::Persistent
                ),
            ]
        );
        assert!(e.nodes.iter().all(|n| n.data.is_empty()));
        assert_eq!(e.root.root, path);
        assert_eq!(e.root.prune, crate::model::Prune::Owned);
        assert!(!e.root.host_scoped);
        assert!(e.seeds.is_empty());
    }

    #[test]
    fn curator_group_and_ancestors_are_containers() {
        let s = spec(serde_json::json!({
            "path": "/apps/elections/scheduler", "format": "curator",
            "participate": {"identifier": "host-1", "onElected": ["systemctl", "start", "x"]}
        }));
        let path = ZPath::parse("/apps/elections/scheduler").unwrap();
        let acl = Some(vec![AclEntry::open()]);
        let e = expand_election("scheduler", &s, &path, acl.clone()).unwrap();
        assert_eq!(e.nodes.len(), 3);
        assert!(e.nodes.iter().all(|n| n.mode == NodeMode::Container));
        // The ACL is enforced on the group, not on the shared directories above it.
        let acls: Vec<_> = e.nodes.iter().map(|n| n.acl.clone()).collect();
        assert_eq!(acls, vec![None, None, acl]);
        assert_eq!(e.nodes[2].policy, DataPolicy::Enforce);
        assert_eq!(
            e.nodes[0].owner,
            Owner::new(Kind::ElectionGroup, "scheduler")
        );
    }

    #[test]
    fn rejects_bad_participation() {
        let s = spec(serde_json::json!({
            "path": "/e", "format": "kazoo",
            "participate": {"identifier": "", "onRevoked": [""]}
        }));
        let errs = expand_election("e", &s, &ZPath::parse("/e").unwrap(), None).unwrap_err();
        let ptrs: Vec<&str> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            vec!["/participate/identifier", "/participate/onRevoked/0"]
        );
    }
}
