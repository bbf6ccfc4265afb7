//! An in-memory emulator of Rackspace Identity v2.0 and Cloud Load Balancers v1.0, faithful to the
//! project's Rackspace API reference, for demos, dry runs and tests (this library, or the
//! `clb-emulator` binary). Point `--identity-url` at `http://ADDR/v2.0`.
//!
//! **Emulated:**
//! - `POST /v2.0/tokens` with API key or password credentials (optional `tenantId`/`tenantName`,
//!   both at once → 400); the catalog lists `cloudLoadBalancers` (`rax:load-balancer`) in two regions
//!   (the configured one and DFW or ORD), both pointing back at this server, plus one unrelated
//!   service. Identity 401/400 bodies are wrapped (`unauthorized`, `badRequest`).
//! - Tokens live `token_ttl`; every authentication issues a new one; a missing, unknown, expired or
//!   other tenant's token gets a CLB 401 with an empty body.
//! - `GET /loadbalancers` (`name`, `nodeaddress`, `status` filters), `GET/DELETE /loadbalancers/{id}`
//!   (the detail lists the first `node_page_size` nodes: the reference does not say whether the
//!   real detail truncates, so clients are made to cope), node lists paged by `limit`/`marker`
//!   (page size and maximum `node_page_size`, default 100 as for the reference's load balancer
//!   list; `marker` is the last id already seen),
//!   `POST /loadbalancers`, `GET /loadbalancers/absolutelimits`, node list/get/add/update/delete and
//!   bulk delete, with the reference's status codes and texts (see `fault`, `validate`).
//! - Statuses: every accepted mutation answers 202 and puts the LB in PENDING_UPDATE for
//!   `pending_update` (BUILD after create, PENDING_DELETE → DELETED after delete); node mutations on a
//!   non-ACTIVE LB get the 422 immutable texts (single-node and bulk texts differ). Node reads on a
//!   DELETED LB get MIMIC's 410.
//! - Limits: `node_limit` (413 flat), duplicate address+port (422, whole batch), `batch_delete_limit`
//!   (400), all-or-nothing bulk delete; per-account per-method rate limits (413 wrapped `overLimit`
//!   with `Retry-After` seconds); injected 500/503 at `fail_rate`; added `latency`. Empty 202
//!   replies carry `Content-Type: application/json`.
//! - Fault switches ([`Faults`], in the config, `Emulator::set_faults`, `PUT /_emulator/faults`
//!   or the binary's `--fault`): no limits route (404 HTML page), HTML 404 pages everywhere,
//!   hyphenated statuses (`PENDING-UPDATE`), a second `rax:load-balancer` service
//!   (`cloudLoadBalancerControl`) listed first whose endpoint answers 404 to everything, and
//!   Identity answering 401 to every request.
//! - Per-account isolation: a load balancer belongs to one tenant; another tenant sees a 404.
//!
//! **Not emulated:** health monitors and node health (nodes stay ONLINE), session persistence,
//! access lists, SSL, metadata, pagination of the load balancer list, `changes-since`, `GET /limits`, bulk
//! node PUT, XML, domain-name node addresses, 403 (disabled user / MFA), Identity admin APIs.
//! Order of CLB checks: token, rate limit, injected fault, schema, existence, status, duplicates,
//! node limit. Validation texts not given by the reference (bad address or port) are the emulator's.
//!
//! Admin endpoints under `/_emulator/` (see `admin`) have no authentication: bind to loopback.

mod admin;
mod background;
mod fault;
mod handlers;
mod http;
mod identity;
mod model;
mod ratelimit;
mod state;
mod stats;
mod validate;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::time::Instant;

pub use background::BackgroundEmulator;
pub use model::NodeView;
pub use stats::{Mutation, RequestCount, Stats, TimedRequest};

use state::State;

/// One account that can authenticate. `Debug` hides the API key and password.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub api_key: String,
    /// `None`: password authentication always fails for this user.
    pub password: Option<String>,
    pub tenant_id: String,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("api_key", &"<redacted>")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tenant_id", &self.tenant_id)
            .finish()
    }
}

impl User {
    pub fn new(username: &str, api_key: &str, password: Option<&str>, tenant_id: &str) -> Self {
        User {
            username: username.into(),
            api_key: api_key.into(),
            password: password.map(str::to_string),
            tenant_id: tenant_id.into(),
        }
    }

