//! Structural validation: one document against the generated JSON Schema ([`super::schema`]),
//! every error turned into a located, actionable [`Problem`].
//!
//! Messages are written here rather than taken from `jsonschema`, for two reasons: they speak
//! YAML ("a mapping", "a list") and point at the right spot (an unknown field at its key, with
//! the closest known field suggested), and they never quote the offending value (which may be
//! a secret), except for short enum-like words.
use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::locate::{Target, ptr_escape};
use super::schema::{known_fields, schema_value, validator};

/// A problem inside one document, located by a JSON pointer into it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub target: Target,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    pub fn at(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            pointer: pointer.into(),
            target: Target::Value,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at_key(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            target: Target::Key,
            ..Problem::at(pointer, message)
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// Checks one document against the manifest schema. Empty when it conforms.
pub fn check(doc: &Value) -> Vec<Problem> {
    let mut out = Vec::new();
    for e in validator().iter_errors(doc) {
        let at = e.instance_path().as_str().to_owned();
        let schema_at = e.schema_path().as_str();
        // The subschema that owns the failing keyword.
        let owner = schema_at.rsplit_once('/').map_or("", |(p, _)| p);
        match e.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known = known_fields(owner);
                for field in unexpected {
                    out.push(unknown_field(&at, field, &known));
                }
            }
            ValidationErrorKind::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                let mut p = if at.is_empty() {
                    Problem::at(&at, format!("missing required field `{name}`"))
                } else {
                    Problem::at_key(&at, format!("missing required field `{name}`"))
                };
                if let Some(d) = description(&format!("{owner}/properties/{}", ptr_escape(name))) {
                    p = p.hint(format!("`{name}`: {d}"));
                }
                out.push(p);
            }
            ValidationErrorKind::Type { kind } => {
                let expected = match kind {
                    TypeKind::Single(t) => type_words(t.as_str()).to_owned(),
                    TypeKind::Multiple(set) => set
                        .iter()
                        .map(|t| type_words(t.as_str()))
                        .collect::<Vec<_>>()
                        .join(" or "),
                };
                let found = value_words(e.instance());
                if is_node_value(&at) {
                    out.push(
                        Problem::at(&at, format!("node data must be a string or a mapping, found {found}"))
                            .hint("quote the value to store it as text (`key: \"20\"`), or name a data source (`key: {int32: 20}`)"),
                    );
                } else {
                    let mut p = Problem::at(&at, format!("expected {expected}, found {found}"));
                    if let Some(d) = description(owner) {
                        p = p.hint(d);
                    }
                    out.push(p);
                }
            }
            ValidationErrorKind::Enum { options } => {
                let options: Vec<&Value> = options
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                out.push(bad_choice(&at, e.instance(), &options));
            }
            ValidationErrorKind::Constant { expected_value } => {
                out.push(bad_choice(&at, e.instance(), &[expected_value.as_ref()]));
            }
            ValidationErrorKind::Pattern { pattern } => {
                let mut p = Problem::at(&at, format!("does not match the pattern `{pattern}`"));
                if let Some(d) = description(owner) {
                    p = p.hint(d);
                }
                out.push(p);
            }
            ValidationErrorKind::Minimum { limit } => {
                out.push(Problem::at(&at, format!("must be at least {limit}")));
            }
            ValidationErrorKind::Maximum { limit } => {
                out.push(Problem::at(&at, format!("must be at most {limit}")));
            }
            ValidationErrorKind::MinItems { limit } => {
                let mut p = Problem::at(
                    &at,
                    format!(
                        "must list at least {limit} item{}",
                        if *limit == 1 { "" } else { "s" }
                    ),
                );
                if let Some(d) = description(owner) {
                    p = p.hint(d);
                }
                out.push(p);
            }
            _ => {
                // Rare for this schema; `masked` keeps the value out of the message.
                let text = e.masked_with("the value").to_string();
                out.push(Problem::at(&at, lowercase_first(&text)));
            }
        }
    }
    out
}

