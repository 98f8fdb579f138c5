//! Hand-built desired states for tests that drive the engine or the executor directly (no
//! manifests): one ConfigTree owner `t` at `/c`, prune on.
use zkstate::model::*;

pub fn p(s: &str) -> ZPath {
    ZPath::parse(s).expect("test path")
}

pub fn owner() -> Owner {
    Owner::new(Kind::ConfigTree, "t")
}

/// `/c` (a parent) and `nodes` as enforced data nodes, all owned by [`owner`].
pub fn desired(nodes: &[(&str, &[u8])]) -> DesiredState {
    let mut d = DesiredState::default();
    d.roots.push(ManagedRoot {
        owner: owner(),
        root: p("/c"),
        prune: Prune::Owned,
        mode: Mode::Enforce,
        ignore: Default::default(),
        host_scoped: false,
    });
    let mut add = |path: &str, data: &[u8], policy| {
        d.nodes.insert(
            p(path),
            DesiredNode {
                path: p(path),
                data: data.to_vec(),
                secret: false,
                policy,
                acl: None,
                mode: NodeMode::Persistent,
                owner: owner(),
            },
        );
    };
    add("/c", b"", DataPolicy::Parent);
    for (path, data) in nodes {
        add(path, data, DataPolicy::Enforce);
    }
    d
}
