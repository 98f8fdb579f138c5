//! `--output markdown` of `diff` and `apply`: a plan as a pull-request comment body.
//!
//! Shape: a hidden marker (so a CI job can find and update its own comment), a summary line, a
//! table with one row per owner, then one collapsible `<details>` block per owner with its changes
//! in a `diff` code block. Secret data is `(sensitive)`; deleted data is never shown (as in
//! [`super::render`]). The body stays under [`COMMENT_BUDGET`] characters (GitHub rejects comments
//! above 65,536): changes past the budget are left out and counted, long values are cut by lines.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::render::{Detail, detail, observe_label};
use crate::plan::{Change, Op, Plan};

/// The first line of every body: lets a CI job find the comment it posted before.
pub const MARKER: &str = "<!-- zkstate-plan -->";
/// The most characters a body may have: GitHub's 65,536 limit, less room for what a CI job adds.
pub const COMMENT_BUDGET: usize = 60_000;
/// The most lines of one value shown (before and after each).
const VALUE_LINES: usize = 40;
/// The most characters of one value line shown.
const LINE_CHARS: usize = 300;
const SENSITIVE: &str = "(sensitive)";

/// The markdown body of a plan; `title` heads it (`zkstate diff`, `zkstate apply`), `message`
/// (what `apply` did) follows the summary line.
pub fn plan_markdown(plan: &Plan, title: &str, message: Option<&str>) -> String {
    plan_markdown_within(plan, title, message, COMMENT_BUDGET)
}

/// [`plan_markdown`] with an explicit size budget (characters).
pub fn plan_markdown_within(
    plan: &Plan,
    title: &str,
    message: Option<&str>,
    budget: usize,
) -> String {
    let s = plan.summary();
    let mut head = String::new();
    let _ = writeln!(head, "{MARKER}");
    if plan.changes.is_empty() {
        let _ = writeln!(
            head,
            "### {title}: no changes\n\nThe live tree matches the manifests."
        );
    } else {
        let _ = writeln!(
            head,
            "### {title}: {} to create, {} to update, {} to delete",
            s.create, s.update, s.delete
        );
    }
    if let Some(m) = message {
        let _ = writeln!(head, "\n{}", escape_inline(m));
    }

    // Owners in first-appearance order of their changes (the plan's execution order).
    let mut order: Vec<String> = Vec::new();
    let mut groups: BTreeMap<String, Vec<&Change>> = BTreeMap::new();
    for c in &plan.changes {
        let label = owner_label(c);
        if !groups.contains_key(&label) {
            order.push(label.clone());
        }
        groups.entry(label).or_default().push(c);
    }
    if !order.is_empty() {
        head.push_str("\n| owner | create | update | delete |\n| --- | ---: | ---: | ---: |\n");
        for label in &order {
            let (mut cr, mut up, mut de) = (0, 0, 0);
            for c in &groups[label] {
                match c.op() {
                    Op::Create => cr += 1,
                    Op::Update | Op::Acl => up += 1,
                    Op::Delete => de += 1,
                }
            }
            let _ = writeln!(head, "| {} | {cr} | {up} | {de} |", escape_cell(label));
        }
    }

    let mut tail = String::new();
    if !plan.kept_owners.is_empty() {
        tail.push_str("\n**Kept owners** (recorded, not in this manifest set)\n\n");
        for k in &plan.kept_owners {
            let _ = writeln!(
                tail,
                "- {} {} (root `{}`): {} nodes recorded; {}",
                k.owner.kind,
                escape_inline(&k.owner.name),
                k.root.as_str().replace('`', "'"),
                k.nodes,
                crate::engine::kept_hint(k)
            );
        }
    }
    if !plan.adopted.is_empty() {
        let _ = writeln!(
            tail,
            "\n**Adopted**: {} existing nodes become owned by zkstate (pruned once removed from the manifests).",
            plan.adopted.len()
        );
    }
    if !plan.notes.is_empty() {
        tail.push_str("\n**Notes**\n\n");
        for n in &plan.notes {
            let _ = writeln!(
                tail,
                "- `{}`: {}",
                n.path.replace('`', "'"),
                escape_inline(&n.message)
            );
        }
    }

    // What is left for the change blocks, with room for the "left out" line.
    let reserve = 200;
    let mut left = budget.saturating_sub(head.chars().count() + tail.chars().count() + reserve);
    let mut body = String::new();
    let mut shown = 0usize;
    'owners: for label in &order {
        let changes = &groups[label];
        let lines: Vec<String> = changes.iter().map(|c| change_lines(c)).collect();
        let fence = fence_for(&lines);
        let open = format!(
            "\n<details><summary>{} ({} changes)</summary>\n\n{fence}diff\n",
            escape_html(label),
            changes.len()
        );
        let close = format!("{fence}\n\n</details>\n");
        let frame = open.chars().count() + close.chars().count();
        if frame >= left {
            break;
        }
        let mut block = open;
        let mut used = frame;
        let mut any = false;
        for text in &lines {
            let n = text.chars().count();
            if used + n > left {
                if any {
                    block.push_str(&close);
                    body.push_str(&block);
                }
                break 'owners;
            }
            block.push_str(text);
            used += n;
            shown += 1;
            any = true;
        }
        block.push_str(&close);
        body.push_str(&block);
        left = left.saturating_sub(used);
    }
    let mut out = head;
    out.push_str(&body);
    let hidden = plan.changes.len() - shown;
    if hidden > 0 {
        let _ = writeln!(
            out,
            "\n**{hidden} more changes not shown** (the comment size limit); \
             `zkstate diff --output json` lists every change."
        );
    }
    out.push_str(&tail);
    out
}

