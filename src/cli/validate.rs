//! `zkstate validate`: parse, expand and check a manifest set; no ZooKeeper.
//!
//! Diagnostics go to stderr, sorted by file, line and column; a valid set prints one summary
//! line on stdout (`N documents, M znodes: valid`; nothing with `-q`). Exit 0 valid, 1 invalid,
//! 2 when a file or directory cannot be read (SPEC §2).
use std::io::Write;

use super::{Exit, FilesArgs, GlobalArgs};
use crate::manifest::{self, Class, LoadOptions};
use crate::model::ZPath;

pub fn run(args: &FilesArgs, global: &GlobalArgs) -> Exit {
    let state_path = match ZPath::parse(&global.state_path) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("zkstate: invalid --state-path `{}`: {e}", global.state_path);
            return Exit::Trouble;
        }
    };
    let options = LoadOptions { state_path };
    match manifest::load(&args.files, &manifest::process_env, &options) {
        Ok(set) => {
            if !global.quiet {
                let docs = set.documents.len();
                let nodes = set.state.nodes.len();
                let mut out = std::io::stdout().lock();
                // A closed stdout is no reason to call a valid set invalid.
                let _ = writeln!(
                    out,
                    "{docs} document{}, {nodes} znode{}: valid",
                    plural(docs),
                    plural(nodes)
                );
            }
            Exit::Ok
        }
        Err(diags) => {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "{diags}");
            let n = diags.len();
            let _ = writeln!(err, "{n} error{}: manifest set is not valid", plural(n));
            match diags.class() {
                Class::Invalid => Exit::Finding,
                Class::Unreadable => Exit::Trouble,
            }
        }
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
