//! Fuzzes the manifest loader: arbitrary bytes as one `-f` file. The loader must return a
//! `LoadedSet` or diagnostics, never panic, never hang, never allocate without bound.
//!
//! Run (from the repository root): `mkdir -p fuzz/corpus/manifest_load && cargo +nightly fuzz run
//! manifest_load fuzz/corpus/manifest_load fuzz/seeds -- -max_total_time=600 -rss_limit_mb=2048
//! -timeout=10` (README, "Proof under faults").
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use zkstate::manifest::{self, LoadOptions};

fn no_env(name: &str) -> Option<String> {
    // One fixed variable so that `${VAR}` and `env:` expansion are exercised too.
    (name == "FUZZ").then(|| "value".to_owned())
}

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let file = dir.path().join("m.yaml");
    if std::fs::write(&file, data).is_err() {
        return;
    }
    // A `file:` / `schema:` target next to the manifest, so relative references can resolve.
    let _ = std::fs::write(dir.path().join("data.json"), b"{\"a\": 1}");
    let paths: Vec<PathBuf> = vec![file];
    let _ = manifest::load(&paths, &no_env, &LoadOptions::default());
});
