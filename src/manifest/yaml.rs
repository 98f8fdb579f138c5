//! YAML text → `serde_json::Value` (positions for diagnostics are [`super::locate`]'s).
//!
//! Documents are built straight from the parser's events ([`load_json`]): scalars arrive as
//! their raw text, so `${VAR}` expansion works on what was written and the scalar's type is
//! resolved afterwards (`Scalar::parse_from_cow_and_metadata`): `port: ${PORT}` is an integer,
//! `port: "${PORT}"` a string. Positions are not kept for valid documents: when a diagnostic
//! needs one, the file is parsed again into saphyr's marked tree
//! ([`parse_documents`](super::locate::parse_documents)) and a
//! [`Locator`](super::locate::Locator) walks it, so a 100k-node file that is valid pays nothing for positions.
use std::borrow::Cow;
use std::collections::HashMap;

use saphyr::{Marker, Scalar, ScalarStyle, Tag};
use saphyr_parser::{Event, Parser, ScanError, Span, SpannedEventReceiver};
use serde_json::{Map, Number, Value};

use super::diag::Pos;
use super::env;
use super::locate::{pos, ptr_escape};

/// A problem found while converting a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertError {
    /// JSON pointer of the value that could not be converted (it became `null`).
    pub pointer: String,
    pub pos: Pos,
    pub message: String,
    pub hint: Option<String>,
}

/// Resolves an environment variable (shared with the loader's worker threads).
pub type EnvLookup<'a> = dyn Fn(&str) -> Option<String> + Sync + 'a;

/// One non-empty document of a stream, as JSON.
#[derive(Debug)]
pub struct JsonDoc {
    pub value: Value,
    /// Where the document's content starts.
    pub start: Pos,
    /// The document's index in the stream, empty documents included (what [`parse_documents`]
    /// returns at that index).
    pub index: usize,
    /// Problems converting it; each failed value became `null`.
    pub errors: Vec<ConvertError>,
    /// The stream nests deeper than [`MAX_DEPTH`] somewhere: no position lookups in this file
    /// (building its marked tree would recurse that deep).
    pub too_deep: bool,
}

/// Parses a YAML stream into JSON documents, skipping empty ones (a trailing `---`, only
/// comments). With `env`, `${VAR}` in scalar values (not keys) is expanded.
///
/// # Errors
/// A YAML syntax error, with its position; nothing of the stream is returned then.
pub fn load_json(text: &str, env: Option<&EnvLookup<'_>>) -> Result<Vec<JsonDoc>, ScanError> {
    let mut b = Builder {
        env,
        docs: Vec::new(),
        stack: Vec::new(),
        root: None,
        index: 0,
        errors: Vec::new(),
        anchors: HashMap::new(),
        alias_budget: ALIAS_BUDGET,
        too_deep: false,
    };
    // Events one by one rather than `Parser::load`, which recurses once per nesting level and
    // could overflow a thread's stack on a deliberately deep document.
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev?;
        b.on_event(ev, span);
    }
    if b.too_deep {
        for d in &mut b.docs {
            d.too_deep = true;
        }
    }
    Ok(b.docs)
}

/// Nodes that alias expansion may produce in one stream (a "billion laughs" guard).
const ALIAS_BUDGET: usize = 100_000;

/// Deepest nesting of mappings and sequences accepted (as `serde_json` limits JSON).
pub const MAX_DEPTH: usize = 128;

/// Builds JSON values from parser events.
struct Builder<'e, 'x> {
    env: Option<&'e EnvLookup<'x>>,
    docs: Vec<JsonDoc>,
    stack: Vec<Frame>,
    /// The finished root of the current document and where it started.
    root: Option<(Value, Pos, bool)>,
    index: usize,
    errors: Vec<ConvertError>,
    anchors: HashMap<usize, Value>,
    alias_budget: usize,
    /// Some document of the stream nests deeper than [`MAX_DEPTH`].
    too_deep: bool,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        start: Marker,
    },
    Map {
        map: Map<String, Value>,
        key: Key,
        anchor: usize,
        start: Marker,
    },
    /// A subtree being skipped (a complex mapping key, or nesting past [`MAX_DEPTH`]); counts
    /// nested collections. `key` tells what it was: its parent's key slot is then rejected,
    /// else the subtree's value is `null`.
    Skip {
        depth: usize,
        key: bool,
        start: Marker,
    },
}

