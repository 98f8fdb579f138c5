//! placeholder
pub mod server;
