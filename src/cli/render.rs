//! Rendering of plans for people (Terraform-style text); the JSON rendering is the serialized
//! [`crate::engine::PlanReport`].
//! Secret data is shown as `(sensitive)` everywhere; deleted data is never shown (a node that is
//! no longer declared has lost its `secret` flag).
use std::fmt::Write as _;

use base64::Engine as _;

use crate::engine::SENSITIVE;
use crate::engine::kept_hint;
use crate::plan::{Op, Plan};

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
    for a in plan.adopted.iter().take(TEXT_DETAIL_LIMIT) {
        let _ = writeln!(
            out,
            "  = {}  # {} {} (adopted: it already existed; zkstate owns it now and prunes it once it is removed from the manifests)",
            a.path, a.owner.kind, a.owner.name
        );
    }
    if plan.adopted.len() > TEXT_DETAIL_LIMIT {
        let _ = writeln!(
            out,
            "  ... and {} more adopted nodes (--output json lists every one)",
            plan.adopted.len() - TEXT_DETAIL_LIMIT
        );
    }
    for k in &plan.kept_owners {
        let _ = writeln!(
            out,
            "  ! kept {} {} (root {}): {} nodes recorded; {}",
            k.owner.kind,
            k.owner.name,
            k.root,
            k.nodes,
            kept_hint(k)
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
