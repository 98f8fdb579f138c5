//! The manifest document shapes as serde types. The JSON Schema in `schemas/` is generated from
//! these types (schemars), so the doc comments here are what an editor shows.
use std::collections::BTreeMap;

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};

/// Deserializes a present field as `Some`, even when its value is `null` (`json: null` is the
/// JSON text `null`, not "no data source").
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// The envelope of every manifest document (Kubernetes style).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Envelope {
    /// Always `zkstate/v1`.
    pub api_version: ApiVersion,
    /// What the document declares.
    pub kind: KindName,
    pub metadata: Metadata,
    /// The kind's specification.
    pub spec: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum ApiVersion {
    #[serde(rename = "zkstate/v1")]
    V1,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum KindName {
    /// Configuration znodes under one root.
    ConfigTree,
    /// Service registrations (Curator service discovery or plain JSON).
    Service,
    /// A distributed queue (kazoo or Curator layout).
    Queue,
    /// A leader-election group (kazoo Election or Curator LeaderLatch layout).
    ElectionGroup,
}

/// Identifies the document.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Unique per kind in the whole manifest set; lowercase letters, digits, `-`, `_` and `.`.
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9_.]{0,251}[a-z0-9])?$"))]
    pub name: String,
}

/// Configuration znodes: `nodes` keys are paths relative to `root`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfigTreeSpec {
    /// Absolute znode path; node keys are relative to it.
    pub root: String,
    /// `true`: delete nodes this tree created earlier and no longer declares. `exclusive`: also
    /// delete every undeclared node under `root`. Default `false`: never delete.
    #[serde(default)]
    pub prune: PruneSpec,
    /// Default ACL for the nodes this tree creates (and enforces on them).
    #[serde(default)]
    pub acl: Option<Vec<AclSpec>>,
    /// The znodes, keyed by path relative to `root` (`db/url`).
    // The loader takes `nodes` out of the document before serde and keeps them in file order
    // (`load::prepare`), so this stays empty there; the field gives the schema its shape.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeValue>,
    /// `enforce` (default) reverts drift; `observe` reports drift and never writes.
    #[serde(default)]
    pub mode: ModeSpec,
    /// Globs relative to `root` (`runtime/**`) whose nodes are never compared, written or pruned.
    #[serde(default)]
    pub ignore: Vec<String>,
}

/// `true`, `false` or `exclusive`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PruneSpec {
    Bool(bool),
    Word(PruneWord),
}

impl JsonSchema for PruneSpec {
    fn schema_name() -> Cow<'static, str> {
        "PruneSpec".into()
    }

    // One `enum` instead of serde's untagged `anyOf`, so a wrong value gets one precise error.
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`false` (default): never delete. `true`: delete nodes this tree \
                created earlier and no longer declares. `exclusive`: also delete every undeclared \
                node under `root` (except `ignore` matches and ephemeral nodes).",
            "enum": [false, true, "exclusive"]
        })
    }
}

