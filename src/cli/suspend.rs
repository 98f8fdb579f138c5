//! `zkstate suspend` / `zkstate resume`: create / delete `<state-path>/suspend`.
use zookeeper_client as zk;

use super::common::{block_on, fail, open};
use super::{Exit, GlobalArgs};
use crate::zk::lock;

pub fn run(suspend: bool, global: &GlobalArgs) -> Exit {
    block_on(async {
        let (client, state) = match open(global).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        let path = state.suspend();
        if suspend {
            if let Err(e) =
                lock::ensure_state_path(&client, &state.root, &state.root, &state.acl).await
            {
                return fail(Exit::Trouble, e);
            }
            let acl: Vec<zk::Acl> = state
                .acl
                .iter()
                .map(crate::zk::snapshot::to_zk_acl)
                .collect();
            let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::new(&acl));
            let data = super::common::identifier();
            match client.create(path.as_str(), data.as_bytes(), &opts).await {
                Ok(_) => println!(
                    "suspended: {path} created; the leader plans and reports but does not write"
                ),
                Err(zk::Error::NodeExists) => println!("already suspended: {path} exists"),
                Err(e) => return fail(Exit::Trouble, format!("failed to create {path}: {e}")),
            }
        } else {
            match client.delete(path.as_str(), None).await {
                Ok(()) => println!("resumed: {path} deleted"),
                Err(zk::Error::NoNode) => println!("not suspended: {path} does not exist"),
                Err(e) => return fail(Exit::Trouble, format!("failed to delete {path}: {e}")),
            }
        }
        Exit::Ok
    })
}
