//! YAML text → marked trees → `serde_json::Value`, and JSON pointers back to `line:column`.
//!
//! Scalars are loaded unresolved (`early_parse(false)`), so `${VAR}` expansion works on the raw
//! text and the scalar's type is resolved afterwards: `port: ${PORT}` is an integer, `port:
//! "${PORT}"` a string. Positions are not indexed up front: a [`Locator`] walks the marked tree
//! only when a diagnostic needs one, so large valid files pay nothing for it.
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use saphyr::{MarkedYaml, Marker, Scalar, ScalarStyle, Tag, YamlData, YamlLoader};
use saphyr_parser::{Parser, ScanError};
use serde_json::{Map, Number, Value};

use super::diag::Pos;
use super::env;

/// Parses every document of a YAML stream, keeping positions. Duplicate keys (same spelling) are
/// a syntax error here; keys spelled differently that mean the same (`a` and `"a"`) are caught by
/// [`Converter`].
pub fn parse_documents(text: &str) -> Result<Vec<MarkedYaml<'_>>, ScanError> {
    let mut parser = Parser::new_from_str(text);
    let mut loader: YamlLoader<'_, MarkedYaml<'_>> = YamlLoader::default();
    loader.early_parse(false);
    parser.load(&mut loader, true)?;
    if let Some(e) = loader.error() {
        return Err(e.clone());
    }
    Ok(loader.into_documents())
}

/// True for a document with no content (`---` followed by nothing, or only comments).
pub fn is_empty_document(doc: &MarkedYaml<'_>) -> bool {
    match &doc.data {
        YamlData::BadValue => true,
        YamlData::Representation(text, ScalarStyle::Plain, None) => {
            matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
        }
        YamlData::Value(Scalar::Null) => true,
        _ => false,
    }
}

/// 1-based line and column of a marker.
pub fn pos(m: &Marker) -> Pos {
    Pos::new(m.line(), m.col() + 1)
}

/// A problem found while converting a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertError {
    /// JSON pointer of the value that could not be converted (it became `null`).
    pub pointer: String,
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// Resolves an environment variable.
pub type EnvLookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Converts marked YAML into JSON values, expanding `${VAR}` in scalar values (not keys) when
/// given an environment. Collects every problem rather than stopping at the first.
pub struct Converter<'e> {
    env: Option<&'e EnvLookup<'e>>,
    pub errors: Vec<ConvertError>,
    /// Where the conversion is, as JSON pointer segments (built into a string only on error).
    at: Vec<Seg>,
}

enum Seg {
    Key(String),
    Index(usize),
}

impl<'e> Converter<'e> {
    /// A converter that expands `${VAR}` from `env`.
    pub fn with_env(env: &'e EnvLookup<'e>) -> Self {
        Converter {
            env: Some(env),
            errors: Vec::new(),
            at: Vec::new(),
        }
    }

    /// A converter that leaves `$` alone (for data files, which are not templates).
    pub fn verbatim() -> Self {
        Converter {
            env: None,
            errors: Vec::new(),
            at: Vec::new(),
        }
    }

    fn error(&mut self, pos: Pos, message: impl Into<String>, hint: Option<String>) {
        let mut pointer = String::new();
        for s in &self.at {
            pointer.push('/');
            match s {
                Seg::Key(k) => pointer.push_str(&ptr_escape(k)),
                Seg::Index(i) => pointer.push_str(&i.to_string()),
            }
        }
        self.errors.push(ConvertError {
            pointer,
            pos,
            message: message.into(),
            hint,
        });
    }

