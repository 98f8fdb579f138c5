//! The checks of one declared instance, each reported with a pointer into the spec.
use super::super::{RecipeError, is_node_name, pointer_token};
use crate::model::spec::{InstanceSpec, ScopeSpec, ServiceFormat, ServiceSpec};
use crate::model::{DEFAULT_CHECK_INTERVAL, HealthCheck, HostPort, parse_positive_duration};

/// Appends the instance's errors; returns its parsed health check when it has a valid one.
pub(super) fn check_instance(
    i: usize,
    inst: &InstanceSpec,
    spec: &ServiceSpec,
    errors: &mut Vec<RecipeError>,
) -> Option<HealthCheck> {
    let at = |field: &str| format!("/instances/{i}/{field}");
    if !is_node_name(&inst.id) {
        errors.push(RecipeError::new(
            at("id"),
            format!(
                "instance id {:?} must be a single znode name: not empty, no '/', not '.' or '..', no control characters",
                inst.id
            ),
        ));
    }
    if inst.address.is_empty() {
        errors.push(RecipeError::new(at("address"), "address must not be empty"));
    }
    for (field, port) in [("port", Some(inst.port)), ("sslPort", inst.ssl_port)] {
        if let Some(p) = port
            && !(1..=65535).contains(&p)
        {
            errors.push(RecipeError::new(
                at(field),
                format!("{field} {p} is outside 1-65535"),
            ));
        }
    }
    match spec.format {
        ServiceFormat::Curator => {
            if let Some(p) = &inst.payload
                && p.contains_key("@class")
            {
                errors.push(RecipeError::new(
                    format!("/instances/{i}/payload/{}", pointer_token("@class")),
                    "the payload must not have its own \"@class\": set payloadClass instead",
                ));
            }
            if let Some(class) = &inst.payload_class {
                if inst.payload.is_none() {
                    errors.push(RecipeError::new(
                        at("payloadClass"),
                        "payloadClass needs a payload (use `payload: {}` for an empty one)",
                    ));
                } else if class.is_empty()
                    || class.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    errors.push(RecipeError::new(
                        at("payloadClass"),
                        format!("payloadClass {class:?} is not a Java class name"),
                    ));
                }
            }
        }
        ServiceFormat::Json => {
            for (field, set) in [
                ("payloadClass", inst.payload_class.is_some()),
                ("uriSpec", inst.uri_spec.is_some()),
            ] {
                if set {
                    errors.push(RecipeError::new(
                        at(field),
                        format!("{field} applies to format: curator only"),
                    ));
                }
            }
        }
    }
    if let Some(check) = &inst.check {
        if spec.scope != ScopeSpec::Host {
            errors.push(RecipeError::new(
                at("check"),
                "a health check needs scope: host (the agent on the instance's own host runs it)",
            ));
        }
        let tcp = HostPort::parse(&check.tcp);
        if tcp.is_none() {
            errors.push(RecipeError::new(
                format!("/instances/{i}/check/tcp"),
                format!("tcp {:?} must be host:port", check.tcp),
            ));
        }
        let interval = match &check.interval {
            None => Some(DEFAULT_CHECK_INTERVAL),
            Some(text) => {
                let d = parse_positive_duration(text);
                if d.is_none() {
                    errors.push(RecipeError::new(
                        format!("/instances/{i}/check/interval"),
                        format!("interval {text:?} must be a positive duration such as 5s"),
                    ));
                }
                d
            }
        };
        return Some(HealthCheck {
            tcp: tcp?,
            interval: interval?,
        });
    }
    None
}