    /// `demo` / api key `demo-api-key` / password `demo-password`, tenant `123456`.
    pub fn demo() -> Self {
        User::new("demo", "demo-api-key", Some("demo-password"), "123456")
    }
}

/// Every knob of the emulator. `Default` suits tests: no PENDING_UPDATE window and no rate limits;
/// the binary defaults to `pending_update = 1s` and rate limits on.
#[derive(Debug, Clone)]
pub struct Config {
    /// How long a LB stays PENDING_UPDATE (or BUILD, PENDING_DELETE) after an accepted mutation.
    pub pending_update: Duration,
    /// Lifetime of an issued token (24 h).
    pub token_ttl: Duration,
    /// NODE_LIMIT per load balancer (25).
    pub node_limit: usize,
    /// BATCH_DELETE_LIMIT (10).
    pub batch_delete_limit: usize,
    /// Fraction (0.0-1.0) of CLB requests answered with a 500/503 before anything is done (0).
    pub fail_rate: f64,
    /// Added before every Identity and CLB request is handled (0).
    pub latency: Duration,
    /// Enforce the DOCS per-method rate limits (off here, on in the binary).
    pub rate_limits: bool,
    /// Accounts that can authenticate (one demo user).
    pub users: Vec<User>,
    /// Default region in the catalog (`ORD`); the catalog also lists a second one.
    pub region: String,
    /// Names of load balancers created at start, ACTIVE and empty, in the first user's account.
    pub load_balancers: Vec<String>,
    /// Seed of the fault-injection RNG, for reproducible runs.
    pub seed: Option<u64>,
    /// Node list page size and maximum `limit` (100); the load balancer detail lists this many.
    pub node_page_size: usize,
    /// Fault switches (all off).
    pub faults: Faults,
}

/// Ways to behave like servers lbsync was not written against. All off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// `GET /loadbalancers/absolutelimits` answers 404 with an HTML page (a server without it).
    pub no_limits_route: bool,
    /// Every 404 is an HTML page (`text/html`) instead of the JSON fault.
    pub html_404: bool,
    /// Load balancer statuses are spelled with hyphens (`PENDING-UPDATE`).
    pub hyphenated_status: bool,
    /// The catalog lists a second `rax:load-balancer` service, `cloudLoadBalancerControl`, first;
    /// its endpoint answers 404 (HTML) to everything.
    pub control_service_first: bool,
    /// Identity answers 401 to every token request.
    pub identity_401: bool,
}

impl Faults {
    /// The switch names the binary's `--fault` takes.
    pub const NAMES: [&'static str; 5] = [
        "no-limits-route",
        "html-404",
        "hyphenated-status",
        "control-service-first",
        "identity-401",
    ];

    /// Turns on the switch called `name` (one of [`Faults::NAMES`]).
    pub fn enable(&mut self, name: &str) -> Result<(), String> {
        let slot = match name.trim() {
            "no-limits-route" => &mut self.no_limits_route,
            "html-404" => &mut self.html_404,
            "hyphenated-status" => &mut self.hyphenated_status,
            "control-service-first" => &mut self.control_service_first,
            "identity-401" => &mut self.identity_401,
            other => {
                return Err(format!(
                    "unknown fault {other:?}; known: {}",
                    Faults::NAMES.join(", ")
                ))
            }
        };
        *slot = true;
        Ok(())
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pending_update: Duration::ZERO,
            token_ttl: Duration::from_secs(24 * 3600),
            node_limit: 25,
            batch_delete_limit: 10,
            fail_rate: 0.0,
            latency: Duration::ZERO,
            rate_limits: false,
            users: vec![User::demo()],
            region: "ORD".into(),
            load_balancers: Vec::new(),
            seed: None,
            node_page_size: 100,
            faults: Faults::default(),
        }
    }
}

/// A load balancer as the admin surface shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerView {
    pub id: u64,
    pub name: String,
    pub tenant_id: String,
    pub status: String,
    pub nodes: Vec<NodeView>,
}

/// The emulator: cheap to clone, every clone sees the same state.
#[derive(Clone)]
pub struct Emulator {
    state: Arc<Mutex<State>>,
}

