//! The JSON Schema of a manifest document, generated from the serde types in [`super::spec`].
//!
//! `zkstate schema` prints [`schema_text`], and `schemas/zkstate.schema.json` is a committed copy
//! of it (a unit test fails when they drift). [`super::load`] validates every *expanded* document
//! against [`strict_schema`]; the published [`json_schema`] is the same schema where typed, enum
//! and patterned scalars also accept a `${VAR}` string (editors see the file before expansion),
//! so an editor with yaml-language-server and `zkstate validate` agree.
//!
//! For editors (tests/editor_lsp.rs drives the real yaml-language-server): definitions carry a
//! `title`, every `description` a `markdownDescription`, and a `$ref` wrapped in `allOf` for its
//! description a `type` beside it (without one, completion inserts a bare `key`).
//!
//! Shape: draft-07 (the draft every editor plugin and validator supports), the envelope at the top,
//! and `kind` selecting the schema of `spec` through `allOf` of `if`/`then` — unlike `oneOf`, a
//! mistake is then reported once, against the schema of its own kind, at the offending field.
use std::sync::OnceLock;

use schemars::SchemaGenerator;
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::spec::{
    ApiVersion, ConfigTreeSpec, ElectionGroupSpec, KindName, Metadata, QueueSpec, ServiceSpec,
};

/// The schema's `$id`.
pub const SCHEMA_ID: &str = "urn:zkstate:schema:manifest:v1";

/// Where the committed copy lives, relative to the repository root.
pub const SCHEMA_FILE: &str = "schemas/zkstate.schema.json";

/// The regular expression of a value that contains a `${VAR}` / `${VAR:-default}` reference (as
/// [`super::env`] reads them; `$${` is a literal and does not count).
pub const INTERPOLATION_PATTERN: &str = r"(^|[^$])\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}";

/// The published JSON Schema of one manifest document (what `zkstate schema` prints and editors
/// read): [`strict_schema`] where every typed, enumerated or patterned scalar of a `spec` (and
/// `metadata.name`) also accepts a string with a `${VAR}` reference, because the loader expands
/// those before it checks the document.
pub fn json_schema() -> Value {
    build(true)
}

/// The schema the loader checks every (expanded) document against: no `${VAR}` alternatives,
/// so `port: eighty` and `port: "${PORT}"` after expansion get precise errors.
pub fn strict_schema() -> Value {
    build(false)
}

fn build(editor: bool) -> Value {
    let mut generator: SchemaGenerator = SchemaSettings::draft07().into_generator();
    let api_version = generator.subschema_for::<ApiVersion>();
    let kind = generator.subschema_for::<KindName>();
    let metadata = generator.subschema_for::<Metadata>();
    let kinds = [
        ("ConfigTree", generator.subschema_for::<ConfigTreeSpec>()),
        ("Service", generator.subschema_for::<ServiceSpec>()),
        ("Queue", generator.subschema_for::<QueueSpec>()),
        (
            "ElectionGroup",
            generator.subschema_for::<ElectionGroupSpec>(),
        ),
    ];
    let all_of: Vec<Value> = kinds
        .into_iter()
        .map(|(name, spec)| {
            json!({
                "if": {"properties": {"kind": {"const": name}}, "required": ["kind"]},
                "then": {"properties": {"spec": spec}}
            })
        })
        .collect();
    let mut definitions = Value::Object(generator.take_definitions(true));
    tidy(&mut definitions);
    if editor {
        relax_definitions(&mut definitions);
    }
    title_definitions(&mut definitions);
    let mut root = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "zkstate manifest",
        "description": "One document of a zkstate manifest set: the ZooKeeper state it declares. \
            Add `# yaml-language-server: $schema=<path to this file>` to a manifest for completion \
            and checks in the editor; `zkstate validate -f FILE` runs the same checks and more.",
        "type": "object",
        "additionalProperties": false,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": describe(api_version, "Always `zkstate/v1`."),
            "kind": describe(kind, "What the document declares: `ConfigTree`, `Service`, `Queue` or `ElectionGroup`."),
            "metadata": describe(metadata, "Identifies the document."),
            "spec": {
                "description": "The kind's specification (its schema depends on `kind`).",
                "type": "object"
            }
        },
        "allOf": all_of,
        "definitions": definitions,
    });
    let defs = root["definitions"].clone();
    type_beside_refs(&mut root, &defs);
    markdown_descriptions(&mut root);
    root
}

