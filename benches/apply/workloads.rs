//! The workloads every contender runs: the two tree shapes, each node's data (before and after
//! the update), the trees as path lists, and the manifests `zkstate` is given.
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// Parent nodes the leaves are spread over (`g0000` .. `g0099`).
const GROUPS: usize = 100;
/// Bytes of every leaf's data.
const VALUE_BYTES: usize = 100;

/// The two trees measured.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Shape {
    /// 100 groups of N / 100 leaves: `gGGGG/nIIIIII` (groups are implicit parents).
    Flat,
    /// A complete 10-ary tree of N nodes in breadth-first order, every node declared with data.
    Nested,
}

impl Shape {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Shape::Flat => "flat",
            Shape::Nested => "nested",
        }
    }
}

/// The data of node `i`: 100 ASCII bytes, distinct per node. `kazoo_create.py` has the same.
pub(crate) fn value(i: usize) -> String {
    padded(format!("value-{i:07}-"))
}

/// The data of node `i` after the update: every tenth node ([`updated`]) gets new bytes.
pub(crate) fn new_value(i: usize) -> String {
    if updated(i) {
        padded(format!("newer-{i:07}-"))
    } else {
        value(i)
    }
}

fn updated(i: usize) -> bool {
    i.is_multiple_of(10)
}

fn padded(mut s: String) -> String {
    while s.len() < VALUE_BYTES {
        s.push(char::from(b'a' + (s.len() % 26) as u8));
    }
    s
}

fn groups(n: usize) -> usize {
    GROUPS.min(n).max(1)
}

/// Path of flat leaf `i` relative to the tree's root.
fn leaf(i: usize, n: usize) -> String {
    format!("g{:04}/n{i:06}", i % groups(n))
}

/// Every node below the root in create order (parents first), as (relative path, data index):
/// `None` for the flat shape's empty groups. Over [`NODES_PER_FILE`] nodes the tree is split in
/// parts `p0`, `p1`, ... (empty parents), each the shape's tree of its share of the nodes, as the
/// manifests are ([`write_manifest`]).
pub(crate) fn tree_rel(shape: Shape, n: usize) -> Vec<(String, Option<usize>)> {
    let parts = parts(n);
    if parts.len() > 1 {
        let mut out = Vec::with_capacity(n + parts.len() * (GROUPS + 1));
        let mut offset = 0;
        for (j, count) in parts.iter().enumerate() {
            out.push((format!("p{j}"), None));
            out.extend(
                one_tree(shape, *count)
                    .into_iter()
                    .map(|(p, i)| (format!("p{j}/{p}"), i.map(|i| offset + i))),
            );
            offset += count;
        }
        return out;
    }
    one_tree(shape, n)
}

/// How many nodes each part of an `n`-node tree holds (one part up to [`NODES_PER_FILE`]).
pub(crate) fn parts(n: usize) -> Vec<usize> {
    let k = n.div_ceil(NODES_PER_FILE).max(1);
    (0..k).map(|f| n / k + usize::from(f < n % k)).collect()
}

fn one_tree(shape: Shape, n: usize) -> Vec<(String, Option<usize>)> {
    match shape {
        Shape::Flat => (0..groups(n))
            .map(|k| (format!("g{k:04}"), None))
            .chain((0..n).map(|i| (leaf(i, n), Some(i))))
            .collect(),
        Shape::Nested => {
            // Node i (1-based, breadth first) is child (i - 1) % 10 of node (i - 1) / 10.
            let mut paths: Vec<String> = Vec::with_capacity(n + 1);
            paths.push(String::new());
            for i in 1..=n {
                let parent = &paths[(i - 1) / 10];
                let name = format!("c{}", (i - 1) % 10);
                paths.push(if parent.is_empty() {
                    name
                } else {
                    format!("{parent}/{name}")
                });
            }
            paths
                .into_iter()
                .enumerate()
                .skip(1)
                .map(|(i, p)| (p, Some(i)))
                .collect()
        }
    }
}