impl Emulator {
    pub fn new(config: Config) -> Self {
        Emulator {
            state: Arc::new(Mutex::new(State::new(config))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not take the emulator down with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.lock())
    }

    /// Serves Identity, CLB and admin endpoints on `listener` until `shutdown` resolves. The
    /// catalog's publicURL is `http://<listener address>/v1.0/<tenant>`.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        http::serve(self, listener, shutdown).await
    }

    /// Binds 127.0.0.1 on a free port and serves in a background task until the handle is shut
    /// down or dropped.
    pub async fn spawn_local(&self) -> std::io::Result<RunningEmulator> {
        self.spawn_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Like [`Emulator::spawn_local`] on `addr` (port 0: a free one), for clients in other
    /// network namespaces.
    pub async fn spawn_on(&self, addr: SocketAddr) -> std::io::Result<RunningEmulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.clone().serve(listener, async move {
            let _ = stopped.await;
        }));
        Ok(RunningEmulator {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Creates an ACTIVE, empty load balancer in the first user's account; returns its id.
    pub fn create_load_balancer(&self, name: &str) -> u64 {
        let mut s = self.lock();
        let tenant = s.default_tenant();
        s.insert_lb(&tenant, name, "HTTP", 80)
    }

    /// Adds a node bypassing status, limits and duplicate checks (placeholders, hand-made drift).
    /// Panics if the load balancer does not exist (see [`Emulator::try_add_node_direct`]).
    pub fn add_node_direct(&self, lb_id: u64, address: &str, port: u16) -> u64 {
        match self.try_add_node_direct(lb_id, address, port) {
            Some(id) => id,
            None => panic!("add_node_direct: no load balancer {lb_id}"),
        }
    }

    /// Like [`Emulator::add_node_direct`]; `None` when the load balancer does not exist.
    pub fn try_add_node_direct(&self, lb_id: u64, address: &str, port: u16) -> Option<u64> {
        self.lock().push_node(lb_id, address, port)
    }

    /// The nodes of a load balancer (empty if it does not exist).
    pub fn nodes(&self, lb_id: u64) -> Vec<NodeView> {
        self.load_balancer(lb_id)
            .map(|lb| lb.nodes)
            .unwrap_or_default()
    }

    /// The current status (PENDING_UPDATE settled against the clock), `None` if unknown.
    pub fn status(&self, lb_id: u64) -> Option<String> {
        self.load_balancer(lb_id).map(|lb| lb.status)
    }

    /// A snapshot of one load balancer, whatever its account.
    /// Every load balancer (any tenant, any status), in creation order.
    pub fn load_balancers(&self) -> Vec<LoadBalancerView> {
        let ids = self.lock().lb_ids();
        ids.into_iter()
            .filter_map(|id| self.load_balancer(id))
            .collect()
    }

    pub fn load_balancer(&self, lb_id: u64) -> Option<LoadBalancerView> {
        let now = Instant::now();
        let mut s = self.lock();
        let lb = s.any_lb(lb_id, now)?;
        Some(LoadBalancerView {
            id: lb.id,
            name: lb.name.clone(),
            tenant_id: lb.tenant.clone(),
            status: lb.status.clone(),
            nodes: lb.nodes.clone(),
        })
    }

    /// Forces a status (ERROR, SUSPENDED, DELETED, PENDING_UPDATE forever, ACTIVE...); false if the
    /// load balancer does not exist.
    pub fn set_status(&self, lb_id: u64, status: &str) -> bool {
        let now = Instant::now();
        match self.lock().any_lb(lb_id, now) {
            Some(lb) => {
                lb.force_status(status);
                true
            }
            None => false,
        }
    }

    pub fn stats(&self) -> Stats {
        self.lock().stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.lock().stats.reset();
    }

    /// The fault switches in force.
    pub fn faults(&self) -> Faults {
        self.lock().config.faults.clone()
    }

    /// Replaces the fault switches; takes effect with the next request.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().config.faults = faults;
    }

    /// Every issued token becomes invalid now (the next CLB call gets a 401).
    pub fn expire_tokens(&self) {
        self.lock().tokens.expire_all();
    }
}

/// A running in-process emulator (from [`Emulator::spawn_local`]); stops when dropped.
pub struct RunningEmulator {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v2.0`, what `--identity-url` takes.
    pub fn identity_url(&self) -> String {
        format!("{}/v2.0", self.base_url())
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
