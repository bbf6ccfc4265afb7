//! The `--metrics-addr` listener: a small HTTP/1 server (hyper) answering `GET /metrics` with the
//! Prometheus text and `GET /healthz` with 200 while every main loop beats, 503 naming the stuck
//! one otherwise. Each connection is served under a deadline and a few at a time.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, info};

use super::Telemetry;

/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 8;
/// A connection's whole life (a scraper keeps it alive between scrapes otherwise).
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);

/// Binds `addr`; failing here (address in use, no permission) stops the process with exit 1.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    info!(addr = %listener.local_addr().unwrap_or(addr), "serving /metrics and /healthz");
    Ok(listener)
}

/// Serves until the runtime stops.
pub async fn serve(listener: TcpListener, t: &'static Telemetry) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                debug!(error = %e, "accepting a metrics connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |req| async move { Ok::<_, Infallible>(answer(t, &req)) }),
                );
            if let Ok(Err(e)) = tokio::time::timeout(CONNECTION_DEADLINE, conn).await {
                debug!(peer = %peer, error = %e, "metrics connection ended with an error");
            }
            drop(permit);
        });
    }
}

fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn answer(t: &Telemetry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "only GET\n");
    }
    match req.uri().path() {
        "/metrics" => match &t.metrics {
            Some(m) => {
                let (body, content_type) = m.render();
                text(StatusCode::OK, &content_type, body)
            }
            None => text(StatusCode::NOT_FOUND, PLAIN, "metrics are off\n"),
        },
        "/healthz" => match t.heartbeat.stale(tokio::time::Instant::now()) {
            None => text(StatusCode::OK, PLAIN, "ok\n"),
            Some((name, age)) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                PLAIN,
                format!(
                    "stuck: the {name} loop has not turned for {}\n",
                    crate::duration::format(age)
                ),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found: try /metrics or /healthz\n",
        ),
    }
}
