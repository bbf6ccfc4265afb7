//! Request handlers for `POST /v2.0/tokens` and the `/v1.0/{tenant}/loadbalancers...` routes: they
//! parse (see `validate`), call one `State` operation under the lock, and shape the response.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::fault::{html_404, Fault};
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

/// An empty 202, with a content type as the real API sends one.
fn accepted() -> Reply {
    Ok((
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
    )
        .into_response())
}

/// Spells `status` with hyphens (`PENDING-UPDATE`) under the `hyphenated_status` switch.
fn spell_status(lb: &mut Value, hyphenated: bool) {
    if !hyphenated {
        return;
    }
    if let Some(s) = lb.get("status").and_then(Value::as_str) {
        let spelled = s.replace('_', "-");
        lb["status"] = Value::String(spelled);
    }
}

/// `limit` (1..=max, default max) and `marker` (nodes after that id) of a node list.
fn page_of(q: &HashMap<String, String>, max: usize) -> Result<(usize, Option<u64>), Fault> {
    let limit = match q.get("limit") {
        None => max,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(max),
            _ => {
                return Err(Fault::BadRequest(format!(
                    "limit must be a number from 1 to {max}"
                )))
            }
        },
    };
    let marker = match q.get("marker") {
        None => None,
        Some(m) => Some(
            m.parse::<u64>()
                .map_err(|_| Fault::BadRequest("marker must be a node id".into()))?,
        ),
    };
    Ok((limit, marker))
}

pub(crate) async fn tokens(State(ctx): State<Ctx>, headers: HeaderMap, body: Bytes) -> Reply {
    let req = identity::parse_request(&body)?;
    let base_url = ctx.base_url(&headers);
    let now = Instant::now();
    let doc = ctx.emu.with_state(|s| {
        if s.config.faults.identity_401 {
            return Err(Fault::IdentityUnauthorized(
                identity::BAD_CREDENTIALS.into(),
            ));
        }
        let user = identity::authenticate(&s.config.users, &req)?.clone();
        let ttl = s.config.token_ttl;
        let token = s
            .tokens
            .issue(&user.username, &user.tenant_id, ttl, now, &mut s.token_rng);
        let expires = chrono::Utc::now()
            + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(3650));
        Ok::<_, Fault>(identity::access_json(&Access {
            token: &token,
            expires,
            user: &user,
            by_password: matches!(req.credential, Credential::Password(_)),
            base_url: &base_url,
            region: &s.config.region,
            control_first: s.config.faults.control_service_first,
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
    let (mut lbs, hyphenated) = ctx.emu.with_state(|s| {
        let lbs = s.list_lbs(&tenant, &filter, now);
        (lbs, s.config.faults.hyphenated_status)
    });
    for lb in &mut lbs {
        spell_status(lb, hyphenated);
    }
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
    let (nodes, batch, missing) = ctx.emu.with_state(|s| {
        let c = &s.config;
        (c.node_limit, c.batch_delete_limit, c.faults.no_limits_route)
    });
    if missing {
        return Ok(html_404());
    }
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
    let (mut lb, hyphenated) = ctx.emu.with_state(|s| {
        let lb = s.lb_detail(&tenant, id, now)?;
        Ok::<_, Fault>((lb, s.config.faults.hyphenated_status))
    })?;
    spell_status(&mut lb, hyphenated);
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
    Query(q): Query<HashMap<String, String>>,
) -> Reply {
    let id = lb_id(&lb)?;
    let now = Instant::now();
    let max = ctx.emu.with_state(|s| s.config.node_page_size.max(1));
    let (limit, marker) = page_of(&q, max)?;
    let nodes = ctx.emu.with_state(|s| s.list_nodes(&tenant, id, now))?;
    let mut nodes: Vec<_> = nodes
        .into_iter()
        .filter(|n| marker.is_none_or(|m| n.id > m))
        .collect();
    nodes.sort_by_key(|n| n.id);
    nodes.truncate(limit);
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
