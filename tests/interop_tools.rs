//! Proves the interop tools themselves (kazoo_tool.py, CuratorTool.java) against a real
//! ZooKeeper: every subcommand, and the node formats of docs/contract.md §6 as the libraries write them.
//! zkstate is not involved here; its interop tests build on these tools.
mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{Holder, curator, kazoo, wait_for, zk};
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .map(|v| v.as_str().expect("string").to_string())
        .collect()
}

fn is_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// `<uuid4 hex>__lock__<seq10>`
fn is_kazoo_lock_node(name: &str) -> bool {
    name.split_once("__lock__").is_some_and(|(id, seq)| {
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) && is_digits(seq, 10)
    })
}

/// `_c_<uuid with dashes>-<kind>-<seq10>`
fn is_curator_node(name: &str, kind: &str) -> bool {
    let Some(rest) = name.strip_prefix("_c_") else {
        return false;
    };
    let Some((uuid, seq)) = rest.split_once(&format!("-{kind}-")) else {
        return false;
    };
    uuid.len() == 36 && uuid.split('-').count() == 5 && is_digits(seq, 10)
}

#[test]
fn kazoo_lock_and_election() {
    let zk = zk();
    let hosts = zk.connect_string();
    let h = hosts.as_str();

    let alice = Holder::kazoo(&["lock-hold", h, "/locks/a", "alice"]);
    let node = alice.ready()["node"].as_str().unwrap().to_string();
    assert!(is_kazoo_lock_node(&node), "{node}");
    assert_eq!(
        strings(&kazoo(&["children", h, "/locks/a"])),
        vec![node.clone()]
    );
    let data = kazoo(&["get", h, &format!("/locks/a/{node}")]);
    assert_eq!(data["data"], "alice");
    assert_eq!(data["ephemeral"], true);
    assert_eq!(
        strings(&kazoo(&["lock-contenders", h, "/locks/a"])),
        ["alice"]
    );
    assert_eq!(
        kazoo(&["lock-try", h, "/locks/a", "bob", "0.3"]),
        json!({"acquired": false})
    );
    alice.release();
    assert_eq!(kazoo(&["lock-contenders", h, "/locks/a"]), json!([]));
    assert_eq!(
        kazoo(&["lock-try", h, "/locks/a", "bob", "5"]),
        json!({"acquired": true})
    );

    let first = Holder::kazoo(&["election-run", h, "/elections/e", "one"]);
    let second = Holder::kazoo(&["election-run", h, "/elections/e", "two"]);
    assert!(is_kazoo_lock_node(first.ready()["node"].as_str().unwrap()));
    assert_eq!(
        strings(&kazoo(&["contenders", h, "/elections/e"])),
        ["one", "two"]
    );
    drop(first);
    assert!(wait_for(
        || kazoo(&["contenders", h, "/elections/e"]) == json!(["two"]),
        Duration::from_secs(10)
    ));
    drop(second);
    assert_eq!(kazoo(&["contenders", h, "/elections/e"]), json!([]));
}

#[test]
fn kazoo_queues() {
    let zk = zk();
    let hosts = zk.connect_string();
    let h = hosts.as_str();

    kazoo(&["queue-put", h, "/q/plain", "a"]);
    kazoo(&["queue-put", h, "/q/plain", "b", "5"]);
    kazoo(&["queue-put", h, "/q/plain", "c"]);
    assert_eq!(kazoo(&["queue-len", h, "/q/plain"]), json!(3));
    assert_eq!(
        strings(&kazoo(&["children", h, "/q/plain"])),
        [
            "entry-005-0000000001",
            "entry-100-0000000000",
            "entry-100-0000000002"
        ]
    );
    let item = kazoo(&["get", h, "/q/plain/entry-100-0000000000"]);
    assert_eq!(item["data_b64"], b64(b"a"), "raw bytes");
    assert_eq!(kazoo(&["queue-get", h, "/q/plain", "2"]), json!(["b", "a"]));
    assert_eq!(kazoo(&["queue-len", h, "/q/plain"]), json!(1));
    assert_eq!(kazoo(&["queue-get", h, "/q/plain", "5"]), json!(["c"]));

    kazoo(&["lqueue-put", h, "/q/locking", "x"]);
    kazoo(&["lqueue-put", h, "/q/locking", "y", "7"]);
    assert_eq!(kazoo(&["lqueue-len", h, "/q/locking"]), json!(2));
    assert_eq!(
        strings(&kazoo(&["children", h, "/q/locking"])),
        ["entries", "taken"]
    );
    let entries = strings(&kazoo(&["children", h, "/q/locking/entries"]));
    assert_eq!(entries.len(), 2);
    assert!(entries[0].starts_with("entry-007-"), "{entries:?}");
    assert_eq!(
        kazoo(&["lqueue-get", h, "/q/locking", "5", "0.2"]),
        json!(["y", "x"])
    );
    assert_eq!(kazoo(&["lqueue-len", h, "/q/locking"]), json!(0));
}

