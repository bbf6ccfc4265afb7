//! `sidekick lbsync`: a level-triggered reconciler from the registry prefix (desired) into a load
//! balancer (actual). A registry view (paged list, then the prefix watch) keeps the desired set in
//! memory; the driver ([`driver::State`], advanced by [`driver::step`]) runs a pass as soon
//! as something changed and nothing is in flight: observe the backend, apply the shared node
//! plan ([`plan::plan_nodes`]), take one step. Only the elected leader changes anything.

pub mod backend;
pub mod driver;
pub mod election;
pub mod instances;
pub mod plan;
pub mod registry_view;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::config::{address_rules, AdmissionProbe, BackendConfig, LbsyncConfig};
use crate::etcd::access::{connect_checked, Need, LBSYNC_NEEDS};
use crate::etcd::{EtcdError, Pool};
use crate::health::{Probe, Prober};
use crate::nginx::NginxUpstream;
use crate::registry::node::AddressRules;
use backend::nginx::NginxBackend;
use backend::rackspace::RackspaceBackend;
use backend::Backend;
pub use driver::Step;
use driver::{Event, State};
use election::{Election, Fence, Holder, Role};
use instances::InstanceMap;
use plan::{plan_nodes, NodePlan};
use registry_view::{View, ViewSnapshot};

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

/// How long a pass waits for the registry view to catch up before it gives up (and changes
/// nothing: the fence stays closed).
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(2);