/// The key slot of a mapping frame.
enum Key {
    /// The next node is a key.
    Awaiting,
    /// The next node is the value of this key.
    Ready(String),
    /// The next node is the value of a rejected key: dropped.
    Rejected,
}

impl<'e, 'x, 'i> SpannedEventReceiver<'i> for Builder<'e, 'x> {
    fn on_event(&mut self, ev: Event<'i>, span: Span) {
        if let Some(Frame::Skip { depth, key, start }) = self.stack.last_mut() {
            match ev {
                Event::MappingStart(..) | Event::SequenceStart(..) => *depth += 1,
                Event::MappingEnd | Event::SequenceEnd => {
                    *depth -= 1;
                    if *depth == 0 {
                        let (was_key, start) = (*key, *start);
                        self.stack.pop();
                        if was_key {
                            if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                                *key = Key::Rejected;
                            }
                        } else {
                            self.value(Value::Null, 0, start);
                        }
                    }
                }
                _ => {}
            }
            return;
        }
        if matches!(ev, Event::MappingStart(..) | Event::SequenceStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            self.error_here(
                pos(&span.start),
                format!("nesting deeper than {MAX_DEPTH} levels"),
                Some("flatten the structure".into()),
            );
            self.too_deep = true;
            self.stack.push(Frame::Skip {
                depth: 1,
                key: false,
                start: span.start,
            });
            return;
        }
        match ev {
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart(_) => {}
            Event::DocumentEnd => self.end_document(),
            Event::Scalar(text, style, anchor, tag) => self.scalar(text, style, anchor, tag, span),
            Event::Alias(id) => {
                let v = match self.anchors.get(&id) {
                    Some(v) => {
                        let n = count_nodes(v);
                        if n > self.alias_budget {
                            self.error_here(
                                pos(&span.start),
                                "alias expansion exceeds 100000 nodes",
                                Some("expand fewer aliases".into()),
                            );
                            Value::Null
                        } else {
                            self.alias_budget -= n;
                            v.clone()
                        }
                    }
                    None => {
                        // The parser resolves names within a document; an id from an earlier
                        // document (not cleared by the event loop) is not one.
                        self.error_here(
                            pos(&span.start),
                            "alias to an anchor of another document",
                            Some("anchors are local to their document".into()),
                        );
                        Value::Null
                    }
                };
                self.value(v, 0, span.start);
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)
                if self.awaiting_key() =>
            {
                let _ = (anchor, tag);
                self.error_here(
                    pos(&span.start),
                    "mapping keys must be plain strings",
                    Some("write the key as a string, e.g. `\"key\": value`".into()),
                );
                self.stack.push(Frame::Skip {
                    depth: 1,
                    key: true,
                    start: span.start,
                });
            }
            Event::SequenceStart(anchor, tag) => {
                self.collection_tag(tag.as_deref(), span.start);
                self.stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                    start: span.start,
                });
            }
            Event::MappingStart(anchor, tag) => {
                self.collection_tag(tag.as_deref(), span.start);
                self.stack.push(Frame::Map {
                    map: Map::new(),
                    key: Key::Awaiting,
                    anchor,
                    start: span.start,
                });
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    items,
                    anchor,
                    start,
                }) = self.stack.pop()
                {
                    self.value(Value::Array(items), anchor, start);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    map, anchor, start, ..
                }) = self.stack.pop()
                {
                    self.value(Value::Object(map), anchor, start);
                }
            }
        }
    }
}

