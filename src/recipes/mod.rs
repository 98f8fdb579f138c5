//! Recipes: pure expansion of `Service`, `Queue` and `ElectionGroup` documents into znodes, and
//! the parsers that read those znodes back for `status`. kazoo 2.11 and Apache Curator 5.x node
//! formats (SPEC §6) live here and only here. No I/O, no async.
use crate::manifest::spec::{ElectionGroupSpec, QueueSpec, ServiceSpec};
use crate::model::{AclEntry, DesiredNode, ManagedRoot, SeedItem, ZPath};

/// What one document expands into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// Declared nodes, including the recipe's own parents (with `DataPolicy::Parent`).
    pub nodes: Vec<DesiredNode>,
    /// Sequential children created once together with their parent (queue seeds).
    pub seeds: Vec<SeedItem>,
    /// The subtree this document manages.
    pub root: ManagedRoot,
}

/// A problem in a recipe document, located by a JSON pointer relative to the document's `spec`
/// (e.g. `/instances/0/id`), so the loader can name `file:line:column`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecipeError {
    pub pointer: String,
    pub message: String,
}

/// Expands a `Service` document. `base_path` is the validated `spec.basePath`; `acl` the
/// validated `spec.acl`.
pub fn expand_service(
    name: &str,
    spec: &ServiceSpec,
    base_path: &ZPath,
    acl: Option<Vec<AclEntry>>,
) -> Result<Expansion, Vec<RecipeError>> {
    let _ = (name, spec, base_path, acl);
    Err(vec![RecipeError {
        pointer: String::new(),
        message: "Service is not implemented yet".into(),
    }])
}

/// Expands a `Queue` document. `path` is the validated `spec.path`.
pub fn expand_queue(
    name: &str,
    spec: &QueueSpec,
    path: &ZPath,
    acl: Option<Vec<AclEntry>>,
) -> Result<Expansion, Vec<RecipeError>> {
    let _ = (name, spec, path, acl);
    Err(vec![RecipeError {
        pointer: String::new(),
        message: "Queue is not implemented yet".into(),
    }])
}

/// Expands an `ElectionGroup` document. `path` is the validated `spec.path`.
pub fn expand_election(
    name: &str,
    spec: &ElectionGroupSpec,
    path: &ZPath,
    acl: Option<Vec<AclEntry>>,
) -> Result<Expansion, Vec<RecipeError>> {
    let _ = (name, spec, path, acl);
    Err(vec![RecipeError {
        pointer: String::new(),
        message: "ElectionGroup is not implemented yet".into(),
    }])
}
