//! What the agent tells the outside world: Prometheus [`metrics`], the HTTP endpoints
//! ([`http`]: `/metrics`, `/healthz`, `/readyz`, `/status`) and systemd's notify protocol
//! ([`systemd`]). Tracing itself is set up by the CLI (`--log-format text|json`). No ZooKeeper
//! here: the agent passes values and a status source in.
pub mod http;
pub mod metrics;
pub mod systemd;