impl Builder<'_, '_> {
    fn awaiting_key(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Frame::Map {
                key: Key::Awaiting,
                ..
            })
        )
    }

    /// The JSON pointer of the node being built (built only for errors).
    fn pointer(&self) -> String {
        let mut out = String::new();
        for f in &self.stack {
            match f {
                Frame::Seq { items, .. } => {
                    out.push('/');
                    out.push_str(&items.len().to_string());
                }
                Frame::Map {
                    key: Key::Ready(k), ..
                } => {
                    out.push('/');
                    out.push_str(&ptr_escape(k));
                }
                _ => {}
            }
        }
        out
    }

    fn error_here(&mut self, at: Pos, message: impl Into<String>, hint: Option<String>) {
        let pointer = self.pointer();
        self.errors.push(ConvertError {
            pointer,
            pos: at,
            message: message.into(),
            hint,
        });
    }

    fn collection_tag(&mut self, tag: Option<&Tag>, start: Marker) {
        if let Some(t) = tag
            && !t.is_yaml_core_schema()
        {
            self.error_here(
                pos(&start),
                format!("unsupported YAML tag `{}`", tag_text(t)),
                Some("remove the tag; manifests use plain YAML values".into()),
            );
        }
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<Cow<'_, Tag>>,
        span: Span,
    ) {
        // A key: its text, unexpanded.
        if let Some(Frame::Map { map, key, .. }) = self.stack.last_mut()
            && matches!(key, Key::Awaiting)
        {
            if map.contains_key(text.as_ref()) {
                let message = format!("duplicate key `{text}`");
                *key = Key::Rejected;
                self.error_here(pos(&span.start), message, Some("remove one of them".into()));
            } else {
                *key = Key::Ready(exact(text));
            }
            return;
        }
        let v = self.scalar_value(text, style, tag, span);
        self.value(v, anchor, span.start);
    }

    fn scalar_value(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        tag: Option<Cow<'_, Tag>>,
        span: Span,
    ) -> Value {
        if let Some(t) = &tag
            && !t.is_yaml_core_schema()
        {
            self.error_here(
                pos(&span.start),
                format!("unsupported YAML tag `{}`", tag_text(t)),
                Some("remove the tag; manifests use plain YAML values".into()),
            );
            return Value::Null;
        }
        let expanded: Cow<'_, str> = match self.env {
            Some(env) if text.contains("${") => match env::expand(&text, env) {
                Ok(v) => Cow::Owned(v.into_owned()),
                Err(errors) => {
                    for e in errors {
                        let at = char_pos(span, &text, style, e.offset());
                        self.error_here(at, e.to_string(), Some(e.hint()));
                    }
                    return Value::Null;
                }
            },
            _ => text,
        };
        match Scalar::parse_from_cow_and_metadata(expanded, style, tag.as_ref()) {
            Some(Scalar::Null) => Value::Null,
            Some(Scalar::Boolean(b)) => Value::Bool(b),
            Some(Scalar::Integer(i)) => Value::Number(i.into()),
            Some(Scalar::FloatingPoint(f)) => match Number::from_f64(f.into_inner()) {
                Some(n) => Value::Number(n),
                None => {
                    self.error_here(
                        pos(&span.start),
                        "`.inf` and `.nan` cannot be represented in JSON",
                        Some("quote the value to use it as a string".into()),
                    );
                    Value::Null
                }
            },
            Some(Scalar::String(s)) => Value::String(exact(s)),
            None => {
                let t = tag.map(|t| tag_text(&t)).unwrap_or_default();
                self.error_here(
                    pos(&span.start),
                    format!("value does not match its tag `{t}`"),
                    None,
                );
                Value::Null
            }
        }
    }

    /// A finished node: into its parent, or the document's root.
    fn value(&mut self, v: Value, anchor: usize, start: Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            Some(Frame::Seq { items, .. }) => items.push(v),
            Some(Frame::Map { map, key, .. }) => {
                match std::mem::replace(key, Key::Awaiting) {
                    Key::Ready(k) => {
                        map.insert(k, v);
                    }
                    Key::Rejected => {}
                    Key::Awaiting => {
                        // A non-string scalar key cannot come here (scalars are taken as text);
                        // an alias used as a key can.
                        self.error_here(
                            pos(&start),
                            "mapping keys must be plain strings",
                            Some("write the key as a string, e.g. `\"key\": value`".into()),
                        );
                        if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                            *key = Key::Rejected;
                        }
                    }
                }
            }
            Some(Frame::Skip { .. }) => {}
            None => {
                let empty = v.is_null() && self.errors.is_empty();
                self.root = Some((v, pos(&start), empty));
            }
        }
    }

    fn end_document(&mut self) {
        let errors = std::mem::take(&mut self.errors);
        if let Some((value, start, empty)) = self.root.take()
            && !(empty && errors.is_empty())
        {
            self.docs.push(JsonDoc {
                value,
                start,
                index: self.index,
                errors,
                too_deep: false,
            });
        }
        self.stack.clear();
        self.anchors.clear();
        self.index += 1;
    }
}