impl Default for PruneSpec {
    fn default() -> Self {
        PruneSpec::Bool(false)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PruneWord {
    /// Delete every undeclared node under `root` (except `ignore` matches and ephemerals).
    Exclusive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModeSpec {
    /// Revert drift.
    #[default]
    Enforce,
    /// Report drift, never write.
    Observe,
}

pub use crate::model::spec::{AclScheme, AclSpec, PermWord};

/// A node's data: a plain string (its UTF-8 bytes) or an object naming one data source.
#[derive(Debug, Clone)]
pub enum NodeValue {
    /// The UTF-8 bytes of the string.
    Text(String),
    Spec(Box<NodeSpec>),
}

// By hand rather than `#[serde(untagged)]`, which buffers every value before trying the
// variants: a tree of 100k nodes loads several times faster this way.
impl<'de> Deserialize<'de> for NodeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Node;
        impl<'de> serde::de::Visitor<'de> for Node {
            type Value = NodeValue;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a mapping")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<NodeValue, E> {
                Ok(NodeValue::Text(v.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<NodeValue, E> {
                Ok(NodeValue::Text(v))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<NodeValue, A::Error> {
                NodeSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(|s| NodeValue::Spec(Box::new(s)))
            }
        }
        d.deserialize_any(Node)
    }
}

impl NodeValue {
    /// Takes a node value apart without serde's machinery, moving strings and `json:`/`yaml:`
    /// values instead of copying them (the loader's hot path on large trees). `None` when the
    /// value does not have the shape the schema allows; a field this function does not know
    /// is `None` too, so a new `NodeSpec` field cannot be silently dropped (a unit test compares
    /// it with serde's result).
    pub fn from_json(v: serde_json::Value) -> Option<NodeValue> {
        use serde_json::Value;
        fn string(v: Value) -> Option<String> {
            match v {
                Value::String(s) => Some(s),
                _ => None,
            }
        }
        let map = match v {
            Value::String(s) => return Some(NodeValue::Text(s)),
            Value::Object(m) => m,
            _ => return None,
        };
        let mut spec = NodeSpec::default();
        for (k, v) in map {
            match k.as_str() {
                "json" => spec.json = Some(v),
                "yaml" => spec.yaml = Some(v),
                "file" => spec.file = Some(string(v)?),
                "env" => spec.env = Some(string(v)?),
                "base64" => spec.base64 = Some(string(v)?),
                "value" => spec.value = Some(string(v)?),
                "schema" => spec.schema = Some(string(v)?),
                "int32" => spec.int32 = Some(i32::try_from(v.as_i64()?).ok()?),
                "int64" => spec.int64 = Some(v.as_i64()?),
                "secret" => spec.secret = v.as_bool()?,
                "policy" => spec.policy = Some(serde_json::from_value(v).ok()?),
                "acl" => spec.acl = Some(serde_json::from_value(v).ok()?),
                _ => return None,
            }
        }
        Some(NodeValue::Spec(Box::new(spec)))
    }
}

impl JsonSchema for NodeValue {
    fn schema_name() -> Cow<'static, str> {
        "NodeValue".into()
    }

    // `if string … else NodeSpec` rather than serde's untagged `anyOf`: a mistake inside the
    // mapping is then reported against `NodeSpec` alone, at the offending field.
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let spec = generator.subschema_for::<NodeSpec>();
        json_schema!({
            "description": "The node's data: a plain string (stored as its UTF-8 bytes) or a \
                mapping with at most one data source (`json`, `yaml`, `file`, `env`, `base64`, \
                `value`, `int32`, `int64`); `{}` is an empty node.",
            "if": {"type": "string"},
            "then": {"type": "string"},
            "else": spec
        })
    }
}

/// A node with an explicit data source. At most one of `json`, `yaml`, `file`, `env`, `base64`,
/// `value`, `int32`, `int64`; none (`{}`) means empty data.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// JSON text, rendered compactly with object keys sorted.
    #[serde(default, deserialize_with = "present")]
    pub json: Option<serde_json::Value>,
    /// YAML text, rendered block style with mapping keys sorted.
    #[serde(default, deserialize_with = "present")]
    pub yaml: Option<serde_json::Value>,
    /// The bytes of a file, relative to the manifest's own directory.
    #[serde(default)]
    pub file: Option<String>,
    /// The value of an environment variable (UTF-8 bytes).
    #[serde(default)]
    pub env: Option<String>,
    /// Base64 (standard alphabet, padded) bytes.
    #[serde(default)]
    pub base64: Option<String>,
    /// A plain string; usually with `policy: create-only`.
    #[serde(default)]
    pub value: Option<String>,
    /// 4-byte big-endian integer (Curator SharedCount, kazoo Counter with support_curator).
    #[serde(default)]
    #[schemars(range(min = i32::MIN, max = i32::MAX))]
    pub int32: Option<i32>,
    /// 8-byte big-endian integer (Curator DistributedAtomicLong).
    #[serde(default)]
    #[schemars(range(min = i64::MIN, max = i64::MAX))]
    pub int64: Option<i64>,
    /// Never print or log the data.
    #[serde(default)]
    pub secret: bool,
    /// `enforce` (default) or `create-only`: seeded once, then owned by the application.
    #[serde(default)]
    pub policy: Option<PolicySpec>,
    /// A JSON Schema file (relative to the manifest) that the data must satisfy (checked at validate time).
    #[serde(default)]
    pub schema: Option<String>,
    /// ACL for this node (overrides the tree's `acl`).
    #[serde(default)]
    pub acl: Option<Vec<AclSpec>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PolicySpec {
    /// Revert drift (default).
    Enforce,
    /// Create when missing; never update or prune.
    CreateOnly,
}

pub use crate::model::spec::{
    CheckSpec, ElectionFormat, ElectionGroupSpec, InstanceSpec, ParticipateSpec, QueueFormat,
    QueueSpec, ScopeSpec, ServiceFormat, ServiceSpec,
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_json_agrees_with_serde_on_every_field() {
        let full = json!({
            "json": {"a": [1, null]}, "yaml": null, "file": "f", "env": "E", "base64": "AA==",
            "value": "v", "int32": -5, "int64": 9007199254740993i64, "secret": true,
            "policy": "create-only", "schema": "s.json",
            "acl": [{"scheme": "world", "id": "anyone", "perms": ["read"]}]
        });
        // Every field of `NodeSpec` is in `full` (the schema lists them).
        let schema = crate::manifest::json_schema();
        let fields = schema["definitions"]["NodeSpec"]["properties"]
            .as_object()
            .unwrap();
        assert_eq!(fields.len(), full.as_object().unwrap().len());
        let by_hand = NodeValue::from_json(full.clone()).unwrap();
        let by_serde: NodeValue = serde_json::from_value(full).unwrap();
        assert_eq!(format!("{by_hand:?}"), format!("{by_serde:?}"));
        assert!(matches!(NodeValue::from_json(json!("x")), Some(NodeValue::Text(t)) if t == "x"));
        assert!(NodeValue::from_json(json!({"nope": 1})).is_none());
        assert!(NodeValue::from_json(json!(5)).is_none());
    }
}