/// Definitions that stay exact in the editor: `apiVersion` and `kind` select the schema.
const EXACT: [&str; 2] = ["ApiVersion", "KindName"];

/// Lets every scalar with a type other than string, an `enum` or a `pattern` also be a
/// `${VAR}` string: whole enum definitions, and such properties of object definitions.
fn relax_definitions(definitions: &mut Value) {
    let Some(defs) = definitions.as_object_mut() else {
        return;
    };
    for (name, def) in defs.iter_mut() {
        if EXACT.contains(&name.as_str()) {
            continue;
        }
        if let Some(obj) = def.as_object_mut() {
            relax(obj);
            if let Some(Value::Object(props)) = obj.get_mut("properties") {
                for (_, prop) in props.iter_mut() {
                    if let Some(p) = prop.as_object_mut() {
                        relax(p);
                    }
                }
            }
        }
    }
}

/// `{anyOf: [the constraint, a ${VAR} string]}`, keeping the annotations outside and a `type`
/// beside it (editors pick what to insert from it).
fn relax(s: &mut serde_json::Map<String, Value>) {
    let type_names: Vec<String> = match s.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let scalar = type_names
        .iter()
        .any(|t| matches!(t.as_str(), "integer" | "number" | "boolean"));
    let constrained = s.contains_key("enum") || s.contains_key("pattern");
    if !scalar && !constrained {
        return;
    }
    let mut types = type_names;
    if types.is_empty()
        && let Some(Value::Array(values)) = s.get("enum")
    {
        for v in values {
            let t = match v {
                Value::Bool(_) => "boolean",
                Value::Number(_) => "number",
                _ => "string",
            };
            if !types.iter().any(|x| x == t) {
                types.push(t.into());
            }
        }
    }
    if !types.iter().any(|t| t == "string") {
        types.push("string".into());
    }
    let mut outer = serde_json::Map::new();
    for key in [
        "title",
        "description",
        "markdownDescription",
        "default",
        "examples",
    ] {
        if let Some(v) = s.remove(key) {
            outer.insert(key.into(), v);
        }
    }
    let core = Value::Object(std::mem::take(s));
    outer.insert(
        "type".into(),
        if types.len() == 1 {
            Value::String(types.remove(0))
        } else {
            json!(types)
        },
    );
    outer.insert(
        "anyOf".into(),
        json!([core, {
            "type": "string",
            "pattern": INTERPOLATION_PATTERN,
            "description": "`${VAR}` or `${VAR:-default}`, expanded from the environment before the check."
        }]),
    );
    *s = outer;
}

/// Hover titles: every definition gets one.
fn title_definitions(definitions: &mut Value) {
    let Some(defs) = definitions.as_object_mut() else {
        return;
    };
    for (name, def) in defs.iter_mut() {
        let title = match name.as_str() {
            "ApiVersion" => "apiVersion".to_owned(),
            "KindName" => "kind".to_owned(),
            "Metadata" => "metadata".to_owned(),
            "AclSpec" => "ACL entry".to_owned(),
            "AclScheme" => "ACL scheme".to_owned(),
            "PermWord" => "ACL permission".to_owned(),
            "NodeValue" => "znode".to_owned(),
            "NodeSpec" => "znode data source".to_owned(),
            "InstanceSpec" => "Service instance".to_owned(),
            "CheckSpec" => "health check".to_owned(),
            "ParticipateSpec" => "election participation".to_owned(),
            other => match other.strip_suffix("Spec") {
                Some(kind @ ("ConfigTree" | "Service" | "Queue" | "ElectionGroup")) => {
                    format!("{kind} spec")
                }
                Some(word) => word.to_lowercase(),
                None => words(other),
            },
        };
        if let Some(obj) = def.as_object_mut() {
            obj.insert("title".into(), Value::String(title));
        }
    }
}

