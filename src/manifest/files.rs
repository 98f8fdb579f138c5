//! Finding and reading the files of a manifest set: the only file-system access of [`super`]
//! besides the `file:` and `schema:` references a manifest makes.
//!
//! `-f PATH` names a file (read whatever its extension) or a directory, searched recursively for
//! `*.yaml` / `*.yml` in sorted order; hidden entries (`.git`, `.cache.yaml`) are skipped. A file
//! named twice is read once, at its first place.
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::diag::{Diagnostic, Diagnostics, Pos};

/// One manifest file's contents.
#[derive(Debug)]
pub struct Source {
    /// The path as the user named it (joined with directory entries): what diagnostics print.
    pub path: PathBuf,
    /// The directory `file:` and `schema:` references are relative to.
    pub dir: PathBuf,
    /// The `-f` directory this file was found in (for a file named directly: its directory),
    /// canonical: relative `file:` / `schema:` references may not resolve outside it.
    pub root: PathBuf,
    /// The file's bytes, validated as UTF-8.
    pub text: String,
}

/// Largest manifest file read (a 100k-node tree is ~10 MB of YAML).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Most documents in one manifest file.
pub const MAX_DOCUMENTS: usize = 10_000;

/// Expands `-f` arguments into the ordered list of manifest files, each with the `-f` root it
/// was found under.
pub fn collect(paths: &[PathBuf], diags: &mut Diagnostics) -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for p in paths {
        let meta = match fs::metadata(p) {
            Ok(m) => m,
            Err(e) => {
                diags.push(Diagnostic::unreadable(p, io_message("read", &e)));
                continue;
            }
        };
        if meta.is_dir() {
            let before = out.len();
            let mut visited = HashSet::new();
            let mut found = Vec::new();
            walk(p, &mut found, &mut seen, &mut visited, diags);
            out.extend(found.into_iter().map(|f| (f, p.clone())));
            if out.len() == before {
                diags.push(
                    Diagnostic::invalid(p, Pos::NONE, "no manifests found in directory")
                        .hint("directories are searched recursively for *.yaml and *.yml files"),
                );
            }
        } else if seen.insert(canonical(p)) {
            let root = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            out.push((p.clone(), root));
        }
    }
    out
}

fn walk(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
    visited: &mut HashSet<PathBuf>,
    diags: &mut Diagnostics,
) {
    // Symlinked directories may form a loop; enter each real directory once.
    if !visited.insert(canonical(dir)) {
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(rd) => rd.collect::<Result<Vec<_>, _>>(),
        Err(e) => Err(e),
    };
    let mut entries = match entries {
        Ok(v) => v,
        Err(e) => {
            diags.push(Diagnostic::unreadable(
                dir,
                io_message("read directory", &e),
            ));
            return;
        }
    };
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = dir.join(&name);
        let meta = match fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                diags.push(Diagnostic::unreadable(&path, io_message("read", &e)));
                continue;
            }
        };
        if meta.is_dir() {
            walk(&path, out, seen, visited, diags);
        } else if is_manifest_name(&path) && seen.insert(canonical(&path)) {
            out.push(path);
        }
    }
}

