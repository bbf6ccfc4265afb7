//! The HTTP edge: the axum router, the CLB gate (token, then rate limit, then fault injection), the
//! outer layer that adds latency, counts requests and logs them (never the token), and `serve`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::time::Instant;
use tracing::info;

use super::fault::{self, Fault, Outcome};
use super::stats::route_kind;
use super::{admin, handlers, Emulator};

/// Shared by every handler.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub emu: Emulator,
    local: Arc<SocketAddr>,
}

impl Ctx {
    /// `http://host:port` clients should use to reach this server again: the listener's address, or
    /// the request's `Host` when the listener is bound to a wildcard address.
    pub(crate) fn base_url(&self, headers: &HeaderMap) -> String {
        if self.local.ip().is_unspecified() {
            if let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
                return format!("http://{host}");
            }
            let loopback = if self.local.is_ipv4() {
                "127.0.0.1"
            } else {
                "[::1]"
            };
            return format!("http://{loopback}:{}", self.local.port());
        }
        format!("http://{}", self.local)
    }
}

/// The tenant segment of `/v1.0/{tenant}/...`.
fn tenant_of(path: &str) -> &str {
    path.trim_start_matches('/')
        .split('/')
        .nth(1)
        .unwrap_or_default()
}

tokio::task_local! {
    /// The user whose token the request in progress carries (mutations are recorded with it).
    pub(crate) static ACTOR: String;
}

/// Token check (401, empty), then rate limit (413 wrapped), then injected faults (500/503).
async fn clb_gate(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let now = Instant::now();
    let tenant = tenant_of(req.uri().path());
    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|t| t.to_str().ok());
    let method = req.method().as_str();
    let verdict = ctx.emu.with_state(|s| {
        let Some(user) = token.and_then(|t| s.tokens.accepts(t, tenant, now)) else {
            return Err(Fault::Unauthorized);
        };
        let user = user.to_string();
        if s.config.rate_limits {
            s.limiter
                .check(tenant, method, now)
                .map_err(|wait| fault::rate_limited(wait, chrono::Utc::now()))?;
        }
        if s.config.fail_rate > 0.0 && s.fault_rng.f64() < s.config.fail_rate {
            let code = if s.fault_rng.bool() { 500 } else { 503 };
            return Err(Fault::Injected(code));
        }
        Ok(user)
    });
    match verdict {
        Ok(user) => ACTOR.scope(user, next.run(req)).await,
        Err(fault) => fault.into_response(),
    }
}

/// Latency, statistics and the access log for every non-admin request.
async fn observe(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    if path.starts_with("/_emulator/") {
        let resp = next.run(req).await;
        info!(%method, %path, status = resp.status().as_u16(), "admin request");
        return resp;
    }
    let latency = ctx.emu.with_state(|s| s.config.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut resp = next.run(req).await;
    let outcome = resp.extensions().get::<Outcome>().copied();
    let html = ctx.emu.with_state(|s| s.config.faults.html_404);
    if html && resp.status() == axum::http::StatusCode::NOT_FOUND {
        resp = fault::html_404();
        if let Some(o) = outcome {
            resp.extensions_mut().insert(o);
        }
    }
    let status = resp.status().as_u16();
    ctx.emu
        .with_state(|s| s.stats.request(&method, route_kind(&path), status, outcome));
    info!(
        %method,
        %path,
        status,
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    resp
}

pub(crate) fn router(emu: Emulator, local: SocketAddr) -> Router {
    let ctx = Ctx {
        emu,
        local: Arc::new(local),
    };
    let lbs = "/v1.0/{tenant}/loadbalancers";
    let clb = Router::new()
        .route(lbs, get(handlers::list_lbs).post(handlers::create_lb))
        .route(
            &format!("{lbs}/absolutelimits"),
            get(handlers::absolute_limits),
        )
        .route(
            &format!("{lbs}/{{lb_id}}"),
            get(handlers::get_lb).delete(handlers::delete_lb),
        )
        .route(
            &format!("{lbs}/{{lb_id}}/nodes"),
            get(handlers::list_nodes)
                .post(handlers::add_nodes)
                .delete(handlers::delete_nodes),
        )
        .route(
            &format!("{lbs}/{{lb_id}}/nodes/{{node_id}}"),
            get(handlers::get_node)
                .put(handlers::update_node)
                .delete(handlers::delete_node),
        )
        .route_layer(middleware::from_fn_with_state(ctx.clone(), clb_gate));
    Router::new()
        .route("/v2.0/tokens", post(handlers::tokens))
        .merge(clb)
        .merge(admin::router())
        // The `control_service_first` catalog entry: a service that answers 404 to everything.
        .route(
            "/control/{*rest}",
            axum::routing::any(|| async { fault::html_404() }),
        )
        .fallback(|| async { Fault::NoSuchResource })
        .layer(middleware::from_fn_with_state(ctx.clone(), observe))
        .with_state(ctx)
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    emu: Emulator,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    axum::serve(listener, router(emu, local))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests;
