//! The agent's Prometheus metrics (docs/contract.md §4), kept in one registry and rendered as text for
//! `/metrics`. Owns metric names and label sets; knows nothing about ZooKeeper.
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TreeLabel {
    pub tree: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabel {
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabel {
    pub queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabel {
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabel {
    pub source: String,
}

/// Session states reported by `zkstate_session_state{state}` (exactly one is 1).
pub const SESSION_STATES: [&str; 4] = ["connected", "disconnected", "expired", "connecting"];

/// Every metric the agent exports.
pub struct Metrics {
    registry: Registry,
    pub reconcile_total: Family<ResultLabel, Counter>,
    pub reconcile_duration: Histogram,
    pub drift_nodes: Family<TreeLabel, Gauge>,
    pub drift_reverted: Counter,
    pub last_apply_timestamp: Gauge<f64, AtomicU64>,
    pub multi_ops: Counter,
    pub multi_bytes: Histogram,
    pub session_state: Family<StateLabel, Gauge>,
    pub leader: Gauge,
    pub queue_depth: Family<QueueLabel, Gauge>,
    pub services_registered: Family<ServiceLabel, Gauge>,
    pub manifest_errors: Gauge,
    pub pass_sources: Family<SourceLabel, Counter>,
    pub cache_nodes: Gauge,
    /// `--git` (docs/contract.md §4a): fetches by result (`ok`, `error`, `rejected`).
    pub source_fetch_total: Family<ResultLabel, Counter>,
    pub source_last_fetch_timestamp: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            reconcile_total: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            drift_nodes: Family::default(),
            drift_reverted: Counter::default(),
            last_apply_timestamp: Gauge::default(),
            multi_ops: Counter::default(),
            multi_bytes: Histogram::new(exponential_buckets(64.0, 4.0, 10)),
            session_state: Family::default(),
            leader: Gauge::default(),
            queue_depth: Family::default(),
            services_registered: Family::default(),
            manifest_errors: Gauge::default(),
            pass_sources: Family::default(),
            cache_nodes: Gauge::default(),
            source_fetch_total: Family::default(),
            source_last_fetch_timestamp: Gauge::default(),
            registry: Registry::default(),
        };
        // The counter type adds the `_total` suffix itself.
        registry.register(
            "zkstate_reconcile",
            "Reconcile passes by result (applied, in_sync, suspended, refused, error, standby)",
            m.reconcile_total.clone(),
        );
        registry.register(
            "zkstate_reconcile_duration_seconds",
            "Duration of one reconcile pass",
            m.reconcile_duration.clone(),
        );
        registry.register(
            "zkstate_drift_nodes",
            "Nodes that differ from the manifests, per owner, in the last pass",
            m.drift_nodes.clone(),
        );
        registry.register(
            "zkstate_drift_reverted",
            "Changes written to revert drift or apply manifest changes",
            m.drift_reverted.clone(),
        );
        registry.register(
            "zkstate_last_apply_timestamp_seconds",
            "Unix time of the last transaction this agent committed",
            m.last_apply_timestamp.clone(),
        );
        registry.register(
            "zkstate_multi_ops",
            "Operations sent in multi transactions",
            m.multi_ops.clone(),
        );
        registry.register(
            "zkstate_multi_bytes",
            "Size of each multi transaction in bytes",
            m.multi_bytes.clone(),
        );
        registry.register(
            "zkstate_session_state",
            "1 for the current ZooKeeper session state",
            m.session_state.clone(),
        );
        registry.register(
            "zkstate_leader",
            "1 while this agent holds the leader lock",
            m.leader.clone(),
        );
        registry.register(
            "zkstate_queue_depth",
            "Items in each declared queue",
            m.queue_depth.clone(),
        );
        registry.register(
            "zkstate_services_registered",
            "Host-scoped instances this agent has registered, per service",
            m.services_registered.clone(),
        );
        registry.register(
            "zkstate_pass_source",
            "Leader passes by where they got the live tree (targeted, cache, read)",
            m.pass_sources.clone(),
        );
        registry.register(
            "zkstate_cache_nodes",
            "Nodes the leader's live cache of the managed subtrees holds",
            m.cache_nodes.clone(),
        );
        registry.register(
            "zkstate_manifest_errors",
            "Errors in the newest manifest set on disk (0 = valid)",
            m.manifest_errors.clone(),
        );
        registry.register(
            "zkstate_source_fetch",
            "Git fetches by result (ok, error, rejected: a fetched commit refused)",
            m.source_fetch_total.clone(),
        );
        registry.register(
            "zkstate_source_last_fetch_timestamp_seconds",
            "When the agent last fetched from Git (Unix time)",
            m.source_last_fetch_timestamp.clone(),
        );
        let mut m = m;
        m.registry = registry;
        m.set_session_state("connecting");
        m
    }

    /// Sets `zkstate_session_state{state}`: 1 for `state`, 0 for the others.
    pub fn set_session_state(&self, state: &str) {
        for s in SESSION_STATES {
            self.session_state
                .get_or_create(&StateLabel { state: s.into() })
                .set(i64::from(s == state));
        }
    }

    /// The Prometheus/OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_metric_is_rendered() {
        let m = Metrics::new();
        m.reconcile_total
            .get_or_create(&ResultLabel {
                result: "applied".into(),
            })
            .inc();
        m.drift_nodes
            .get_or_create(&TreeLabel { tree: "t".into() })
            .set(2);
        m.queue_depth
            .get_or_create(&QueueLabel { queue: "q".into() })
            .set(1);
        m.services_registered
            .get_or_create(&ServiceLabel {
                service: "s".into(),
            })
            .set(1);
        let text = m.render();
        for name in [
            "zkstate_reconcile_total{result=\"applied\"} 1",
            "zkstate_reconcile_duration_seconds_bucket",
            "zkstate_drift_nodes{tree=\"t\"} 2",
            "zkstate_drift_reverted_total",
            "zkstate_last_apply_timestamp_seconds",
            "zkstate_multi_ops_total",
            "zkstate_multi_bytes_bucket",
            "zkstate_session_state{state=\"connecting\"} 1",
            "zkstate_leader 0",
            "zkstate_queue_depth{queue=\"q\"} 1",
            "zkstate_services_registered{service=\"s\"} 1",
            "zkstate_manifest_errors 0",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
