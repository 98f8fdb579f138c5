//! Per file and per document: reporting a file's problems, dispatching each typed document
//! by kind, duplicate names, managed paths and ACLs.
use super::*;

impl Expander<'_, '_, '_> {
    pub(super) fn problem(&mut self, doc: usize, p: Problem) {
        let d = self.ctx.diag(doc, &p);
        self.diags.push(d);
    }

    pub(super) fn problem_on(&mut self, doc: usize, p: Problem, znode: &str) {
        let d = self.ctx.diag(doc, &p).znode(znode);
        self.diags.push(d);
    }

    /// Reports one prepared file's problems and expands its documents, in order.
    pub(super) fn file(&mut self, src: usize, prepared: Prepared) {
        let docs = match prepared {
            Ok(docs) => docs,
            Err(e) => {
                let s = &self.ctx.sources[src];
                self.diags.push(
                    Diagnostic::invalid(
                        &s.path,
                        locate::pos(e.marker()),
                        format!("invalid YAML: {}", e.info()),
                    )
                    .hint("fix the YAML syntax; nothing in this file was checked further"),
                );
                return;
            }
        };
        for d in docs {
            let doc = {
                let mut metas = self.ctx.docs.borrow_mut();
                metas.push(DocMeta {
                    src,
                    index: d.index,
                    start: d.start,
                    too_deep: d.too_deep,
                });
                metas.len() - 1
            };
            match d.outcome {
                Ok(typed) => self.document(TypedDoc { doc, typed }),
                Err(problems) => {
                    for e in problems.convert {
                        let mut diag = Diagnostic::invalid(self.ctx.file(doc), e.pos, e.message);
                        if let Some(h) = e.hint {
                            diag = diag.hint(h);
                        }
                        self.diags.push(diag);
                    }
                    for p in problems.schema {
                        self.problem(doc, p);
                    }
                }
            }
        }
    }

    pub(super) fn document(&mut self, t: TypedDoc) {
        let doc = t.doc;
        let (kind, name) = match &t.typed {
            Typed::ConfigTree(n, ..) => (Kind::ConfigTree, n.clone()),
            Typed::Service(n, _) => (Kind::Service, n.clone()),
            Typed::Queue(n, _) => (Kind::Queue, n.clone()),
            Typed::ElectionGroup(n, _) => (Kind::ElectionGroup, n.clone()),
        };
        if let Some(&first) = self.names.get(&(kind, name.clone())) {
            let there = self.ctx.place(first, "/metadata/name", Target::Value);
            self.problem(
                doc,
                Problem::at("/metadata/name", format!("duplicate {kind} name `{name}`")).hint(
                    format!("first declared at {there}; metadata.name must be unique per kind"),
                ),
            );
            return;
        }
        self.names.insert((kind, name.clone()), doc);
        let owner = Owner::new(kind, name.clone());
        let line = self.ctx.docs.borrow()[doc].start.line;
        let file = self.ctx.file(doc).to_path_buf();
        let info = |root: ZPath, spec: DocumentSpec| DocumentInfo {
            file: file.clone(),
            line,
            kind,
            name: name.clone(),
            root,
            spec,
        };
        let result = match t.typed {
            Typed::ConfigTree(_, spec, nodes) => {
                self.config_tree(doc, &owner, spec, nodes).map(|r| {
                    info(
                        r.root.clone(),
                        DocumentSpec::ConfigTree {
                            prune: r.prune,
                            mode: r.mode,
                        },
                    )
                })
            }
            Typed::Service(_, spec) => self
                .service(doc, &owner, &spec)
                .map(|root| info(root, DocumentSpec::Service(spec))),
            Typed::Queue(_, spec) => self
                .queue(doc, &owner, &spec)
                .map(|root| info(root, DocumentSpec::Queue(spec))),
            Typed::ElectionGroup(_, spec) => self
                .election(doc, &owner, &spec)
                .map(|root| info(root, DocumentSpec::ElectionGroup(spec))),
        };
        if let Some(i) = result {
            self.documents.push(i);
        }
    }

    /// A managed path: valid, not in `/zookeeper`, not in the state path.
    pub(super) fn managed_path(
        &mut self,
        doc: usize,
        pointer: &str,
        text: &str,
        what: &str,
    ) -> Option<ZPath> {
        match ZPath::parse(text) {
            Ok(p) => {
                if let Some((message, hint)) = reserved(&p, &self.ctx.options.state_path) {
                    self.problem_on(doc, Problem::at(pointer, message).hint(hint), p.as_str());
                    return None;
                }
                Some(p)
            }
            Err(e) => {
                self.problem(
                    doc,
                    Problem::at(
                        pointer,
                        format!("invalid {what} `{}`: {e}", printable(text)),
                    )
                    .hint("an absolute znode path, e.g. `/config/payments`"),
                );
                None
            }
        }
    }

    pub(super) fn acl(
        &mut self,
        doc: usize,
        acl: Option<&Vec<crate::manifest::spec::AclSpec>>,
        pointer: &str,
    ) -> Result<Option<Vec<AclEntry>>, ()> {
        let Some(entries) = acl else { return Ok(None) };
        let mut problems = Vec::new();
        let r = acl::convert(entries, pointer, &mut problems);
        for p in problems {
            self.problem(doc, p);
        }
        r.map(Some).ok_or(())
    }
}
