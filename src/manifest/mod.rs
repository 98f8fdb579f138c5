//! Manifests: YAML documents → typed, validated [`crate::model::DesiredState`].
//!
//! Owns the document shapes ([`spec`]), the loader (files, multi-document YAML, `${VAR}`
//! expansion, `file:line:column` positions) and validation that reports every problem at once.
pub mod spec;
