//! Tests of the Service recipe: golden Curator and JSON bytes, layouts, registration times,
//! validation.
use super::*;
use crate::model::LiveNode;
use crate::model::{DesiredState, LiveTree};
use serde_json::Value;
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

/// The exact bytes Curator 5.4 writes (docs/contract.md §6), from an equivalent manifest.
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
    let got = crate::recipes::node_summary(&e);
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
    assert!(data(&state, "/services/s/new").contains(r#""registrationTimeUTC":1800000000000,"#));
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