fn owner_label(c: &Change) -> String {
    match c.owner() {
        Some(o) => format!("{} {}", o.kind, o.name),
        None => "zkstate".into(),
    }
}

/// One change as `diff` lines, newline-terminated.
fn change_lines(c: &Change) -> String {
    let mut out = String::new();
    let observe = observe_label(c);
    let path = c.path();
    let _ = match c {
        Change::Create { .. } => writeln!(out, "+ {path}{observe}"),
        Change::Update { .. } => writeln!(out, "! {path}{observe}"),
        Change::Delete { size, .. } => writeln!(out, "- {path} ({size} bytes){observe}"),
        Change::Acl { .. } => writeln!(out, "! acl {path}{observe}"),
    };
    let sign = if c.op() == Op::Create { '+' } else { '!' };
    match detail(c) {
        Detail::None => {}
        Detail::Sensitive => {
            let _ = writeln!(out, "{sign}     {SENSITIVE}");
        }
        Detail::Value(text) => value_lines(&mut out, sign, &text),
        Detail::Lines(lines) => {
            // ACL lines are few; an update's diff is cut like a value.
            let limit = if c.op() == Op::Acl {
                usize::MAX
            } else {
                2 * VALUE_LINES
            };
            for (n, (sign, line)) in lines.iter().enumerate() {
                if n == limit {
                    let _ = writeln!(out, "      ... {} more lines", lines.len() - n);
                    break;
                }
                let _ = writeln!(out, "{sign}     {}", cut_line(line));
            }
        }
    }
    out
}

fn value_lines(out: &mut String, sign: char, text: &str) {
    let total = text.lines().count();
    for line in text.lines().take(VALUE_LINES) {
        let _ = writeln!(out, "{sign}     {}", cut_line(line));
    }
    if total > VALUE_LINES {
        let _ = writeln!(out, "{sign}     ... {} more lines", total - VALUE_LINES);
    }
}

fn cut_line(line: &str) -> String {
    if line.chars().count() <= LINE_CHARS {
        return line.to_owned();
    }
    let mut s: String = line.chars().take(LINE_CHARS).collect();
    s.push_str(" ...");
    s
}

