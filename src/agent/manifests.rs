//! The manifest set the agent enforces, and the file events that reload it.
//!
//! A reload that fails (a half-written file, a YAML error, an unset variable, an empty set)
//! never replaces the last good set: it stays in force, and the errors are kept for logs,
//! `/status` and `zkstate_manifest_errors` until a good set is on disk again.
//!
//! With `--git` the set comes from a Git commit instead ([`super::git`]): the same rule holds
//! for an invalid, unverified or rewritten commit.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use super::Reason;
use super::git::GitSource;
use crate::manifest::{self, LoadOptions, LoadedSet};

/// The last good manifest set and the errors of the newest one on disk.
pub struct ManifestSource {
    files: Vec<PathBuf>,
    options: LoadOptions,
    pub current: Option<Arc<LoadedSet>>,
    pub errors: Vec<String>,
    /// `--git`: the set comes from the commits of this source, not from `files`.
    pub git: Option<GitSource>,
}

impl ManifestSource {
    pub fn new(files: Vec<PathBuf>, options: LoadOptions) -> Self {
        ManifestSource {
            files,
            options,
            current: None,
            errors: Vec::new(),
            git: None,
        }
    }

    /// A source following Git (docs/contract.md §4a) instead of files.
    pub fn from_git(git: GitSource, options: LoadOptions) -> Self {
        ManifestSource {
            git: Some(git),
            ..ManifestSource::new(Vec::new(), options)
        }
    }

    /// Git: fetches when `fetch` (or when no commit is in force yet) and takes the fetched
    /// commit if it is valid, verified and descends from `base` (the applied record's commit).
    /// Returns true when a new set took effect. Without Git: [`Self::reload`].
    /// `follow_record` (a standby): take the applied record's commit rather than REF's tip.
    pub async fn refresh(
        &mut self,
        fetch: bool,
        base: Option<String>,
        follow_record: bool,
    ) -> bool {
        let Some(git) = self.git.as_mut() else {
            return self.reload().await;
        };
        let fetch = fetch || git.applied.is_none();
        match git.sync(fetch, base, follow_record, &mut self.errors).await {
            Some(set) => {
                tracing::info!(digest = %set.digest, documents = set.documents.len(), "manifest set loaded");
                self.current = Some(Arc::new(set));
                true
            }
            None => false,
        }
    }

    /// The revision an apply of the set in force records (`<ref>@sha1:<id>` with Git).
    pub fn revision(&self) -> Option<String> {
        self.git.as_ref().and_then(GitSource::revision)
    }

    /// Why the leader must not apply the set in force (its commit is no longer verified).
    pub fn hold(&self) -> Option<String> {
        self.git.as_ref().and_then(|g| g.revoked.clone())
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

/// A running watch of the manifest paths; dropping it stops the watch and its debounce task.
pub struct FileWatch {
    _watcher: RecommendedWatcher,
    debounce: tokio::task::JoinHandle<()>,
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        self.debounce.abort();
    }
}

/// Watches the manifest paths (files: their directory, so editors that replace a file by
/// renaming are seen; directories: recursively) and sends one [`Reason::Files`] after
/// `debounce` of quiet following a change. Reads (the agent's own included) are not changes:
/// only creates, writes, renames and removes count, so reloading never triggers itself.
pub fn watch_files(
    files: &[PathBuf],
    debounce: Duration,
    triggers: UnboundedSender<Reason>,
) -> Result<FileWatch, String> {
    let targets: Vec<(PathBuf, bool)> = files
        .iter()
        .map(|f| {
            let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
            let is_dir = abs.is_dir();
            (abs, is_dir)
        })
        .collect();
    let matchers = targets.clone();
    let (raw_tx, mut raw_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<Event>| match res {
        Ok(event) => {
            let change = matches!(
                event.kind,
                EventKind::Create(_)
                    | EventKind::Modify(
                        ModifyKind::Data(_) | ModifyKind::Name(_) | ModifyKind::Any
                    )
                    | EventKind::Remove(_)
                    | EventKind::Access(AccessKind::Close(AccessMode::Write))
            );
            if change
                && event
                    .paths
                    .iter()
                    .any(|p| matchers.iter().any(|(t, dir)| relevant(p, t, *dir)))
            {
                let _ = raw_tx.send(());
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
        watcher
            .watch(&watch, mode)
            .map_err(|e| format!("failed to watch {}: {e}", watch.display()))?;
    }
    let debounce = tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            // Wait for `debounce` without further events: a save is often several writes.
            loop {
                match tokio::time::timeout(debounce, raw_rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if triggers.send(Reason::Files).is_err() {
                return;
            }
        }
    });
    Ok(FileWatch {
        _watcher: watcher,
        debounce,
    })
}

fn relevant(event: &Path, target: &Path, is_dir: bool) -> bool {
    if is_dir {
        event.starts_with(target)
    } else {
        event == target
    }
}