fn is_manifest_name(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

pub fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

/// Reads one manifest file. Not UTF-8 is an invalid manifest (at the first bad byte), any I/O
/// error an unreadable one.
/// Files over [`MAX_FILE_BYTES`] and with more than [`MAX_DOCUMENTS`] documents are refused
/// before parsing, so that the time and memory of a load stay bounded.
pub fn read(path: &Path, root: &Path, diags: &mut Diagnostics) -> Option<Source> {
    if let Ok(meta) = fs::metadata(path)
        && meta.len() > MAX_FILE_BYTES
    {
        diags.push(
            Diagnostic::invalid(
                path,
                Pos::NONE,
                format!(
                    "file is {} bytes, over the {MAX_FILE_BYTES}-byte limit of a manifest file",
                    meta.len()
                ),
            )
            .hint("split the manifests over several files; a znode holds at most 1 MiB anyway"),
        );
        return None;
    }
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            diags.push(Diagnostic::unreadable(path, io_message("read", &e)));
            return None;
        }
    };
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let (e, bytes) = (e.utf8_error(), e.into_bytes());
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|b| **b == b'\n').count() + 1;
            let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
            diags.push(
                Diagnostic::invalid(path, Pos::new(line, column), "file is not valid UTF-8")
                    .hint("save the manifest as UTF-8"),
            );
            return None;
        }
    };
    if let Some(line) = too_many_documents(&text) {
        diags.push(
            Diagnostic::invalid(
                path,
                Pos::new(line, 1),
                format!("more than {MAX_DOCUMENTS} documents in one file"),
            )
            .hint("split the manifests over several files"),
        );
        return None;
    }
    let dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    Some(Source {
        path: path.to_path_buf(),
        dir,
        root: canonical(root),
        text,
    })
}

/// The line of the document marker that starts document number `MAX_DOCUMENTS + 1`, if any.
/// A `---` at column 0 always starts a document (YAML forbids it inside scalars there).
fn too_many_documents(text: &str) -> Option<usize> {
    let mut markers = 0;
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.strip_prefix("---") else {
            continue;
        };
        if rest.is_empty() || rest.starts_with([' ', '\t', '\r']) {
            markers += 1;
            if markers > MAX_DOCUMENTS {
                return Some(i + 1);
            }
        }
    }
    None
}

/// "failed to read …: no such file or directory" style message without repeating the path.
pub fn io_message(verb: &str, e: &io::Error) -> String {
    let reason = match e.kind() {
        io::ErrorKind::NotFound => "no such file or directory".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => {
            let s = e.to_string();
            // std appends " (os error N)"; keep the words only.
            match s.find(" (os error") {
                Some(i) => s[..i].to_lowercase(),
                None => s.to_lowercase(),
            }
        }
    };
    format!("failed to {verb}: {reason}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_sorted_recursive_yaml_only_skipping_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        for f in [
            "b.yaml",
            "a.yml",
            "c.txt",
            ".hidden.yaml",
            "sub/z.yaml",
            "sub/a.YAML",
            ".git/x.yaml",
            "a0/q.yaml",
        ] {
            let p = d.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, "").unwrap();
        }
        let mut diags = Diagnostics::new();
        let files = collect(
            &[d.to_path_buf(), d.join("b.yaml"), d.join("c.txt")],
            &mut diags,
        );
        let rel: Vec<_> = files
            .iter()
            .map(|(p, _)| p.strip_prefix(d).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            rel,
            [
                "a.yml",
                "a0/q.yaml",
                "b.yaml",
                "sub/a.YAML",
                "sub/z.yaml",
                "c.txt"
            ]
        );
        assert!(diags.is_empty());
    }

    #[test]
    fn missing_and_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut diags = Diagnostics::new();
        let files = collect(
            &[dir.path().join("nope"), dir.path().to_path_buf()],
            &mut diags,
        );
        assert!(files.is_empty());
        let msgs: Vec<_> = diags
            .items()
            .iter()
            .map(|d| (d.class, d.message.as_str()))
            .collect();
        assert_eq!(
            msgs,
            [
                (
                    super::super::diag::Class::Unreadable,
                    "failed to read: no such file or directory"
                ),
                (
                    super::super::diag::Class::Invalid,
                    "no manifests found in directory"
                ),
            ]
        );
    }

    #[test]
    fn non_utf8_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.yaml");
        fs::write(&p, b"a: 1\nbb: \xff\n").unwrap();
        let mut diags = Diagnostics::new();
        assert!(read(&p, dir.path(), &mut diags).is_none());
        assert_eq!((diags.items()[0].line, diags.items()[0].column), (2, 5));
    }
}