/// A backtick fence longer than any backtick run in the content, so data cannot close it.
fn fence_for(lines: &[String]) -> String {
    let mut longest = 0usize;
    for text in lines {
        let mut run = 0usize;
        for ch in text.chars() {
            if ch == '`' {
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn escape_cell(s: &str) -> String {
    escape_html(s).replace('|', "\\|")
}

fn escape_inline(s: &str) -> String {
    escape_html(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AclEntry, Kind, Owner};
    use crate::plan::{CreateKind, Note, Plan, Target};

    fn at(path: &str, owner: &Owner) -> Target {
        Target {
            path: crate::model::ZPath::parse(path).unwrap(),
            owner: Some(owner.clone()),
            observe: false,
        }
    }

    fn create(path: &str, owner: &Owner, data: &[u8], secret: bool) -> Change {
        Change::Create {
            at: at(path, owner),
            data: data.to_vec(),
            secret,
            mode: CreateKind::Persistent,
            acl: Vec::new(),
        }
    }

    fn update(path: &str, owner: &Owner, before: &[u8], after: &[u8], secret: bool) -> Change {
        Change::Update {
            at: at(path, owner),
            before: before.to_vec(),
            after: after.to_vec(),
            secret,
            version: 0,
        }
    }

    fn sample() -> Plan {
        let pay = Owner::new(Kind::ConfigTree, "payments");
        let jobs = Owner::new(Kind::Queue, "jobs");
        let mut plan = Plan::default();
        plan.changes.extend([
            create(
                "/config/payments/db/url",
                &pay,
                b"postgres://db:5432/payments",
                false,
            ),
            create("/config/payments/tls/key", &pay, b"TOPSECRET-KEY", true),
            update(
                "/config/payments/db/pool",
                &pay,
                b"{\"max\":10}",
                b"{\"max\":20}",
                false,
            ),
            update(
                "/config/payments/db/password",
                &pay,
                b"OLDSECRET",
                b"NEWSECRET",
                true,
            ),
            Change::Delete {
                at: at("/config/payments/old", &pay),
                version: 0,
                size: b"gone-data".len(),
            },
            create("/queues/jobs", &jobs, b"", false),
            Change::Acl {
                at: at("/queues/jobs", &jobs),
                before: Vec::new(),
                after: vec![AclEntry::open()],
                aversion: 0,
            },
        ]);
        plan.notes.push(Note {
            path: "/config/payments/x".into(),
            message: "skipped <delete>".into(),
        });
        plan
    }

    #[test]
    fn summary_table_details_and_masking() {
        let md = plan_markdown(&sample(), "zkstate diff", None);
        assert!(md.starts_with(MARKER), "{md}");
        assert!(
            md.contains("### zkstate diff: 3 to create, 3 to update, 1 to delete"),
            "{md}"
        );
        assert!(md.contains("| ConfigTree payments | 2 | 2 | 1 |"), "{md}");
        assert!(md.contains("| Queue jobs | 1 | 1 | 0 |"), "{md}");
        assert!(
            md.contains("<details><summary>ConfigTree payments (5 changes)</summary>"),
            "{md}"
        );
        assert!(md.contains("+ /config/payments/db/url\n+     postgres://db:5432/payments\n"));
        assert!(
            md.contains("-     {\"max\":10}\n+     {\"max\":20}\n"),
            "{md}"
        );
        assert!(md.contains("- /config/payments/old (9 bytes)"), "{md}");
        assert!(md.contains("! acl /queues/jobs"), "{md}");
        assert!(md.contains("+     world:anyone:"), "{md}");
        // Secrets are masked, deleted data is never shown.
        for secret in ["TOPSECRET", "OLDSECRET", "NEWSECRET", "gone-data"] {
            assert!(!md.contains(secret), "{secret} leaked:\n{md}");
        }
        assert_eq!(md.matches("(sensitive)").count(), 2, "{md}");
        assert_eq!(md.matches("<details>").count(), 2);
        assert_eq!(md.matches("</details>").count(), 2);
        assert!(md.contains("skipped &lt;delete&gt;"), "{md}");
        assert!(!md.contains("more changes not shown"));
    }

    #[test]
    fn empty_plan_and_apply_message() {
        let md = plan_markdown(
            &Plan::default(),
            "zkstate apply",
            Some("Applied 0 changes."),
        );
        assert!(md.contains("### zkstate apply: no changes"), "{md}");
        assert!(md.contains("Applied 0 changes."));
        assert!(!md.contains("<details>"));
    }

    #[test]
    fn data_cannot_close_the_fence() {
        let owner = Owner::new(Kind::ConfigTree, "t");
        let mut plan = Plan::default();
        plan.changes
            .push(create("/t/readme", &owner, b"```\n</details>\n````", false));
        let md = plan_markdown(&plan, "zkstate diff", None);
        assert!(md.contains("`````diff\n"), "{md}");
        assert!(md.trim_end().ends_with("`````\n\n</details>"), "{md}");
    }

    #[test]
    fn long_plans_are_cut_under_the_comment_limit_with_a_count() {
        let owner = Owner::new(Kind::ConfigTree, "big");
        let mut plan = Plan::default();
        for i in 0..20_000 {
            let data = format!("value number {i} with some padding text");
            plan.changes.push(create(
                &format!("/big/node-{i:05}"),
                &owner,
                data.as_bytes(),
                false,
            ));
        }
        let md = plan_markdown(&plan, "zkstate diff", None);
        let len = md.chars().count();
        assert!(len <= COMMENT_BUDGET, "{len}");
        assert!(md.contains("### zkstate diff: 20000 to create, 0 to update, 0 to delete"));
        assert!(md.contains("| ConfigTree big | 20000 | 0 | 0 |"));
        let shown = md.matches("\n+ /big/node-").count();
        assert!(shown > 100 && shown < 20_000, "{shown}");
        assert!(
            md.contains(&format!("**{} more changes not shown**", 20_000 - shown)),
            "{}",
            &md[md.len() - 300..]
        );
        // The block that was cut is still closed.
        assert_eq!(
            md.matches("<details>").count(),
            md.matches("</details>").count()
        );

        // One huge value is cut by lines, not dropped.
        let mut plan = Plan::default();
        let huge = "line\n".repeat(100_000);
        plan.changes
            .push(create("/big/huge", &owner, huge.as_bytes(), false));
        let md = plan_markdown(&plan, "zkstate diff", None);
        assert!(md.contains("+     ... 99960 more lines"), "{md}");
        assert!(md.chars().count() < 5_000);
    }
}
