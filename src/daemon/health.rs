//! The daemon's HTTP endpoints, on `daemon.listen` (off by default): `/healthz` (200
//! while the scheduler loop beats), `/readyz` (200 when the database answers) and
//! `/metrics` (the Prometheus text format). hyper's server half, HTTP/1 only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};

use crate::metrics::Metrics;
use crate::store::Store;

/// What the endpoints read.
#[derive(Clone)]
pub struct Health {
    /// When the scheduler loop last went round (milliseconds since the epoch).
    pub heartbeat: Arc<AtomicI64>,
    /// The daemon's metrics.
    pub metrics: Arc<Metrics>,
    /// The database `/readyz` asks.
    pub database: PathBuf,
}

/// The loop goes round at least every second; five missed rounds is a stuck loop.
const STALE_AFTER_MS: i64 = 5_000;

/// Listens on `address` and answers until the process ends.
pub async fn serve(address: SocketAddr, health: Health) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    tracing::info!(%address, "health and metrics endpoints listening");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let health = health.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let health = health.clone();
                    async move { Ok::<_, Infallible>(answer(&request, &health).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(())
}

async fn answer<B>(request: &Request<B>, health: &Health) -> Response<Full<Bytes>> {
    match request.uri().path() {
        "/healthz" => {
            let age =
                chrono::Utc::now().timestamp_millis() - health.heartbeat.load(Ordering::Relaxed);
            if age <= STALE_AFTER_MS {
                text(StatusCode::OK, "ok\n")
            } else {
                text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the scheduler loop is stuck\n",
                )
            }
        }
        "/readyz" => match refresh_pending(health).await {
            Some(_) => text(StatusCode::OK, "ready\n"),
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer\n",
            ),
        },
        "/metrics" => {
            refresh_pending(health).await;
            let mut response = text(StatusCode::OK, &health.metrics.encode());
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

/// Asks the database (read-only, on the blocking pool) how many articles wait for their
/// files and updates the gauge; `None` when the database does not answer.
async fn refresh_pending(health: &Health) -> Option<i64> {
    let database = health.database.clone();
    let pending = tokio::task::spawn_blocking(move || {
        Store::open_read_only(&database)
            .ok()
            .flatten()
            .and_then(|store| store.pending_count().ok())
    })
    .await
    .ok()
    .flatten()?;
    health.metrics.set_pending(pending);
    Some(pending)
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
}
