//! `zkstate suspend` / `zkstate resume`: create / delete `<state-path>/suspend`.
use super::common::{block_on, engine, fail};
use super::{Exit, GlobalArgs};
use crate::zk::ZkError;

pub fn run(suspend: bool, global: &GlobalArgs) -> Exit {
    block_on(async {
        let engine = match engine(global, String::new()).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        let path = engine.options().state.suspend();
        match (suspend, engine.set_suspended(suspend).await) {
            (true, Ok(true)) => println!(
                "suspended: {path} created; the leader plans and reports but does not write"
            ),
            (true, Ok(false)) => println!("already suspended: {path} exists"),
            (false, Ok(true)) => println!("resumed: {path} deleted"),
            (false, Ok(false)) => println!("not suspended: {path} does not exist"),
            (
                _,
                Err(ZkError::Op {
                    op,
                    path: p,
                    source,
                }),
            ) if p == path.as_str() => {
                return fail(Exit::Trouble, format!("failed to {op} {path}: {source}"));
            }
            (_, Err(e)) => return fail(Exit::Trouble, e),
        }
        Exit::Ok
    })
}