#[test]
fn kazoo_counters_and_plain_nodes() {
    let zk = zk();
    let hosts = zk.connect_string();
    let h = hosts.as_str();

    assert_eq!(kazoo(&["counter-set", h, "/c/plain", "7"]), json!(7));
    assert_eq!(kazoo(&["get", h, "/c/plain"])["data"], "7", "ASCII repr");
    assert_eq!(kazoo(&["counter-get", h, "/c/plain"]), json!(7));

    assert_eq!(
        kazoo(&["counter-set", h, "/c/curator", "-2", "--curator"]),
        json!(-2)
    );
    assert_eq!(
        kazoo(&["get", h, "/c/curator"])["data_b64"],
        b64(&(-2i32).to_be_bytes())
    );
    assert_eq!(
        kazoo(&["counter-get", h, "/c/curator", "--curator"]),
        json!(-2)
    );

    let text = r#"{"name": "svc", "host": "10.0.0.1", "port": 8080}"#;
    let reg = Holder::kazoo(&["json-register", h, "/svc/plain/one", text]);
    assert_eq!(reg.ready()["path"], "/svc/plain/one");
    let node = kazoo(&["get", h, "/svc/plain/one"]);
    assert_eq!(node["data"], text);
    assert_eq!(node["ephemeral"], true);
    assert_eq!(node["version"], 0);
    assert_eq!(kazoo(&["children", h, "/svc/plain"]), json!(["one"]));
    drop(reg);
    assert_eq!(
        kazoo(&["get", h, "/svc/plain/one"]),
        Value::Null,
        "closing the session removes it"
    );
    assert_eq!(kazoo(&["children", h, "/nope"]), Value::Null);
}

