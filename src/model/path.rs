use std::fmt;

/// A validated absolute znode path, as ZooKeeper accepts it (`PathUtils.validatePath`).
/// A shared `str` (16 bytes, no spare capacity): a clone is a reference count, so the desired
/// state, the plan, the new inventory and the agent's live cache can hold one copy of each path.
///
/// Ordering is byte-lexicographic, so every ancestor sorts before its descendants: iterating a
/// `BTreeMap<ZPath, _>` forwards gives parents first, backwards gives children first.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZPath(std::sync::Arc<str>);

/// Why a string is not a valid znode path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must not be empty")]
    Empty,
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("path must not end with '/'")]
    TrailingSlash,
    #[error("path has an empty segment ('//')")]
    EmptySegment,
    #[error("path has a relative segment ('.' or '..')")]
    RelativeSegment,
    #[error("path contains a NUL or control character")]
    InvalidChar,
    #[error("relative path must not start with '/'")]
    RelativeStartsWithSlash,
}

impl ZPath {
    /// The root `/`.
    pub fn root() -> Self {
        ZPath("/".into())
    }

    /// Validates an absolute path.
    pub fn parse(s: &str) -> Result<Self, PathError> {
        if s.is_empty() {
            return Err(PathError::Empty);
        }
        if !s.starts_with('/') {
            return Err(PathError::NotAbsolute);
        }
        if s == "/" {
            return Ok(Self::root());
        }
        if s.ends_with('/') {
            return Err(PathError::TrailingSlash);
        }
        check_segments(&s[1..])?;
        Ok(ZPath(s.into()))
    }

    /// Appends a relative path (`a/b`) below this one.
    pub fn join(&self, rel: &str) -> Result<Self, PathError> {
        if rel.is_empty() {
            return Ok(self.clone());
        }
        if rel.starts_with('/') {
            return Err(PathError::RelativeStartsWithSlash);
        }
        if rel.ends_with('/') {
            return Err(PathError::TrailingSlash);
        }
        check_segments(rel)?;
        if self.is_root() {
            Ok(ZPath(format!("/{rel}").into()))
        } else {
            Ok(ZPath(format!("{}/{rel}", self.0).into()))
        }
    }

    /// Appends one already-valid child name.
    pub fn child(&self, name: &str) -> Self {
        debug_assert!(!name.contains('/') && !name.is_empty());
        if self.is_root() {
            ZPath(format!("/{name}").into())
        } else {
            ZPath(format!("{}/{name}", self.0).into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        &*self.0 == "/"
    }

    /// The parent path, `None` for the root.
    pub fn parent(&self) -> Option<ZPath> {
        if self.is_root() {
            return None;
        }
        match self.0.rfind('/') {
            Some(0) => Some(Self::root()),
            Some(i) => Some(ZPath(self.0[..i].into())),
            None => None,
        }
    }

    /// The last segment (empty for the root).
    pub fn name(&self) -> &str {
        match self.0.rfind('/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// True when `self` is `other` or lies below it.
    pub fn is_within(&self, other: &ZPath) -> bool {
        if other.is_root() {
            return true;
        }
        self.0 == other.0
            || (self.0.starts_with(&*other.0)
                && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }

    /// The path of `self` relative to `base` (`""` when equal), if `self` is within `base`.
    pub fn relative_to(&self, base: &ZPath) -> Option<&str> {
        if !self.is_within(base) {
            return None;
        }
        if self.0 == base.0 {
            Some("")
        } else if base.is_root() {
            Some(&self.0[1..])
        } else {
            Some(&self.0[base.0.len() + 1..])
        }
    }

    /// Every proper ancestor, nearest first, excluding the root.
    pub fn ancestors(&self) -> impl Iterator<Item = ZPath> + '_ {
        let mut cur = self.parent();
        std::iter::from_fn(move || {
            let p = cur.take()?;
            if p.is_root() {
                return None;
            }
            cur = p.parent();
            Some(p)
        })
    }

    /// Number of segments (`/` is 0, `/a` is 1).
    pub fn depth(&self) -> usize {
        if self.is_root() {
            0
        } else {
            self.0.matches('/').count()
        }
    }
}

fn check_segments(rel: &str) -> Result<(), PathError> {
    for seg in rel.split('/') {
        if seg.is_empty() {
            return Err(PathError::EmptySegment);
        }
        if seg == "." || seg == ".." {
            return Err(PathError::RelativeSegment);
        }
        // ZooKeeper rejects \u0000, \u0001-\u001F, \u007F-\u009F, \ud800-\uf8ff, \ufff0-\uffff.
        if seg.chars().any(|c| {
            let u = c as u32;
            u <= 0x1f
                || (0x7f..=0x9f).contains(&u)
                || (0xd800..=0xf8ff).contains(&u)
                || (0xfff0..=0xffff).contains(&u)
        }) {
            return Err(PathError::InvalidChar);
        }
    }
    Ok(())
}

/// Lets path maps be searched with a `&str` (no allocation); consistent with the derived `Ord`,
/// `Eq` and `Hash`, which are the inner string's.
/// A path reads as the `str` it is (the client's calls take `&str`).
impl std::ops::Deref for ZPath {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for ZPath {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ZPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ZPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl serde::Serialize for ZPath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_like_zookeeper() {
        assert!(ZPath::parse("/a/b").is_ok());
        assert_eq!(ZPath::parse("a"), Err(PathError::NotAbsolute));
        assert_eq!(ZPath::parse("/a/"), Err(PathError::TrailingSlash));
        assert_eq!(ZPath::parse("/a//b"), Err(PathError::EmptySegment));
        assert_eq!(ZPath::parse("/a/./b"), Err(PathError::RelativeSegment));
        assert_eq!(ZPath::parse("/a/.."), Err(PathError::RelativeSegment));
        assert_eq!(ZPath::parse("/a\u{0}b"), Err(PathError::InvalidChar));
        assert_eq!(ZPath::parse(""), Err(PathError::Empty));
        assert!(ZPath::parse("/..a/b.").is_ok());
    }

    #[test]
    fn relations() {
        let a = ZPath::parse("/a/b").unwrap();
        assert_eq!(a.parent().unwrap().as_str(), "/a");
        assert_eq!(a.name(), "b");
        assert!(a.is_within(&ZPath::parse("/a").unwrap()));
        assert!(
            !ZPath::parse("/ab")
                .unwrap()
                .is_within(&ZPath::parse("/a").unwrap())
        );
        assert_eq!(a.relative_to(&ZPath::parse("/a").unwrap()), Some("b"));
        assert_eq!(ZPath::root().join("x/y").unwrap().as_str(), "/x/y");
        let anc: Vec<_> = ZPath::parse("/a/b/c").unwrap().ancestors().collect();
        assert_eq!(
            anc,
            vec![ZPath::parse("/a/b").unwrap(), ZPath::parse("/a").unwrap()]
        );
        assert!(ZPath::parse("/a").unwrap() < ZPath::parse("/a/b").unwrap());
    }
}
