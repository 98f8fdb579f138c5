//! `zkstate --version` (docs/contract.md §3 "Upgrades"): `zkstate X.Y.Z (COMMIT)` from the real binary, and
//! `build.rs`'s choice of COMMIT, run as a program against throwaway directories: a git checkout,
//! a directory outside any checkout (a source tarball), a tarball unpacked inside another
//! checkout, and `ZKSTATE_BUILD_COMMIT`.
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=zkstate tests",
            "-c",
            "user.email=tests@invalid",
        ])
        .arg("-C")
        .arg(dir)
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `X.Y.Z (COMMIT)` split into its parts, or a panic naming what is wrong.
fn parse(version: &str) -> (&str, &str) {
    let (number, rest) = version
        .split_once(" (")
        .unwrap_or_else(|| panic!("no ` (COMMIT)` in {version:?}"));
    let commit = rest
        .strip_suffix(')')
        .unwrap_or_else(|| panic!("no closing `)` in {version:?}"));
    let parts: Vec<&str> = number.split('.').collect();
    assert!(
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "{number:?} is not X.Y.Z"
    );
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
        "{commit:?} is neither a 12-digit short commit nor `unknown`"
    );
    (number, commit)
}

#[test]
fn version_flags_print_name_version_and_commit() {
    for flag in ["--version", "-V"] {
        let out = Command::new(env!("CARGO_BIN_EXE_zkstate"))
            .arg(flag)
            .output()
            .unwrap();
        assert!(out.status.success(), "{flag}: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let line = stdout
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("{flag}: {stdout:?} is not one line"));
        assert!(!line.contains('\n'), "{flag}: {stdout:?} is not one line");
        let version = line
            .strip_prefix("zkstate ")
            .unwrap_or_else(|| panic!("{flag}: {line:?} does not start with `zkstate `"));
        assert_eq!(version, zkstate::VERSION, "{flag}");
        let (number, commit) = parse(version);
        assert_eq!(number, env!("CARGO_PKG_VERSION"));
        assert_eq!(commit, zkstate::COMMIT);
    }
}

/// Built from this repository's checkout (as CI and developers do), the commit is one of its
/// commits, at or before HEAD (someone may have committed since the build).
#[test]
fn commit_names_this_checkout() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !repo.join(".git").exists() || Command::new("git").arg("--version").output().is_err() {
        eprintln!("SKIPPED: not built from a git checkout");
        return;
    }
    assert_ne!(zkstate::COMMIT, "unknown", "built in a git checkout");
    git(
        repo,
        &["merge-base", "--is-ancestor", zkstate::COMMIT, "HEAD"],
    );
}

/// `build.rs` compiled on its own and run as cargo runs it, with `CARGO_MANIFEST_DIR` pointing
/// at throwaway directories; returns its `ZKSTATE_COMMIT` and the paths it asks cargo to watch.
struct BuildScript {
    exe: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl BuildScript {
    fn compile() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("build-script");
        let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let out = Command::new(rustc)
            .args(["--edition", "2024", "-o"])
            .arg(&exe)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("build.rs"))
            .output()
            .expect("run rustc");
        assert!(
            out.status.success(),
            "rustc build.rs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { exe, _dir: dir }
    }

    fn run(&self, manifest_dir: &Path, build_commit: Option<&str>) -> (String, Vec<String>) {
        let mut cmd = Command::new(&self.exe);
        cmd.env("CARGO_MANIFEST_DIR", manifest_dir)
            .env_remove("ZKSTATE_BUILD_COMMIT")
            .env_remove("GIT_DIR");
        if let Some(commit) = build_commit {
            cmd.env("ZKSTATE_BUILD_COMMIT", commit);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "build.rs: {out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let commit = stdout
            .lines()
            .find_map(|l| l.strip_prefix("cargo:rustc-env=ZKSTATE_COMMIT="))
            .unwrap_or_else(|| panic!("no ZKSTATE_COMMIT in {stdout}"))
            .to_owned();
        let watched = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("cargo:rerun-if-changed="))
            .map(str::to_owned)
            .collect();
        (commit, watched)
    }
}

#[test]
fn build_script_names_the_commit_or_unknown() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("SKIPPED: git is not installed");
        return;
    }
    let script = BuildScript::compile();
    let tmp = tempfile::tempdir().unwrap();

    // A source tarball: no git checkout at all.
    let tarball = tmp.path().join("tarball");
    std::fs::create_dir(&tarball).unwrap();
    assert_eq!(script.run(&tarball, None).0, "unknown");
    assert_eq!(script.run(&tarball, Some("0123456789ab")).0, "0123456789ab");

    // A checkout: its HEAD, and cargo watches HEAD and the branch.
    let checkout = tmp.path().join("checkout");
    std::fs::create_dir(&checkout).unwrap();
    git(&checkout, &["init", "-q", "-b", "main"]);
    std::fs::write(checkout.join("file"), "1").unwrap();
    git(&checkout, &["add", "file"]);
    git(&checkout, &["commit", "-q", "-m", "one"]);
    let (commit, watched) = script.run(&checkout, None);
    assert_eq!(commit, git(&checkout, &["rev-parse", "--short=12", "HEAD"]));
    for path in [".git/HEAD", ".git/refs/heads/main"] {
        assert!(
            watched.iter().any(|w| w.ends_with(path)),
            "{path} not watched: {watched:?}"
        );
    }
    // A new commit is a new name.
    std::fs::write(checkout.join("file"), "2").unwrap();
    git(&checkout, &["commit", "-q", "-a", "-m", "two"]);
    let (second, _) = script.run(&checkout, None);
    assert_ne!(second, commit);
    assert_eq!(second, git(&checkout, &["rev-parse", "--short=12", "HEAD"]));

    // A tarball unpacked inside another checkout is not that checkout's commit.
    let nested = checkout.join("vendor/zkstate");
    std::fs::create_dir_all(&nested).unwrap();
    assert_eq!(script.run(&nested, None).0, "unknown");
}