    /// Converts one node (and everything below it).
    pub fn convert(&mut self, node: &MarkedYaml<'_>) -> Value {
        match &node.data {
            YamlData::Representation(text, style, tag) => {
                self.scalar(node, text, *style, tag.as_ref())
            }
            YamlData::Value(s) => self.resolved(node, s.clone()),
            YamlData::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, n) in items.iter().enumerate() {
                    self.at.push(Seg::Index(i));
                    out.push(self.convert(n));
                    self.at.pop();
                }
                Value::Array(out)
            }
            YamlData::Mapping(map) => {
                let mut out = Map::with_capacity(map.len());
                // Where each key was first seen, for duplicate reports.
                let mut first: HashMap<&str, Pos> = HashMap::new();
                for (k, v) in map {
                    let Some(key) = key_text(k) else {
                        self.error(
                            pos(&k.span.start),
                            "mapping keys must be plain strings",
                            Some("write the key as a string, e.g. `\"key\": value`".into()),
                        );
                        continue;
                    };
                    let here = pos(&k.span.start);
                    if let Some(at) = first.get(key) {
                        self.error(
                            here,
                            format!("duplicate key `{key}`"),
                            Some(format!("first given at line {}; remove one", at.line)),
                        );
                        continue;
                    }
                    first.insert(key, here);
                    self.at.push(Seg::Key(key.to_owned()));
                    let value = self.convert(v);
                    self.at.pop();
                    out.insert(key.to_owned(), value);
                }
                Value::Object(out)
            }
            YamlData::Tagged(tag, _) => {
                self.error(
                    pos(&node.span.start),
                    format!("unsupported YAML tag `{}`", tag_text(tag)),
                    Some("remove the tag; manifests use plain YAML values".into()),
                );
                Value::Null
            }
            YamlData::Alias(_) | YamlData::BadValue => Value::Null,
        }
    }

    fn scalar(
        &mut self,
        node: &MarkedYaml<'_>,
        text: &str,
        style: ScalarStyle,
        tag: Option<&Cow<'_, Tag>>,
    ) -> Value {
        if let Some(t) = tag
            && !t.is_yaml_core_schema()
        {
            self.error(
                pos(&node.span.start),
                format!("unsupported YAML tag `{}`", tag_text(t)),
                Some("remove the tag; manifests use plain YAML values".into()),
            );
            return Value::Null;
        }
        let expanded: Cow<'_, str> = match self.env {
            Some(env) => match env::expand(text, env) {
                Ok(v) => v,
                Err(errors) => {
                    for e in errors {
                        let at = char_pos(node, text, style, e.offset());
                        self.error(at, e.to_string(), Some(e.hint()));
                    }
                    return Value::Null;
                }
            },
            None => Cow::Borrowed(text),
        };
        let tag = tag.cloned();
        match Scalar::parse_from_cow_and_metadata(expanded, style, tag.as_ref()) {
            Some(s) => self.resolved(node, s),
            None => {
                let t = tag.map(|t| tag_text(&t)).unwrap_or_default();
                self.error(
                    pos(&node.span.start),
                    format!("value does not match its tag `{t}`"),
                    None,
                );
                Value::Null
            }
        }
    }

    fn resolved(&mut self, node: &MarkedYaml<'_>, s: Scalar<'_>) -> Value {
        match s {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(b),
            Scalar::Integer(i) => Value::Number(i.into()),
            Scalar::FloatingPoint(f) => match Number::from_f64(f.into_inner()) {
                Some(n) => Value::Number(n),
                None => {
                    self.error(
                        pos(&node.span.start),
                        "`.inf` and `.nan` cannot be represented in JSON",
                        Some("quote the value to use it as a string".into()),
                    );
                    Value::Null
                }
            },
            Scalar::String(s) => Value::String(s.into_owned()),
        }
    }
}

/// A tag as written: `!!int` for core-schema tags, `!name` for local ones.
fn tag_text(t: &Tag) -> String {
    if t.is_yaml_core_schema() {
        format!("!!{}", t.suffix)
    } else {
        t.to_string()
    }
}

