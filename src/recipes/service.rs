//! `Service`: registrations at `<basePath>/<service name>/<instance id>` in one of two formats.
//!
//! # `format: curator` — curator-x-discovery `ServiceInstance`
//!
//! The bytes `JsonInstanceSerializer` (compatible mode, the default: `enabled` left out) writes
//! through Jackson: keys in the field order of `ServiceInstance`: `name`, `id`, `address`, `port`,
//! `sslPort` (`null` when absent), `payload`, `registrationTimeUTC` (ms), `serviceType`, `uriSpec`.
//!
//! - `payload` is `null` without a payload. With one, it is an object whose first key is the
//!   Jackson type id `"@class"` (`@JsonTypeInfo(use = CLASS)` on `getPayload()`; default
//!   `java.util.LinkedHashMap`, or `payloadClass`), then the payload's own keys **sorted**
//!   (recursively), so the bytes do not depend on how the YAML was written.
//! - `serviceType` is `DYNAMIC` for `scope: host` (Curator registers those as ephemeral nodes) and
//!   `PERMANENT` for `scope: cluster`. Curator creates `STATIC` and `PERMANENT` instances alike as
//!   persistent nodes, but `curator-x-discovery-server`'s `InstanceCleanup` deletes `STATIC` ones
//!   once `registrationTimeUTC` is older than its refresh threshold; `PERMANENT` means "must be
//!   removed explicitly", which is what a declared registration is.
//! - `uriSpec` is `null` or the Jackson bean form of `UriSpec`,
//!   `{"parts":[{"value":"scheme","variable":true},...]}` (see [`UriSpec`]), never the template
//!   string.
//! - `registrationTimeUTC` is rendered as 0 by [`expand_service`]; [`stabilize_registration_times`]
//!   fills in the live node's time (or now) so re-applies do not rewrite it.
//! - Parents `<basePath>` (and its missing ancestors) and `<basePath>/<name>` are container
//!   nodes, as `creatingParentContainersIfNeeded()` creates them.
//!
//! # `format: json` — plain JSON, as kazoo scripts write it
//!
//! Compact JSON with keys in this fixed order: `{"name":..,"id":..,"host":..,"port":..}`, then
//! `"sslPort":N` only when set, then `"payload":{..}` (keys sorted recursively, no `@class`) only
//! when set. Parents are persistent (kazoo's `ensure_path`).
//!
//! # Scope
//!
//! `scope: host` → ephemeral instance nodes and a host-scoped root (kept by the agent for its
//! own session, skipped by `apply`); `scope: cluster` → persistent nodes, reconciled like config.
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::curator::{DEFAULT_PAYLOAD_CLASS, UriSpec};
use super::{Expansion, RecipeError, ancestors, is_node_name, jackson, node, pointer_token};
use crate::model::spec::{InstanceSpec, ScopeSpec, ServiceFormat, ServiceSpec};
use crate::model::{
    AclEntry, DataPolicy, DesiredState, Kind, LiveTree, MAX_NODE_DATA, NodeMode, Owner, ZPath,
};

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
const CURATOR_KEYS: [&str; 9] = [
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
    for (path, node) in state.nodes.iter_mut() {
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
        node.data = jackson::to_vec(&Value::Object(doc));
    }
}

