//! The bytes of a registration in each format (see the parent module's docs).
use serde_json::{Map, Value};

use super::super::curator::{DEFAULT_PAYLOAD_CLASS, UriSpec};
use super::super::jackson;
use crate::model::spec::InstanceSpec;

/// Curator's `ServiceType`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ServiceType {
    /// Ephemeral registration.
    Dynamic,
    /// Persistent; purged by `curator-x-discovery-server` once older than its threshold.
    Static,
    /// Persistent; removed only explicitly.
    Permanent,
    /// Ephemeral-sequential registration.
    DynamicSequential,
}

impl ServiceType {
    /// The enum constant's name, as Jackson writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::Dynamic => "DYNAMIC",
            ServiceType::Static => "STATIC",
            ServiceType::Permanent => "PERMANENT",
            ServiceType::DynamicSequential => "DYNAMIC_SEQUENTIAL",
        }
    }

    pub fn parse(s: &str) -> Option<ServiceType> {
        Some(match s {
            "DYNAMIC" => ServiceType::Dynamic,
            "STATIC" => ServiceType::Static,
            "PERMANENT" => ServiceType::Permanent,
            "DYNAMIC_SEQUENTIAL" => ServiceType::DynamicSequential,
            _ => return None,
        })
    }

    /// `ServiceType.isDynamic()`: registered as an ephemeral node.
    pub fn is_dynamic(self) -> bool {
        matches!(self, ServiceType::Dynamic | ServiceType::DynamicSequential)
    }
}

/// The `ServiceInstance` keys, in the order Jackson writes them.
pub(super) const CURATOR_KEYS: [&str; 9] = [
    "name",
    "id",
    "address",
    "port",
    "sslPort",
    "payload",
    "registrationTimeUTC",
    "serviceType",
    "uriSpec",
];

/// The `ServiceInstance` JSON of one instance (see the module docs).
pub(super) fn render_curator(
    name: &str,
    inst: &InstanceSpec,
    service_type: ServiceType,
    uri: Option<&UriSpec>,
    registration_time_ms: i64,
) -> Vec<u8> {
    let payload = match &inst.payload {
        None => Value::Null,
        Some(p) => {
            let mut m = Map::new();
            let class = inst
                .payload_class
                .as_deref()
                .unwrap_or(DEFAULT_PAYLOAD_CLASS);
            m.insert("@class".into(), class.into());
            if let Value::Object(sorted) = sort_keys(&Value::Object(p.clone())) {
                m.extend(sorted);
            }
            Value::Object(m)
        }
    };
    let values = [
        Value::from(name),
        Value::from(inst.id.as_str()),
        Value::from(inst.address.as_str()),
        Value::from(inst.port),
        inst.ssl_port.map_or(Value::Null, Value::from),
        payload,
        Value::from(registration_time_ms),
        Value::from(service_type.as_str()),
        uri.map_or(Value::Null, UriSpec::to_json),
    ];
    let doc: Map<String, Value> = CURATOR_KEYS
        .iter()
        .map(|k| k.to_string())
        .zip(values)
        .collect();
    jackson::to_vec(&Value::Object(doc))
}

/// The plain JSON of one instance (see the module docs).
pub(super) fn render_json(name: &str, inst: &InstanceSpec) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("name".into(), name.into());
    m.insert("id".into(), inst.id.as_str().into());
    m.insert("host".into(), inst.address.as_str().into());
    m.insert("port".into(), inst.port.into());
    if let Some(p) = inst.ssl_port {
        m.insert("sslPort".into(), p.into());
    }
    if let Some(p) = &inst.payload {
        m.insert("payload".into(), sort_keys(&Value::Object(p.clone())));
    }
    serde_json::to_vec(&Value::Object(m)).expect("a JSON tree always serializes")
}

/// `v` with every object's keys sorted, recursively.
fn sort_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}
