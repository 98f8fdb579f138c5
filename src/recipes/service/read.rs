//! Registrations read back from znodes, in either format, and the stable
//! `registrationTimeUTC` taken from the live node.
use serde_json::Value;

use super::super::curator::UriSpec;
use super::super::jackson;
use super::render::{CURATOR_KEYS, ServiceType};
use crate::model::spec::ServiceFormat;
use std::collections::HashMap;

use crate::model::{DesiredState, Kind, LiveTree, ZPath};

/// A service registration read back from a znode, in either format.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ServiceInstanceView {
    pub format: ServiceFormat,
    /// Service name; empty when a `json` node does not say (use the parent's name).
    pub name: String,
    /// Instance id; empty when a `json` node does not say (use the znode name).
    pub id: String,
    /// `address` (curator) or `host` (json).
    pub address: Option<String>,
    pub port: Option<u32>,
    pub ssl_port: Option<u32>,
    /// The payload without its `@class` member.
    pub payload: Option<Value>,
    /// The payload's Jackson type id (`@class`), curator format only.
    pub payload_class: Option<String>,
    pub registration_time_utc: Option<i64>,
    pub service_type: Option<ServiceType>,
    /// The `uriSpec` template rebuilt from its parts (`{scheme}://{address}:{port}`).
    pub uri_spec: Option<String>,
    /// Only present when written by a non-compatible serializer.
    pub enabled: Option<bool>,
}

/// Reads a registration of either format.
///
/// A JSON object with a string `host` and no `address` is the `json` format (only `host` is
/// required). Anything else is read as a Curator `ServiceInstance`, leniently like Jackson with
/// `FAIL_ON_UNKNOWN_PROPERTIES` off: only `name` and `id` (strings) are required, unknown keys are
/// ignored, and a member of the wrong type reads as absent. `None` when neither fits.
pub fn parse_service_instance(bytes: &[u8]) -> Option<ServiceInstanceView> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let obj = v.as_object()?;
    let string = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    let port = |k: &str| {
        obj.get(k).and_then(|p| match p {
            Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
            Value::String(s) => s.parse().ok(),
            _ => None,
        })
    };
    if !obj.contains_key("address")
        && let Some(host) = string("host")
    {
        return Some(ServiceInstanceView {
            format: ServiceFormat::Json,
            name: string("name").unwrap_or_default(),
            id: string("id").unwrap_or_default(),
            address: Some(host),
            port: port("port"),
            ssl_port: port("sslPort"),
            payload: obj.get("payload").filter(|p| !p.is_null()).cloned(),
            payload_class: None,
            registration_time_utc: None,
            service_type: None,
            uri_spec: None,
            enabled: None,
        });
    }
    let (mut payload, mut payload_class) =
        (obj.get("payload").filter(|p| !p.is_null()).cloned(), None);
    if let Some(Value::Object(p)) = &mut payload {
        payload_class = p
            .shift_remove("@class")
            .and_then(|c| c.as_str().map(str::to_owned));
    }
    Some(ServiceInstanceView {
        format: ServiceFormat::Curator,
        name: string("name")?,
        id: string("id")?,
        address: string("address"),
        port: port("port"),
        ssl_port: port("sslPort"),
        payload,
        payload_class,
        registration_time_utc: obj.get("registrationTimeUTC").and_then(Value::as_i64),
        service_type: obj
            .get("serviceType")
            .and_then(Value::as_str)
            .and_then(ServiceType::parse),
        uri_spec: obj
            .get("uriSpec")
            .and_then(UriSpec::from_json)
            .map(|u| u.template()),
        enabled: obj.get("enabled").and_then(Value::as_bool),
    })
}

/// Gives every Curator registration in `state` a stable `registrationTimeUTC`: the live node's
/// (when it exists and reads as a registration carrying one), else `now_ms`. Without this, every
/// pass would see the time as drift and rewrite the node.
///
/// Only `Service` nodes whose data is a `ServiceInstance` as [`expand_service`] renders it are
/// touched; everything else is left as it is. Pure: `now_ms` comes from the caller.
pub fn stabilize_registration_times(state: &mut DesiredState, live: &LiveTree, now_ms: i64) {
    for (path, data) in registration_times(state, live, now_ms) {
        if let Some(node) = state.nodes.get_mut(&path) {
            node.data = data;
        }
    }
}

/// What [`stabilize_registration_times`] would write, without touching `state`: the new data of
/// every Curator registration, by path. A pass plans with these as overrides instead of cloning
/// the whole desired state.
pub fn registration_times(
    state: &DesiredState,
    live: &LiveTree,
    now_ms: i64,
) -> HashMap<ZPath, Vec<u8>> {
    let mut out = HashMap::new();
    for (path, node) in &state.nodes {
        if node.owner.kind != Kind::Service {
            continue;
        }
        let Ok(Value::Object(mut doc)) = serde_json::from_slice::<Value>(&node.data) else {
            continue;
        };
        if !doc.keys().map(String::as_str).eq(CURATOR_KEYS) {
            continue;
        }
        let time = live
            .nodes
            .get(path)
            .and_then(|l| parse_service_instance(&l.data))
            .and_then(|v| v.registration_time_utc)
            .unwrap_or(now_ms);
        doc.insert("registrationTimeUTC".into(), time.into());
        out.insert(path.clone(), jackson::to_vec(&Value::Object(doc)));
    }
    out
}
