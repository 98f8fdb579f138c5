//! The compatibility baseline as a real binary, for the mixed-version tests
//! (`tests/upgrade.rs`): the release of 2026-12-05 ([`BASELINE`], docs/design.md "Format
//! history"), whose records carry no format version. Its source is taken from this repository's
//! history with `git archive` (no worktree is registered) and built once into
//! `CARGO_TARGET_TMPDIR/compat-<commit>/` with its own lock file; later runs reuse the binary.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The commit of the 2026-12-05 release: records of format 0.
pub const BASELINE: &str = "361476b";

/// The baseline's `zkstate` binary, built on first use.
///
/// # Panics
/// When the commit is not in this clone's history (a shallow clone) or does not build.
pub fn baseline_zkstate() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(build).clone()
}

fn build() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("compat-{BASELINE}"));
    let bin = root.join("target/debug/zkstate");
    let stamp = root.join("built-from");
    if bin.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == BASELINE) {
        return bin;
    }
    let src = root.join("src");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).expect("create the baseline source dir");
    let mut archive = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["archive", "--format=tar", BASELINE])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run git archive");
    let untar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(&src)
        .stdin(archive.stdout.take().expect("git archive's output"))
        .status()
        .expect("run tar");
    let archived = archive.wait().expect("wait for git archive");
    assert!(
        untar.success() && archived.success(),
        "cannot extract {BASELINE} from this repository's history (a shallow clone? `git fetch --unshallow`)"
    );
    let started = std::time::Instant::now();
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--locked", "--bin", "zkstate", "--target-dir"])
        .arg(root.join("target"))
        .current_dir(&src)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("run cargo build for the baseline");
    assert!(status.success(), "the baseline {BASELINE} did not build");
    eprintln!(
        "built the baseline zkstate {BASELINE} in {:.0?}",
        started.elapsed()
    );
    std::fs::write(&stamp, BASELINE).expect("write the build stamp");
    bin
}
