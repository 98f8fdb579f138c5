//! Rendering of plans for people (Terraform-style text) and machines (SPEC §2 JSON).
//! Secret data is shown as `(sensitive)` everywhere; deleted data is never shown (a node that is
//! no longer declared has lost its `secret` flag).
use std::fmt::Write as _;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::model::AclEntry;
use crate::plan::{Change, Op, Plan};

const SENSITIVE: &str = "(sensitive)";
/// Text plans show at most this many changes in detail; the summary line counts them all.
pub const TEXT_DETAIL_LIMIT: usize = 1000;

/// True when the bytes read as text worth showing line by line.
fn as_text(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return None;
    }
    Some(s)
}

pub(crate) fn show_bytes(b: &[u8]) -> String {
    if b.is_empty() {
        return "(empty)".into();
    }
    match as_text(b) {
        Some(s) => s.to_owned(),
        None => format!(
            "(binary, {} bytes, base64 {})",
            b.len(),
            base64::engine::general_purpose::STANDARD.encode(b)
        ),
    }
}

fn json_bytes(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(b) }),
    }
}

fn acl_strings(acl: &[AclEntry]) -> Vec<String> {
    acl.iter().map(|a| a.to_string()).collect()
}

/// The JSON object of SPEC §2.
pub fn plan_json(plan: &Plan) -> Value {
    let changes: Vec<Value> = plan.changes.iter().map(change_json).collect();
    let s = plan.summary();
    json!({
        "changes": changes,
        "summary": {"create": s.create, "update": s.update, "delete": s.delete},
    })
}

fn change_json(c: &Change) -> Value {
    let (kind, name) = match &c.owner {
        Some(o) => (
            Value::String(o.kind.to_string()),
            Value::String(o.name.clone()),
        ),
        None => (Value::Null, Value::Null),
    };
    let data = |b: &Option<Vec<u8>>| match b {
        None => Value::Null,
        Some(_) if c.secret => Value::String(SENSITIVE.into()),
        Some(b) => json_bytes(b),
    };
    let (before, after) = match c.op {
        Op::Acl => (
            c.before_acl
                .as_deref()
                .map(acl_strings)
                .map(Value::from)
                .unwrap_or(Value::Null),
            Value::from(acl_strings(&c.acl)),
        ),
        Op::Delete => (Value::Null, Value::Null),
        _ => (data(&c.before), data(&c.after)),
    };
    let mut v = json!({
        "op": c.op,
        "path": c.path,
        "kind": kind,
        "name": name,
        "before": before,
        "after": after,
    });
    if c.observe {
        v["observe"] = Value::Bool(true);
    }
    v
}

/// The Terraform-style text plan.
pub fn plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.changes.is_empty() {
        out.push_str("No changes. The live tree matches the manifests.\n");
    }
    for c in plan.changes.iter().take(TEXT_DETAIL_LIMIT) {
        let owner = c
            .owner
            .as_ref()
            .map(|o| format!("  # {} {}", o.kind, o.name))
            .unwrap_or_default();
        let observe = if c.observe {
            "  (observe: not applied)"
        } else {
            ""
        };
        match c.op {
            Op::Create => {
                let _ = writeln!(out, "  + {}{owner}{observe}", c.path);
                if c.secret {
                    let _ = writeln!(out, "      {SENSITIVE}");
                } else if let Some(a) = &c.after {
                    for line in show_bytes(a).lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
            Op::Update => {
                let _ = writeln!(out, "  ~ {}{owner}{observe}", c.path);
                if c.secret {
                    let _ = writeln!(out, "      {SENSITIVE}");
                } else {
                    let before = c.before.as_deref().map(show_bytes).unwrap_or_default();
                    let after = c.after.as_deref().map(show_bytes).unwrap_or_default();
                    let diff = similar::TextDiff::from_lines(&before, &after);
                    for change in diff.iter_all_changes() {
                        let sign = match change.tag() {
                            similar::ChangeTag::Delete => '-',
                            similar::ChangeTag::Insert => '+',
                            similar::ChangeTag::Equal => ' ',
                        };
                        let _ = writeln!(
                            out,
                            "      {sign} {}",
                            change.value().trim_end_matches('\n')
                        );
                    }
                }
            }
            Op::Delete => {
                let size = c.before.as_ref().map(Vec::len).unwrap_or(0);
                let _ = writeln!(out, "  - {} ({size} bytes){owner}{observe}", c.path);
            }
            Op::Acl => {
                let _ = writeln!(out, "  ~ acl {}{owner}{observe}", c.path);
                for a in c.before_acl.as_deref().unwrap_or_default() {
                    let _ = writeln!(out, "      - {a}");
                }
                for a in &c.acl {
                    let _ = writeln!(out, "      + {a}");
                }
            }
        }
    }
    if plan.changes.len() > TEXT_DETAIL_LIMIT {
        let _ = writeln!(
            out,
            "  ... and {} more changes (--output json lists every change)",
            plan.changes.len() - TEXT_DETAIL_LIMIT
        );
    }
    for n in &plan.notes {
        let _ = writeln!(out, "  ! {}: {}", n.path, n.message);
    }
    let s = plan.summary();
    let _ = writeln!(
        out,
        "\nPlan: {} to create, {} to update, {} to delete.",
        s.create, s.update, s.delete
    );
    out
}
