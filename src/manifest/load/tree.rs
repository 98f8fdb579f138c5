//! ConfigTree expansion: root, prune, mode, `ignore` globs, node keys to paths.
use super::*;

impl Expander<'_, '_, '_> {
    pub(super) fn config_tree(
        &mut self,
        doc: usize,
        owner: &Owner,
        spec: ConfigTreeSpec,
        nodes: Vec<Vec<(String, NodeValue)>>,
    ) -> Option<ManagedRoot> {
        let errors_before = self.diags.len();
        let root = self.managed_path(doc, "/spec/root", &spec.root, "root");
        let prune = match spec.prune {
            PruneSpec::Bool(false) => Prune::Off,
            PruneSpec::Bool(true) => Prune::Owned,
            PruneSpec::Word(PruneWord::Exclusive) => Prune::Exclusive,
        };
        let mode = match spec.mode {
            ModeSpec::Enforce => Mode::Enforce,
            ModeSpec::Observe => Mode::Observe,
        };
        if let Some(r) = &root
            && prune == Prune::Exclusive
        {
            let zk = ZPath::parse("/zookeeper").unwrap_or_else(|_| ZPath::root());
            let state = &self.ctx.options.state_path;
            if zk.is_within(r) || state.is_within(r) {
                let inside = if state.is_within(r) {
                    state.to_string()
                } else {
                    zk.to_string()
                };
                self.problem_on(
                    doc,
                    Problem::at("/spec/prune", format!("`prune: exclusive` on `{r}` would reach `{inside}`"))
                        .hint("use `prune: true`, or a root that does not contain ZooKeeper's or zkstate's own nodes"),
                    r.as_str(),
                );
            }
        }
        let tree_acl = self
            .acl(doc, spec.acl.as_ref(), "/spec/acl")
            .unwrap_or(None);
        let ignore = self.ignore_globs(doc, &spec.ignore);

        // Declared nodes, in file order (diagnostics are sorted at the end). They are consumed:
        // plain strings move into the node's data. Collected as a map, which becomes the merged
        // state as it is when this is the first document (no copy); two keys naming one znode
        // (which validated keys cannot do) go through the merge rule after the rest.
        let mut declared: BTreeMap<ZPath, DesiredNode> = BTreeMap::new();
        let mut repeated: Vec<DesiredNode> = Vec::new();
        // `flatten` drops each chunk when it moves on to the next.
        for (key, value) in nodes.into_iter().flatten() {
            let path = match &root {
                Some(r) => self.node_path(doc, r, &key),
                None => None,
            };
            let n = NodeRef::new(&key, path.as_ref());
            if let (Some(p), Some(r), Some(m)) = (&path, &root, &ignore)
                && p.relative_to(r).is_some_and(|rel| m.is_match(rel))
            {
                self.problem_on(
                    doc,
                    Problem::at_key(
                        n.ptr(),
                        format!(
                            "node `{key}` matches an `ignore` glob, so it would never be written"
                        ),
                    )
                    .hint("remove it from `nodes` or narrow the `ignore` glob"),
                    p.as_str(),
                );
            }
            let (data, secret, policy, acl) = match value {
                NodeValue::Text(s) => {
                    let Some(data) = self.size_ok(doc, s.into_bytes(), None, &n) else {
                        continue;
                    };
                    (data, false, DataPolicy::Enforce, None)
                }
                NodeValue::Spec(s) => {
                    let Some(data) = self.node_data(doc, &s, &n) else {
                        continue;
                    };
                    let acl = match &s.acl {
                        Some(_) => {
                            let at = format!("{}/acl", n.ptr());
                            self.acl(doc, s.acl.as_ref(), &at).unwrap_or(None)
                        }
                        None => None,
                    };
                    let policy = match s.policy {
                        Some(PolicySpec::CreateOnly) => DataPolicy::CreateOnly,
                        Some(PolicySpec::Enforce) | None => DataPolicy::Enforce,
                    };
                    (data, s.secret, policy, acl)
                }
            };
            drop(n);
            if let Some(path) = path {
                let node = DesiredNode {
                    path: path.clone(),
                    data,
                    secret,
                    policy,
                    acl: acl.or_else(|| tree_acl.clone()),
                    mode: NodeMode::Persistent,
                    owner: owner.clone(),
                };
                match declared.entry(path) {
                    std::collections::btree_map::Entry::Vacant(v) => {
                        v.insert(node);
                    }
                    std::collections::btree_map::Entry::Occupied(_) => repeated.push(node),
                }
            }
        }
        let root = root?;
        if self.diags.len() != errors_before {
            return None;
        }
        self.tree_roots.insert(doc, root.clone());

        // Implicit parents: inside the root (the root included) they get the tree's ACL; above
        // the root, none (created open, never compared).
        let parent = |path: ZPath, acl: Option<Vec<AclEntry>>| DesiredNode {
            path,
            data: Vec::new(),
            secret: false,
            policy: DataPolicy::Parent,
            acl,
            mode: NodeMode::Persistent,
            owner: owner.clone(),
        };
        // Walked on `&str` slices: only new parents allocate.
        let mut parents: BTreeSet<String> = BTreeSet::new();
        let root_len = root.as_str().len();
        for path in declared.keys() {
            let mut cur = path.as_str();
            while let Some(i) = cur.rfind('/') {
                cur = &cur[..i];
                if cur.len() <= root_len || declared.contains_key(cur) || parents.contains(cur) {
                    break;
                }
                parents.insert(cur.to_owned());
            }
        }
        let declared_root = declared.contains_key(root.as_str());
        let parents: Vec<ZPath> = parents
            .iter()
            .filter_map(|p| ZPath::parse(p).ok())
            .collect();
        let key = |doc| Origin {
            doc,
            at: OriginAt::NodeKey,
        };
        let field = |doc| Origin {
            doc,
            at: OriginAt::Field("/spec/root"),
        };
        if self.nodes.is_empty() {
            self.nodes = declared;
        } else {
            for (_, n) in declared {
                self.merge(n, key(doc));
            }
        }
        for n in repeated {
            self.merge(n, key(doc));
        }
        if !declared_root {
            self.merge(parent(root.clone(), tree_acl.clone()), field(doc));
        }
        for p in parents {
            self.merge(parent(p, tree_acl.clone()), field(doc));
        }
        for a in root.ancestors() {
            if !self.nodes.contains_key(&a) {
                self.merge(parent(a, None), field(doc));
            }
        }

        let managed = ManagedRoot {
            owner: owner.clone(),
            root,
            prune,
            mode,
            ignore: ignore.unwrap_or_default(),
            host_scoped: false,
        };
        self.roots.push(managed.clone());
        Some(managed)
    }

    /// Compiles the `ignore` globs once (the planner uses the same matcher).
    pub(super) fn ignore_globs(&mut self, doc: usize, globs: &[String]) -> Option<IgnoreMatcher> {
        match IgnoreMatcher::compile(globs) {
            Ok(m) => Some(m),
            Err(errors) => {
                for (i, e) in errors {
                    let g = &globs[i];
                    let pointer = format!("/spec/ignore/{i}");
                    let p = match e {
                        IgnoreError::Absolute => Problem::at(pointer, format!("ignore glob `{g}` starts with `/`"))
                            .hint("ignore globs are relative to `root`, like node keys: `runtime/**`"),
                        IgnoreError::Invalid(why) => Problem::at(pointer, format!("invalid glob `{g}`: {why}"))
                            .hint("`*` matches within one path segment, `**` across segments, `?` one character, `[ab]` a class"),
                    };
                    self.problem(doc, p);
                }
                None
            }
        }
    }

    /// The path of the node at key `key` below `root`; `.` is the root itself.
    pub(super) fn node_path(&mut self, doc: usize, root: &ZPath, key: &str) -> Option<ZPath> {
        let pointer = &NodeRef::new(key, None);
        let bad = |why: String, hint: &str| Problem::at_key(pointer.ptr(), why).hint(hint);
        if key == "." {
            return Some(root.clone());
        }
        if key.is_empty() {
            self.problem(
                doc,
                bad(
                    "empty node key".into(),
                    "use `.` to give the root node itself data",
                ),
            );
            return None;
        }
        if key.starts_with('/') {
            self.problem(
                doc,
                bad(
                    format!("node key `{}` starts with `/`", printable(key)),
                    "node keys are relative to `root`: drop the leading `/`",
                ),
            );
            return None;
        }
        match root.join(key) {
            Ok(p) => {
                if let Some((message, hint)) = reserved(&p, &self.ctx.options.state_path) {
                    self.problem_on(
                        doc,
                        Problem::at_key(pointer.ptr(), message).hint(hint),
                        p.as_str(),
                    );
                    return None;
                }
                Some(p)
            }
            Err(e) => {
                let hint = match e {
                    PathError::RelativeSegment => {
                        "`.` and `..` segments are not allowed in znode paths"
                    }
                    PathError::InvalidChar => "znode names cannot contain control characters",
                    _ => "node keys are `/`-separated relative paths, e.g. `db/url`",
                };
                self.problem(
                    doc,
                    bad(format!("invalid node key `{}`: {e}", printable(key)), hint),
                );
                None
            }
        }
    }
}

impl<'a> NodeRef<'a> {
    pub(super) fn new(key: &'a str, path: Option<&'a ZPath>) -> Self {
        NodeRef {
            key,
            path,
            pointer: OnceCell::new(),
        }
    }

    /// `/spec/nodes/<key>`.
    pub(super) fn ptr(&self) -> &str {
        self.pointer
            .get_or_init(|| format!("/spec/nodes/{}", ptr_escape(self.key)))
    }

    /// The znode path, or the key when the path is not known.
    pub(super) fn znode(&self) -> String {
        self.path
            .map_or_else(|| self.key.to_owned(), ZPath::to_string)
    }
}