/// Expands a `Service` document. `base_path` is the validated `spec.basePath`; `acl` the
/// validated `spec.acl`, used for the service node `<basePath>/<name>` and its instances (the
/// directories above it get none, see [`crate::recipes`]).
///
/// Every problem is reported, each with a pointer into `spec`: an instance id that is not a
/// single znode name or is repeated (`/instances/N/id`), ports outside 1–65535, an empty
/// address, a payload with its own `@class`, `payloadClass` without a payload, an invalid
/// `uriSpec`, Curator-only fields with `format: json`, a `check` on a cluster-scoped service, a
/// rendered registration larger than a znode holds.
pub fn expand_service(
    name: &str,
    spec: &ServiceSpec,
    base_path: &ZPath,
    acl: Option<Vec<AclEntry>>,
) -> Result<Expansion, Vec<RecipeError>> {
    let owner = Owner::new(Kind::Service, name);
    let mut errors = Vec::new();
    if !is_node_name(name) {
        errors.push(RecipeError::new(
            "",
            format!("service name {name:?} (metadata.name) is not a valid znode name"),
        ));
    }
    let host = spec.scope == ScopeSpec::Host;
    let service_type = if host {
        ServiceType::Dynamic
    } else {
        ServiceType::Permanent
    };
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rendered = Vec::with_capacity(spec.instances.len());
    for (i, inst) in spec.instances.iter().enumerate() {
        let before = errors.len();
        check_instance(i, inst, spec, &mut errors);
        if let Some(first) = seen.insert(&inst.id, i) {
            errors.push(RecipeError::new(
                format!("/instances/{i}/id"),
                format!(
                    "duplicate instance id {:?}: already used by /instances/{first}",
                    inst.id
                ),
            ));
            seen.insert(&inst.id, first);
        }
        let uri = match (&inst.uri_spec, spec.format) {
            (Some(raw), ServiceFormat::Curator) => match UriSpec::parse(raw) {
                Ok(u) => Some(u),
                Err(e) => {
                    errors.push(RecipeError::new(
                        format!("/instances/{i}/uriSpec"),
                        format!("invalid uriSpec {raw:?}: {e}"),
                    ));
                    None
                }
            },
            _ => None,
        };
        if errors.len() > before {
            continue;
        }
        let data = match spec.format {
            ServiceFormat::Curator => render_curator(name, inst, service_type, uri.as_ref(), 0),
            ServiceFormat::Json => render_json(name, inst),
        };
        if data.len() > MAX_NODE_DATA {
            errors.push(RecipeError::new(
                format!("/instances/{i}"),
                format!(
                    "the registration is {} bytes, more than a znode holds ({MAX_NODE_DATA} bytes); shrink the payload",
                    data.len()
                ),
            ));
            continue;
        }
        rendered.push((inst.id.as_str(), data));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let service_path = base_path.child(name);
    let parent_mode = match spec.format {
        ServiceFormat::Curator => NodeMode::Container,
        ServiceFormat::Json => NodeMode::Persistent,
    };
    let instance_mode = if host {
        NodeMode::Ephemeral
    } else {
        NodeMode::Persistent
    };
    let mut nodes = ancestors(&service_path, parent_mode, &owner);
    nodes.push(node(
        service_path.clone(),
        Vec::new(),
        DataPolicy::Parent,
        parent_mode,
        &acl,
        &owner,
    ));
    for (id, data) in rendered {
        nodes.push(node(
            service_path.child(id),
            data,
            DataPolicy::Enforce,
            instance_mode,
            &acl,
            &owner,
        ));
    }
    let info = crate::model::RecipeInfo {
        format: super::service_format_name(spec.format).to_owned(),
        alert_depth: None,
    };
    Ok(Expansion::recipe(
        owner,
        service_path,
        nodes,
        Vec::new(),
        info,
        host,
    ))
}

fn check_instance(
    i: usize,
    inst: &InstanceSpec,
    spec: &ServiceSpec,
    errors: &mut Vec<RecipeError>,
) {
    let at = |field: &str| format!("/instances/{i}/{field}");
    if !is_node_name(&inst.id) {
        errors.push(RecipeError::new(
            at("id"),
            format!(
                "instance id {:?} must be a single znode name: not empty, no '/', not '.' or '..', no control characters",
                inst.id
            ),
        ));
    }
    if inst.address.is_empty() {
        errors.push(RecipeError::new(at("address"), "address must not be empty"));
    }
    for (field, port) in [("port", Some(inst.port)), ("sslPort", inst.ssl_port)] {
        if let Some(p) = port
            && !(1..=65535).contains(&p)
        {
            errors.push(RecipeError::new(
                at(field),
                format!("{field} {p} is outside 1-65535"),
            ));
        }
    }
    match spec.format {
        ServiceFormat::Curator => {
            if let Some(p) = &inst.payload
                && p.contains_key("@class")
            {
                errors.push(RecipeError::new(
                    format!("/instances/{i}/payload/{}", pointer_token("@class")),
                    "the payload must not have its own \"@class\": set payloadClass instead",
                ));
            }
            if let Some(class) = &inst.payload_class {
                if inst.payload.is_none() {
                    errors.push(RecipeError::new(
                        at("payloadClass"),
                        "payloadClass needs a payload (use `payload: {}` for an empty one)",
                    ));
                } else if class.is_empty()
                    || class.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    errors.push(RecipeError::new(
                        at("payloadClass"),
                        format!("payloadClass {class:?} is not a Java class name"),
                    ));
                }
            }
        }
        ServiceFormat::Json => {
            for (field, set) in [
                ("payloadClass", inst.payload_class.is_some()),
                ("uriSpec", inst.uri_spec.is_some()),
            ] {
                if set {
                    errors.push(RecipeError::new(
                        at(field),
                        format!("{field} applies to format: curator only"),
                    ));
                }
            }
        }
    }
    if let Some(check) = &inst.check {
        if spec.scope != ScopeSpec::Host {
            errors.push(RecipeError::new(
                at("check"),
                "a health check needs scope: host (the agent on the instance's own host runs it)",
            ));
        }
        let tcp_ok = check
            .tcp
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
        if !tcp_ok {
            errors.push(RecipeError::new(
                format!("/instances/{i}/check/tcp"),
                format!("tcp {:?} must be host:port", check.tcp),
            ));
        }
        if let Some(interval) = &check.interval
            && !humantime::parse_duration(interval).is_ok_and(|d| !d.is_zero())
        {
            errors.push(RecipeError::new(
                format!("/instances/{i}/check/interval"),
                format!("interval {interval:?} must be a positive duration such as 5s"),
            ));
        }
    }
}