#[test]
fn curator_service_discovery() {
    let zk = zk();
    let hosts = zk.connect_string();
    let h = hosts.as_str();

    let dynamic = Holder::curator(&[
        "discovery-register",
        h,
        "/services",
        "payments",
        "inst-1",
        "10.0.0.1",
        "8080",
    ]);
    let data = dynamic.ready()["data"].as_str().unwrap().to_string();
    // Curator 5.4's own bytes: keys in its order, payload typed, no `enabled`.
    let keys: Vec<String> = serde_json::from_str::<serde_json::Map<String, Value>>(&data)
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        keys,
        [
            "name",
            "id",
            "address",
            "port",
            "sslPort",
            "payload",
            "registrationTimeUTC",
            "serviceType",
            "uriSpec"
        ]
    );
    assert!(
        data.starts_with(
            r#"{"name":"payments","id":"inst-1","address":"10.0.0.1","port":8080,"sslPort":null,"payload":{"@class":"java.util.LinkedHashMap","v":"1"},"registrationTimeUTC":"#
        ),
        "{data}"
    );
    assert!(
        data.ends_with(r#","serviceType":"DYNAMIC","uriSpec":null}"#),
        "{data}"
    );
    assert_eq!(
        kazoo(&["get", h, "/services/payments/inst-1"])["ephemeral"],
        true
    );

    let fixed = Holder::curator(&[
        "discovery-register",
        h,
        "/services",
        "payments",
        "inst-2",
        "10.0.0.2",
        "8081",
        "--static",
    ]);
    assert!(
        fixed.ready()["data"]
            .as_str()
            .unwrap()
            .contains(r#""serviceType":"STATIC""#)
    );

    // Bytes written by someone else (as zkstate will), read by Curator.
    let handmade = r#"{"name":"payments","id":"inst-3","address":"10.0.0.3","port":9090,"sslPort":9443,"payload":{"@class":"java.util.LinkedHashMap","version":"1.4.2"},"registrationTimeUTC":1700000000000,"serviceType":"DYNAMIC","uriSpec":{"parts":[{"value":"scheme","variable":true},{"value":"://","variable":false},{"value":"address","variable":true}]}}"#;
    let third = Holder::kazoo(&["json-register", h, "/services/payments/inst-3", handmade]);

    let found = curator(&["discovery-query", h, "/services", "payments"]);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(found[0]["id"], "inst-1");
    assert_eq!(found[0]["address"], "10.0.0.1");
    assert_eq!(found[0]["port"], 8080);
    assert_eq!(found[0]["sslPort"], Value::Null);
    assert_eq!(found[0]["payload"], json!({"v": "1"}));
    assert_eq!(found[0]["payloadClass"], "java.util.LinkedHashMap");
    assert_eq!(found[0]["serviceType"], "DYNAMIC");
    assert_eq!(found[0]["enabled"], true, "absent `enabled` reads as true");
    assert_eq!(found[1]["serviceType"], "STATIC");
    assert_eq!(
        found[2],
        json!({
            "name": "payments", "id": "inst-3", "address": "10.0.0.3", "port": 9090,
            "sslPort": 9443, "payload": {"version": "1.4.2"},
            "payloadClass": "java.util.LinkedHashMap", "registrationTimeUTC": 1700000000000u64,
            "serviceType": "DYNAMIC", "uriSpec": "{scheme}://{address}", "enabled": true
        })
    );

    drop(dynamic);
    drop(fixed);
    drop(third);
    assert_eq!(
        kazoo(&["children", h, "/services/payments"]),
        json!(["inst-2"]),
        "the STATIC instance outlives its registrar"
    );
}

#[test]
fn curator_latch_and_mutex() {
    let zk = zk();
    let hosts = zk.connect_string();
    let h = hosts.as_str();

    assert_eq!(curator(&["latch-participants", h, "/latch"]), json!([]));
    assert_eq!(curator(&["latch-leader", h, "/latch"]), Value::Null);
    let alpha = Holder::curator(&["latch-run", h, "/latch", "alpha"]);
    let beta = Holder::curator(&["latch-run", h, "/latch", "beta"]);
    let node = alpha.ready()["node"].as_str().unwrap().to_string();
    assert!(is_curator_node(&node, "latch"), "{node}");
    assert!(node.ends_with("-latch-0000000000"), "{node}");
    assert_eq!(
        kazoo(&["get", h, &format!("/latch/{node}")])["data"],
        "alpha"
    );
    assert_eq!(
        curator(&["latch-participants", h, "/latch"]),
        json!([{"id": "alpha", "isLeader": true}, {"id": "beta", "isLeader": false}])
    );
    assert_eq!(
        curator(&["latch-leader", h, "/latch"]),
        json!({"id": "alpha", "isLeader": true})
    );
    drop(alpha);
    assert_eq!(
        curator(&["latch-leader", h, "/latch"]),
        json!({"id": "beta", "isLeader": true})
    );
    drop(beta);

    let first = Holder::curator(&["mutex-hold", h, "/mutex", "m1"]);
    let node = first.ready()["node"].as_str().unwrap().to_string();
    assert!(is_curator_node(&node, "lock"), "{node}");
    let lock_node = kazoo(&["get", h, &format!("/mutex/{node}")]);
    assert_eq!(lock_node["data"], "m1");
    assert_eq!(lock_node["ephemeral"], true);
    assert_eq!(
        curator(&["mutex-participants", h, "/mutex"]),
        json!([{"node": node, "id": "m1"}])
    );
    drop(first);
    assert_eq!(curator(&["mutex-participants", h, "/mutex"]), json!([]));
}

#[test]
fn curator_queue_and_counters() {
    let zk = zk();
    let hosts = zk.connect_string();
    let h = hosts.as_str();

    assert_eq!(
        curator(&["queue-put", h, "/cq", "a", "b"]),
        json!({"put": 2})
    );
    assert_eq!(
        curator(&["queue-put", h, "/cq", "c", "dé", "--multi"]),
        json!({"put": 2})
    );
    assert_eq!(
        strings(&kazoo(&["children", h, "/cq"])),
        ["queue-0000000000", "queue-0000000001", "queue-0000000002"]
    );
    // docs/contract.md §6 framing: int32 0x00010001, then 0x01 + int32 length + bytes per item, then 0x02.
    let one = kazoo(&["get", h, "/cq/queue-0000000000"]);
    assert_eq!(one["data_b64"], b64(&[0, 1, 0, 1, 1, 0, 0, 0, 1, b'a', 2]));
    let multi = kazoo(&["get", h, "/cq/queue-0000000002"]);
    let mut framed = vec![0, 1, 0, 1, 1, 0, 0, 0, 1, b'c', 1, 0, 0, 0, 3];
    framed.extend_from_slice("dé".as_bytes());
    framed.push(2);
    assert_eq!(multi["data_b64"], b64(&framed));

    assert_eq!(
        curator(&["queue-take", h, "/cq", "1", "10000"]),
        json!(["a"])
    );
    assert_eq!(kazoo(&["children", h, "/cq"]).as_array().unwrap().len(), 2);
    assert_eq!(
        curator(&["queue-take", h, "/cq", "3", "10000"]),
        json!(["b", "c", "dé"])
    );
    assert_eq!(curator(&["queue-take", h, "/cq", "1", "300"]), json!([]));
    assert_eq!(kazoo(&["children", h, "/cq"]), json!([]));

    assert_eq!(curator(&["sharedcount-get", h, "/sc"]), Value::Null);
    assert_eq!(curator(&["sharedcount-set", h, "/sc", "42"]), json!(42));
    assert_eq!(
        kazoo(&["get", h, "/sc"])["data_b64"],
        b64(&42i32.to_be_bytes())
    );
    assert_eq!(curator(&["sharedcount-get", h, "/sc"]), json!(42));
    assert_eq!(kazoo(&["counter-get", h, "/sc", "--curator"]), json!(42));

    assert_eq!(
        curator(&["atomiclong-set", h, "/al", "1234567890123"]),
        json!(1234567890123u64)
    );
    assert_eq!(
        kazoo(&["get", h, "/al"])["data_b64"],
        b64(&1234567890123i64.to_be_bytes())
    );
    assert_eq!(
        curator(&["atomiclong-get", h, "/al"]),
        json!(1234567890123u64)
    );
}
