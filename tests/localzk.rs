//! The local-ZooKeeper launcher (`zkstate::localzk`) against real JVMs: a standalone server
//! serves a real client, restarts with its data, stops and cleans up; options reach the server;
//! a port held by another server is refused; a three-member ensemble survives losing its leader.
mod common;

use std::path::Path;
use std::time::Duration;

use common::{ServerOptions, ZkEnsemble, ZkServer};
use zkstate::localzk::{ServerError, four_letter};
use zookeeper_client::{Acls, Client, CreateMode};

async fn write_and_read(hosts: &str, path: &str) -> Vec<u8> {
    let client = Client::connector()
        .with_session_timeout(Duration::from_secs(5))
        .connect(hosts)
        .await
        .expect("connect");
    let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
    client
        .create(path, b"hello", &options)
        .await
        .expect("create");
    client.get_data(path).await.expect("get").0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn standalone_serves_a_real_client_and_stops() {
    let mut zk = ZkServer::start().expect("start zookeeper");
    assert_eq!(zk.connect_string(), format!("127.0.0.1:{}", zk.port()));
    assert!(zk.data_dir().join("version-2").is_dir() || zk.data_dir().is_dir());
    assert!(zk.four_letter("srvr").unwrap().contains("Mode: standalone"));
    let rt = runtime();
    assert_eq!(
        rt.block_on(write_and_read(&zk.connect_string(), "/a")),
        b"hello"
    );

    // Restart keeps port and data.
    let port = zk.port();
    zk.restart().expect("restart");
    assert_eq!(zk.port(), port);
    let data = rt.block_on(async {
        let client = Client::connect(&zk.connect_string()).await.unwrap();
        client.get_data("/a").await.unwrap().0
    });
    assert_eq!(data, b"hello");

    let pid = zk.pid().expect("running");
    zk.stop().expect("stop");
    assert_eq!(zk.pid(), None);
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "jvm is gone");
    assert!(four_letter(port, "srvr", Duration::from_millis(500)).is_err());
    assert!(zk.log_file().is_file(), "log4j wrote its file");
}

#[test]
fn drop_removes_the_directory_and_kill_is_abrupt() {
    let mut zk = ZkServer::start().expect("start zookeeper");
    let dir = zk.data_dir();
    zk.kill().expect("kill");
    assert!(!zk.is_running());
    zk.restart().expect("restart after kill");
    assert!(zk.is_running());
    drop(zk);
    assert!(!dir.exists());
}

#[test]
fn a_port_held_by_another_server_is_refused() {
    let first = ZkServer::start().expect("start zookeeper");
    let second = ZkServer::start_with(ServerOptions {
        port: Some(first.port()),
        ..Default::default()
    });
    match second {
        Err(ServerError::PortTaken { port } | ServerError::Exited { port, .. }) => {
            assert_eq!(port, first.port())
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn options_reach_the_server() {
    let zk = ZkServer::start_with(ServerOptions {
        jute_maxbuffer: Some(4 << 20),
        system_properties: vec![("zookeeper.extendedTypesEnabled".into(), "true".into())],
        max_session_timeout: Duration::from_secs(30),
        ..Default::default()
    })
    .expect("start zookeeper");
    let conf = zk.four_letter("conf").unwrap();
    assert!(conf.contains("maxSessionTimeout=30000"), "{conf}");
    assert!(conf.contains("minSessionTimeout=400"), "{conf}");
    let rt = runtime();
    rt.block_on(async {
        let client = Client::connect(&zk.connect_string()).await.unwrap();
        // TTL nodes need zookeeper.extendedTypesEnabled.
        let ttl = CreateMode::Persistent
            .with_acls(Acls::anyone_all())
            .with_ttl(Duration::from_secs(60));
        client.create("/ttl", b"", &ttl).await.expect("ttl node");
        // 2 MiB in one request needs jute.maxbuffer above its 1 MiB default.
        let big = vec![b'x'; 2 << 20];
        let options = CreateMode::Persistent.with_acls(Acls::anyone_all());
        client
            .create("/big", &big, &options)
            .await
            .expect("2 MiB node");
        assert_eq!(client.get_data("/big").await.unwrap().0.len(), 2 << 20);
    });
}

#[test]
fn ensemble_survives_losing_its_leader() {
    let mut ens = ZkEnsemble::start(3).expect("start ensemble");
    assert_eq!(ens.connect_string().split(',').count(), 3);
    let leader = ens.leader().expect("a leader");
    let rt = runtime();
    assert_eq!(
        rt.block_on(write_and_read(&ens.connect_string(), "/before")),
        b"hello"
    );

    ens.kill(leader).expect("kill leader");
    assert_eq!(ens.pid(leader), None);
    ens.wait_for_quorum(Duration::from_secs(30))
        .expect("quorum again");
    let new_leader = ens.leader().expect("a new leader");
    assert_ne!(new_leader, leader);
    assert_eq!(
        rt.block_on(write_and_read(&ens.connect_string(), "/after")),
        b"hello"
    );

    ens.start_member(leader).expect("rejoin");
    assert!(ens.mode(leader).is_some());
}
