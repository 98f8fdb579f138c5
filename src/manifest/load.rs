//! The loader: `-f` paths → [`LoadedSet`] (desired state, per-document info, digest), or every
//! problem found, at once.
//!
//! Stages, each collecting diagnostics and feeding the documents that passed to the next:
//! 1. files: collect and read (unreadable → [`Class::Unreadable`]);
//! 2. YAML: parse, expand `${VAR}`, convert to JSON ([`super::yaml`]);
//! 3. structure: the generated JSON Schema ([`super::structure`]), then serde into [`super::spec`];
//! 4. meaning: paths, ACLs, data sources, sizes, `schema:` checks, globs, durations;
//! 5. expansion: ConfigTree nodes and implicit parents here, Service / Queue / ElectionGroup via
//!    [`crate::recipes`]; then the merge of every document's nodes, where duplicates are caught.
use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use saphyr::MarkedYaml;
use saphyr_parser::ScanError;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::acl;
use super::diag::{Class, Diagnostic, Diagnostics, Pos};
use super::files::{self, Source};
use super::render;
use super::spec::{
    ConfigTreeSpec, ElectionGroupSpec, KindName, ModeSpec, NodeSpec, NodeValue, PolicySpec,
    PruneSpec, PruneWord, QueueSpec, ServiceSpec,
};
use super::structure::{self, Problem};
use super::yaml::{self, ConvertError, EnvLookup, JsonDoc, Locator, Target, ptr, ptr_escape};
use crate::model::{
    AclEntry, DataPolicy, DesiredNode, DesiredState, IgnoreError, IgnoreMatcher, Kind,
    MAX_NODE_DATA, ManagedRoot, Mode, NodeMode, Owner, PathError, Prune, SeedItem, ZPath,
};
use crate::recipes::{self, Expansion, RecipeError};

/// Settings of a load that do not come from the manifests.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// zkstate's own subtree (`--state-path`): no manifest may declare anything in it.
    pub state_path: ZPath,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            state_path: ZPath::parse("/zkstate").unwrap_or_else(|_| ZPath::root()),
        }
    }
}

/// A valid manifest set.
#[derive(Clone, Debug)]
pub struct LoadedSet {
    /// Every znode the set declares, with implicit parents, queue seeds and managed roots.
    pub state: DesiredState,
    /// One entry per (non-empty) document, in load order.
    pub documents: Vec<DocumentInfo>,
    /// The manifest files, in load order.
    pub files: Vec<PathBuf>,
    /// `sha256:` + hex SHA-256 over each file, in load order, as its length (u64 big-endian)
    /// followed by its bytes. Identifies the manifest set's text (not the environment or the
    /// files that `file:` references).
    pub digest: String,
}

/// What the CLI and agent need to know about one document.
#[derive(Clone, Debug)]
pub struct DocumentInfo {
    pub file: PathBuf,
    /// The document's first line.
    pub line: usize,
    pub kind: Kind,
    pub name: String,
    /// The subtree the document manages (`root`, `basePath/name`, `path`).
    pub root: ZPath,
    pub spec: DocumentSpec,
}

impl DocumentInfo {
    pub fn owner(&self) -> Owner {
        Owner::new(self.kind, self.name.clone())
    }
}

/// The typed spec of a recipe document (`status` and the agent read them); for a ConfigTree,
/// what `status` reports. ConfigTree node data is in [`LoadedSet::state`] only.
#[derive(Clone, Debug)]
pub enum DocumentSpec {
    ConfigTree { prune: Prune, mode: Mode },
    Service(ServiceSpec),
    Queue(QueueSpec),
    ElectionGroup(ElectionGroupSpec),
}

