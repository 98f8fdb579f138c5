//! JSON pointers into a document ↔ `line:column` in its YAML source.
//!
//! Valid documents are built without positions ([`super::yaml`]); when a diagnostic needs one,
//! the file is parsed again into saphyr's marked tree ([`parse_documents`]) and a [`Locator`]
//! walks it to the pointer the check reported.
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use saphyr::{MarkedYaml, Marker, Scalar, YamlData, YamlLoader};
use saphyr_parser::{Parser, ScanError};

use super::diag::Pos;

/// Parses every document of a YAML stream into marked trees, for positions. Lenient about
/// repeated keys (those are reported by [`load_json`]); the first key is the one found.
pub fn parse_documents(text: &str) -> Result<Vec<MarkedYaml<'_>>, ScanError> {
    let mut parser = Parser::new_from_str(text);
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.early_parse(false);
    loader.allow_duplicate_keys(true);
    parser.load(&mut loader, true)?;
    if let Some(e) = loader.error() {
        return Err(e.clone());
    }
    Ok(loader.into_documents())
}

/// 1-based line and column of a marker.
pub fn pos(m: &Marker) -> Pos {
    Pos::new(m.line(), m.col() + 1)
}

/// The text of a scalar mapping key.
fn key_text<'a>(k: &'a MarkedYaml<'_>) -> Option<&'a str> {
    match &k.data {
        YamlData::Representation(t, _, _) => Some(t.as_ref()),
        YamlData::Value(Scalar::String(s)) => Some(s.as_ref()),
        _ => None,
    }
}

/// Escapes one JSON pointer segment (`~` → `~0`, `/` → `~1`).
pub fn ptr_escape(segment: &str) -> Cow<'_, str> {
    if segment.contains(['~', '/']) {
        Cow::Owned(segment.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(segment)
    }
}

fn ptr_unescape(segment: &str) -> Cow<'_, str> {
    if segment.contains('~') {
        Cow::Owned(segment.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(segment)
    }
}

/// Joins JSON pointer segments: `ptr(&["spec", "nodes", "db/url"])` = `/spec/nodes/db~1url`.
pub fn ptr(segments: &[&str]) -> String {
    let mut out = String::new();
    for s in segments {
        out.push('/');
        out.push_str(&ptr_escape(s));
    }
    out
}

/// What a pointer's position should be: the value, or the key that holds it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Target {
    Value,
    Key,
}

/// Maps JSON pointers into one document back to positions. Mappings with many keys get a lookup
/// index the first time they are searched, so thousands of diagnostics in one big mapping stay
/// linear.
pub struct Locator<'d, 'i> {
    root: &'d MarkedYaml<'i>,
    index: RefCell<HashMap<usize, IndexedMapping<'d, 'i>>>,
}

type IndexedMapping<'d, 'i> = HashMap<&'d str, (&'d MarkedYaml<'i>, &'d MarkedYaml<'i>)>;

const INDEX_FROM: usize = 16;

impl<'d, 'i> Locator<'d, 'i> {
    pub fn new(root: &'d MarkedYaml<'i>) -> Self {
        Locator {
            root,
            index: RefCell::new(HashMap::new()),
        }
    }

    /// The position of the node at `pointer` (or of its key). When the pointer leads past the
    /// tree (a missing field), the deepest node that exists.
    pub fn locate(&self, pointer: &str, target: Target) -> Pos {
        let mut node = self.root;
        let mut key: Option<&MarkedYaml<'i>> = None;
        if !pointer.is_empty() {
            for raw in pointer.strip_prefix('/').unwrap_or(pointer).split('/') {
                let seg = ptr_unescape(raw);
                match self.child(node, &seg) {
                    Some((k, v)) => {
                        key = k;
                        node = v;
                    }
                    None => {
                        // Missing below `node`: point at the key that holds `node`, if any.
                        return pos(&key.unwrap_or(node).span.start);
                    }
                }
            }
        }
        match (target, key) {
            (Target::Key, Some(k)) => pos(&k.span.start),
            _ => pos(&node.span.start),
        }
    }

    #[allow(clippy::type_complexity)]
    fn child(
        &self,
        node: &'d MarkedYaml<'i>,
        seg: &str,
    ) -> Option<(Option<&'d MarkedYaml<'i>>, &'d MarkedYaml<'i>)> {
        match &node.data {
            YamlData::Mapping(map) => {
                if map.len() < INDEX_FROM {
                    return map
                        .iter()
                        .find(|(k, _)| key_text(k) == Some(seg))
                        .map(|(k, v)| (Some(k), v));
                }
                let id = node as *const MarkedYaml<'i> as usize;
                let mut index = self.index.borrow_mut();
                let m = index.entry(id).or_insert_with(|| {
                    let mut m = HashMap::with_capacity(map.len());
                    for (k, v) in map {
                        if let Some(t) = key_text(k) {
                            m.entry(t).or_insert((k, v));
                        }
                    }
                    m
                });
                m.get(seg).map(|(k, v)| (Some(*k), *v))
            }
            YamlData::Sequence(items) => {
                let i: usize = seg.parse().ok()?;
                items.get(i).map(|v| (None, v))
            }
            YamlData::Tagged(_, inner) => self.child(inner, seg),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_keys_and_values() {
        let mut text = String::from("kind: ConfigTree\nspec:\n  nodes:\n");
        for i in 0..40 {
            text.push_str(&format!("    k{i}: v\n"));
        }
        text.push_str("    a/b: {json: [1, 2]}\n");
        let docs = parse_documents(&text).unwrap();
        let l = Locator::new(&docs[0]);
        assert_eq!(l.locate("/kind", Target::Value), Pos::new(1, 7));
        assert_eq!(l.locate("/kind", Target::Key), Pos::new(1, 1));
        assert_eq!(l.locate("/spec/nodes/k3", Target::Key), Pos::new(7, 5));
        assert_eq!(
            l.locate("/spec/nodes/a~1b/json/1", Target::Value),
            Pos::new(44, 21)
        );
        // Missing field: the key that holds the deepest existing node.
        assert_eq!(l.locate("/spec/root", Target::Value), Pos::new(2, 1));
        assert_eq!(l.locate("", Target::Value), Pos::new(1, 1));
    }
}