/// Runs lbsync until `shutdown` resolves.
pub async fn run(cfg: LbsyncConfig, shutdown: impl Future<Output = ()>) -> Result<(), LbsyncError> {
    let rules = address_rules(&cfg.backend, cfg.allow_loopback);
    match &cfg.backend {
        BackendConfig::Rackspace(t) => {
            let client = crate::rackspace::Client::new(t.client.clone())?;
            let exec = RackspaceBackend::new(
                client,
                t.lb_name.clone(),
                t.lb_id,
                cfg.statics.clone(),
                cfg.drain_period,
            );
            drive(&cfg, exec, rules, shutdown).await
        }
        BackendConfig::Nginx(n) => {
            let sync = NginxBackend::new(NginxUpstream::new(n.clone())?, cfg.statics.clone());
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
    let mut driver = Driver::start(cfg, backend, rules, &pool);
    if cfg.dry_run {
        return driver.dry_run(&mut shutdown).await;
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
    let election = Election::spawn(pool, cfg.election_key.clone(), me, cfg.ttl);
    let outcome = driver.lead(&election, &mut shutdown).await;
    info!("shutting down: resigning leadership");
    election.resign().await;
    outcome
}

/// The driver's side of a running lbsync: the backend, and the registry view it plans from
/// (whose progress the leader's fence reads).
struct Driver<'a, B> {
    cfg: &'a LbsyncConfig,
    backend: B,
    prober: Prober,
    view: View,
}

/// What the loop does next: handle an event, beat (`Continue(None)`), or stop with a result.
type Next = ControlFlow<Result<(), LbsyncError>, Option<Event>>;

impl<'a, B: Backend> Driver<'a, B> {
    /// Spawns the registry view on `pool`.
    fn start(cfg: &'a LbsyncConfig, backend: B, rules: AddressRules, pool: &Pool) -> Self {
        let registry = InstanceMap::new(&cfg.prefix, cfg.address_family.fields(), rules);
        let (view, _) = registry_view::spawn(pool.clone(), registry, cfg.prefix.clone());
        let prober = Prober::new(
            cfg.admission_probe
                .as_ref()
                .map(|r| r.timeout)
                .unwrap_or(Duration::from_secs(2)),
        );
        Driver {
            cfg,
            backend,
            prober,
            view,
        }
    }

    /// The plan from the registry and what the backend serves: lbsync's own re-check of the
    /// instances not served yet (if asked), then the node plan every backend shares. A pass and a
    /// dry run both start here.
    async fn plan(&self, desired: ViewSnapshot, present: &BTreeSet<SocketAddr>) -> NodePlan {
        let want = match &self.cfg.admission_probe {
            Some(r) => admit(r, &self.prober, &desired.addrs, present).await,
            None => desired.addrs,
        };
        plan_nodes(want, present, &self.cfg.statics, self.cfg.allow_empty)
    }

    /// `--dry-run`: waits for the first listing, then prints what one pass would change.
    async fn dry_run<S: Future<Output = ()>>(
        &mut self,
        shutdown: &mut Pin<&mut S>,
    ) -> Result<(), LbsyncError> {
        let listed = tokio::select! {
            d = self.view.changed.wait_for(Option::is_some) => d.is_ok(),
            _ = shutdown.as_mut() => false,
        };
        if !listed {
            return Ok(());
        }
        let desired = self.view.snapshot();
        println!(
            "registry {}: {} valid instances, {} distinct addresses",
            self.cfg.prefix,
            desired.instances,
            desired.addrs.len()
        );
        let present = self.backend.observe().await.unwrap_or_default();
        let plan = self.plan(desired, &present).await;
        if plan.empty_guard {
            println!(
                "guard   the registry is empty: nothing would be removed without --allow-empty"
            );
        }
        self.backend.describe(&plan).await
    }

    /// The driver's state machine, until shutdown, a fatal error or an election conflict.
    async fn lead<S: Future<Output = ()>>(
        &mut self,
        election: &Election,
        shutdown: &mut Pin<&mut S>,
    ) -> Result<(), LbsyncError> {
        let mut role = election.subscribe();
        let mut state = State::Following;
        // A pass may wait up to two minutes for the load balancer to become ACTIVE.
        let mut pulse = crate::telemetry::Pulse::start("lbsync", Duration::from_secs(180));
        loop {
            let next = match state {
                State::Due => match self.due(election).await {
                    Ok(Some(event)) => ControlFlow::Continue(Some(event)),
                    Ok(None) => self.wait(state, &mut role, &mut pulse, shutdown).await,
                    Err(e) => ControlFlow::Break(Err(e)),
                },
                _ => self.wait(state, &mut role, &mut pulse, shutdown).await,
            };
            let event = match next {
                ControlFlow::Break(outcome) => return outcome,
                ControlFlow::Continue(None) => continue,
                ControlFlow::Continue(Some(event)) => event,
            };
            state = driver::step(state, event, Instant::now(), self.cfg.resync);
            if let Role::Conflict { holder } = &*role.borrow() {
                return Err(LbsyncError::ElectionConflict {
                    key: self.cfg.election_key.clone(),
                    holder: holder.id.clone(),
                    theirs: holder.target.clone().unwrap_or_default(),
                    ours: self.cfg.target.clone(),
                });
            }
        }
    }

    /// Waits (a bounded time) until the registry view has caught up with the revision the
    /// current leadership term was confirmed at, so a pass never plans from a view older than
    /// the term.
    async fn catch_up(&mut self, election: &Election) {
        let Fence::ViewBehind { need } = election.fence(*self.view.seen.borrow()) else {
            return;
        };
        self.view.wanted.send_replace(need);
        let caught_up = self.view.seen.wait_for(|&s| s >= need);
        if tokio::time::timeout(CATCH_UP_DEADLINE, caught_up)
            .await
            .is_err()
        {
            warn!(
                need,
                seen = *self.view.seen.borrow(),
                "the registry view has not caught up with this leadership term; not changing anything yet"
            );
        }
    }

    /// A due pass, once the view has caught up with the term: observe the backend once, plan,
    /// take one step. `None` before the first listing.
    async fn due(&mut self, election: &Election) -> Result<Option<Event>, LbsyncError> {
        self.catch_up(election).await;
        if self.view.changed.borrow_and_update().is_none() {
            return Ok(None);
        }
        let desired = self.view.snapshot();
        let started = Instant::now();
        crate::telemetry::lbsync_desired(desired.addrs.len());
        let step = match self.backend.observe().await {
            Ok(present) => {
                crate::telemetry::lbsync_actual(present.len());
                let plan = self.plan(desired, &present).await;
                // Once per pass (a change or the resync), so it stays visible without flooding.
                if plan.empty_guard {
                    error!(kept = plan.want.len(), "the registry prefix is empty: keeping the backend's current nodes (pass --allow-empty to allow emptying it)");
                }
                let seen = &self.view.seen;
                let is_leader = || election.fence(*seen.borrow()) == Fence::Act;
                self.backend.apply(&plan, &is_leader).await?
            }
            Err(halt) => halt.into_step()?,
        };
        crate::telemetry::reconcile_done(started.elapsed(), step == Step::Converged);
        Ok(Some(Event::Passed(step)))
    }

    /// Waits for what `state` listens to: leadership and the heartbeat unless a pass is due (then
    /// it waits for the first listing), registry changes when idle (or due), its deadline.
    async fn wait<S: Future<Output = ()>>(
        &mut self,
        state: State,
        role: &mut watch::Receiver<Role>,
        pulse: &mut crate::telemetry::Pulse,
        shutdown: &mut Pin<&mut S>,
    ) -> Next {
        let (role_too, changes, until) = match state {
            State::Following => (true, false, None),
            State::Idle { until } => (true, true, Some(until)),
            State::Holding { until } => (true, false, Some(until)),
            State::Due => (false, true, None),
        };
        let closed = ControlFlow::Break(Ok(()));
        tokio::select! {
            biased;
            _ = shutdown.as_mut() => closed,
            _ = pulse.tick(), if role_too => ControlFlow::Continue(None),
            r = role.changed(), if role_too => if r.is_err() { closed } else { ControlFlow::Continue(Some(Event::Leadership(role.borrow_and_update().leads()))) },
            r = self.view.changed.changed(), if changes => if r.is_err() { closed } else { ControlFlow::Continue(Some(Event::Changed)) },
            _ = tokio::time::sleep_until(until.unwrap_or_else(Instant::now)), if until.is_some() => ControlFlow::Continue(Some(Event::Timer)),
        }
    }
}