/// `/spec/nodes/<key>`: a ConfigTree node's value.
fn is_node_value(pointer: &str) -> bool {
    pointer
        .strip_prefix("/spec/nodes/")
        .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

fn unknown_field(at: &str, field: &str, known: &[String]) -> Problem {
    let p = Problem::at_key(
        format!("{at}/{}", ptr_escape(field)),
        format!("unknown field `{field}`"),
    );
    if field == "<<" {
        return p.hint("YAML merge keys (`<<`) are not supported; write the fields out");
    }
    if let Some(best) = closest(field, known.iter().map(String::as_str)) {
        return p.hint(format!("did you mean `{best}`?"));
    }
    if at.starts_with("/spec/nodes/") && at.matches('/').count() == 3 {
        return p.hint(format!(
            "a node's mapping takes one data source and options ({}); to declare child nodes, \
             write their paths as keys of `nodes` (`parent/child: value`) instead of nesting them",
            known.join(", ")
        ));
    }
    if known.is_empty() {
        p
    } else {
        p.hint(format!("known fields: {}", known.join(", ")))
    }
}

fn bad_choice(at: &str, found: &Value, options: &[&Value]) -> Problem {
    let list = options
        .iter()
        .map(|o| format!("`{}`", plain(o)))
        .collect::<Vec<_>>()
        .join(", ");
    let shown = match found {
        Value::String(s) if s.chars().count() <= 40 && !s.contains(['\n', '`']) => Some(s.clone()),
        Value::Bool(_) | Value::Number(_) => Some(found.to_string()),
        _ => None,
    };
    let message = match &shown {
        Some(s) => format!(
            "invalid value `{s}`: expected {}",
            one_of(&list, options.len())
        ),
        None => format!("invalid value: expected {}", one_of(&list, options.len())),
    };
    let mut p = Problem::at(at, message);
    if let Some(Value::String(s)) = Some(found)
        && let Some(best) = closest(s, options.iter().filter_map(|o| o.as_str()))
    {
        p = p.hint(format!("did you mean `{best}`?"));
    }
    p
}

fn one_of(list: &str, n: usize) -> String {
    if n == 1 {
        list.to_owned()
    } else {
        format!("one of {list}")
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The description of the schema at a pointer into the generated schema, following one `allOf`
/// wrapper.
fn description(schema_pointer: &str) -> Option<String> {
    let node = schema_value().pointer(schema_pointer)?;
    let d = node.get("description").and_then(Value::as_str)?;
    Some(d.replace('\n', " "))
}

fn type_words(t: &str) -> &'static str {
    match t {
        "object" => "a mapping",
        "array" => "a list",
        "string" => "a string",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "true or false",
        "null" => "an empty value",
        _ => "another type",
    }
}

fn value_words(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "a mapping",
        Value::Array(_) => "a list",
        Value::String(_) => "a string",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::Bool(_) => "a boolean",
        Value::Null => "an empty value",
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The candidate closest to `word` (case-insensitive optimal string alignment distance), if
/// close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let w = word.to_lowercase();
    let limit = match w.chars().count() {
        0..=4 => 1,
        5..=8 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        let d = osa_distance(&w, &c.to_lowercase());
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(spec: Value) -> Value {
        json!({"apiVersion": "zkstate/v1", "kind": "ConfigTree", "metadata": {"name": "x"}, "spec": spec})
    }

    fn summary(v: &Value) -> Vec<(String, Target, String, Option<String>)> {
        check(v)
            .into_iter()
            .map(|p| (p.pointer, p.target, p.message, p.hint))
            .collect()
    }

    #[test]
    fn valid_document_has_no_problems() {
        let v = doc(
            json!({"root": "/a", "prune": "exclusive", "nodes": {"x": "y", "z": {"json": null}, "q": {}}}),
        );
        assert_eq!(check(&v), vec![]);
    }

    #[test]
    fn unknown_fields_point_at_the_key_and_suggest() {
        let v = doc(
            json!({"root": "/a", "prnue": true, "nodes": {"x": {"jsn": 1}, "db": {"url": "u"}}}),
        );
        let mut s = summary(&v);
        s.sort();
        assert_eq!(
            s,
            vec![
                (
                    "/spec/nodes/db/url".into(),
                    Target::Key,
                    "unknown field `url`".into(),
                    Some("a node's mapping takes one data source and options (json, yaml, file, env, base64, value, int32, int64, secret, policy, schema, acl); to declare child nodes, write their paths as keys of `nodes` (`parent/child: value`) instead of nesting them".into())
                ),
                ("/spec/nodes/x/jsn".into(), Target::Key, "unknown field `jsn`".into(), Some("did you mean `json`?".into())),
                ("/spec/prnue".into(), Target::Key, "unknown field `prnue`".into(), Some("did you mean `prune`?".into())),
            ]
        );
    }

    #[test]
    fn kinds_types_enums_and_required() {
        let v = json!({"apiVersion": "zkstate/v2", "kind": "ConfigTre", "metadata": {"name": "Bad Name"}, "spec": {}});
        let s = summary(&v);
        assert_eq!(s[0].2, "invalid value `zkstate/v2`: expected `zkstate/v1`");
        assert_eq!(
            s[1].2,
            "invalid value `ConfigTre`: expected one of `ConfigTree`, `Service`, `Queue`, `ElectionGroup`"
        );
        assert_eq!(s[1].3.as_deref(), Some("did you mean `ConfigTree`?"));
        assert_eq!(s[2].0, "/metadata/name");
        assert!(s[2].2.starts_with("does not match the pattern"));
        assert!(s[2].3.as_deref().unwrap().starts_with("Unique per kind"));

        let v = doc(json!({"nodes": {"n": 20}, "mode": "observed", "prune": "yes"}));
        let s = summary(&v);
        assert_eq!(s.len(), 4, "{s:#?}");
        assert!(s.contains(&(
            "/spec".into(),
            Target::Key,
            "missing required field `root`".into(),
            Some("`root`: Absolute znode path; node keys are relative to it.".into())
        )));
        assert!(s.contains(&("/spec/nodes/n".into(), Target::Value, "node data must be a string or a mapping, found an integer".into(),
            Some("quote the value to store it as text (`key: \"20\"`), or name a data source (`key: {int32: 20}`)".into()))));
        assert!(s.contains(&(
            "/spec/mode".into(),
            Target::Value,
            "invalid value `observed`: expected one of `enforce`, `observe`".into(),
            Some("did you mean `observe`?".into())
        )));
        assert!(s.contains(&(
            "/spec/prune".into(),
            Target::Value,
            "invalid value `yes`: expected one of `false`, `true`, `exclusive`".into(),
            None
        )));
    }

    #[test]
    fn ranges_and_lists() {
        let v = json!({"apiVersion": "zkstate/v1", "kind": "Service", "metadata": {"name": "s"},
            "spec": {"format": "curator", "basePath": "/s", "instances": [{"id": "a", "address": "h", "port": 70000}],
                     "acl": [{"scheme": "world", "id": "anyone", "perms": []}]}});
        let s = summary(&v);
        assert_eq!(s[0].0, "/spec/instances/0/port");
        assert_eq!(s[0].2, "must be at most 65535");
        assert_eq!(s[1].0, "/spec/acl/0/perms");
        assert_eq!(s[1].2, "must list at least 1 item");
    }

    #[test]
    fn typo_distance() {
        assert_eq!(
            closest("prnue", ["root", "prune", "acl"].into_iter()),
            Some("prune")
        );
        assert_eq!(
            closest("basepath", ["format", "basePath"].into_iter()),
            Some("basePath")
        );
        assert_eq!(closest("zzzzzz", ["root", "prune"].into_iter()), None);
    }
}
