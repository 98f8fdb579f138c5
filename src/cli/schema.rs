//! `zkstate schema`: print the JSON Schema, identical to `schemas/zkstate.schema.json`.
use std::io::Write;

use super::Exit;

/// Prints the generated schema (pretty JSON, trailing newline) to stdout.
pub fn run() -> Exit {
    let text = crate::manifest::schema_text();
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Exit::Ok,
        // A closed pipe (`zkstate schema | head`) is not worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Exit::Ok,
        Err(e) => {
            eprintln!("zkstate: failed to write the schema: {e}");
            Exit::Trouble
        }
    }
}