/// Loads, validates and expands a manifest set.
///
/// `paths` are files or directories (recursive, `*.yaml`/`*.yml`, sorted); `env` resolves
/// `${VAR}` references and `env:` data sources.
///
/// # Errors
/// Every problem found, sorted by file, line and column. [`Diagnostics::class`] tells an invalid
/// set (exit 1) from one that could not be read (exit 2).
pub fn load(
    paths: &[PathBuf],
    env: &EnvLookup<'_>,
    options: &LoadOptions,
) -> Result<LoadedSet, Diagnostics> {
    let started = std::time::Instant::now();
    let mut diags = Diagnostics::new();
    let file_list = files::collect(paths, &mut diags);
    let sources: Vec<Source> = file_list
        .iter()
        .filter_map(|f| files::read(f, &mut diags))
        .collect();

    let mut hasher = Sha256::new();
    for s in &sources {
        hasher.update((s.text.len() as u64).to_be_bytes());
        hasher.update(s.text.as_bytes());
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));

    // Positions, built only if a diagnostic needs one.
    let file_trees: Vec<OnceCell<Option<Vec<MarkedYaml<'_>>>>> =
        sources.iter().map(|_| OnceCell::new()).collect();
    let ctx = Ctx {
        sources: &sources,
        docs: RefCell::new(Vec::new()),
        file_trees: &file_trees,
        locators: RefCell::new(HashMap::new()),
        env,
        options,
    };
    let mut expander = Expander {
        ctx: &ctx,
        diags: &mut diags,
        nodes: BTreeMap::new(),
        seeds: Vec::new(),
        roots: Vec::new(),
        recipes: BTreeMap::new(),
        documents: Vec::new(),
        names: HashMap::new(),
        schemas: HashMap::new(),
        tree_roots: HashMap::new(),
    };

    // Stages 2 and 3 (YAML → JSON → schema → typed spec) run on worker threads, one file at a
    // time; stages 4 and 5 run here, strictly in file order, as each file becomes ready. So the
    // result does not depend on the threads, and a file's JSON is dropped once it is expanded.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sources.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Prepared)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, sources) = (&next, &sources);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(source) = sources.get(i) else { break };
                    if tx.send((i, prepare(source, env))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut ready: BTreeMap<usize, Prepared> = BTreeMap::new();
        let mut turn = 0;
        for (i, prepared) in rx {
            ready.insert(i, prepared);
            while let Some(prepared) = ready.remove(&turn) {
                expander.file(turn, prepared);
                turn += 1;
            }
        }
    });
    expander.complete_ancestors();
    let Expander {
        nodes,
        seeds,
        roots,
        recipes,
        documents,
        ..
    } = expander;
    let doc_count = ctx.docs.borrow().len();
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        files = sources.len(),
        documents = doc_count,
        threads = workers,
        "manifests checked and expanded"
    );

    if doc_count == 0 && diags.is_empty() {
        let at = sources.first().map_or_else(
            || paths.first().cloned().unwrap_or_default(),
            |s| s.path.clone(),
        );
        diags.push(
            Diagnostic::invalid(&at, Pos::NONE, "the manifest set has no documents").hint(
                "an empty manifest set is refused, so that it can never mean \"delete everything\"",
            ),
        );
    }
    if !diags.is_empty() {
        diags.sort();
        return Err(diags);
    }
    Ok(LoadedSet {
        state: DesiredState {
            nodes: nodes.into_iter().map(|(k, m)| (k, m.node)).collect(),
            seeds,
            roots,
            recipes,
        },
        documents,
        files: sources.iter().map(|s| s.path.clone()).collect(),
        digest,
    })
}

/// One file after stages 2 and 3, or its YAML syntax error.
type Prepared = Result<Vec<PreparedDoc>, ScanError>;

/// One document after stages 2 and 3.
struct PreparedDoc {
    /// Index among the file's documents, empty ones included.
    index: usize,
    start: Pos,
    /// See [`JsonDoc::too_deep`].
    too_deep: bool,
    outcome: Result<Typed, Structural>,
}

/// A document's structural problems: conversion errors and schema problems.
struct Structural {
    convert: Vec<ConvertError>,
    schema: Vec<Problem>,
}

/// Stages 2 and 3 for one file, on a worker thread: pure, no positions (those are looked up
/// later, on the main thread, and only for problems).
fn prepare(source: &Source, env: &EnvLookup<'_>) -> Prepared {
    let docs = yaml::load_json(&source.text, Some(env))?;
    Ok(docs
        .into_iter()
        .map(|d| PreparedDoc {
            index: d.index,
            start: d.start,
            too_deep: d.too_deep,
            outcome: structured(d),
        })
        .collect())
}

