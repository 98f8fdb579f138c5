//! Names the git commit this build comes from, for `zkstate --version` (`zkstate X.Y.Z (COMMIT)`,
//! docs/contract.md §3 "Upgrades") and the applied record: sets `ZKSTATE_COMMIT` for the crate, which
//! `zkstate::COMMIT` reads.
//!
//! The commit is `git rev-parse --short=12 HEAD` of the checkout this crate is the top of, or
//! `unknown` when there is none (a source tarball, or the source unpacked inside some other
//! repository: `git archive` output under `target/`, for instance). `ZKSTATE_BUILD_COMMIT`, when
//! set, wins: for packagers who build from a tarball but know the commit. No `-dirty` suffix:
//! keeping it true would mean re-running this script on every edit of every file.
//!
//! Cargo re-runs this script when `HEAD` moves (a commit, a checkout), so the name is never stale.
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=ZKSTATE_BUILD_COMMIT");
    let commit = match std::env::var("ZKSTATE_BUILD_COMMIT") {
        Ok(commit) if !commit.trim().is_empty() => {
            let commit = commit.trim().to_owned();
            assert!(
                !commit.chars().any(char::is_control),
                "ZKSTATE_BUILD_COMMIT must be one line"
            );
            commit
        }
        _ => {
            let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
            git_commit(&dir).unwrap_or_else(|| "unknown".to_owned())
        }
    };
    println!("cargo:rustc-env=ZKSTATE_COMMIT={commit}");
}

/// The short commit of the checkout whose top is `dir`, after asking cargo to watch what moves
/// when it changes.
fn git_commit(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if std::fs::canonicalize(top).ok()? != std::fs::canonicalize(dir).ok()? {
        return None;
    }
    // HEAD lives in the worktree's git dir, branches in the common one (they differ in a linked
    // worktree). A commit rewrites the branch's loose ref (or creates it, when the branch was only
    // in packed-refs: then its directory changes); a checkout rewrites HEAD.
    let git_dir = PathBuf::from(git(dir, &["rev-parse", "--absolute-git-dir"])?);
    let common = git(dir, &["rev-parse", "--git-common-dir"]).map(PathBuf::from)?;
    let common = if common.is_absolute() {
        common
    } else {
        dir.join(common)
    };
    watch(&git_dir.join("HEAD"));
    watch(&common.join("packed-refs"));
    if let Some(branch) = git(dir, &["symbolic-ref", "-q", "HEAD"]) {
        let refs = common.join("refs");
        let mut path = common.join(branch);
        while !path.exists() && path.starts_with(&refs) && path != refs {
            path.pop();
        }
        if path.starts_with(&refs) {
            watch(&path);
        }
    }
    let commit = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    commit
        .bytes()
        .all(|b| b.is_ascii_hexdigit())
        .then_some(commit)
}

/// Only paths that exist: cargo re-runs a build script on every build when one it watches is
/// missing.
fn watch(path: &Path) {
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// `git -C dir ARGS` with its trimmed output, or `None` when git is missing or fails. A hook's
/// `GIT_DIR`/`GIT_WORK_TREE` must not point it at another repository; `safe.directory` lets a
/// build by another user than the checkout's owner still read the commit.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-c")
        .arg("safe.directory=*")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_COMMON_DIR")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}
