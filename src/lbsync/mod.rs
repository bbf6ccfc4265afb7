//! `sidekick lbsync`: a level-triggered reconciler from the registry prefix (desired) into a load
//! balancer (actual). A registry view (paged list, then the prefix watch) keeps the desired set in
//! memory; the driver ([`driver::State`], advanced by [`driver::step`]) runs a pass as soon
//! as something changed and nothing is in flight: observe the backend, apply the shared
//! [`node_plan`], take one step. Only the elected leader changes anything.

pub mod backend;
pub mod driver;
pub mod election;
pub mod instances;
pub mod node_plan;
pub mod plan;
pub mod registry_view;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::config::{address_rules, AdmissionProbe, BackendConfig, LbsyncConfig};
use crate::etcd::access::{connect_checked, Need, LBSYNC_NEEDS};
use crate::etcd::EtcdError;
use crate::health::{Probe, Prober};
use crate::nginx::NginxUpstream;
use crate::registry::node::AddressRules;
use backend::nginx::NginxBackend;
use backend::rackspace::RackspaceExec;
use backend::Backend;
pub use driver::Step;
use driver::{Event, State};
use election::{Election, Fence, Holder, Role};
use instances::InstanceMap;
use node_plan::{plan_nodes, NodePlan};
use registry_view::{SharedInstances, ViewSnapshot};