/// Every node of a tree in create order (root first), as absolute `(path, data)`.
pub(crate) fn tree_nodes(
    root: &str,
    shape: Shape,
    n: usize,
    data: fn(usize) -> String,
) -> Vec<(String, String)> {
    std::iter::once((root.to_owned(), String::new()))
        .chain(
            tree_rel(shape, n)
                .into_iter()
                .map(|(p, i)| (format!("{root}/{p}"), i.map(data).unwrap_or_default())),
        )
        .collect()
}

/// Writes a ConfigTree manifest (`prune: true`) of the tree under `/bench/zkstate` into
/// `dir/bench.yaml`, with each node's data from `data`. Over [`NODES_PER_FILE`] nodes, one
/// ConfigTree per part (`bench-pJ`, root `/bench/zkstate/pJ`, file `bench-pJ.yaml`). With
/// `declare` false the documents declare no node (the prune-all manifest of the same tree).
pub(crate) fn write_manifest(
    dir: &Path,
    shape: Shape,
    n: usize,
    data: fn(usize) -> String,
    declare: bool,
) -> PathBuf {
    let parts = parts(n);
    if parts.len() == 1 {
        return write_manifest_as(
            dir,
            "bench",
            "/bench/zkstate",
            shape,
            n * usize::from(declare),
            data,
        );
    }
    let mut offset = 0;
    for (j, count) in parts.iter().enumerate() {
        let name = format!("bench-p{j}");
        write_part(
            dir,
            &name,
            &format!("/bench/zkstate/p{j}"),
            shape,
            *count * usize::from(declare),
            data,
            offset,
        );
        offset += count;
    }
    dir.to_path_buf()
}

/// Nodes per manifest file: the loader refuses files over 64 MiB, so larger sets are written
/// as several ConfigTrees of at most this many nodes, one file each (as an operator would).
pub(crate) const NODES_PER_FILE: usize = 100_000;
const VALIDATE_NODES_PER_FILE: usize = NODES_PER_FILE;

/// The manifest set `zkstate validate` is timed on: `n` nested nodes in files of at most
/// [`VALIDATE_NODES_PER_FILE`]; returns their total size in bytes.
pub(crate) fn write_validate_set(dir: &Path, n: usize, data: fn(usize) -> String) -> u64 {
    let files = n.div_ceil(VALIDATE_NODES_PER_FILE).max(1);
    let mut bytes = 0;
    for f in 0..files {
        let count = (n / files) + usize::from(f < n % files);
        let file = if files == 1 {
            write_manifest(dir, Shape::Nested, count, data, true)
        } else {
            let name = format!("bench-{f:02}");
            write_manifest_as(
                dir,
                &name,
                &format!("/bench/{name}"),
                Shape::Nested,
                count,
                data,
            )
        };
        bytes += fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    }
    bytes
}

fn write_manifest_as(
    dir: &Path,
    name: &str,
    root: &str,
    shape: Shape,
    n: usize,
    data: fn(usize) -> String,
) -> PathBuf {
    write_part(dir, name, root, shape, n, data, 0)
}

/// One ConfigTree file: the shape's tree of `n` nodes under `root`, node `i`'s data
/// `data(offset + i)`.
fn write_part(
    dir: &Path,
    name: &str,
    root: &str,
    shape: Shape,
    n: usize,
    data: fn(usize) -> String,
    offset: usize,
) -> PathBuf {
    let mut text = String::with_capacity(n * 130 + 200);
    let _ = writeln!(
        text,
        "apiVersion: zkstate/v1\nkind: ConfigTree\nmetadata:\n  name: {name}\nspec:\n  root: {root}\n  prune: true"
    );
    if n == 0 {
        text.push_str("  nodes: {}\n");
    } else {
        text.push_str("  nodes:\n");
        for (p, i) in one_tree(shape, n) {
            if let Some(i) = i {
                let _ = writeln!(text, "    {p}: \"{}\"", data(offset + i));
            }
        }
    }
    fs::create_dir_all(dir).expect("manifest dir");
    let path = dir.join(format!("{name}.yaml"));
    fs::write(&path, text).expect("write the manifest");
    path
}