/// The schema, then serde, for one converted document.
fn structured(json: JsonDoc) -> Result<Typed, Structural> {
    if json.too_deep {
        // Its conversion errors carry their own positions; anything else would need the
        // file's marked tree, which is not built for such a file.
        return Err(Structural {
            convert: json.errors,
            schema: Vec::new(),
        });
    }
    // Values that failed to convert became `null`; the schema's complaints about exactly those
    // values would only repeat the problem, so they are left out. The document's other
    // structural problems are still reported.
    let schema: Vec<Problem> = structure::check(&json.value)
        .into_iter()
        .filter(|p| {
            !json.errors.iter().any(|f| {
                p.pointer == f.pointer || p.pointer.starts_with(&format!("{}/", f.pointer))
            })
        })
        .collect();
    if !schema.is_empty() || !json.errors.is_empty() {
        return Err(Structural {
            convert: json.errors,
            schema,
        });
    }
    into_typed(json.value).ok_or_else(|| Structural {
        convert: Vec::new(),
        schema: vec![
            Problem::at(
                "/spec",
                "failed to read the document after it passed the schema check",
            )
            .hint("this is a bug in zkstate; please report it with the document"),
        ],
    })
}

/// Where a document is.
struct DocMeta {
    /// Index into the sources.
    src: usize,
    /// Index among the file's documents, empty ones included.
    index: usize,
    start: Pos,
    /// No marked tree for this file: positions fall back to the document's start.
    too_deep: bool,
}

/// Everything a check needs to turn a JSON pointer into `file:line:column`. Main thread only.
struct Ctx<'c, 'i> {
    sources: &'i [Source],
    /// Every document seen so far, in load order (the index is the document's number).
    docs: RefCell<Vec<DocMeta>>,
    /// Each file's marked trees, parsed on the first position lookup (`None`: unparsable).
    file_trees: &'c [OnceCell<Option<Vec<MarkedYaml<'i>>>>],
    locators: RefCell<HashMap<usize, Option<Locator<'c, 'i>>>>,
    env: &'c EnvLookup<'c>,
    options: &'c LoadOptions,
}

impl<'c, 'i> Ctx<'c, 'i> {
    fn source(&self, doc: usize) -> &'i Source {
        let src = self.docs.borrow()[doc].src;
        &self.sources[src]
    }

    fn file(&self, doc: usize) -> &'i Path {
        &self.source(doc).path
    }

    fn pos(&self, doc: usize, pointer: &str, target: Target) -> Pos {
        let (src, index, start) = {
            let docs = self.docs.borrow();
            if docs[doc].too_deep {
                return docs[doc].start;
            }
            (docs[doc].src, docs[doc].index, docs[doc].start)
        };
        let file_trees: &'c [OnceCell<Option<Vec<MarkedYaml<'i>>>>] = self.file_trees;
        let sources: &'i [Source] = self.sources;
        let mut locators = self.locators.borrow_mut();
        let locator = locators.entry(doc).or_insert_with(|| {
            let trees =
                file_trees[src].get_or_init(|| yaml::parse_documents(&sources[src].text).ok());
            trees.as_ref()?.get(index).map(Locator::new)
        });
        match locator {
            Some(l) => l.locate(pointer, target),
            None => start,
        }
    }

    fn diag(&self, doc: usize, p: &Problem) -> Diagnostic {
        let mut d = Diagnostic::invalid(
            self.file(doc),
            self.pos(doc, &p.pointer, p.target),
            &p.message,
        );
        if let Some(h) = &p.hint {
            d = d.hint(h);
        }
        d
    }

    /// `file:line:column` of a pointer, for messages that name another place.
    fn place(&self, doc: usize, pointer: &str, target: Target) -> String {
        let p = self.pos(doc, pointer, target);
        format!("{}:{}:{}", self.file(doc).display(), p.line, p.column)
    }
}

enum Typed {
    ConfigTree(String, ConfigTreeSpec),
    Service(String, ServiceSpec),
    Queue(String, QueueSpec),
    ElectionGroup(String, ElectionGroupSpec),
}

struct TypedDoc {
    doc: usize,
    typed: Typed,
}

fn into_typed(json: Value) -> Option<Typed> {
    // Taken apart by hand: deserializing `Envelope` would copy `spec` (a `Value` field) whole.
    // The schema check has vouched for the shape.
    let Value::Object(mut doc) = json else {
        return None;
    };
    let spec = doc.remove("spec")?;
    let kind: KindName = serde_json::from_value(doc.remove("kind")?).ok()?;
    let name = doc.get("metadata")?.get("name")?.as_str()?.to_owned();
    Some(match kind {
        KindName::ConfigTree => {
            // `nodes` by hand (see `NodeValue::from_json`), the rest through serde.
            let mut spec = spec;
            let nodes = spec.as_object_mut()?.remove("nodes");
            let mut tree: ConfigTreeSpec = serde_json::from_value(spec).ok()?;
            if let Some(Value::Object(nodes)) = nodes {
                tree.nodes = nodes
                    .into_iter()
                    .map(|(k, v)| Some((k, NodeValue::from_json(v)?)))
                    .collect::<Option<_>>()?;
            }
            Typed::ConfigTree(name, tree)
        }
        KindName::Service => Typed::Service(name, serde_json::from_value(spec).ok()?),
        KindName::Queue => Typed::Queue(name, serde_json::from_value(spec).ok()?),
        KindName::ElectionGroup => Typed::ElectionGroup(name, serde_json::from_value(spec).ok()?),
    })
}

