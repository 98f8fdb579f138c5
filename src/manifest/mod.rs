//! Manifests: YAML documents → typed, validated [`crate::model::DesiredState`].
//!
//! Owns the document shapes ([`spec`]) and the generated JSON Schema ([`schema`]), the loader
//! ([`load`]: files, multi-document YAML, `${VAR}` expansion, `file:line:column` positions),
//! validation that reports every problem at once ([`Diagnostics`]), the rendering of node data
//! into bytes ([`render`]) and the expansion of ConfigTree documents into znodes.
//!
//! The loader is the only part that touches the file system (manifests, and the `file:` and
//! `schema:` files they reference); the environment arrives as a lookup function. Recipe kinds
//! (Service, Queue, ElectionGroup) are expanded by [`crate::recipes`], never here. Nothing in
//! this module talks to ZooKeeper.
//!
//! ```no_run
//! use zkstate::manifest::{self, LoadOptions};
//! let paths = vec![std::path::PathBuf::from("examples/")];
//! match manifest::load(&paths, &manifest::process_env, &LoadOptions::default()) {
//!     Ok(set) => println!("{} znodes, digest {}", set.state.nodes.len(), set.digest),
//!     Err(diags) => eprint!("{diags}"),
//! }
//! ```
mod acl;
pub mod diag;
pub mod env;
mod files;
mod load;
mod locate;
pub mod render;
pub mod schema;
pub mod spec;
mod structure;
#[cfg(test)]
mod tests;
mod yaml;

pub use diag::{Class, Diagnostic, Diagnostics, Pos};
pub use load::{DocumentInfo, DocumentSpec, LoadOptions, LoadedSet, load};
pub use schema::{json_schema, schema_text};
pub use yaml::EnvLookup;

/// Looks a variable up in the process environment (`None` when unset or not UTF-8).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
