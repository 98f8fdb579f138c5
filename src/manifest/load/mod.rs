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
//!
//! # Files
//! Here: the public types, [`load`] (files, digest, worker threads, file order) and the loader's
//! private types. Each child adds one concern, as functions or `impl Expander` blocks:
//! `prepare` (stages 2-3 on the workers), `position` (pointer → `file:line:column`),
//! `document` (per file and per document: dispatch, names, managed paths, ACLs), `tree`
//! (ConfigTree expansion and `ignore` globs), `data` (data sources with file reads, sizes),
//! `schema_check` (`schema:` files), `recipe_docs` (Service / Queue / ElectionGroup checks,
//! durations) and `merge` (the merge rule, implicit parents, recipe expansions).
use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap};
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
use super::locate::{self, Locator, Target, ptr, ptr_escape};
use super::render;
use super::spec::{
    ConfigTreeSpec, ElectionGroupSpec, KindName, ModeSpec, NodeSpec, NodeValue, PolicySpec,
    PruneSpec, PruneWord, QueueSpec, ServiceSpec,
};
use super::structure::{self, Problem};
use super::yaml::{self, ConvertError, EnvLookup, JsonDoc};
use crate::model::{
    AclEntry, DataPolicy, DesiredNode, DesiredState, IgnoreError, IgnoreMatcher, Kind,
    MAX_NODE_DATA, ManagedRoot, Mode, NodeMode, Owner, PathError, Prune, SeedItem, ZPath,
};
use crate::recipes::{self, Expansion, RecipeError};

mod data;
mod document;
mod merge;
mod position;
mod prepare;
mod recipe_docs;
mod schema_check;
mod tree;

use prepare::prepare;

/// Settings of a load that do not come from the manifests.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// zkstate's own subtree (`--state-path`): no manifest may declare anything in it.
    pub state_path: ZPath,
    /// `file:` and `schema:` references must resolve inside the manifest directory, absolute
    /// ones too: a set from a Git commit never reads the host's files (docs/contract.md §4a).
    pub confine_references: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            state_path: ZPath::parse("/zkstate").unwrap_or_else(|_| ZPath::root()),
            confine_references: false,
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
        .filter_map(|(f, root)| files::read(f, root, &mut diags))
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
        recipe_fields: HashMap::new(),
    };

    // Stages 2 and 3 (YAML → JSON → schema → typed spec) run on worker threads when there are
    // several files and cores ([`prepare_in_parallel`]); stages 4 and 5 always run here.
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(sources.len())
        .max(1);
    if workers == 1 {
        // One file (or one core): no thread. Its JSON and typed spec are then allocated and
        // freed by this thread, whose allocator reuses that memory for the desired state.
        for (i, source) in sources.iter().enumerate() {
            expander.file(i, prepare(source, env));
        }
    } else {
        prepare_in_parallel(&sources, env, workers, &mut expander);
    }
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
            nodes: packed(nodes),
            seeds,
            roots,
            recipes,
        },
        documents,
        files: sources.iter().map(|s| s.path.clone()).collect(),
        digest,
    })
}

/// Stages 2 and 3 on `workers` threads, one file at a time; stages 4 and 5 here, strictly in
/// file order, as each file becomes ready. So the result does not depend on the threads, and a
/// file's JSON is dropped once it is expanded.
fn prepare_in_parallel(
    sources: &[Source],
    env: &EnvLookup<'_>,
    workers: usize,
    expander: &mut Expander<'_, '_, '_>,
) {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, Prepared)>();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
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
}

/// The same map with full nodes. The merged state is filled in file order, which leaves its
/// nodes about two thirds full; it is kept for the whole command (or, in the agent, until the
/// next reload). `append` into a non-empty map bulk-builds from both maps' sorted iterators,
/// freeing the old nodes as it goes, so this needs no copy of the whole map on the side.
fn packed<K: Ord, V>(mut map: BTreeMap<K, V>) -> BTreeMap<K, V> {
    let Some((k, v)) = map.pop_first() else {
        return map;
    };
    let mut out = BTreeMap::from([(k, v)]);
    out.append(&mut map);
    out
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

/// Nodes per chunk of a ConfigTree's `nodes` between the JSON and the desired state: one vector
/// of 100k was 4.8 MB held until the last node had moved into the map, at the load's peak.
const NODE_CHUNK: usize = 4096;

enum Typed {
    /// The name, the spec without its `nodes`, and the nodes in file order, in chunks of at
    /// most [`NODE_CHUNK`] (each chunk is freed as soon as its nodes are in the state).
    ConfigTree(String, ConfigTreeSpec, Vec<Vec<(String, NodeValue)>>),
    Service(String, ServiceSpec),
    Queue(String, QueueSpec),
    ElectionGroup(String, ElectionGroupSpec),
}

struct TypedDoc {
    doc: usize,
    typed: Typed,
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

/// A ConfigTree node being checked. Its JSON pointer and znode text are only needed for
/// diagnostics, so they are built on first use.
struct NodeRef<'a> {
    key: &'a str,
    path: Option<&'a ZPath>,
    pointer: OnceCell<String>,
}

/// A compiled `schema:` file, or why it cannot be used (reported at each use).
type SchemaEntry = Rc<Result<jsonschema::Validator, (Class, String)>>;

struct Expander<'c, 'a, 'i> {
    ctx: &'c Ctx<'a, 'i>,
    diags: &'c mut Diagnostics,
    /// The merged state. Where each node was declared is not kept (see `declared_at`).
    nodes: BTreeMap<ZPath, DesiredNode>,
    seeds: Vec<SeedItem>,
    roots: Vec<ManagedRoot>,
    recipes: BTreeMap<Owner, crate::model::RecipeInfo>,
    documents: Vec<DocumentInfo>,
    /// First document of each (kind, name).
    names: HashMap<(Kind, String), usize>,
    schemas: HashMap<PathBuf, SchemaEntry>,
    /// Each ConfigTree document's root, for [`OriginAt::NodeKey`].
    tree_roots: HashMap<usize, ZPath>,
    /// Each recipe document's path field (`/spec/path`, ...), where its nodes are reported.
    recipe_fields: HashMap<usize, &'static str>,
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
