//! Admin endpoints under `/_emulator/` (not part of Rackspace) so that a test driving the emulator as
//! a child process can inspect and steer it. No authentication: bind the emulator to loopback.
//!
//! | call | body | answer |
//! |---|---|---|
//! | `GET stats` | | [`Stats`](super::Stats) as JSON |
//! | `POST reset-stats` | | 204 |
//! | `POST expire-tokens` | | 204 |
//! | `POST loadbalancers` | `{"name":"web"}` | 201 `{"id":1000}` |
//! | `GET loadbalancers/{id}` | | `{"id","name","status","nodes":[...]}` |
//! | `GET loadbalancers/{id}/nodes` | | `{"nodes":[...]}` |
//! | `POST loadbalancers/{id}/nodes-direct` | `{"address":"10.0.0.1","port":80}` | 201 `{"id":10000}` |
//! | `PUT loadbalancers/{id}/status` | `{"status":"ERROR"}` | 204 |
//! | `GET faults` | | [`Faults`](super::Faults) as JSON |
//! | `PUT faults` | `{"identity_401":true,...}` (missing switches are off) | 204 |

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::http::Ctx;

fn bad(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"message": message}))).into_response()
}

fn missing(id: u64) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"message": format!("no load balancer {id}")})),
    )
        .into_response()
}

/// The body as `T`, or the reason it is not `shape`.
fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], shape: &str) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("expected {shape}: {e}"))
}

#[derive(Deserialize)]
struct NewLb {
    name: String,
}

#[derive(Deserialize)]
struct DirectNode {
    address: String,
    port: u16,
}

#[derive(Deserialize)]
struct NewStatus {
    status: String,
}

async fn stats(State(ctx): State<Ctx>) -> Response {
    Json(ctx.emu.stats()).into_response()
}

async fn reset_stats(State(ctx): State<Ctx>) -> StatusCode {
    ctx.emu.reset_stats();
    StatusCode::NO_CONTENT
}

async fn expire_tokens(State(ctx): State<Ctx>) -> StatusCode {
    ctx.emu.expire_tokens();
    StatusCode::NO_CONTENT
}

async fn faults(State(ctx): State<Ctx>) -> Response {
    Json(ctx.emu.faults()).into_response()
}

async fn set_faults(State(ctx): State<Ctx>, body: Bytes) -> Response {
    match parse::<crate::Faults>(&body, r#"{"no_limits_route":true,...}"#) {
        Ok(f) => {
            ctx.emu.set_faults(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(why) => bad(why),
    }
}

async fn create_lb(State(ctx): State<Ctx>, body: Bytes) -> Response {
    match parse::<NewLb>(&body, r#"{"name":"..."}"#) {
        Ok(new) => {
            let id = ctx.emu.create_load_balancer(&new.name);
            (StatusCode::CREATED, Json(json!({"id": id}))).into_response()
        }
        Err(why) => bad(why),
    }
}

async fn list_lbs(State(ctx): State<Ctx>) -> Response {
    Json(json!({"loadBalancers": ctx.emu.load_balancers()})).into_response()
}

async fn get_lb(State(ctx): State<Ctx>, Path(id): Path<u64>) -> Response {
    match ctx.emu.load_balancer(id) {
        Some(lb) => Json(lb).into_response(),
        None => missing(id),
    }
}

async fn nodes(State(ctx): State<Ctx>, Path(id): Path<u64>) -> Response {
    match ctx.emu.load_balancer(id) {
        Some(lb) => Json(json!({"nodes": lb.nodes})).into_response(),
        None => missing(id),
    }
}

async fn add_direct(State(ctx): State<Ctx>, Path(id): Path<u64>, body: Bytes) -> Response {
    let node = match parse::<DirectNode>(&body, r#"{"address":"...","port":N}"#) {
        Ok(n) => n,
        Err(why) => return bad(why),
    };
    match ctx.emu.try_add_node_direct(id, &node.address, node.port) {
        Some(node_id) => (StatusCode::CREATED, Json(json!({"id": node_id}))).into_response(),
        None => missing(id),
    }
}

async fn set_status(State(ctx): State<Ctx>, Path(id): Path<u64>, body: Bytes) -> Response {
    match parse::<NewStatus>(&body, r#"{"status":"..."}"#) {
        Ok(s) if ctx.emu.set_status(id, &s.status) => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => missing(id),
        Err(why) => bad(why),
    }
}

pub(crate) fn router() -> Router<Ctx> {
    Router::new()
        .route("/_emulator/stats", get(stats))
        .route("/_emulator/reset-stats", post(reset_stats))
        .route("/_emulator/expire-tokens", post(expire_tokens))
        .route("/_emulator/faults", get(faults).put(set_faults))
        .route("/_emulator/loadbalancers", post(create_lb).get(list_lbs))
        .route("/_emulator/loadbalancers/{id}", get(get_lb))
        .route("/_emulator/loadbalancers/{id}/nodes", get(nodes))
        .route(
            "/_emulator/loadbalancers/{id}/nodes-direct",
            post(add_direct),
        )
        .route("/_emulator/loadbalancers/{id}/status", put(set_status))
}
