//! The compiled `ignore` globs of a managed root: one matcher, compiled once by the manifest
//! loader and carried in [`super::ManagedRoot`], used both to validate declared nodes and by the
//! planner, so a declared node is never accepted by one and skipped by the other.
//!
//! Globs are relative to the root, like node keys. `*` and `?` stay within one path segment,
//! `**` crosses segments, `[ab]` is a class.
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Why one glob was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoreError {
    /// The glob starts with `/` (globs are relative to the root).
    Absolute,
    /// Not a valid glob; the message says why.
    Invalid(String),
}

/// A compiled set of `ignore` globs.
#[derive(Clone, Debug, Default)]
pub struct IgnoreMatcher {
    globs: Vec<String>,
    set: Option<GlobSet>,
}

impl IgnoreMatcher {
    /// Compiles `globs`; every rejected glob is returned with its index.
    pub fn compile(globs: &[String]) -> Result<IgnoreMatcher, Vec<(usize, IgnoreError)>> {
        let mut b = GlobSetBuilder::new();
        let mut errors = Vec::new();
        for (i, g) in globs.iter().enumerate() {
            if g.starts_with('/') {
                errors.push((i, IgnoreError::Absolute));
                continue;
            }
            match GlobBuilder::new(g).literal_separator(true).build() {
                Ok(glob) => {
                    b.add(glob);
                }
                Err(e) => errors.push((i, IgnoreError::Invalid(e.kind().to_string()))),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let set = if globs.is_empty() {
            None
        } else {
            Some(
                b.build()
                    .map_err(|e| vec![(0, IgnoreError::Invalid(e.to_string()))])?,
            )
        };
        Ok(IgnoreMatcher {
            globs: globs.to_vec(),
            set,
        })
    }

    /// True when `rel` (a path relative to the root, no leading `/`) is ignored.
    pub fn is_match(&self, rel: &str) -> bool {
        !rel.is_empty() && self.set.as_ref().is_some_and(|s| s.is_match(rel))
    }

    /// The globs as written.
    pub fn globs(&self) -> &[String] {
        &self.globs
    }

    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }
}

impl PartialEq for IgnoreMatcher {
    fn eq(&self, other: &Self) -> bool {
        self.globs == other.globs
    }
}

impl Eq for IgnoreMatcher {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_segment_stars_and_crossing_double_stars() {
        let m = IgnoreMatcher::compile(&["run/*".into(), "tmp/**".into()]).unwrap();
        assert!(m.is_match("run/x"));
        assert!(!m.is_match("run/sub/deep"), "`*` never crosses `/`");
        assert!(m.is_match("tmp/a/b"));
        assert!(!m.is_match(""));
        let e = IgnoreMatcher::compile(&["ok".into(), "/abs".into(), "[x".into()]).unwrap_err();
        assert_eq!(e[0], (1, IgnoreError::Absolute));
        assert!(matches!(e[1], (2, IgnoreError::Invalid(_))));
    }
}