/// An owned copy of a scalar's text without the parser's spare capacity (it builds keys in a
/// 129-byte buffer and grows quoted scalars by doubling): the document keeps 100k of them.
fn exact(text: Cow<'_, str>) -> String {
    match text {
        Cow::Owned(s) if s.capacity() > s.len() => s.as_str().to_owned(),
        t => t.into_owned(),
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_nodes).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
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

/// The position of the character at `offset` within a scalar, when the scalar's source text is
/// its value verbatim (a one-line plain scalar, or a quoted one without escapes); else the
/// scalar's start.
fn char_pos(span: Span, text: &str, style: ScalarStyle, offset: usize) -> Pos {
    let (start, end) = (span.start, span.end);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::locate::parse_documents;
    use serde_json::json;

    fn env(k: &str) -> Option<String> {
        match k {
            "PORT" => Some("8080".into()),
            "HOST" => Some("db".into()),
            _ => None,
        }
    }

    fn one(text: &str) -> (Value, Vec<ConvertError>) {
        let mut docs = load_json(text, Some(&env)).unwrap();
        let d = docs.remove(0);
        (d.value, d.errors)
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
        let text = "a: 1\n---\n---\n# only a comment\n---\n  b: 2\n---\n";
        let docs = load_json(text, None).unwrap();
        let got: Vec<_> = docs
            .iter()
            .map(|d| (d.index, d.start, d.value.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, Pos::new(1, 1), json!({"a": 1})),
                (3, Pos::new(6, 3), json!({"b": 2}))
            ]
        );
        // The marked trees for positions count documents the same way.
        let trees = parse_documents(text).unwrap();
        assert_eq!(pos(&trees[3].span.start), Pos::new(6, 3));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = format!("a:\n  {}x\nb: 1\n", "- ".repeat(100_000));
        let docs = load_json(&text, None).unwrap();
        assert!(docs[0].too_deep);
        assert_eq!(docs[0].errors.len(), 1);
        assert_eq!(docs[0].errors[0].message, "nesting deeper than 128 levels");
        assert_eq!(docs[0].value["b"], json!(1));
    }

    #[test]
    fn anchors_aliases_and_complex_keys() {
        let (v, errs) = one("base: &b {x: 1}\ncopy: *b\nlist: [&i 2, *i]\n");
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            v,
            json!({"base": {"x": 1}, "copy": {"x": 1}, "list": [2, 2]})
        );
        let (v, errs) = one("? [a, b]\n: 1\nc: 2\n");
        assert_eq!(v, json!({"c": 2}));
        assert_eq!(errs[0].message, "mapping keys must be plain strings");
        assert_eq!(errs[0].pos, Pos::new(1, 3));
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
        // Every repeat is reported, however it is spelled; the first value is kept.
        let (v, errs) = one("a: 1\nb: 2\na: 3\n\"a\": 4\nc: {x: 1, x: 2}\n");
        assert_eq!(v, json!({"a": 1, "b": 2, "c": {"x": 1}}));
        let got: Vec<_> = errs
            .iter()
            .map(|e| (e.pos, e.message.as_str(), e.pointer.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Pos::new(3, 1), "duplicate key `a`", ""),
                (Pos::new(4, 1), "duplicate key `a`", ""),
                (Pos::new(5, 11), "duplicate key `x`", "/c"),
            ]
        );
        // The marked tree for positions accepts them.
        assert!(parse_documents("a: 1\na: 2\n").is_ok());
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
}
