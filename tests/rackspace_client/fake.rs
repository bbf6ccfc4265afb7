//! An in-test fake of Rackspace Identity v2.0 + Cloud Load Balancers v1.0 on 127.0.0.1:0, answering
//! with the reference's status codes and bodies. Tests script error replies and inspect what the
//! client sent.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

pub const USER: &str = "alice";
pub const API_KEY: &str = "k3y-VERYSECRET-api";
pub const PASSWORD: &str = "pw-VERYSECRET-hunter2";
/// Every token the fake issues contains this marker.
pub const TOKEN_MARK: &str = "TOKSECRET";
pub const TENANT: &str = "110011";

/// A canned reply.
#[derive(Clone, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Option<Duration>,
}

impl Reply {
    pub fn new(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            ..Reply::default()
        }
    }
}

/// One CLB request as the fake saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub token: Option<String>,
    pub body: Option<Value>,
}

#[derive(Default)]
pub struct State {
    pub token_lifetime: Option<Duration>,
    next_token: u32,
    tokens: HashMap<String, Instant>,
    pub identity_bodies: Vec<Value>,
    pub identity_times: Vec<Instant>,
    pub identity_script: VecDeque<Reply>,
    pub seen: Vec<Seen>,
    pub script: VecDeque<Reply>,
    /// Reject this many upcoming CLB requests with 401 whatever their token.
    pub reject_next: u32,
    /// Requests that arrived with a token the fake had already expired.
    pub expired_used: u32,
}

pub struct Fake {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    pub async fn start() -> Fake {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (s1, s2) = (state.clone(), state.clone());
        let app = Router::new()
            .route(
                "/v2.0/tokens",
                post(move |body: Bytes| identity(s1.clone(), addr, body)),
            )
            .fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| clb(s2.clone(), m, u, h, b));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fake { addr, state, task }
    }

    pub fn identity_url(&self) -> String {
        format!("http://{}/v2.0", self.addr)
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.lock().seen.clone()
    }

    /// `POST /tokens` requests received.
    pub fn identity_calls(&self) -> usize {
        self.lock().identity_bodies.len()
    }

    /// CLB requests received with `method`, whatever their answer.
    pub fn calls(&self, method: &str) -> usize {
        self.lock()
            .seen
            .iter()
            .filter(|s| s.method == method)
            .count()
    }

    pub fn script(&self, reply: Reply) {
        self.lock().script.push_back(reply);
    }
}

fn respond(r: Reply) -> Response {
    let mut resp = (StatusCode::from_u16(r.status).unwrap(), r.body).into_response();
    for (k, v) in r.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    if resp.status() != StatusCode::NO_CONTENT {
        let ct = "application/json".parse().unwrap();
        resp.headers_mut().insert("content-type", ct);
    }
    resp
}

async fn delayed(r: Reply) -> Response {
    if let Some(d) = r.delay {
        tokio::time::sleep(d).await;
    }
    respond(r)
}

async fn identity(state: Arc<Mutex<State>>, addr: SocketAddr, body: Bytes) -> Response {
    let reply = {
        let mut st = state.lock().unwrap();
        let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        st.identity_bodies.push(req.clone());
        st.identity_times.push(Instant::now());
        if let Some(r) = st.identity_script.pop_front() {
            r
        } else if !credentials_ok(&req) {
            Reply::new(
                401,
                r#"{"unauthorized":{"code":401,"message":"Unable to authenticate user with credentials provided."}}"#,
            )
        } else {
            st.next_token += 1;
            let token = format!("tok-{}-{TOKEN_MARK}", st.next_token);
            let life = st.token_lifetime.unwrap_or(Duration::from_secs(24 * 3600));
            st.tokens.insert(token.clone(), Instant::now() + life);
            let expires = chrono::Utc::now() + chrono::Duration::from_std(life).unwrap();
            let expires = expires.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            Reply::new(200, &access_body(&token, &expires, addr).to_string())
        }
    };
    delayed(reply).await
}

fn credentials_ok(req: &Value) -> bool {
    let auth = &req["auth"];
    let key = &auth["RAX-KSKEY:apiKeyCredentials"];
    let pw = &auth["passwordCredentials"];
    (key["username"] == USER && key["apiKey"] == API_KEY)
        || (pw["username"] == USER && pw["password"] == PASSWORD)
}

