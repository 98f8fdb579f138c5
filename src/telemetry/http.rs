//! The agent's HTTP endpoints on `--listen` (docs/contract.md §4): `/metrics` (Prometheus text),
//! `/healthz` (200 while the agent loop is alive, even when ZooKeeper is down), `/readyz`
//! (200 while connected and either leader after a completed reconcile, or standby) and
//! `/status` (the status report as JSON), and with a webhook secret `POST /hooks/git`
//! (docs/contract.md §4a; the agent's callback decides the answer). Served by axum; the status itself comes from a
//! function the agent passes in, so this module never talks to ZooKeeper.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::future::BoxFuture;

use super::metrics::Metrics;

/// Liveness and readiness, updated by the agent loop.
#[derive(Debug, Default)]
pub struct Health {
    /// Unix time (ms) of the agent loop's last turn.
    heartbeat_ms: AtomicU64,
    ready: AtomicBool,
}

/// How long the loop may be silent before `/healthz` fails (it turns at least once a second).
const STALE_AFTER: Duration = Duration::from_secs(30);

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Health {
    /// The loop is alive.
    pub fn beat(&self) {
        self.heartbeat_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn is_alive(&self) -> bool {
        let last = self.heartbeat_ms.load(Ordering::Relaxed);
        last != 0 && now_ms().saturating_sub(last) < STALE_AFTER.as_millis() as u64
    }
}

/// Produces the `/status` JSON (the agent reads ZooKeeper for it).
pub type StatusSource =
    Arc<dyn Fn() -> BoxFuture<'static, Result<serde_json::Value, String>> + Send + Sync>;

/// Answers `POST /hooks/git` from the request's headers and body: the HTTP status code.
pub type Hook = Arc<dyn Fn(&[(String, String)], &[u8]) -> u16 + Send + Sync>;

/// What the endpoints read.
#[derive(Clone)]
pub struct Endpoints {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
    pub status: StatusSource,
    /// `POST /hooks/git`; without one the path does not exist (404).
    pub hook: Option<Hook>,
}

/// Serves the endpoints on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    endpoints: Endpoints,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/status", get(status));
    if endpoints.hook.is_some() {
        app = app.route("/hooks/git", post(hook));
    }
    let app = app.with_state(endpoints);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(e): State<Endpoints>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        e.metrics.render(),
    )
        .into_response()
}

async fn hook(
    State(e): State<Endpoints>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Some(hook) = e.hook.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let headers: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let code = StatusCode::from_u16(hook(&headers, &body)).unwrap_or(StatusCode::BAD_REQUEST);
    (code, code.canonical_reason().unwrap_or_default()).into_response()
}

async fn healthz(State(e): State<Endpoints>) -> Response {
    if e.health.is_alive() {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "agent loop stalled\n").into_response()
    }
}

async fn readyz(State(e): State<Endpoints>) -> Response {
    if e.health.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
    }
}

async fn status(State(e): State<Endpoints>) -> Response {
    match (e.status)().await {
        Ok(v) => axum::Json(v).into_response(),
        Err(msg) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "error": msg })),
        )
            .into_response(),
    }
}
