//! `zkstate validate`: parse, expand and check a manifest set; no ZooKeeper.
//!
//! Diagnostics go to stderr, sorted by file, line and column, followed by a count; a valid set
//! prints one summary line on stdout (`N documents, M znodes: valid`; nothing with `-q`).
//! Exit 0 valid, 1 invalid, 2 when a file or directory cannot be read (docs/contract.md §2).
//!
//! [`load_reporting`] is the same load for every command that reads manifests.
use std::io::Write;
use std::path::PathBuf;

use super::{Exit, FilesArgs, GlobalArgs};
use crate::manifest::{self, Class, LoadOptions, LoadedSet};
use crate::model::ZPath;

pub fn run(args: &FilesArgs, global: &GlobalArgs) -> Exit {
    let set = match load_reporting(&args.files, global) {
        Ok(set) => set,
        Err(exit) => return exit,
    };
    if !global.quiet {
        let docs = set.documents.len();
        let nodes = set.state.nodes.len();
        // A closed stdout is no reason to call a valid set invalid.
        let _ = writeln!(
            std::io::stdout().lock(),
            "{docs} document{}, {nodes} znode{}: valid",
            plural(docs),
            plural(nodes)
        );
    }
    // The process exits next: freeing a large desired state node by node would only add time.
    std::mem::forget(set);
    Exit::Ok
}

/// Loads a manifest set from `-f` paths with `--state-path` and the process environment. On
/// failure prints every diagnostic and a count to stderr and returns the exit code: 1 when the
/// manifests are invalid, 2 when a file or directory cannot be read or `--state-path` is invalid.
pub fn load_reporting(files: &[PathBuf], global: &GlobalArgs) -> Result<LoadedSet, Exit> {
    let state_path = match ZPath::parse(global.state_path()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: invalid --state-path {:?}: {e}", global.state_path());
            return Err(Exit::Trouble);
        }
    };
    let options = LoadOptions {
        state_path,
        ..LoadOptions::default()
    };
    manifest::load(files, &manifest::process_env, &options).map_err(|diags| {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "{diags}");
        let n = diags.len();
        let _ = writeln!(err, "{n} error{}: manifest set is not valid", plural(n));
        match diags.class() {
            Class::Invalid => Exit::Finding,
            Class::Unreadable => Exit::Trouble,
        }
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
