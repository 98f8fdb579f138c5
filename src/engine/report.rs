//! The typed docs/contract.md §2 plan object (`{"changes":[...],"summary":{...}}`) that `--output json`
//! serializes, plus the outcome members `apply` adds. Secret data is `(sensitive)`; deleted data
//! is never shown.
use base64::Engine as _;
use serde::Serialize;

use crate::model::{AclEntry, Prune};
use crate::plan::{Change, KeptOwner, Op, Plan, Summary};

/// What a renderer shows for secret data.
pub const SENSITIVE: &str = "(sensitive)";

/// A plan as docs/contract.md §2's JSON object.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PlanReport {
    pub changes: Vec<ChangeReport>,
    pub summary: Summary,
    /// Owners the inventory records but the manifest set does not contain: kept (docs/contract.md §3 "Only
    /// what it was given"), deleted only with `--prune-removed`.
    #[serde(rename = "keptOwners")]
    pub kept_owners: Vec<KeptOwnerReport>,
    /// Declared nodes that already existed and that this plan takes ownership of.
    pub adopted: Vec<AdoptedReport>,
    /// `apply` only: whether anything was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<bool>,
    /// `apply` only: atomic transactions used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transactions: Option<usize>,
    /// `apply` only: nothing written because of `<state-path>/suspend`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended: Option<bool>,
    /// `apply` only: why a guard refused the plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// An owner missing from the manifest set, kept.
#[derive(Clone, Debug, Serialize)]
pub struct KeptOwnerReport {
    pub kind: String,
    pub name: String,
    pub root: String,
    /// Nodes the inventory still records for it.
    pub nodes: usize,
    /// Its last recorded `prune`.
    pub prune: Prune,
    /// What to do about it.
    pub hint: &'static str,
}

/// A node this plan adopts.
#[derive(Clone, Debug, Serialize)]
pub struct AdoptedReport {
    pub path: String,
    pub kind: String,
    pub name: String,
}

/// What to do about a kept owner.
pub fn kept_hint(k: &KeptOwner) -> &'static str {
    if k.prune == Prune::Off {
        "not in this manifest set; its recorded prune is off, so --prune-removed keeps its nodes too (delete them by hand)"
    } else {
        "not in this manifest set, so its nodes are kept; --prune-removed deletes them"
    }
}

/// One change.
#[derive(Clone, Debug, Serialize)]
pub struct ChangeReport {
    pub op: Op,
    pub path: String,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub before: Option<Shown>,
    pub after: Option<Shown>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub observe: bool,
}

/// Data or an ACL as shown in a plan.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Shown {
    /// UTF-8 data, or [`SENSITIVE`].
    Text(String),
    /// Binary data.
    Binary { base64: String },
    /// An ACL, one `scheme:id:perms` string per entry.
    Acl(Vec<String>),
}

impl PlanReport {
    pub fn new(plan: &Plan) -> Self {
        Self {
            changes: plan.changes.iter().map(ChangeReport::new).collect(),
            summary: plan.summary(),
            kept_owners: plan
                .kept_owners
                .iter()
                .map(|k| KeptOwnerReport {
                    kind: k.owner.kind.to_string(),
                    name: k.owner.name.to_string(),
                    root: k.root.to_string(),
                    nodes: k.nodes,
                    prune: k.prune,
                    hint: kept_hint(k),
                })
                .collect(),
            adopted: plan
                .adopted
                .iter()
                .map(|a| AdoptedReport {
                    path: a.path.to_string(),
                    kind: a.owner.kind.to_string(),
                    name: a.owner.name.to_string(),
                })
                .collect(),
            applied: None,
            transactions: None,
            suspended: None,
            refused: None,
        }
    }
}

fn acl_strings(acl: &[AclEntry]) -> Vec<String> {
    acl.iter().map(|a| a.to_string()).collect()
}

fn shown_bytes(b: &[u8]) -> Shown {
    match std::str::from_utf8(b) {
        Ok(s) => Shown::Text(s.to_owned()),
        Err(_) => Shown::Binary {
            base64: base64::engine::general_purpose::STANDARD.encode(b),
        },
    }
}

impl ChangeReport {
    pub fn new(c: &Change) -> Self {
        let data = |b: &[u8]| {
            Some(if c.secret() {
                Shown::Text(SENSITIVE.into())
            } else {
                shown_bytes(b)
            })
        };
        let (before, after) = match c {
            Change::Create { data: d, .. } => (None, data(d)),
            Change::Update { before, after, .. } => (data(before), data(after)),
            Change::Delete { .. } => (None, None),
            Change::Acl { before, after, .. } => (
                Some(Shown::Acl(acl_strings(before))),
                Some(Shown::Acl(acl_strings(after))),
            ),
        };
        Self {
            op: c.op(),
            path: c.path().to_owned(),
            kind: c.owner().map(|o| o.kind.to_string()),
            name: c.owner().map(|o| o.name.to_string()),
            before,
            after,
            observe: c.observe(),
        }
    }
}