/// `QueueFormat` → `queue format`.
fn words(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// A property written `{description, allOf: [{$ref}]}` gets the referenced definition's `type`
/// beside it: yaml-language-server only inserts `key: ` (not a bare `key`) when it sees a type.
fn type_beside_refs(v: &mut Value, defs: &Value) {
    match v {
        Value::Object(obj) => {
            if !obj.contains_key("type")
                && let Some(Value::Array(all)) = obj.get("allOf")
                && all.len() == 1
                && let Some(r) = all[0].get("$ref").and_then(Value::as_str)
                && let Some(name) = r.strip_prefix("#/definitions/")
                && let Some(t) = defs.get(name).and_then(|d| d.get("type"))
            {
                let t = t.clone();
                obj.insert("type".into(), t);
            }
            for (_, child) in obj.iter_mut() {
                type_beside_refs(child, defs);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| type_beside_refs(i, defs)),
        _ => {}
    }
}

/// `markdownDescription` beside every `description`: yaml-language-server renders it as markdown
/// (the plain `description` has its backticks escaped).
fn markdown_descriptions(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            if let Some(Value::String(d)) = obj.get("description")
                && !obj.contains_key("markdownDescription")
            {
                let d = d.clone();
                obj.insert("markdownDescription".into(), Value::String(d));
            }
            for (key, child) in obj.iter_mut() {
                if key != "enum" && key != "const" && key != "default" {
                    markdown_descriptions(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(markdown_descriptions),
        _ => {}
    }
}

/// Rewrites what schemars generates into the shapes that give precise errors and good editor
/// completion:
/// - `Option<T>` fields are not nullable (`field: ~` is an error, not "absent"): drop the `null`
///   alternatives and `"default": null`;
/// - an enum of documented unit variants becomes one `enum` (with `enumDescriptions` for
///   editors) instead of a `oneOf` of `const`s, whose failure says nothing useful.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            if let Some(Value::Array(types)) = obj.get("type")
                && types.len() == 2
                && types.iter().any(|t| t == "null")
                && let Some(t) = types.iter().find(|t| *t != "null").cloned()
            {
                obj.insert("type".into(), t);
            }
            if let Some(Value::Array(alts)) = obj.get("anyOf")
                && alts.len() == 2
                && alts.iter().any(|a| a == &json!({"type": "null"}))
                && let Some(a) = alts
                    .iter()
                    .find(|a| *a != &json!({"type": "null"}))
                    .cloned()
            {
                obj.remove("anyOf");
                obj.insert("allOf".into(), Value::Array(vec![a]));
            }
            if obj.get("default") == Some(&Value::Null) {
                obj.remove("default");
            }
            if let Some(Value::Array(alts)) = obj.get("oneOf")
                && !alts.is_empty()
                && alts
                    .iter()
                    .all(|a| a.get("const").is_some_and(Value::is_string))
            {
                let values: Vec<Value> = alts.iter().map(|a| a["const"].clone()).collect();
                let docs: Vec<Value> = alts
                    .iter()
                    .map(|a| a.get("description").cloned().unwrap_or_else(|| json!("")))
                    .collect();
                obj.remove("oneOf");
                obj.insert("type".into(), json!("string"));
                obj.insert("enum".into(), Value::Array(values));
                obj.insert("enumDescriptions".into(), Value::Array(docs));
            }
            for (_, child) in obj.iter_mut() {
                tidy(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// Adds a description next to a `$ref` (draft-07 ignores `$ref` siblings, so wrap it in `allOf`).
fn describe(schema: schemars::Schema, description: &str) -> Value {
    let value = schema.to_value();
    if value.get("$ref").is_some() {
        json!({"description": description, "allOf": [value]})
    } else {
        let mut value = value;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("description".into(), Value::String(description.into()));
        }
        value
    }
}

/// The schema as `zkstate schema` prints it: pretty JSON with a trailing newline.
pub fn schema_text() -> String {
    let mut text = serde_json::to_string_pretty(&json_schema())
        .unwrap_or_else(|e| unreachable!("a JSON value always serializes: {e}"));
    text.push('\n');
    text
}

/// The schema compiled once per process.
pub(crate) fn validator() -> &'static jsonschema::Validator {
    static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&strict_schema())
            .unwrap_or_else(|e| panic!("the generated manifest schema does not compile: {e}"))
    })
}

/// The properties a schema object allows, for "did you mean" hints.
pub(crate) fn known_fields(pointer_in_schema: &str) -> Vec<String> {
    let schema = schema_value();
    let Some(mut node) = schema.pointer(pointer_in_schema) else {
        return Vec::new();
    };
    // Follow `$ref`s to the definition that carries `properties`.
    for _ in 0..8 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            match r.strip_prefix('#').and_then(|p| schema.pointer(p)) {
                Some(n) => node = n,
                None => return Vec::new(),
            }
        } else {
            break;
        }
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The generated schema value, built once.
pub(crate) fn schema_value() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(strict_schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_schema_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/zkstate.schema.json");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == schema_text(),
            "{SCHEMA_FILE} is out of date with src/manifest/spec.rs; regenerate it with\n\n    \
             cargo run -- schema > {SCHEMA_FILE}\n"
        );
    }

    #[test]
    fn schema_compiles_and_has_editor_metadata() {
        let s = json_schema();
        assert_eq!(s["$schema"], "http://json-schema.org/draft-07/schema#");
        assert_eq!(s["$id"], SCHEMA_ID);
        assert!(s["title"].is_string());
        let _ = validator();
        assert!(known_fields("/definitions/ConfigTreeSpec").contains(&"prune".to_string()));
    }

    #[test]
    fn published_schema_accepts_interpolation_where_the_strict_one_does_not() {
        let published = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .build(&json_schema())
            .unwrap();
        let doc = |port: Value| {
            json!({
                "apiVersion": "zkstate/v1", "kind": "Service", "metadata": {"name": "a"},
                "spec": {"format": "json", "basePath": "/s", "instances": [
                    {"id": "i", "address": "h", "port": port}
                ]},
            })
        };
        let tree = |prune: Value, mode: Value| {
            json!({
                "apiVersion": "zkstate/v1", "kind": "ConfigTree", "metadata": {"name": "t"},
                "spec": {"root": "/t", "prune": prune, "mode": mode},
            })
        };
        for ok in [
            doc(json!(8080)),
            doc(json!("${PORT}")),
            doc(json!("${PORT:-8080}")),
            tree(json!(true), json!("observe")),
            tree(json!("${PRUNE:-exclusive}"), json!("${MODE}")),
        ] {
            assert!(published.is_valid(&ok), "{ok}");
        }
        for bad in [
            doc(json!("eighty")),
            doc(json!("$${PORT}")),
            doc(json!(0)),
            tree(json!("yes"), json!("enforced")),
        ] {
            assert!(!published.is_valid(&bad), "{bad}");
        }
        // The loader checks expanded documents: a `${...}` left over is an error there.
        assert!(!validator().is_valid(&doc(json!("${PORT}"))));
        assert!(validator().is_valid(&doc(json!(8080))));
        // Editors: titles, markdown, a type beside wrapped refs.
        let s = json_schema();
        assert_eq!(s["definitions"]["QueueFormat"]["title"], "queue format");
        assert_eq!(s["properties"]["kind"]["type"], "string");
        assert_eq!(s["properties"]["metadata"]["type"], "object");
        assert_eq!(
            s["definitions"]["ConfigTreeSpec"]["properties"]["mode"]["type"],
            "string"
        );
        assert!(
            s["definitions"]["ConfigTreeSpec"]["properties"]["root"]["markdownDescription"]
                .is_string()
        );
    }
}