/// Where a node was declared, for duplicate reports; resolved to a position only then.
#[derive(Clone, Copy)]
struct Origin {
    doc: usize,
    at: OriginAt,
}

#[derive(Clone, Copy)]
enum OriginAt {
    /// A ConfigTree node: its key is the path relative to the document's root.
    NodeKey,
    /// A field of the document (`/spec/path`, `/spec/root`, ...).
    Field(&'static str),
}

struct Merged {
    node: DesiredNode,
    origin: Origin,
}

/// A ConfigTree node being checked. Its JSON pointer and znode text are only needed for
/// diagnostics, so they are built on first use.
struct NodeRef<'a> {
    key: &'a str,
    path: Option<&'a ZPath>,
    pointer: OnceCell<String>,
}

impl<'a> NodeRef<'a> {
    fn new(key: &'a str, path: Option<&'a ZPath>) -> Self {
        NodeRef {
            key,
            path,
            pointer: OnceCell::new(),
        }
    }

    /// `/spec/nodes/<key>`.
    fn ptr(&self) -> &str {
        self.pointer
            .get_or_init(|| format!("/spec/nodes/{}", ptr_escape(self.key)))
    }

    /// The znode path, or the key when the path is not known.
    fn znode(&self) -> String {
        self.path
            .map_or_else(|| self.key.to_owned(), ZPath::to_string)
    }
}

/// A compiled `schema:` file, or why it cannot be used (reported at each use).
type SchemaEntry = Rc<Result<jsonschema::Validator, (Class, String)>>;

struct Expander<'c, 'a, 'i> {
    ctx: &'c Ctx<'a, 'i>,
    diags: &'c mut Diagnostics,
    nodes: BTreeMap<ZPath, Merged>,
    seeds: Vec<SeedItem>,
    roots: Vec<ManagedRoot>,
    recipes: BTreeMap<Owner, crate::model::RecipeInfo>,
    documents: Vec<DocumentInfo>,
    /// First document of each (kind, name).
    names: HashMap<(Kind, String), usize>,
    schemas: HashMap<PathBuf, SchemaEntry>,
    /// Each ConfigTree document's root, for [`OriginAt::NodeKey`].
    tree_roots: HashMap<usize, ZPath>,
}

/// The data a node renders to, and what the `schema:` check reads.
struct Rendered<'v> {
    bytes: Vec<u8>,
    /// The JSON value declared inline (`json:`/`yaml:`), for precise schema error positions.
    inline: Option<(&'static str, &'v Value)>,
    /// The source field (`/json`, `/file`, …) relative to the node, for positions.
    field: Option<&'static str>,
    yaml_file: bool,
}

