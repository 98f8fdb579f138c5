//! The merge of every document's nodes into one state: the merge rule, duplicate
//! declarations, implicit parents, and recipe expansions.
use super::*;

impl Expander<'_, '_, '_> {
    /// The JSON pointer (and target) of where a node was declared.
    pub(super) fn origin_pointer(&self, origin: &Origin, path: &ZPath) -> (String, Target) {
        match origin.at {
            OriginAt::Field(f) => (f.to_owned(), Target::Value),
            OriginAt::NodeKey => {
                let key = self
                    .tree_roots
                    .get(&origin.doc)
                    .and_then(|r| path.relative_to(r))
                    .map_or(".", |k| if k.is_empty() { "." } else { k });
                (format!("/spec/nodes/{}", ptr_escape(key)), Target::Key)
            }
        }
    }

    /// Inserts a node into the merged state, applying the merge rule: a declaration wins over
    /// an implicit parent, the first implicit parent stays (a container parent wins over a
    /// persistent one), two declarations are an error naming both places.
    pub(super) fn merge(&mut self, node: DesiredNode, origin: Origin) {
        use std::collections::btree_map::Entry;
        let first_owner = match self.nodes.entry(node.path.clone()) {
            Entry::Vacant(v) => {
                v.insert(node);
                return;
            }
            Entry::Occupied(mut o) => {
                let old = o.get_mut();
                let old_parent = old.policy == DataPolicy::Parent;
                let new_parent = node.policy == DataPolicy::Parent;
                match (old_parent, new_parent) {
                    (true, false) => {
                        *old = node;
                        return;
                    }
                    (false, true) => return,
                    (true, true) => {
                        if node.mode == NodeMode::Container && old.mode == NodeMode::Persistent {
                            old.mode = NodeMode::Container;
                        }
                        return;
                    }
                    (false, false) => old.owner.clone(),
                }
            }
        };
        let first_origin = self.declared_at(&first_owner);
        let (first_ptr, first_target) = self.origin_pointer(&first_origin, &node.path);
        let there = self.ctx.place(first_origin.doc, &first_ptr, first_target);
        let path = node.path.to_string();
        let (pointer, target) = self.origin_pointer(&origin, &node.path);
        let p = Problem {
            pointer,
            target,
            message: format!("znode `{path}` is declared twice"),
            hint: Some(format!(
                "{first_owner} already declares it at {there}; a znode belongs to one document"
            )),
        };
        self.problem_on(origin.doc, p, &path);
    }

    /// Where a declared (not implicit) node of `owner` was declared: the owner's document (a
    /// document whose name repeats another's is never expanded, so there is one), at the node's
    /// key (ConfigTree) or at the recipe's path field. Kept per document rather than per node:
    /// only a duplicate declaration needs it.
    fn declared_at(&self, owner: &Owner) -> Origin {
        let doc = self
            .names
            .get(&(owner.kind, owner.name.to_string()))
            .copied()
            .unwrap_or_default();
        let at = match owner.kind {
            Kind::ConfigTree => OriginAt::NodeKey,
            _ => OriginAt::Field(self.recipe_fields.get(&doc).copied().unwrap_or("/spec")),
        };
        Origin { doc, at }
    }

    /// Makes sure every node's ancestors are in the state (as implicit parents owned by the
    /// first node, in path order, that needs them), whatever a recipe returned.
    pub(super) fn complete_ancestors(&mut self) {
        // Walked on `&str` slices: only missing ancestors allocate.
        let mut missing: BTreeMap<&str, &Owner> = BTreeMap::new();
        for (path, node) in &self.nodes {
            let mut cur = path.as_str();
            while let Some(i) = cur.rfind('/') {
                cur = &cur[..i];
                if cur.is_empty() || self.nodes.contains_key(cur) || missing.contains_key(cur) {
                    break;
                }
                missing.insert(cur, &node.owner);
            }
        }
        let missing: Vec<(ZPath, Owner, usize)> = missing
            .into_iter()
            .filter_map(|(p, owner)| {
                let doc = self.declared_at(owner).doc;
                Some((ZPath::parse(p).ok()?, owner.clone(), doc))
            })
            .collect();
        for (path, owner, doc) in missing {
            let node = DesiredNode {
                path,
                data: Vec::new(),
                secret: false,
                policy: DataPolicy::Parent,
                acl: None,
                mode: NodeMode::Persistent,
                owner,
            };
            self.merge(
                node,
                Origin {
                    doc,
                    at: OriginAt::Field("/spec"),
                },
            );
        }
    }

    /// Merges a recipe's expansion; errors are located under `/spec`.
    pub(super) fn expansion(
        &mut self,
        doc: usize,
        r: Result<Expansion, Vec<RecipeError>>,
        path_field: &'static str,
    ) -> Option<ZPath> {
        let exp = match r {
            Ok(e) => e,
            Err(errors) => {
                for e in errors {
                    self.problem(doc, Problem::at(format!("/spec{}", e.pointer), e.message));
                }
                return None;
            }
        };
        let before = self.diags.len();
        for n in &exp.nodes {
            if n.data.len() > MAX_NODE_DATA {
                self.problem_on(
                    doc,
                    Problem::at(
                        "/spec",
                        format!(
                            "data is {} bytes, over the {MAX_NODE_DATA}-byte limit of a znode",
                            n.data.len()
                        ),
                    ),
                    n.path.as_str(),
                );
            }
        }
        for s in &exp.seeds {
            if s.data.len() > MAX_NODE_DATA {
                self.problem_on(
                    doc,
                    Problem::at(
                        "/spec/seed",
                        format!(
                            "seed item is {} bytes, over the {MAX_NODE_DATA}-byte limit of a znode",
                            s.data.len()
                        ),
                    ),
                    s.parent.as_str(),
                );
            }
        }
        if self.diags.len() != before {
            return None;
        }
        let root = exp.root.root.clone();
        self.recipe_fields.insert(doc, path_field);
        for n in exp.nodes {
            self.merge(
                n,
                Origin {
                    doc,
                    at: OriginAt::Field(path_field),
                },
            );
        }
        self.seeds.extend(exp.seeds);
        self.recipes.insert(exp.root.owner.clone(), exp.info);
        self.roots.push(exp.root);
        Some(root)
    }
}
