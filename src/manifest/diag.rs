//! Diagnostics: what is wrong with a manifest set, where, and what to do about it.
//!
//! Every check in [`super`] appends to one [`Diagnostics`] instead of returning at the first
//! problem, so a single `zkstate validate` run reports everything (docs/contract.md §5).
use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a problem is for the exit code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Class {
    /// The manifests are wrong (exit 1).
    Invalid,
    /// A file or directory could not be read (exit 2).
    Unreadable,
}

/// One problem, located at `file:line:column` (1-based; `line == 0` when there is no position,
/// e.g. a file that cannot be read).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The znode the problem concerns, when there is one.
    pub path: Option<String>,
    /// What is wrong, lowercase, without secret values.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    pub class: Class,
}

impl Diagnostic {
    /// A problem in the manifests at a position.
    pub fn invalid(file: &Path, pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            path: None,
            message: message.into(),
            hint: None,
            class: Class::Invalid,
        }
    }

    /// A file or directory that cannot be read.
    pub fn unreadable(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            class: Class::Unreadable,
            ..Diagnostic::invalid(file, Pos::NONE, message)
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Names the znode concerned.
    pub fn znode(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Sets the class.
    pub fn class(mut self, class: Class) -> Self {
        self.class = class;
        self
    }

    /// `file:line:column`, or just `file` without a position.
    pub fn location(&self) -> String {
        if self.line == 0 {
            self.file.display().to_string()
        } else {
            format!("{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: error: {}", self.location(), self.message)?;
        if let Some(p) = &self.path {
            write!(f, " (znode {p})")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

/// A 1-based line and column in a file; [`Pos::NONE`] when unknown.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub const NONE: Pos = Pos { line: 0, column: 0 };

    pub fn new(line: usize, column: usize) -> Self {
        Pos { line, column }
    }
}

/// Every problem found in a manifest set, sorted by file, line and column.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The problems, sorted by file, line, column (then in the order they were found).
    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// [`Class::Unreadable`] when any file could not be read, else [`Class::Invalid`].
    pub fn class(&self) -> Class {
        self.items
            .iter()
            .map(|d| d.class)
            .max()
            .unwrap_or(Class::Invalid)
    }

    /// Sorts by file, line, column; stable, so problems at one position keep their order.
    pub(crate) fn sort(&mut self) {
        self.items
            .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_location_znode_and_hint() {
        let d = Diagnostic::invalid(Path::new("a.yaml"), Pos::new(3, 5), "bad thing")
            .znode("/x/y")
            .hint("fix it");
        assert_eq!(
            d.to_string(),
            "a.yaml:3:5: error: bad thing (znode /x/y)\n  hint: fix it"
        );
        let u = Diagnostic::unreadable(Path::new("missing"), "failed to read file");
        assert_eq!(u.to_string(), "missing: error: failed to read file");
    }

    #[test]
    fn sorted_and_classed() {
        let mut ds = Diagnostics::new();
        ds.push(Diagnostic::invalid(Path::new("b"), Pos::new(1, 1), "x"));
        ds.push(Diagnostic::invalid(Path::new("a"), Pos::new(9, 1), "y"));
        ds.push(Diagnostic::invalid(Path::new("a"), Pos::new(2, 7), "z"));
        ds.sort();
        let order: Vec<_> = ds.items().iter().map(|d| d.message.as_str()).collect();
        assert_eq!(order, ["z", "y", "x"]);
        assert_eq!(ds.class(), Class::Invalid);
        ds.push(Diagnostic::unreadable(Path::new("c"), "gone"));
        assert_eq!(ds.class(), Class::Unreadable);
    }
}
