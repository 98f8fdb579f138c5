//! `zkstate validate`: parse, expand and check a manifest set; no ZooKeeper.
use super::{Exit, FilesArgs, GlobalArgs};

pub fn run(_args: &FilesArgs, _global: &GlobalArgs) -> Exit {
    Exit::Trouble
}