/// The text of a scalar mapping key.
fn key_text<'a>(k: &'a MarkedYaml<'_>) -> Option<&'a str> {
    match &k.data {
        YamlData::Representation(t, _, _) => Some(t.as_ref()),
        YamlData::Value(Scalar::String(s)) => Some(s.as_ref()),
        _ => None,
    }
}

/// The position of the character at `offset` within a scalar, when the scalar's source text is
/// its value verbatim (a one-line plain scalar, or a quoted one without escapes); else the
/// scalar's start.
fn char_pos(node: &MarkedYaml<'_>, text: &str, style: ScalarStyle, offset: usize) -> Pos {
    let start = node.span.start;
    let end = node.span.end;
    let chars = text.chars().count();
    let lead = match style {
        ScalarStyle::Plain if end.index() - start.index() == chars => 0,
        ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted
            if end.index() - start.index() == chars + 2 =>
        {
            1
        }
        _ => return pos(&start),
    };
    if start.line() != end.line() {
        return pos(&start);
    }
    Pos::new(start.line(), start.col() + 1 + lead + offset)
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
    use serde_json::json;

    fn env(k: &str) -> Option<String> {
        match k {
            "PORT" => Some("8080".into()),
            "HOST" => Some("db".into()),
            _ => None,
        }
    }

    fn one(text: &str) -> (Value, Vec<ConvertError>) {
        let docs = parse_documents(text).unwrap();
        let mut c = Converter::with_env(&env);
        let v = c.convert(&docs[0]);
        (v, c.errors)
    }

    #[test]
    fn resolves_scalar_types_after_expansion() {
        let (v, errs) = one(
            "a: ${PORT}\nb: \"${PORT}\"\nc: '${HOST}:1'\nd: true\ne: 1.5\nf: ~\ng: !!str 12\nh: ${NOPE:-}\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            v,
            json!({"a": 8080, "b": "8080", "c": "db:1", "d": true, "e": 1.5, "f": null, "g": "12", "h": null})
        );
    }

    #[test]
    fn keys_are_not_expanded_and_keep_order() {
        let (v, _) = one("z: 1\n${PORT}: 2\na: 3\n");
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"z":1,"${PORT}":2,"a":3}"#
        );
    }

    #[test]
    fn multi_document_and_empty_documents() {
        let docs = parse_documents("a: 1\n---\n---\n# only a comment\n---\nb: 2\n---\n").unwrap();
        let non_empty: Vec<_> = docs.iter().filter(|d| !is_empty_document(d)).collect();
        assert_eq!(non_empty.len(), 2);
    }

    #[test]
    fn unset_variable_points_at_the_reference() {
        let (_, errs) = one("spec:\n  url: postgres://${DB_HOST}:${PORT}/x\n  q: \"x ${NOPE}\"\n");
        assert_eq!(errs.len(), 2);
        assert_eq!(errs[0].pos, Pos::new(2, 19));
        assert_eq!(errs[0].message, "environment variable `DB_HOST` is not set");
        assert_eq!(errs[1].pos, Pos::new(3, 9));
    }

    #[test]
    fn duplicate_keys() {
        let err = parse_documents("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!((err.marker().line(), err.marker().col()), (3, 0));
        let (_, errs) = one("a: 1\n\"a\": 2\n");
        assert_eq!(errs[0].pos, Pos::new(2, 1));
        assert_eq!(errs[0].message, "duplicate key `a`");
    }

    #[test]
    fn tags_and_floats() {
        let (_, errs) = one("a: !secret x\nb: !!int nope\nc: .inf\n");
        let msgs: Vec<_> = errs.iter().map(|e| (e.pos, e.message.as_str())).collect();
        assert_eq!(
            msgs,
            vec![
                (Pos::new(1, 4), "unsupported YAML tag `!secret`"),
                (Pos::new(2, 4), "value does not match its tag `!!int`"),
                (
                    Pos::new(3, 4),
                    "`.inf` and `.nan` cannot be represented in JSON"
                ),
            ]
        );
    }

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