/// The `ServiceInstance` JSON of one instance (see the module docs).
fn render_curator(
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
fn render_json(name: &str, inst: &InstanceSpec) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LiveNode;
    use serde_json::json;

    fn spec(v: Value) -> ServiceSpec {
        serde_json::from_value(v).unwrap()
    }

    fn base() -> ZPath {
        ZPath::parse("/services").unwrap()
    }

    fn state_of(e: &Expansion) -> DesiredState {
        let mut s = DesiredState::default();
        for n in &e.nodes {
            s.nodes.insert(n.path.clone(), n.clone());
        }
        s.roots.push(e.root.clone());
        s
    }

    fn data(s: &DesiredState, path: &str) -> String {
        String::from_utf8(s.nodes[&ZPath::parse(path).unwrap()].data.clone()).unwrap()
    }

    /// The exact bytes Curator 5.4 writes (SPEC §6), from an equivalent manifest.
    const CURATOR_GOLDEN: &str = r#"{"name":"payments","id":"inst-1","address":"10.0.0.1","port":8080,"sslPort":null,"payload":{"@class":"java.util.LinkedHashMap","v":"1"},"registrationTimeUTC":1795609498553,"serviceType":"DYNAMIC","uriSpec":null}"#;

    #[test]
    fn curator_golden_bytes() {
        let s = spec(json!({
            "format": "curator", "basePath": "/services", "scope": "host",
            "instances": [{"id": "inst-1", "address": "10.0.0.1", "port": 8080, "payload": {"v": "1"}}]
        }));
        let e = expand_service("payments", &s, &base(), None).unwrap();
        let mut state = state_of(&e);
        assert!(data(&state, "/services/payments/inst-1").contains(r#""registrationTimeUTC":0,"#));
        stabilize_registration_times(&mut state, &LiveTree::default(), 1795609498553);
        assert_eq!(data(&state, "/services/payments/inst-1"), CURATOR_GOLDEN);
    }

    #[test]
    fn curator_layout_modes_and_root() {
        let s = spec(json!({
            "format": "curator", "basePath": "/a/services", "scope": "host",
            "instances": [{"id": "i1", "address": "h", "port": 1}]
        }));
        let acl = Some(vec![AclEntry::open()]);
        let e = expand_service(
            "api",
            &s,
            &ZPath::parse("/a/services").unwrap(),
            acl.clone(),
        )
        .unwrap();
        let acls: Vec<_> = e.nodes.iter().map(|n| n.acl.clone()).collect();
        assert_eq!(acls, vec![None, None, acl.clone(), acl]);
        let got: Vec<(&str, DataPolicy, NodeMode)> = e
            .nodes
            .iter()
            .map(|n| (n.path.as_str(), n.policy, n.mode))
            .collect();
        assert_eq!(
            got,
            vec![
                ("/a", DataPolicy::Parent, NodeMode::Container),
                ("/a/services", DataPolicy::Parent, NodeMode::Container),
                ("/a/services/api", DataPolicy::Parent, NodeMode::Container),
                (
                    "/a/services/api/i1",
                    DataPolicy::Enforce,
                    NodeMode::Ephemeral
                ),
            ]
        );
        assert_eq!(e.root.root.as_str(), "/a/services/api");
        assert!(e.root.host_scoped);
        assert_eq!(
            (e.root.prune, e.root.mode),
            (crate::model::Prune::Owned, crate::model::Mode::Enforce)
        );
    }

    #[test]
    fn cluster_scope_is_permanent_and_persistent_with_full_fields() {
        let s = spec(json!({
            "format": "curator", "basePath": "/services",
            "instances": [{
                "id": "a", "address": "10.0.0.2", "port": 8080, "sslPort": 8443,
                "payload": {"zone": "b", "meta": {"z": 1, "a": [1.5, 1e7, "\u{1}"]}, "a": true},
                "payloadClass": "org.springframework.cloud.zookeeper.discovery.ZookeeperInstance",
                "uriSpec": "{scheme}://{address}:{port}"
            }]
        }));
        let e = expand_service("web", &s, &base(), None).unwrap();
        assert!(!e.root.host_scoped);
        let inst = e.nodes.last().unwrap();
        assert_eq!(inst.mode, NodeMode::Persistent);
        assert_eq!(
            String::from_utf8(inst.data.clone()).unwrap(),
            concat!(
                r#"{"name":"web","id":"a","address":"10.0.0.2","port":8080,"sslPort":8443,"#,
                r#""payload":{"@class":"org.springframework.cloud.zookeeper.discovery.ZookeeperInstance","a":true,"meta":{"a":[1.5,1.0E7,"\u0001"],"z":1},"zone":"b"},"#,
                r#""registrationTimeUTC":0,"serviceType":"PERMANENT","#,
                r#""uriSpec":{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},{"value":"address","variable":true},{"value":":","variable":false},{"value":"port","variable":true}]}}"#
            )
        );
        let view = parse_service_instance(&inst.data).unwrap();
        assert_eq!(view.service_type, Some(ServiceType::Permanent));
        assert_eq!(
            view.uri_spec.as_deref(),
            Some("{scheme}://{address}:{port}")
        );
        assert_eq!(
            view.payload_class.as_deref(),
            Some("org.springframework.cloud.zookeeper.discovery.ZookeeperInstance")
        );
        assert_eq!(view.payload.unwrap()["zone"], "b");
        assert_eq!((view.port, view.ssl_port), (Some(8080), Some(8443)));
    }

    #[test]
    fn no_payload_is_null_and_empty_payload_is_class_only() {
        let s = spec(json!({
            "format": "curator", "basePath": "/services",
            "instances": [
                {"id": "a", "address": "h", "port": 1},
                {"id": "b", "address": "h", "port": 1, "payload": {}}
            ]
        }));
        let e = expand_service("s", &s, &base(), None).unwrap();
        let a = String::from_utf8(e.nodes[2].data.clone()).unwrap();
        let b = String::from_utf8(e.nodes[3].data.clone()).unwrap();
        assert!(a.contains(r#""payload":null,"#), "{a}");
        assert!(
            b.contains(r#""payload":{"@class":"java.util.LinkedHashMap"},"#),
            "{b}"
        );
    }

    #[test]
    fn json_format_shape() {
        let s = spec(json!({
            "format": "json", "basePath": "/services", "scope": "host",
            "instances": [
                {"id": "h1-8080", "address": "10.0.0.1", "port": 8080},
                {"id": "h2-8080", "address": "10.0.0.2", "port": 8080, "sslPort": 8443, "payload": {"v": 2, "a": {"y": 1, "x": 0}}}
            ]
        }));
        let e = expand_service("payments", &s, &base(), None).unwrap();
        assert!(
            e.nodes[..2]
                .iter()
                .all(|n| n.mode == NodeMode::Persistent && n.policy == DataPolicy::Parent)
        );
        assert_eq!(e.nodes[2].mode, NodeMode::Ephemeral);
        assert_eq!(
            String::from_utf8(e.nodes[2].data.clone()).unwrap(),
            r#"{"name":"payments","id":"h1-8080","host":"10.0.0.1","port":8080}"#
        );
        assert_eq!(
            String::from_utf8(e.nodes[3].data.clone()).unwrap(),
            r#"{"name":"payments","id":"h2-8080","host":"10.0.0.2","port":8080,"sslPort":8443,"payload":{"a":{"x":0,"y":1},"v":2}}"#
        );
        let v = parse_service_instance(&e.nodes[3].data).unwrap();
        assert_eq!(v.format, ServiceFormat::Json);
        assert_eq!(
            (v.id.as_str(), v.address.as_deref(), v.ssl_port),
            ("h2-8080", Some("10.0.0.2"), Some(8443))
        );
        // stabilize leaves json registrations alone.
        let mut state = state_of(&e);
        let before = state.clone();
        stabilize_registration_times(&mut state, &LiveTree::default(), 5);
        assert_eq!(state, before);
    }

    #[test]
    fn validation_collects_every_problem() {
        let s = spec(json!({
            "format": "curator", "basePath": "/services", "scope": "cluster",
            "instances": [
                {"id": "a/b", "address": "", "port": 0},
                {"id": "ok", "address": "h", "port": 70000, "sslPort": 0, "payload": {"@class": "x"}},
                {"id": "ok", "address": "h", "port": 1, "payloadClass": "x", "uriSpec": "{a"},
                {"id": "..", "address": "h", "port": 1, "check": {"tcp": "nohost", "interval": "soon"}}
            ]
        }));
        let errs = expand_service("s", &s, &base(), None).unwrap_err();
        let ptrs: Vec<&str> = errs.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(
            ptrs,
            vec![
                "/instances/0/id",
                "/instances/0/address",
                "/instances/0/port",
                "/instances/1/port",
                "/instances/1/sslPort",
                "/instances/1/payload/@class",
                "/instances/2/payloadClass",
                "/instances/2/id",
                "/instances/2/uriSpec",
                "/instances/3/id",
                "/instances/3/check",
                "/instances/3/check/tcp",
                "/instances/3/check/interval",
            ]
        );
        assert!(
            errs[7]
                .message
                .contains("duplicate instance id \"ok\": already used by /instances/1")
        );
    }

    #[test]
    fn json_format_rejects_curator_fields() {
        let s = spec(json!({
            "format": "json", "basePath": "/services",
            "instances": [{"id": "a", "address": "h", "port": 1, "payloadClass": "x", "uriSpec": "{a}"}]
        }));
        let ptrs: Vec<String> = expand_service("s", &s, &base(), None)
            .unwrap_err()
            .into_iter()
            .map(|e| e.pointer)
            .collect();
        assert_eq!(
            ptrs,
            vec!["/instances/0/payloadClass", "/instances/0/uriSpec"]
        );
    }

    #[test]
    fn host_check_is_accepted() {
        let s = spec(json!({
            "format": "curator", "basePath": "/services", "scope": "host",
            "instances": [{"id": "a", "address": "h", "port": 1, "check": {"tcp": "[::1]:8080", "interval": "5s"}}]
        }));
        assert!(expand_service("s", &s, &base(), None).is_ok());
    }

    #[test]
    fn stabilize_keeps_the_live_time_and_uses_now_otherwise() {
        let s = spec(json!({
            "format": "curator", "basePath": "/services",
            "instances": [
                {"id": "old", "address": "h", "port": 1, "payload": {"k": 1.5}},
                {"id": "new", "address": "h", "port": 2},
                {"id": "garbled", "address": "h", "port": 3}
            ]
        }));
        let e = expand_service("s", &s, &base(), None).unwrap();
        let mut live = LiveTree::default();
        let old = ZPath::parse("/services/s/old").unwrap();
        let garbled = ZPath::parse("/services/s/garbled").unwrap();
        let mut written_earlier = e.nodes[2].data.clone();
        let s_ = String::from_utf8(written_earlier).unwrap().replace(
            r#""registrationTimeUTC":0"#,
            r#""registrationTimeUTC":1700000000000"#,
        );
        written_earlier = s_.into_bytes();
        live.nodes.insert(
            old.clone(),
            LiveNode {
                data: written_earlier.clone(),
                ..Default::default()
            },
        );
        live.nodes.insert(
            garbled.clone(),
            LiveNode {
                data: b"not json".to_vec(),
                ..Default::default()
            },
        );

        let mut state = state_of(&e);
        stabilize_registration_times(&mut state, &live, 1800000000000);
        assert_eq!(
            state.nodes[&old].data, written_earlier,
            "in sync: no update planned"
        );
        assert!(
            data(&state, "/services/s/new").contains(r#""registrationTimeUTC":1800000000000,"#)
        );
        assert!(
            data(&state, "/services/s/garbled").contains(r#""registrationTimeUTC":1800000000000,"#)
        );
        // Idempotent.
        let once = state.clone();
        stabilize_registration_times(&mut state, &live, 1800000000000);
        assert_eq!(state, once);
    }

    #[test]
    fn parses_curator_written_registrations() {
        // Spring Cloud Zookeeper, as dumped from a real ensemble.
        let spring = br#"{"name":"cloud-provider-payment","id":"efc76371-522d-4d5d-8f56-f8fe4deb7a47","address":"WINDOWS-N0GUAG7","port":8004,"sslPort":null,"payload":{"@class":"org.springframework.cloud.zookeeper.discovery.ZookeeperInstance","id":"application-1","name":"cloud-provider-payment","metadata":{}},"registrationTimeUTC":1590232919360,"serviceType":"DYNAMIC","uriSpec":{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},{"value":"address","variable":true},{"value":":","variable":false},{"value":"port","variable":true}]}}"#;
        let v = parse_service_instance(spring).unwrap();
        assert_eq!(v.format, ServiceFormat::Curator);
        assert_eq!(v.name, "cloud-provider-payment");
        assert_eq!(v.id, "efc76371-522d-4d5d-8f56-f8fe4deb7a47");
        assert_eq!(v.address.as_deref(), Some("WINDOWS-N0GUAG7"));
        assert_eq!((v.port, v.ssl_port), (Some(8004), None));
        assert_eq!(v.registration_time_utc, Some(1590232919360));
        assert_eq!(v.service_type, Some(ServiceType::Dynamic));
        assert_eq!(v.uri_spec.as_deref(), Some("{scheme}://{address}:{port}"));
        assert_eq!(v.payload.unwrap()["id"], "application-1");

        // Lenient like Jackson: only name and id are needed; unknown keys ignored.
        let minimal =
            parse_service_instance(br#"{"name":"n","id":"i","enabled":false,"extra":1}"#).unwrap();
        assert_eq!(
            (minimal.enabled, minimal.port, minimal.service_type),
            (Some(false), None, None)
        );
        assert_eq!(parse_service_instance(br#"{"name":"n"}"#), None);
        assert_eq!(parse_service_instance(b"[1]"), None);
        assert_eq!(parse_service_instance(b"\x00\x01"), None);
        // A kazoo script's JSON, without name or id.
        let k = parse_service_instance(br#"{"host":"10.0.0.9","port":"9000"}"#).unwrap();
        assert_eq!(
            (k.format, k.id.as_str(), k.port),
            (ServiceFormat::Json, "", Some(9000))
        );
        assert!(ServiceType::Dynamic.is_dynamic() && !ServiceType::Permanent.is_dynamic());
    }
}