#[derive(Debug, thiserror::Error)]
pub enum LbsyncError {
    #[error(transparent)]
    Rackspace(#[from] crate::rackspace::Error),
    #[error(transparent)]
    Nginx(#[from] crate::nginx::NginxError),
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error("--election-key {key} is held by lbsync {holder}, which reconciles into {theirs}; this one reconciles into {ours}: give each load balancer its own --election-key")]
    ElectionConflict {
        key: String,
        holder: String,
        theirs: String,
        ours: String,
    },
    /// Identity refused the credentials: at start (a configuration error: fix the key or the
    /// user, exit 2), or again and again after they had worked (exit 1).
    /// `rejected` is part of the message, not a `source`: printed as a chain it would show twice.
    #[error("{rejected}{}", if *at_start { "; check --username and --api-key-file/--password-file" } else { "; the credentials stopped working" })]
    CredentialsRejected {
        rejected: crate::rackspace::Error,
        at_start: bool,
    },
}

impl LbsyncError {
    /// True for errors the user must fix in the configuration (exit 2); false for failures (1).
    pub fn is_config(&self) -> bool {
        match self {
            LbsyncError::CredentialsRejected { at_start, .. } => *at_start,
            LbsyncError::Rackspace(e) => matches!(e, crate::rackspace::Error::Config(_)),
            LbsyncError::Nginx(e) => e.is_config(),
            LbsyncError::Etcd(e) => e.is_config(),
            LbsyncError::ElectionConflict { .. } => true,
        }
    }
}

/// Keeps only the addresses that are already served or pass the admission probe.
async fn admit(
    r: &AdmissionProbe,
    prober: &Prober,
    desired: &BTreeSet<SocketAddr>,
    present: &BTreeSet<SocketAddr>,
) -> BTreeSet<SocketAddr> {
    let candidates: Vec<SocketAddr> = desired.difference(present).copied().collect();
    let probes = candidates.iter().map(|addr| {
        let p = Probe::Http {
            addr: *addr,
            path: r.path.clone(),
            digest: r.digest.clone(),
        };
        async move { (p.addr(), prober.probe(&p).await) }
    });
    let mut keep: BTreeSet<SocketAddr> = desired.intersection(present).copied().collect();
    for (addr, outcome) in futures_util::future::join_all(probes).await {
        if outcome.pass {
            keep.insert(addr);
        } else {
            warn!(instance = %addr, error = outcome.error.as_deref().unwrap_or(""), "instance failed lbsync's re-check; not adding it");
        }
    }
    keep
}

/// The plan from the registry and what the backend serves: lbsync's own re-check of the
/// instances not served yet (if asked), then the node plan every backend shares. A pass and a
/// dry run both start here.
async fn plan(
    cfg: &LbsyncConfig,
    prober: &Prober,
    desired: ViewSnapshot,
    present: &BTreeSet<SocketAddr>,
) -> NodePlan {
    let want = match &cfg.admission_probe {
        Some(r) => admit(r, prober, &desired.addrs, present).await,
        None => desired.addrs,
    };
    plan_nodes(want, present, &cfg.statics, cfg.allow_empty)
}

/// One pass: observe the backend once, plan, take one step.
async fn pass<B: Backend>(
    backend: &mut B,
    cfg: &LbsyncConfig,
    prober: &Prober,
    desired: ViewSnapshot,
    is_leader: &dyn Fn() -> bool,
) -> Result<Step, LbsyncError> {
    crate::telemetry::lbsync_desired(desired.addrs.len());
    let present = match backend.observe().await {
        Ok(p) => p,
        Err(halt) => return halt.into_step(),
    };
    crate::telemetry::lbsync_actual(present.len());
    let plan = plan(cfg, prober, desired, &present).await;
    // Once per pass (a change or the resync), so it stays visible without flooding.
    if plan.empty_guard {
        error!(kept = plan.want.len(), "the registry prefix is empty: keeping the backend's current nodes (pass --allow-empty to allow emptying it)");
    }
    backend.apply(&plan, is_leader).await
}

/// `--dry-run`: prints what one pass would change, once the registry is listed.
async fn dry_run<B: Backend>(
    backend: &mut B,
    cfg: &LbsyncConfig,
    prober: &Prober,
    desired: ViewSnapshot,
) -> Result<(), LbsyncError> {
    println!(
        "registry {}: {} valid instances, {} distinct addresses",
        cfg.prefix,
        desired.instances,
        desired.addrs.len()
    );
    let present = backend.observe().await.unwrap_or_default();
    let plan = plan(cfg, prober, desired, &present).await;
    if plan.empty_guard {
        println!("guard   the registry is empty: nothing would be removed without --allow-empty");
    }
    backend.describe(&plan).await
}

/// Waits (a bounded time) until the registry view has caught up with the revision the current
/// leadership term was confirmed at, so a pass never plans from a view older than the term.
async fn catch_up(
    election: &Election,
    seen: &mut tokio::sync::watch::Receiver<i64>,
    wanted: &tokio::sync::watch::Sender<i64>,
) {
    let Fence::ViewBehind { need } = election.fence(*seen.borrow()) else {
        return;
    };
    wanted.send_replace(need);
    if tokio::time::timeout(CATCH_UP_DEADLINE, seen.wait_for(|&s| s >= need))
        .await
        .is_err()
    {
        warn!(
            need,
            seen = *seen.borrow(),
            "the registry view has not caught up with this leadership term; not changing anything yet"
        );
    }
}

/// How long a pass waits for the registry view to catch up before it gives up (and changes
/// nothing: the fence stays closed).
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(2);

/// Runs lbsync until `shutdown` resolves.
pub async fn run(cfg: LbsyncConfig, shutdown: impl Future<Output = ()>) -> Result<(), LbsyncError> {
    match &cfg.backend {
        BackendConfig::Rackspace(t) => {
            let client = crate::rackspace::Client::new(t.client.clone())?;
            let exec = RackspaceExec::new(
                client,
                t.lb_name.clone(),
                t.lb_id,
                cfg.statics.clone(),
                cfg.drain_period,
            );
            let rules = address_rules(&cfg.backend, cfg.allow_loopback);
            drive(&cfg, exec, rules, shutdown).await
        }
        BackendConfig::Nginx(n) => {
            let sync = NginxBackend::new(NginxUpstream::new(n.clone())?, cfg.statics.clone());
            let rules = address_rules(&cfg.backend, cfg.allow_loopback);
            drive(&cfg, sync, rules, shutdown).await
        }
    }
}

async fn drive<B: Backend>(
    cfg: &LbsyncConfig,
    mut backend: B,
    rules: AddressRules,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LbsyncError> {
    tokio::pin!(shutdown);
    if cfg.debounce_given {
        warn!("--debounce is deprecated and ignored: lbsync acts at once when idle and batches the changes that arrive while one is in flight");
    }
    backend.start().await?;
    // Read on the registry prefix and, unless it only plans (`--dry-run`), readwrite on the
    // election key.
    let mut needs = vec![Need::Read(cfg.prefix.clone())];
    if !cfg.dry_run {
        needs.push(Need::ReadWrite(cfg.election_key.clone()));
    }
    let Some(pool) = connect_checked(&cfg.etcd, &needs, LBSYNC_NEEDS, &mut shutdown).await? else {
        return Ok(());
    };
    let registry: SharedInstances = Arc::new(Mutex::new(InstanceMap::new(
        &cfg.prefix,
        cfg.address_family.fields(),
        rules,
    )));
    let (view_tx, mut view) = tokio::sync::watch::channel::<Option<i64>>(None);
    let (seen_tx, mut seen) = tokio::sync::watch::channel(0i64);
    let (wanted, wanted_rx) = tokio::sync::watch::channel(0i64);
    tokio::spawn(registry_view::list_and_follow(
        pool.clone(),
        registry.clone(),
        cfg.prefix.clone(),
        view_tx,
        registry_view::CatchUp {
            seen: seen_tx,
            wanted: wanted_rx,
        },
    ));
    let prober = Prober::new(
        cfg.admission_probe
            .as_ref()
            .map(|r| r.timeout)
            .unwrap_or(Duration::from_secs(2)),
    );
    if cfg.dry_run {
        let desired = tokio::select! {
            d = view.wait_for(Option::is_some) => d.ok().and_then(|d| *d),
            _ = &mut shutdown => None,
        };
        let Some(desired) = desired.map(|rev| registry_view::snapshot(&registry, rev)) else {
            return Ok(());
        };
        return dry_run(&mut backend, cfg, &prober, desired).await;
    }
    let me = format!(
        "{}/{}",
        crate::netinfo::hostname().unwrap_or_default(),
        std::process::id()
    );
    info!(prefix = %cfg.prefix, election_key = %cfg.election_key, id = %me, "sidekick lbsync starting");
    let me = Holder {
        id: me,
        target: Some(cfg.target.clone()),
    };
    let election = Election::spawn(pool.clone(), cfg.election_key.clone(), me, cfg.ttl);
    let mut role = election.subscribe();
    Role::report(election.subscribe());
    let view_at = seen.clone();
    let is_leader = || election.fence(*view_at.borrow()) == Fence::Act;
    let mut state = State::Following;
    // A pass may wait up to two minutes for the load balancer to become ACTIVE.
    let mut pulse = crate::telemetry::Pulse::start("lbsync", Duration::from_secs(180));
    let outcome = loop {
        let event = match state {
            State::Due => {
                catch_up(&election, &mut seen, &wanted).await;
                let current = *view.borrow_and_update();
                match current.map(|rev| registry_view::snapshot(&registry, rev)) {
                    Some(desired) => {
                        let started = Instant::now();
                        let step = match pass(&mut backend, cfg, &prober, desired, &is_leader).await
                        {
                            Ok(step) => step,
                            Err(e) => break Err(e),
                        };
                        crate::telemetry::reconcile_done(
                            started.elapsed(),
                            step == Step::Converged,
                        );
                        Event::Passed(step)
                    }
                    // Not listed yet: wait for the first listing.
                    None => tokio::select! {
                        biased;
                        _ = &mut shutdown => break Ok(()),
                        r = view.changed() => if r.is_err() { break Ok(()) } else { Event::Changed },
                    },
                }
            }
            State::Following => tokio::select! {
                biased;
                _ = &mut shutdown => break Ok(()),
                _ = pulse.tick() => continue,
                r = role.changed() => if r.is_err() { break Ok(()) } else { Event::Leadership(role.borrow_and_update().leads()) },
            },
            State::Idle { until } | State::Holding { until } => {
                let idle = matches!(state, State::Idle { .. });
                tokio::select! {
                    biased;
                    _ = &mut shutdown => break Ok(()),
                    _ = pulse.tick() => continue,
                    r = role.changed() => if r.is_err() { break Ok(()) } else { Event::Leadership(role.borrow_and_update().leads()) },
                    r = view.changed(), if idle => if r.is_err() { break Ok(()) } else { Event::Changed },
                    _ = tokio::time::sleep_until(until) => Event::Timer,
                }
            }
        };
        state = driver::step(state, event, Instant::now(), cfg.resync);
        if let Role::Conflict { holder } = &*role.borrow() {
            break Err(LbsyncError::ElectionConflict {
                key: cfg.election_key.clone(),
                holder: holder.id.clone(),
                theirs: holder.target.clone().unwrap_or_default(),
                ours: cfg.target.clone(),
            });
        }
    };
    info!("shutting down: resigning leadership");
    election.resign().await;
    outcome
}
