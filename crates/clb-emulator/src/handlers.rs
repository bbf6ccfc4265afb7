//! Request handlers for `POST /v2.0/tokens` and the `/v1.0/{tenant}/loadbalancers...` routes: they
//! parse (see `validate`), call one `State` operation under the lock, and shape the response.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tokio::time::Instant;

use super::fault::Fault;
use super::http::Ctx;
use super::identity::{self, Access, Credential};
use super::state::{ListFilter, LOADBALANCER_LIMIT};
use super::validate;

type Reply = Result<Response, Fault>;

fn lb_id(raw: &str) -> Result<u64, Fault> {
    raw.parse().map_err(|_| Fault::LbNotFound)
}

fn node_id(raw: &str) -> Result<u64, Fault> {
    raw.parse().map_err(|_| Fault::NodeNotFound)
}

fn accepted() -> Reply {
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(crate) async fn tokens(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Reply {
    let req = identity::parse_request(&body)?;
    let base_url = ctx.base_url(&headers);
    let now = Instant::now();
    let doc = ctx.emu.with_state(|s| {
        let user = identity::authenticate(&s.config.users, &req)?.clone();
        let ttl = s.config.token_ttl;
        let token = s.tokens.issue(&user.tenant_id, ttl, now, &mut s.token_rng);
        let expires = chrono::Utc::now()
            + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(3650));
        Ok::<_, Fault>(identity::access_json(&Access {
            token: &token,
            expires,
            user: &user,
            by_password: matches!(req.credential, Credential::Password(_)),
            base_url: &base_url,
            region: &s.config.region,
        }))
    })?;
    Ok(Json(doc).into_response())
}

pub(crate) async fn list_lbs(
    State(ctx): State<Ctx>,
    Path(tenant): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let filter = ListFilter {
        name: q.get("name").cloned(),
        node_address: q.get("nodeaddress").cloned(),
        status: q.get("status").cloned(),
    };
    let now = Instant::now();
    let lbs = ctx.emu.with_state(|s| s.list_lbs(&tenant, &filter, now));
    Ok(Json(json!({"loadBalancers": lbs})).into_response())
}

pub(crate) async fn create_lb(
    State(ctx): State<Ctx>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Reply {
    let new = validate::new_load_balancer(&body)?;
    let now = Instant::now();
    let lb = ctx.emu.with_state(|s| s.create_lb(&tenant, new, now))?;
    Ok((StatusCode::ACCEPTED, Json(json!({"loadBalancer": lb}))).into_response())
}

pub(crate) async fn absolute_limits(State(ctx): State<Ctx>) -> Reply {
    let (nodes, batch) = ctx
        .emu
        .with_state(|s| (s.config.node_limit, s.config.batch_delete_limit));
    let limits = [
        ("IPV6_LIMIT", 25),
        ("LOADBALANCER_LIMIT", LOADBALANCER_LIMIT),
        ("BATCH_DELETE_LIMIT", batch),
        ("ACCESS_LIST_LIMIT", 100),
        ("NODE_LIMIT", nodes),
        ("NODE_META_LIMIT", 25),
        ("LOADBALANCER_META_LIMIT", 25),
        ("CERTIFICATE_MAPPING_LIMIT", 20),
    ];
    let absolute: Vec<_> = limits
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    Ok(Json(json!({"absolute": absolute})).into_response())
}

pub(crate) async fn get_lb(
    State(ctx): State<Ctx>,
    Path((tenant, lb)): Path<(String, String)>,
) -> Reply {
    let id = lb_id(&lb)?;
    let now = Instant::now();
    let lb = ctx.emu.with_state(|s| s.lb_detail(&tenant, id, now))?;
    Ok(Json(json!({"loadBalancer": lb})).into_response())
}

pub(crate) async fn delete_lb(
    State(ctx): State<Ctx>,
    Path((tenant, lb)): Path<(String, String)>,
) -> Reply {
    let id = lb_id(&lb)?;
    let now = Instant::now();
    ctx.emu.with_state(|s| s.delete_lb(&tenant, id, now))?;
    accepted()
}

pub(crate) async fn list_nodes(
    State(ctx): State<Ctx>,
    Path((tenant, lb)): Path<(String, String)>,
) -> Reply {
    let id = lb_id(&lb)?;
    let now = Instant::now();
    let nodes = ctx.emu.with_state(|s| s.list_nodes(&tenant, id, now))?;
    Ok(Json(json!({"nodes": nodes})).into_response())
}

pub(crate) async fn add_nodes(
    State(ctx): State<Ctx>,
    Path((tenant, lb)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    // MIMIC (verified): the schema is checked before the load balancer's existence.
    let nodes = validate::new_nodes(&body)?;
    let id = lb_id(&lb)?;
    let now = Instant::now();
    let created = ctx
        .emu
        .with_state(|s| s.add_nodes(&tenant, id, nodes, now))?;
    Ok((StatusCode::ACCEPTED, Json(json!({"nodes": created}))).into_response())
}

pub(crate) async fn delete_nodes(
    State(ctx): State<Ctx>,
    Path((tenant, lb)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Reply {
    let (limit, now) = (
        ctx.emu.with_state(|s| s.config.batch_delete_limit),
        Instant::now(),
    );
    let ids = validate::bulk_ids(query.as_deref(), limit)?;
    let id = lb_id(&lb)?;
    ctx.emu
        .with_state(|s| s.delete_nodes(&tenant, id, &ids, now))?;
    accepted()
}

pub(crate) async fn get_node(
    State(ctx): State<Ctx>,
    Path((tenant, lb, node)): Path<(String, String, String)>,
) -> Reply {
    let (id, node) = (lb_id(&lb)?, node_id(&node)?);
    let now = Instant::now();
    let node = ctx.emu.with_state(|s| s.get_node(&tenant, id, node, now))?;
    Ok(Json(json!({"node": node})).into_response())
}

pub(crate) async fn update_node(
    State(ctx): State<Ctx>,
    Path((tenant, lb, node)): Path<(String, String, String)>,
    body: Bytes,
) -> Reply {
    let update = validate::node_update(&body)?;
    let id = lb_id(&lb)?;
    let now = Instant::now();
    // A non-numeric node id can only be "not found", after the LB checks.
    let node = node.parse::<u64>().unwrap_or(u64::MAX);
    ctx.emu
        .with_state(|s| s.update_node(&tenant, id, node, update, now))?;
    accepted()
}

pub(crate) async fn delete_node(
    State(ctx): State<Ctx>,
    Path((tenant, lb, node)): Path<(String, String, String)>,
) -> Reply {
    let id = lb_id(&lb)?;
    let node = node.parse::<u64>().unwrap_or(u64::MAX);
    let now = Instant::now();
    ctx.emu
        .with_state(|s| s.delete_node(&tenant, id, node, now))?;
    accepted()
}
