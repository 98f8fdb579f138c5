//! Rendering of plans for people (Terraform-style text); the JSON rendering is the serialized
//! [`crate::engine::PlanReport`].
//! Secret data is shown as `(sensitive)` everywhere; deleted data is never shown (a node that is
//! no longer declared has lost its `secret` flag).
use std::fmt::Write as _;

use base64::Engine as _;

use crate::engine::SENSITIVE;
use crate::engine::kept_hint;
use crate::plan::{Change, Plan};

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

/// What a change shows under its heading, shared by the text and the markdown plans (each
/// formats it its own way).
pub(crate) enum Detail {
    /// Deletes: the heading says the size, data is never shown.
    None,
    /// Secret data.
    Sensitive,
    /// A created node's data.
    Value(String),
    /// Signed lines: an update's line diff (`-`, `+`, ` `) or an ACL change (`-` old, `+` new).
    Lines(Vec<(char, String)>),
}

pub(crate) fn detail(c: &Change) -> Detail {
    match c {
        Change::Create { secret: true, .. } | Change::Update { secret: true, .. } => {
            Detail::Sensitive
        }
        Change::Create { data, .. } => Detail::Value(show_bytes(data)),
        Change::Update { before, after, .. } => {
            let (before, after) = (show_bytes(before), show_bytes(after));
            let diff = similar::TextDiff::from_lines(&before, &after);
            let lines = diff
                .iter_all_changes()
                .map(|change| {
                    let sign = match change.tag() {
                        similar::ChangeTag::Delete => '-',
                        similar::ChangeTag::Insert => '+',
                        similar::ChangeTag::Equal => ' ',
                    };
                    (sign, change.value().trim_end_matches('\n').to_owned())
                })
                .collect();
            Detail::Lines(lines)
        }
        Change::Delete { .. } => Detail::None,
        Change::Acl { before, after, .. } => Detail::Lines(
            before
                .iter()
                .map(|a| ('-', a.to_string()))
                .chain(after.iter().map(|a| ('+', a.to_string())))
                .collect(),
        ),
    }
}

pub(crate) fn observe_label(c: &Change) -> &'static str {
    if c.observe() {
        "  (observe: not applied)"
    } else {
        ""
    }
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
            .owner()
            .map(|o| format!("  # {} {}", o.kind, o.name))
            .unwrap_or_default();
        let observe = observe_label(c);
        let path = c.path();
        let _ = match c {
            Change::Create { .. } => writeln!(out, "  + {path}{owner}{observe}"),
            Change::Update { .. } => writeln!(out, "  ~ {path}{owner}{observe}"),
            Change::Delete { size, .. } => {
                writeln!(out, "  - {path} ({size} bytes){owner}{observe}")
            }
            Change::Acl { .. } => writeln!(out, "  ~ acl {path}{owner}{observe}"),
        };
        match detail(c) {
            Detail::None => {}
            Detail::Sensitive => {
                let _ = writeln!(out, "      {SENSITIVE}");
            }
            Detail::Value(text) => {
                for line in text.lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
            Detail::Lines(lines) => {
                for (sign, line) in lines {
                    let _ = writeln!(out, "      {sign} {line}");
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
