//! The operators' kit in `contrib/` (docs/agent.md, "Operators' kit") against what the agent
//! really exports: every `zkstate_*` series the alert rules, their unit tests and the Grafana
//! dashboard name exists in the agent's `/metrics` text, with the labels they select on it, and
//! the dashboard shows every metric family. promtool checks the PromQL itself and runs the
//! rules' unit tests (`scripts/check-contrib`, a step of `scripts/check`).
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use zkstate::telemetry::metrics::{
    Metrics, QueueLabel, ResultLabel, ServiceLabel, SourceLabel, TreeLabel,
};

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: [&str; 2] = ["job", "instance"];

fn contrib(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Series name → label names, from the agent's own rendering with every family populated.
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let m = Metrics::new();
    m.reconcile_total
        .get_or_create(&ResultLabel {
            result: "applied".into(),
        })
        .inc();
    m.reconcile_duration.observe(0.01);
    m.drift_nodes
        .get_or_create(&TreeLabel { tree: "t".into() })
        .set(1);
    m.multi_bytes.observe(100.0);
    m.queue_depth
        .get_or_create(&QueueLabel { queue: "q".into() })
        .set(1);
    m.services_registered
        .get_or_create(&ServiceLabel {
            service: "s".into(),
        })
        .set(1);
    m.pass_sources
        .get_or_create(&SourceLabel {
            source: "cache".into(),
        })
        .inc();
    m.source_fetch_total
        .get_or_create(&ResultLabel {
            result: "ok".into(),
        })
        .inc();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in m.render().lines().filter(|l| !l.starts_with('#')) {
        let (series, _) = line.rsplit_once(' ').expect("name value");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let names = out.entry(name.to_owned()).or_default();
        for pair in labels.split(',').filter(|p| !p.is_empty()) {
            names.insert(pair.split('=').next().unwrap_or_default().to_owned());
        }
    }
    out
}

/// Every `zkstate_*` name in `text`, with the label names of the selector that follows it.
fn referenced(text: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("zkstate_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let name = &tail[..end];
        let mut labels = Vec::new();
        if let Some(selector) = tail[end..].strip_prefix('{') {
            let body = &selector[..selector.find('}').expect("a closed selector")];
            for matcher in body.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                let key = matcher.split(['=', '!']).next().unwrap_or_default().trim();
                labels.push(key.to_owned());
            }
        }
        out.push((name.to_owned(), labels));
        rest = &tail[end..];
    }
    out
}

fn check_names(what: &str, text: &str, exported: &BTreeMap<String, BTreeSet<String>>) -> usize {
    let refs = referenced(text);
    for (name, labels) in &refs {
        let Some(known) = exported.get(name) else {
            panic!("{what}: {name} is not a series the agent exports: {exported:#?}");
        };
        for l in labels {
            assert!(
                known.contains(l) || TARGET_LABELS.contains(&l.as_str()),
                "{what}: {name} has no label {l:?} (it has {known:?})"
            );
        }
    }
    refs.len()
}

#[test]
fn alert_rules_use_the_agents_metrics() {
    let exported = exported();
    for file in [
        "prometheus/zkstate.rules.yml",
        "prometheus/zkstate.rules.test.yml",
    ] {
        let n = check_names(file, &contrib(file), &exported);
        assert!(n >= 5, "{file}: only {n} zkstate series");
    }
    let rules = contrib("prometheus/zkstate.rules.yml");
    for alert in [
        "ZkstateAgentDown",
        "ZkstateNoSuccessfulPass",
        "ZkstateDriftNotReverted",
        "ZkstateManifestErrors",
        "ZkstateStandbyWithoutLeader",
    ] {
        assert!(
            rules.contains(&format!("alert: {alert}")),
            "{alert} missing"
        );
    }
}

#[test]
fn the_dashboard_queries_the_agents_metrics_and_shows_every_family() {
    let exported = exported();
    let dashboard: serde_json::Value =
        serde_json::from_str(&contrib("grafana/zkstate-agents.json")).expect("valid JSON");
    let exprs: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| t["expr"].as_str().expect("a query").to_owned())
        .collect();
    assert!(!exprs.is_empty());
    let mut shown = BTreeSet::new();
    for e in &exprs {
        assert!(
            check_names("dashboard", e, &exported) > 0,
            "a query without zkstate metrics: {e}"
        );
        shown.extend(referenced(e).into_iter().map(|(n, _)| n));
    }
    // Each family once: a histogram by its buckets, a counter by `_total`.
    let families: BTreeSet<String> = exported
        .keys()
        .map(|n| {
            n.trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count")
                .to_owned()
        })
        .collect();
    for family in families {
        assert!(
            shown.iter().any(|s| s.starts_with(&family)),
            "the dashboard does not show {family}"
        );
    }
}