impl Expander<'_, '_, '_> {
    fn problem(&mut self, doc: usize, p: Problem) {
        let d = self.ctx.diag(doc, &p);
        self.diags.push(d);
    }

    fn problem_on(&mut self, doc: usize, p: Problem, znode: &str) {
        let d = self.ctx.diag(doc, &p).znode(znode);
        self.diags.push(d);
    }

    /// Reports one prepared file's problems and expands its documents, in order.
    fn file(&mut self, src: usize, prepared: Prepared) {
        let docs = match prepared {
            Ok(docs) => docs,
            Err(e) => {
                let s = &self.ctx.sources[src];
                self.diags.push(
                    Diagnostic::invalid(
                        &s.path,
                        yaml::pos(e.marker()),
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

    fn document(&mut self, t: TypedDoc) {
        let doc = t.doc;
        let (kind, name) = match &t.typed {
            Typed::ConfigTree(n, _) => (Kind::ConfigTree, n.clone()),
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
            Typed::ConfigTree(_, spec) => self.config_tree(doc, &owner, spec).map(|r| {
                info(
                    r.root.clone(),
                    DocumentSpec::ConfigTree {
                        prune: r.prune,
                        mode: r.mode,
                    },
                )
            }),
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
    fn managed_path(&mut self, doc: usize, pointer: &str, text: &str, what: &str) -> Option<ZPath> {
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

    fn acl(
        &mut self,
        doc: usize,
        acl: Option<&Vec<super::spec::AclSpec>>,
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

    /// The JSON pointer (and target) of where a node was declared.
    fn origin_pointer(&self, origin: &Origin, path: &ZPath) -> (String, Target) {
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
    fn merge(&mut self, node: DesiredNode, origin: Origin) {
        use std::collections::btree_map::Entry;
        let first = match self.nodes.entry(node.path.clone()) {
            Entry::Vacant(v) => {
                v.insert(Merged { node, origin });
                return;
            }
            Entry::Occupied(mut o) => {
                let old = o.get_mut();
                let old_parent = old.node.policy == DataPolicy::Parent;
                let new_parent = node.policy == DataPolicy::Parent;
                match (old_parent, new_parent) {
                    (true, false) => {
                        *old = Merged { node, origin };
                        return;
                    }
                    (false, true) => return,
                    (true, true) => {
                        if node.mode == NodeMode::Container && old.node.mode == NodeMode::Persistent
                        {
                            old.node.mode = NodeMode::Container;
                        }
                        return;
                    }
                    (false, false) => (old.origin, old.node.owner.clone()),
                }
            }
        };
        let (first_origin, first_owner) = first;
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

    fn config_tree(
        &mut self,
        doc: usize,
        owner: &Owner,
        spec: ConfigTreeSpec,
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

        // Declared nodes. The spec is consumed: plain strings move into the node's data.
        let mut declared: Vec<DesiredNode> = Vec::with_capacity(spec.nodes.len());
        for (key, value) in spec.nodes {
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
                declared.push(DesiredNode {
                    path,
                    data,
                    secret,
                    policy,
                    acl: acl.or_else(|| tree_acl.clone()),
                    mode: NodeMode::Persistent,
                    owner: owner.clone(),
                });
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
        let declared_paths: HashSet<&str> = declared.iter().map(|n| n.path.as_str()).collect();
        let root_len = root.as_str().len();
        for n in &declared {
            let mut cur = n.path.as_str();
            while let Some(i) = cur.rfind('/') {
                cur = &cur[..i];
                if cur.len() <= root_len || declared_paths.contains(cur) || parents.contains(cur) {
                    break;
                }
                parents.insert(cur.to_owned());
            }
        }
        let declared_root = declared_paths.contains(root.as_str());
        drop(declared_paths);
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
        for n in declared {
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
    fn ignore_globs(&mut self, doc: usize, globs: &[String]) -> Option<IgnoreMatcher> {
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
    fn node_path(&mut self, doc: usize, root: &ZPath, key: &str) -> Option<ZPath> {
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

    /// Renders a node's data and runs its checks (one source, size, `schema:`).
    fn node_data(&mut self, doc: usize, spec: &NodeSpec, n: &NodeRef<'_>) -> Option<Vec<u8>> {
        let sources: Vec<&'static str> = [
            ("json", spec.json.is_some()),
            ("yaml", spec.yaml.is_some()),
            ("file", spec.file.is_some()),
            ("env", spec.env.is_some()),
            ("base64", spec.base64.is_some()),
            ("value", spec.value.is_some()),
            ("int32", spec.int32.is_some()),
            ("int64", spec.int64.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, set)| set.then_some(n))
        .collect();
        if sources.len() > 1 {
            self.problem_on(
                doc,
                Problem::at_key(
                    format!("{}/{}", n.ptr(), sources[1]),
                    format!(
                        "`{}` conflicts with `{}`: a node has at most one data source",
                        sources[1], sources[0]
                    ),
                )
                .hint("keep one of them"),
                &n.znode(),
            );
            return None;
        }
        let rendered = self.render(doc, spec, n)?;
        if let Some(schema) = &spec.schema {
            self.check_schema(doc, schema, &rendered, n, spec.secret);
        }
        self.size_ok(doc, rendered.bytes, rendered.field, n)
    }

    /// `Some(bytes)` unless they are over the znode limit (reported at `field` of the node).
    fn size_ok(
        &mut self,
        doc: usize,
        bytes: Vec<u8>,
        field: Option<&str>,
        n: &NodeRef<'_>,
    ) -> Option<Vec<u8>> {
        if bytes.len() > MAX_NODE_DATA {
            let pointer = match field {
                Some(f) => format!("{}/{f}", n.ptr()),
                None => n.ptr().to_owned(),
            };
            self.problem_on(
                doc,
                Problem {
                    pointer,
                    target: Target::Value,
                    message: format!(
                        "data is {} bytes, over the {MAX_NODE_DATA}-byte limit of a znode",
                        bytes.len()
                    ),
                    hint: Some(
                        "ZooKeeper refuses requests over jute.maxbuffer (1 MiB by default); split \
                         the data over several nodes or store a reference to it"
                            .into(),
                    ),
                },
                &n.znode(),
            );
            return None;
        }
        Some(bytes)
    }

    fn render<'v>(
        &mut self,
        doc: usize,
        spec: &'v NodeSpec,
        n: &NodeRef<'_>,
    ) -> Option<Rendered<'v>> {
        let plain = |bytes: Vec<u8>, field: &'static str| Rendered {
            bytes,
            inline: None,
            field: Some(field),
            yaml_file: false,
        };
        if let Some(v) = &spec.json {
            return Some(Rendered {
                bytes: render::json_sorted(v).into_bytes(),
                inline: Some(("json", v)),
                field: Some("json"),
                yaml_file: false,
            });
        }
        if let Some(v) = &spec.yaml {
            return Some(Rendered {
                bytes: render::yaml_sorted(v).into_bytes(),
                inline: Some(("yaml", v)),
                field: Some("yaml"),
                yaml_file: false,
            });
        }
        if let Some(f) = &spec.file {
            let at = format!("{}/file", n.ptr());
            let path = self.ctx.source(doc).dir.join(f);
            let bytes = match std::fs::metadata(&path).and_then(|m| {
                if m.is_dir() {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::IsADirectory,
                        "is a directory",
                    ))
                } else {
                    Ok(m.len())
                }
            }) {
                Ok(len) if len > MAX_NODE_DATA as u64 => {
                    self.problem_on(
                        doc,
                        Problem::at(&at, format!("file `{f}` is {len} bytes, over the {MAX_NODE_DATA}-byte limit of a znode"))
                            .hint("ZooKeeper refuses requests over jute.maxbuffer (1 MiB by default)"),
                        &n.znode(),
                    );
                    return None;
                }
                Ok(_) => std::fs::read(&path),
                Err(e) => Err(e),
            };
            return match bytes {
                Ok(b) => Some(Rendered {
                    yaml_file: f.ends_with(".yaml") || f.ends_with(".yml"),
                    ..plain(b, "file")
                }),
                Err(e) => {
                    let class = ref_class(&e);
                    let d = self
                        .ctx
                        .diag(
                            doc,
                            &Problem::at(&at, format!("cannot use file `{f}`: {}", files::io_message("read it", &e)))
                                .hint(format!(
                                    "`file:` paths are relative to the manifest's directory; this one resolves to {}",
                                    path.display()
                                )),
                        )
                        .znode(n.znode())
                        .class(class);
                    self.diags.push(d);
                    None
                }
            };
        }
        if let Some(name) = &spec.env {
            return match (self.ctx.env)(name) {
                Some(v) => Some(plain(v.into_bytes(), "env")),
                None => {
                    self.problem_on(
                        doc,
                        Problem::at(format!("{}/env", n.ptr()), format!("environment variable `{name}` is not set"))
                            .hint(format!(
                                "set `{name}`, or use `value: \"${{{name}:-default}}\"` to fall back to a default"
                            )),
                        &n.znode(),
                    );
                    None
                }
            };
        }
        if let Some(b) = &spec.base64 {
            return match render::base64_decode(b) {
                Ok(bytes) => Some(plain(bytes, "base64")),
                Err(e) => {
                    self.problem_on(
                        doc,
                        Problem::at(format!("{}/base64", n.ptr()), e.to_string())
                            .hint("standard alphabet (`+/`) with `=` padding, as `base64` prints"),
                        &n.znode(),
                    );
                    None
                }
            };
        }
        if let Some(v) = &spec.value {
            return Some(plain(v.clone().into_bytes(), "value"));
        }
        if let Some(i) = spec.int32 {
            return Some(plain(i.to_be_bytes().to_vec(), "int32"));
        }
        if let Some(i) = spec.int64 {
            return Some(plain(i.to_be_bytes().to_vec(), "int64"));
        }
        Some(Rendered {
            bytes: Vec::new(),
            inline: None,
            field: None,
            yaml_file: false,
        })
    }

    fn load_schema(&mut self, path: &Path) -> SchemaEntry {
        if let Some(s) = self.schemas.get(path) {
            return s.clone();
        }
        let entry = Rc::new(compile_schema(path));
        self.schemas.insert(path.to_path_buf(), entry.clone());
        entry
    }

    fn check_schema(
        &mut self,
        doc: usize,
        schema: &str,
        data: &Rendered<'_>,
        n: &NodeRef<'_>,
        secret: bool,
    ) {
        let schema_at = format!("{}/schema", n.ptr());
        let path = self.ctx.source(doc).dir.join(schema);
        let entry = self.load_schema(&path);
        let validator = match entry.as_ref() {
            Ok(v) => v,
            Err((class, why)) => {
                let d = self
                    .ctx
                    .diag(doc, &Problem::at(&schema_at, format!("cannot use schema `{schema}`: {why}")).hint(format!(
                        "`schema:` paths are relative to the manifest's directory; this one resolves to {}",
                        path.display()
                    )))
                    .znode(n.znode())
                    .class(*class);
                self.diags.push(d);
                return;
            }
        };
        let data_at = data
            .field
            .map_or_else(|| n.ptr().to_owned(), |f| format!("{}/{f}", n.ptr()));
        let parsed;
        let instance: &Value = match &data.inline {
            Some((_, v)) => v,
            None => {
                let value = if data.yaml_file {
                    std::str::from_utf8(&data.bytes).ok().and_then(|t| {
                        let doc = yaml::load_json(t, None).ok()?.into_iter().next()?;
                        doc.errors.is_empty().then_some(doc.value)
                    })
                } else {
                    serde_json::from_slice::<Value>(&data.bytes).ok()
                };
                match value {
                    Some(v) => {
                        parsed = v;
                        &parsed
                    }
                    None => {
                        let what = if data.yaml_file { "YAML" } else { "JSON" };
                        self.problem_on(
                            doc,
                            Problem::at(&data_at, format!("data is not {what}, so it cannot be checked against `{schema}`"))
                                .hint("`schema:` checks structured data: use `json:`, `yaml:` or a JSON/YAML file"),
                            &n.znode(),
                        );
                        return;
                    }
                }
            }
        };
        let mut found = Vec::new();
        for e in validator.iter_errors(instance) {
            let inner = e.instance_path().as_str().to_owned();
            let text = if secret {
                e.masked_with("(sensitive)").to_string()
            } else {
                e.to_string()
            };
            let (at, message) = match &data.inline {
                Some((field, _)) => (
                    format!("{}/{field}{inner}", n.ptr()),
                    format!("data does not match schema `{schema}`: {text}"),
                ),
                None if inner.is_empty() => (
                    data_at.clone(),
                    format!("data does not match schema `{schema}`: {text}"),
                ),
                None => (
                    data_at.clone(),
                    format!("data does not match schema `{schema}` at `{inner}`: {text}"),
                ),
            };
            found.push(Problem::at(at, message));
        }
        for p in found {
            self.problem_on(doc, p, &n.znode());
        }
    }

    fn service(&mut self, doc: usize, owner: &Owner, spec: &ServiceSpec) -> Option<ZPath> {
        let before = self.diags.len();
        let base = self.managed_path(doc, "/spec/basePath", &spec.base_path, "basePath");
        let acl = self.acl(doc, spec.acl.as_ref(), "/spec/acl");
        for (i, inst) in spec.instances.iter().enumerate() {
            if let Some(check) = &inst.check {
                let at = ptr(&["spec", "instances", &i.to_string(), "check"]);
                if !valid_host_port(&check.tcp) {
                    self.problem(
                        doc,
                        Problem::at(
                            format!("{at}/tcp"),
                            format!("`{}` is not `host:port`", printable(&check.tcp)),
                        )
                        .hint("e.g. `127.0.0.1:8080` or `[::1]:8080`, port 1-65535"),
                    );
                }
                if let Some(iv) = &check.interval {
                    self.duration(doc, &format!("{at}/interval"), iv);
                }
            }
        }
        let (base, acl) = (base?, acl.ok()?);
        if self.diags.len() != before {
            return None;
        }
        let r = recipes::expand_service(&owner.name, spec, &base, acl);
        self.expansion(doc, r, "/spec/basePath")
    }

    fn queue(&mut self, doc: usize, owner: &Owner, spec: &QueueSpec) -> Option<ZPath> {
        let path = self.managed_path(doc, "/spec/path", &spec.path, "path");
        let acl = self.acl(doc, spec.acl.as_ref(), "/spec/acl");
        let (path, acl) = (path?, acl.ok()?);
        let r = recipes::expand_queue(&owner.name, spec, &path, acl);
        self.expansion(doc, r, "/spec/path")
    }

    fn election(&mut self, doc: usize, owner: &Owner, spec: &ElectionGroupSpec) -> Option<ZPath> {
        let path = self.managed_path(doc, "/spec/path", &spec.path, "path");
        let acl = self.acl(doc, spec.acl.as_ref(), "/spec/acl");
        let (path, acl) = (path?, acl.ok()?);
        let r = recipes::expand_election(&owner.name, spec, &path, acl);
        self.expansion(doc, r, "/spec/path")
    }

    fn duration(&mut self, doc: usize, pointer: &str, text: &str) {
        match humantime::parse_duration(text) {
            Ok(d) if !d.is_zero() => {}
            Ok(_) => self.problem(
                doc,
                Problem::at(pointer, "duration must be greater than zero"),
            ),
            Err(e) => self.problem(
                doc,
                Problem::at(
                    pointer,
                    format!("invalid duration `{}`: {e}", printable(text)),
                )
                .hint("e.g. `500ms`, `5s`, `1m 30s`"),
            ),
        }
    }

    /// Makes sure every node's ancestors are in the state (as implicit parents owned by the
    /// first node, in path order, that needs them), whatever a recipe returned.
    fn complete_ancestors(&mut self) {
        let mut missing: BTreeMap<ZPath, (Owner, usize)> = BTreeMap::new();
        for (path, m) in &self.nodes {
            for a in path.ancestors() {
                if self.nodes.contains_key(&a) || missing.contains_key(&a) {
                    break;
                }
                missing.insert(a, (m.node.owner.clone(), m.origin.doc));
            }
        }
        for (path, (owner, doc)) in missing {
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
    fn expansion(
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

/// `/zookeeper` and the state path are off limits.
fn reserved(p: &ZPath, state: &ZPath) -> Option<(String, String)> {
    let ps = p.as_str();
    if ps == "/zookeeper" || ps.starts_with("/zookeeper/") {
        return Some((
            format!("`{p}` is inside `/zookeeper`, ZooKeeper's own subtree"),
            "choose a path outside `/zookeeper`".into(),
        ));
    }
    if p.is_within(state) {
        return Some((
            format!("`{p}` is inside zkstate's state path `{state}`"),
            "choose another path, or move zkstate's state with `--state-path`".into(),
        ));
    }
    None
}

fn valid_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        inner.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty() && !host.contains(':') && !host.contains(char::is_whitespace)
    };
    host_ok && matches!(port.parse::<u16>(), Ok(p) if p > 0)
}

/// A referenced file that does not exist is a manifest mistake (exit 1); one that exists but
/// cannot be read is trouble (exit 2).
fn ref_class(e: &std::io::Error) -> Class {
    match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory => Class::Invalid,
        _ => Class::Unreadable,
    }
}

fn compile_schema(path: &Path) -> Result<jsonschema::Validator, (Class, String)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| (ref_class(&e), files::io_message("read it", &e)))?;
    let is_yaml = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e == "yaml" || e == "yml");
    let value: Value = if is_yaml {
        let doc = yaml::load_json(&text, None)
            .map_err(|e| (Class::Invalid, format!("invalid YAML: {e}")))?
            .into_iter()
            .next();
        match doc {
            Some(d) if d.errors.is_empty() => d.value,
            Some(d) => {
                let e = &d.errors[0];
                return Err((
                    Class::Invalid,
                    format!("invalid YAML at line {}: {}", e.pos.line, e.message),
                ));
            }
            None => Value::Null,
        }
    } else {
        serde_json::from_str(&text).map_err(|e| (Class::Invalid, format!("invalid JSON: {e}")))?
    };
    jsonschema::validator_for(&value).map_err(|e| {
        (
            Class::Invalid,
            format!("not a usable JSON Schema: {e} (schemas must be self-contained: no references to other files or URLs)"),
        )
    })
}

/// Text safe to quote in a message: control characters escaped.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
