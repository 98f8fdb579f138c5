//! `zkstate export --path ZNODE`: print a live subtree as a ConfigTree manifest that `diff`
//! reports as in sync. UTF-8 text becomes a plain string, anything else `{base64: ...}`, empty
//! nodes without children `{}`; ephemeral nodes (and sequential children) are left out; empty
//! parents are implied by their children; the root's own data uses the key `.`. ACLs are not
//! exported (a ConfigTree without `acl` does not compare ACLs).
//!
//! Round trip: every value is a YAML double-quoted scalar (never a bare word such as `on`,
//! `null`, `~`, `0x10` or `1e3`), with every character outside YAML's printable set escaped,
//! and `${` written as `$${` (the loader expands `${VAR}` in values), so applying an export back
//! is byte-exact for any content.
use std::fmt::Write as _;

use base64::Engine as _;

use super::common::{block_on, fail, open};
use super::{Exit, ExportArgs, GlobalArgs};
use crate::model::{LiveTree, ZPath};

pub fn run(args: &ExportArgs, global: &GlobalArgs) -> Exit {
    let root = match ZPath::parse(&args.path) {
        Ok(p) => p,
        Err(e) => {
            return fail(
                Exit::Trouble,
                format!("invalid --path {:?}: {e}", args.path),
            );
        }
    };
    block_on(async {
        let (client, _) = match open(global).await {
            Ok(x) => x,
            Err(e) => return e,
        };
        let live = match client.read_subtree(&root).await {
            Ok(l) => l,
            Err(e) => return fail(Exit::Trouble, e),
        };
        if !live.nodes.contains_key(&root) {
            return fail(Exit::Trouble, format!("{root} does not exist"));
        }
        let name = args.name.clone().unwrap_or_else(|| default_name(&root));
        print!("{}", render_manifest(&root, &name, &live));
        Exit::Ok
    })
}

/// `metadata.name` derived from a path: `/config/payments` → `config-payments`.
pub fn default_name(root: &ZPath) -> String {
    let s: String = root
        .as_str()
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_alphanumeric() { c } else { '-' }
        })
        .collect();
    let s = s.trim_matches('-').to_owned();
    if s.is_empty() { "root".into() } else { s }
}

/// Renders the manifest text (JSON-quoted scalars are valid YAML).
pub fn render_manifest(root: &ZPath, name: &str, live: &LiveTree) -> String {
    let mut out = String::new();
    out.push_str("apiVersion: zkstate/v1\nkind: ConfigTree\n");
    let _ = writeln!(out, "metadata:\n  name: {}", q(name));
    let _ = writeln!(out, "spec:\n  root: {}", q(root.as_str()));
    out.push_str("  nodes:\n");
    let mut any = false;
    for (path, node) in live.nodes.range(root.clone()..) {
        if !path.is_within(root) {
            break;
        }
        if node.is_ephemeral()
            || path
                .ancestors()
                .any(|a| live.nodes.get(&a).is_some_and(|n| n.is_ephemeral()))
        {
            continue;
        }
        if path.name().len() >= 10 && crate::plan::is_sequential_name(path.name()) && path != root {
            continue;
        }
        let rel = match path.relative_to(root) {
            Some("") => ".",
            Some(r) => r,
            None => continue,
        };
        let has_children = !node.children.is_empty();
        if node.data.is_empty() && (has_children || rel == ".") {
            continue;
        }
        any = true;
        let value = if node.data.is_empty() {
            "{}".to_owned()
        } else {
            match std::str::from_utf8(&node.data) {
                Ok(s) => q(&escape_env(s)),
                Err(_) => format!(
                    "{{base64: {}}}",
                    q(&base64::engine::general_purpose::STANDARD.encode(&node.data))
                ),
            }
        };
        let _ = writeln!(out, "    {}: {value}", q(rel));
    }
    if !any {
        out.truncate(out.len() - "  nodes:\n".len());
        out.push_str("  nodes: {}\n");
    }
    out
}

/// `${` → `$${`: the loader's escape for a literal `${` (any other `$` is literal).
pub fn escape_env(s: &str) -> String {
    s.replace("${", "$${")
}

/// A YAML double-quoted scalar holding exactly `s`.
pub fn q(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            // YAML's printable set, minus the byte-order mark.
            ' '..='~' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..
                if c != '\u{feff}' =>
            {
                out.push(c)
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08X}", c as u32);
            }
        }
    }
    out.push('"');
    out
}
