//! The manifest set the agent enforces, and the file events that reload it.
//!
//! A reload that fails (a half-written file, a YAML error, an unset variable, an empty set)
//! never replaces the last good set: it stays in force, and the errors are kept for logs,
//! `/status` and `zkstate_manifest_errors` until a good set is on disk again.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use tokio::sync::mpsc::UnboundedSender;

use super::Reason;
use crate::manifest::{self, LoadOptions, LoadedSet};

/// The last good manifest set and the errors of the newest one on disk.
pub struct Manifests {
    files: Vec<PathBuf>,
    options: LoadOptions,
    pub current: Option<Arc<LoadedSet>>,
    pub errors: Vec<String>,
}

impl Manifests {
    pub fn new(files: Vec<PathBuf>, options: LoadOptions) -> Self {
        Manifests {
            files,
            options,
            current: None,
            errors: Vec::new(),
        }
    }

    pub fn set_files(&mut self, files: Vec<PathBuf>) {
        self.files = files;
    }

    /// Reads the files again. Returns true when a valid set with a new digest took effect.
    pub async fn reload(&mut self) -> bool {
        let files = self.files.clone();
        let options = self.options.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            manifest::load(&files, &manifest::process_env, &options)
        })
        .await;
        match loaded {
            Ok(Ok(set)) if set.documents.is_empty() => {
                self.errors = vec![
                    "the manifest set has no documents; keeping the last good set (an empty set never means \"delete everything\")".into(),
                ];
            }
            Ok(Ok(set)) => {
                self.errors.clear();
                let changed = self.current.as_ref().is_none_or(|c| c.digest != set.digest);
                if changed {
                    tracing::info!(digest = %set.digest, documents = set.documents.len(), "manifest set loaded");
                }
                self.current = Some(Arc::new(set));
                return changed;
            }
            Ok(Err(diags)) => {
                self.errors = diags
                    .to_string()
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .collect();
            }
            Err(e) => self.errors = vec![format!("failed to load the manifests: {e}")],
        }
        for e in &self.errors {
            tracing::error!(error = %e, "invalid manifest set on disk; the last good set stays in force");
        }
        false
    }
}

/// Watches the manifest paths (files: their directory, so editors that replace a file by
/// renaming are seen; directories: recursively) and sends [`Reason::Files`] after `debounce`
/// of quiet.
pub fn watch_files(
    files: &[PathBuf],
    debounce: Duration,
    triggers: UnboundedSender<Reason>,
) -> Result<Debouncer<RecommendedWatcher>, String> {
    let targets: Vec<(PathBuf, bool)> = files
        .iter()
        .map(|f| {
            let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
            let is_dir = abs.is_dir();
            (abs, is_dir)
        })
        .collect();
    let matchers = targets.clone();
    let mut debouncer = new_debouncer(debounce, move |res: DebounceEventResult| match res {
        Ok(events) => {
            if events
                .iter()
                .any(|e| matchers.iter().any(|(t, dir)| relevant(&e.path, t, *dir)))
            {
                let _ = triggers.send(Reason::Files);
            }
        }
        Err(e) => tracing::warn!(error = %e, "file watch error"),
    })
    .map_err(|e| format!("failed to watch the manifest files: {e}"))?;
    for (path, is_dir) in &targets {
        let (watch, mode) = if *is_dir {
            (path.clone(), RecursiveMode::Recursive)
        } else {
            (
                path.parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| PathBuf::from("/")),
                RecursiveMode::NonRecursive,
            )
        };
        debouncer
            .watcher()
            .watch(&watch, mode)
            .map_err(|e| format!("failed to watch {}: {e}", watch.display()))?;
    }
    Ok(debouncer)
}

fn relevant(event: &Path, target: &Path, is_dir: bool) -> bool {
    if is_dir {
        event.starts_with(target)
    } else {
        event == target
    }
}
