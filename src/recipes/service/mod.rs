//! `Service`: registrations at `<basePath>/<service name>/<instance id>` in one of two formats.
//!
//! # `format: curator` — curator-x-discovery `ServiceInstance`
//!
//! The bytes `JsonInstanceSerializer` (compatible mode, the default: `enabled` left out) writes
//! through Jackson: keys in the field order of `ServiceInstance`: `name`, `id`, `address`, `port`,
//! `sslPort` (`null` when absent), `payload`, `registrationTimeUTC` (ms), `serviceType`, `uriSpec`.
//!
//! - `payload` is `null` without a payload. With one, it is an object whose first key is the
//!   Jackson type id `"@class"` (`@JsonTypeInfo(use = CLASS)` on `getPayload()`; default
//!   `java.util.LinkedHashMap`, or `payloadClass`), then the payload's own keys **sorted**
//!   (recursively), so the bytes do not depend on how the YAML was written.
//! - `serviceType` is `DYNAMIC` for `scope: host` (Curator registers those as ephemeral nodes) and
//!   `PERMANENT` for `scope: cluster`. Curator creates `STATIC` and `PERMANENT` instances alike as
//!   persistent nodes, but `curator-x-discovery-server`'s `InstanceCleanup` deletes `STATIC` ones
//!   once `registrationTimeUTC` is older than its refresh threshold; `PERMANENT` means "must be
//!   removed explicitly", which is what a declared registration is.
//! - `uriSpec` is `null` or the Jackson bean form of `UriSpec`,
//!   `{"parts":[{"value":"scheme","variable":true},...]}` (see [`UriSpec`]), never the template
//!   string.
//! - `registrationTimeUTC` is rendered as 0 by [`expand_service`]; [`stabilize_registration_times`]
//!   fills in the live node's time (or now) so re-applies do not rewrite it.
//! - Parents `<basePath>` (and its missing ancestors) and `<basePath>/<name>` are container
//!   nodes, as `creatingParentContainersIfNeeded()` creates them.
//!
//! # `format: json` — plain JSON, as kazoo scripts write it
//!
//! Compact JSON with keys in this fixed order: `{"name":..,"id":..,"host":..,"port":..}`, then
//! `"sslPort":N` only when set, then `"payload":{..}` (keys sorted recursively, no `@class`) only
//! when set. Parents are persistent (kazoo's `ensure_path`).
//!
//! # Scope
//!
//! `scope: host` → ephemeral instance nodes and a host-scoped root (kept by the agent for its
//! own session, skipped by `apply`); `scope: cluster` → persistent nodes, reconciled like config.
//!
//! # Files
//! [`render`]: the bytes of each format; [`read`]: registrations read back from znodes;
//! [`validate`]: the checks of one instance; here: the expansion that ties them together.
use std::collections::BTreeMap;

use super::curator::UriSpec;
use super::{Expansion, RecipeError, ancestors, is_node_name, node};
use crate::model::spec::{ScopeSpec, ServiceFormat, ServiceSpec};
use crate::model::{AclEntry, DataPolicy, Kind, MAX_NODE_DATA, NodeMode, Owner, ZPath};

mod read;
mod render;
#[cfg(test)]
mod tests;
mod validate;

pub use read::{
    ServiceInstanceView, parse_service_instance, registration_times, stabilize_registration_times,
};
pub use render::ServiceType;
use render::{render_curator, render_json};
use validate::check_instance;

/// Expands a `Service` document. `base_path` is the validated `spec.basePath`; `acl` the
/// validated `spec.acl`, used for the service node `<basePath>/<name>` and its instances (the
/// directories above it get none, see [`crate::recipes`]).
///
/// Every problem is reported, each with a pointer into `spec`: an instance id that is not a
/// single znode name or is repeated (`/instances/N/id`), ports outside 1–65535, an empty
/// address, a payload with its own `@class`, `payloadClass` without a payload, an invalid
/// `uriSpec`, Curator-only fields with `format: json`, a `check` on a cluster-scoped service, a
/// rendered registration larger than a znode holds.
pub fn expand_service(
    name: &str,
    spec: &ServiceSpec,
    base_path: &ZPath,
    acl: Option<Vec<AclEntry>>,
) -> Result<Expansion, Vec<RecipeError>> {
    let owner = Owner::new(Kind::Service, name);
    let mut errors = Vec::new();
    if !is_node_name(name) {
        errors.push(RecipeError::new(
            "",
            format!("service name {name:?} (metadata.name) is not a valid znode name"),
        ));
    }
    let host = spec.scope == ScopeSpec::Host;
    let service_type = if host {
        ServiceType::Dynamic
    } else {
        ServiceType::Permanent
    };
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut rendered = Vec::with_capacity(spec.instances.len());
    let mut checks = BTreeMap::new();
    for (i, inst) in spec.instances.iter().enumerate() {
        let before = errors.len();
        if let Some(check) = check_instance(i, inst, spec, &mut errors) {
            checks.insert(inst.id.clone(), check);
        }
        if let Some(first) = seen.insert(&inst.id, i) {
            errors.push(RecipeError::new(
                format!("/instances/{i}/id"),
                format!(
                    "duplicate instance id {:?}: already used by /instances/{first}",
                    inst.id
                ),
            ));
            seen.insert(&inst.id, first);
        }
        let uri = match (&inst.uri_spec, spec.format) {
            (Some(raw), ServiceFormat::Curator) => match UriSpec::parse(raw) {
                Ok(u) => Some(u),
                Err(e) => {
                    errors.push(RecipeError::new(
                        format!("/instances/{i}/uriSpec"),
                        format!("invalid uriSpec {raw:?}: {e}"),
                    ));
                    None
                }
            },
            _ => None,
        };
        if errors.len() > before {
            continue;
        }
        let data = match spec.format {
            ServiceFormat::Curator => render_curator(name, inst, service_type, uri.as_ref(), 0),
            ServiceFormat::Json => render_json(name, inst),
        };
        if data.len() > MAX_NODE_DATA {
            errors.push(RecipeError::new(
                format!("/instances/{i}"),
                format!(
                    "the registration is {} bytes, more than a znode holds ({MAX_NODE_DATA} bytes); shrink the payload",
                    data.len()
                ),
            ));
            continue;
        }
        rendered.push((inst.id.as_str(), data));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let service_path = base_path.child(name);
    let parent_mode = match spec.format {
        ServiceFormat::Curator => NodeMode::Container,
        ServiceFormat::Json => NodeMode::Persistent,
    };
    let instance_mode = if host {
        NodeMode::Ephemeral
    } else {
        NodeMode::Persistent
    };
    let mut nodes = ancestors(&service_path, parent_mode, &owner);
    nodes.push(node(
        service_path.clone(),
        Vec::new(),
        DataPolicy::Parent,
        parent_mode,
        &acl,
        &owner,
    ));
    for (id, data) in rendered {
        nodes.push(node(
            service_path.child(id),
            data,
            DataPolicy::Enforce,
            instance_mode,
            &acl,
            &owner,
        ));
    }
    let info = crate::model::RecipeInfo {
        format: spec.format.into(),
        alert_depth: None,
        checks,
    };
    Ok(Expansion::recipe(
        owner,
        service_path,
        nodes,
        Vec::new(),
        info,
        host,
    ))
}