fn access_body(token: &str, expires: &str, addr: SocketAddr) -> Value {
    json!({"access": {
        "token": {"id": token, "expires": expires,
                  "tenant": {"id": TENANT, "name": TENANT}, "RAX-AUTH:authenticatedBy": ["APIKEY"]},
        "serviceCatalog": [
            {"name": "cloudServersOpenStack", "type": "compute", "endpoints": [
                {"publicURL": format!("http://{addr}/servers/v2/{TENANT}"), "region": "ORD"}]},
            {"name": "cloudLoadBalancers", "type": "rax:load-balancer", "endpoints": [
                {"publicURL": format!("http://{addr}/v1.0/{TENANT}"), "region": "ORD", "tenantId": TENANT},
                {"publicURL": format!("http://{addr}/dfw/v1.0/{TENANT}/"), "region": "DFW", "tenantId": TENANT}]}],
        "user": {"id": "123456", "name": USER, "roles": [], "RAX-AUTH:defaultRegion": "ORD"}}})
}

async fn clb(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut st = state.lock().unwrap();
        let token = headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        st.seen.push(Seen {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().map(str::to_string),
            token: token.clone(),
            body: serde_json::from_slice(&body).ok(),
        });
        let expiry = token.as_ref().and_then(|t| st.tokens.get(t).copied());
        match expiry {
            None => Reply::new(401, ""),
            Some(at) if Instant::now() >= at => {
                st.expired_used += 1;
                Reply::new(401, "")
            }
            Some(_) if st.reject_next > 0 => {
                st.reject_next -= 1;
                Reply::new(401, "")
            }
            Some(_) => match st.script.pop_front() {
                Some(r) => r,
                None => default_reply(&method, uri.path(), uri.query(), &body),
            },
        }
    };
    delayed(reply).await
}

fn lbs() -> Value {
    json!([
        {"id": 1, "name": "web", "status": "ACTIVE", "protocol": "HTTP", "port": 80, "nodeCount": 2},
        {"id": 2, "name": "web", "status": "BUILD", "protocol": "HTTP", "port": 80, "nodeCount": 0},
        {"id": 3, "name": "db", "status": "ACTIVE", "protocol": "TCP", "port": 5432, "nodeCount": 1}
    ])
}

/// The happy path of each call.
fn default_reply(method: &Method, path: &str, query: Option<&str>, body: &[u8]) -> Reply {
    let rest = path
        .strip_prefix(&format!("/v1.0/{TENANT}"))
        .or_else(|| path.strip_prefix(&format!("/dfw/v1.0/{TENANT}")))
        .unwrap_or("");
    let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["loadbalancers"]) => {
            let name = query.and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("name=").map(str::to_string))
            });
            let all = lbs();
            let items: Vec<&Value> = all
                .as_array()
                .unwrap()
                .iter()
                .filter(|lb| name.as_deref().is_none_or(|n| lb["name"] == n))
                .collect();
            Reply::new(200, &json!({ "loadBalancers": items }).to_string())
        }
        ("GET", ["loadbalancers", "absolutelimits"]) => Reply::new(
            200,
            r#"{"absolute":[{"name":"IPV6_LIMIT","value":25},{"name":"NODE_LIMIT","value":50},{"name":"BATCH_DELETE_LIMIT","value":10},{"name":"LOADBALANCER_LIMIT","value":25}]}"#,
        ),
        ("GET", ["loadbalancers", "1"]) => Reply::new(
            200,
            r#"{"loadBalancer":{"id":1,"name":"web","status":"ACTIVE","protocol":"HTTP","port":80,
               "virtualIps":[{"id":1,"address":"203.0.113.1","type":"PUBLIC","ipVersion":"IPV4"}],
               "nodes":[{"id":410,"address":"10.1.1.1","port":80,"condition":"ENABLED","status":"ONLINE","weight":3,"type":"PRIMARY"},
                        {"id":411,"address":"10.1.1.2","port":80,"condition":"DRAINING","status":"SOMETHING_NEW"}],
               "created":{"time":"2010-11-30T03:23:42Z"}}}"#,
        ),
        ("GET", ["loadbalancers", "3"]) => Reply::new(
            200,
            r#"{"loadBalancer":{"id":3,"name":"db","status":"PENDING_UPDATE","protocol":"TCP","port":5432}}"#,
        ),
        ("GET", ["loadbalancers", _]) => {
            Reply::new(404, r#"{"message":"Load balancer not found","code":404}"#)
        }
        ("POST", ["loadbalancers", _, "nodes"]) => {
            let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let nodes: Vec<Value> = req["nodes"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, n)| {
                    json!({"id": 500 + i, "address": n["address"], "port": n["port"],
                           "condition": n["condition"], "status": "ONLINE", "weight": 1, "type": "PRIMARY"})
                })
                .collect();
            Reply::new(202, &json!({ "nodes": nodes }).to_string())
        }
        ("PUT", ["loadbalancers", _, "nodes", _])
        | ("DELETE", ["loadbalancers", _, "nodes", ..]) => Reply::new(202, ""),
        _ => Reply::new(404, r#"{"message":"Resource not found","code":404}"#),
    }
}
