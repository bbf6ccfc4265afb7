//! The Rackspace Cloud Load Balancer backend, one mutation per step: observe the LB once per pass
//! (or reuse the state the post-mutation poll just returned), plan its node changes from the
//! shared [`NodePlan`], make one change, and poll until the LB is ACTIVE again (at the end of
//! our last PENDING window, then a backoff: [`poll`]; the client's GET budget paces the rest).
//! With a drain period, a node leaves as DRAINING first and is deleted once the period is over;
//! wanted again meanwhile, it goes back to ENABLED. API errors become a wait decision: 422 immutable → wait for ACTIVE and
//! re-plan, 413 rate limit → Retry-After, 413 node limit → re-read the limits once, rejected
//! credentials → fatal (at start at once, later after a few spaced retries), 5xx/transport →
//! backoff, LB gone → retry at the resync interval. A cached LB never survives an error.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::super::plan::{plan_changes, LbNode, Limits, NodeChanges, NodePlan};
use super::super::{LbsyncError, Step};
use super::{Backend, Halt};
use crate::telemetry::{sample, LOG_SAMPLE};
use drain::{Drains, Removal};
use poll::PendingWindow;

mod drain;
mod on_error;
mod poll;
use crate::backoff::Backoff;
use crate::rackspace::{
    AccountLimits, Client, Error, LbStatus, LimitsSource, LoadBalancer, NewNode, NodeCondition,
};

/// How long the executor waits for a PENDING_UPDATE to end before giving the pass back.
const ACTIVE_WAIT: Duration = Duration::from_secs(120);

pub struct RackspaceBackend {
    client: Client,
    target: Target,
    /// The account's limits, read once; re-read when a node-limit 413 says they may have changed.
    limits: Option<Limits>,
    statics: BTreeSet<SocketAddr>,
    drains: Drains,
    /// The LB as observed for this pass (or as the last poll after our mutation returned it);
    /// never kept across an error.
    fresh: Option<LoadBalancer>,
    /// How long our mutations keep the LB PENDING, as learned.
    window: PendingWindow,
    retry: Retry,
    reported: Reported,
}

/// Which load balancer the flags name, and its id once resolved.
struct Target {
    name: Option<String>,
    /// `--lb-id`: kept even when the LB seems gone.
    id_flag: Option<u64>,
    /// Resolved from the name (or the flag); forgotten when the LB is gone.
    id: Option<u64>,
}

/// How failed calls are spaced, and how often in a row the LB refused our plan as stale.
struct Retry {
    backoff: Backoff,
    refusals: u32,
}

impl Retry {
    /// A mutation went through, or nothing is left to do.
    fn reset(&mut self) {
        self.backoff.reset();
        self.refusals = 0;
    }
}

/// What was already logged, so a lasting condition is logged once, not once per pass.
#[derive(Default)]
struct Reported {
    /// The instances left out by the node limit.
    unplaced: BTreeSet<SocketAddr>,
    /// A status that does not accept changes (until the LB is ACTIVE again).
    status: Option<String>,
}

impl Reported {
    fn status(&mut self, lb_id: u64, status: &LbStatus) {
        let s = status.to_string();
        if self.status.as_deref() != Some(s.as_str()) {
            warn!(lb_id, status = %s, "load balancer is not in a state that accepts changes; retrying at the resync interval");
            self.status = Some(s);
        }
    }

    fn unplaced(&mut self, c: &NodeChanges, lb_id: u64, limits: Limits) {
        let unplaced: BTreeSet<SocketAddr> = c.unplaced.iter().copied().collect();
        if !unplaced.is_empty() && unplaced != self.unplaced {
            error!(lb_id, count = unplaced.len(), node_limit = limits.node_limit,
                addresses = %sample(&unplaced, LOG_SAMPLE),
                "instances do not fit under the load balancer's node limit; they stay out");
            debug!(lb_id, addresses = ?unplaced, "every instance left out by the node limit");
        }
        self.unplaced = unplaced;
    }
}

/// The LB's nodes in the plan's terms.
pub fn lb_nodes(lb: &LoadBalancer) -> Vec<LbNode> {
    lb.nodes
        .iter()
        .map(|n| LbNode {
            id: n.id,
            addr: n
                .address
                .parse::<IpAddr>()
                .ok()
                .map(|ip| SocketAddr::new(ip, n.port)),
            condition: n.condition.as_str().to_string(),
        })
        .collect()
}

/// What [`RackspaceBackend::mutate`] did.
enum Mutation {
    Sent,
    Nothing,
    /// Only drained nodes wait for their period to end.
    DrainRunning(Duration),
}

impl RackspaceBackend {
    pub fn new(
        client: Client,
        lb_name: Option<String>,
        lb_id: Option<u64>,
        statics: BTreeSet<SocketAddr>,
        drain_period: Duration,
    ) -> RackspaceBackend {
        RackspaceBackend {
            client,
            target: Target {
                name: lb_name,
                id_flag: lb_id,
                id: lb_id,
            },
            limits: None,
            statics,
            drains: Drains::new(drain_period),
            fresh: None,
            window: PendingWindow::default(),
            retry: Retry {
                backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
                refusals: 0,
            },
            reported: Reported::default(),
        }
    }

    async fn lb_id(&mut self) -> Result<u64, Error> {
        if let Some(id) = self.target.id {
            return Ok(id);
        }
        let name = self.target.name.as_deref();
        let id = self.client.resolve(name, self.target.id_flag).await?;
        info!(
            lb_id = id,
            lb_name = name.unwrap_or(""),
            "load balancer resolved"
        );
        self.target.id = Some(id);
        Ok(id)
    }

    /// The account's limits (read once; the client falls back to the documented defaults).
    async fn limits(&mut self) -> Result<Limits, Error> {
        if let Some(l) = self.limits {
            return Ok(l);
        }
        let AccountLimits { limits: l, source } = self.client.account_limits().await?;
        let (node_limit, batch_delete_limit) = (l.node_limit, l.batch_delete_limit);
        match source {
            LimitsSource::Api => info!(node_limit, batch_delete_limit, "load balancer limits"),
            LimitsSource::Defaults { reason } => {
                warn!(reason = %reason, node_limit, batch_delete_limit,
                "the API does not serve the account limits; using the documented defaults")
            }
        }
        self.limits = Some(l);
        Ok(l)
    }

    /// The LB for this pass (the fresh one, else read now) and the account's limits.
    async fn read(&mut self) -> Result<(LoadBalancer, Limits), Error> {
        let id = self.lb_id().await?;
        let limits = self.limits().await?;
        let lb = match self.fresh.take() {
            Some(lb) if lb.id == id => lb,
            _ => self.client.get_load_balancer(id).await?,
        };
        Ok((lb, limits))
    }

    /// Polls until the LB is ACTIVE, as [`poll`] says when; keeps the final state for the next
    /// step. `mutated`: when our mutation was accepted, if the window is ours.
    async fn wait_active(&mut self, id: u64, mutated: Option<Instant>) -> Result<(), Halt> {
        let started = mutated.unwrap_or_else(Instant::now);
        let mut pending_seen = None;
        loop {
            let wait = self
                .window
                .delay(mutated.is_some(), started.elapsed(), pending_seen);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            let lb = match self.client.get_load_balancer(id).await {
                Ok(lb) => lb,
                Err(e) => return Err(self.on_error(e).await),
            };
            let elapsed = started.elapsed();
            if lb.status.accepts_changes() {
                if mutated.is_some() {
                    self.window.ended(elapsed, pending_seen);
                }
                self.reported.status = None;
                self.fresh = Some(lb);
                return Ok(());
            }
            if !lb.status.is_pending() {
                self.reported.status(id, &lb.status);
                return Err(Step::Resync.into());
            }
            if elapsed > ACTIVE_WAIT {
                warn!(lb_id = id, status = %lb.status, waited_s = elapsed.as_secs(), "load balancer still not ACTIVE; giving the pass back");
                return Err(Step::Wait(Duration::from_secs(5)).into());
            }
            pending_seen = Some(elapsed);
        }
    }

    /// Waits for ACTIVE and says to go on with the next step.
    async fn settle(&mut self, id: u64, mutated: Option<Instant>) -> Result<Step, LbsyncError> {
        match self.wait_active(id, mutated).await {
            Ok(()) => Ok(Step::Progress),
            Err(h) => h.into_step(),
        }
    }

    /// Makes the one mutation `c` asks for first: a removal (drain or delete), else the adds in
    /// one POST, else re-enabling a drained node wanted again.
    async fn mutate(
        &mut self,
        lb: &LoadBalancer,
        c: &NodeChanges,
        limits: Limits,
    ) -> Result<Mutation, Error> {
        let batch = limits.batch_delete_limit;
        let removal = self
            .drains
            .next(&c.removes.concat(), &lb_nodes(lb), batch as usize);
        match removal {
            Removal::Drain(id) => self.drain(lb.id, id).await,
            Removal::Delete(ids) => {
                self.client.delete_nodes(lb.id, &ids, batch).await?;
                info!(lb_id = lb.id, removed = ids.len(), node_ids = ?ids, "removed nodes");
                Ok(Mutation::Sent)
            }
            Removal::WaitFor(d) => match self.add_or_enable(lb.id, c).await? {
                Mutation::Nothing => Ok(Mutation::DrainRunning(d)),
                m => Ok(m),
            },
            Removal::Nothing => self.add_or_enable(lb.id, c).await,
        }
    }

    async fn drain(&mut self, lb_id: u64, id: u64) -> Result<Mutation, Error> {
        self.client
            .set_node_condition(lb_id, id, NodeCondition::Draining)
            .await?;
        self.drains.started(id);
        info!(
            lb_id,
            node_id = id,
            drain_period_s = self.drains.period.as_secs_f64(),
            "draining node before removing it"
        );
        Ok(Mutation::Sent)
    }

    async fn add_or_enable(&mut self, lb_id: u64, c: &NodeChanges) -> Result<Mutation, Error> {
        if !c.adds.is_empty() {
            let new: Vec<NewNode> = c
                .adds
                .iter()
                .map(|a| NewNode {
                    address: a.ip().to_string(),
                    port: a.port(),
                    condition: NodeCondition::Enabled,
                })
                .collect();
            self.client.add_nodes(lb_id, &new).await?;
            info!(lb_id, added = new.len(), addresses = %sample(&c.adds, LOG_SAMPLE), "added nodes");
            return Ok(Mutation::Sent);
        }
        let Some(&id) = c.enable.first() else {
            return Ok(Mutation::Nothing);
        };
        self.client
            .set_node_condition(lb_id, id, NodeCondition::Enabled)
            .await?;
        self.drains.enabled(id);
        info!(lb_id, node_id = id, "re-enabled node");
        Ok(Mutation::Sent)
    }
}

impl Backend for RackspaceBackend {
    async fn start(&mut self) -> Result<(), LbsyncError> {
        match self.client.authenticate().await {
            Err(e) if e.is_rejected_credentials() => Err(LbsyncError::CredentialsRejected {
                rejected: e,
                at_start: true,
            }),
            // Anything else is retried by the passes.
            _ => Ok(()),
        }
    }

    async fn observe(&mut self) -> Result<BTreeSet<SocketAddr>, Halt> {
        match self.read().await {
            Ok((lb, _)) => {
                let present = lb_nodes(&lb).iter().filter_map(|n| n.addr).collect();
                self.fresh = Some(lb);
                Ok(present)
            }
            Err(e) => Err(self.on_error(e).await),
        }
    }

    async fn apply(
        &mut self,
        plan: &NodePlan,
        is_leader: &dyn Fn() -> bool,
    ) -> Result<Step, LbsyncError> {
        let (lb, limits) = match self.read().await {
            Ok(read) => read,
            Err(e) => return self.on_error(e).await.into_step(),
        };
        let c = plan_changes(&plan.want, &lb_nodes(&lb), &self.statics, limits);
        self.reported.unplaced(&c, lb.id, limits);
        if c.is_converged() {
            self.retry.reset();
            self.drains.clear();
            return Ok(Step::Converged);
        }
        if !lb.status.accepts_changes() {
            return self.settle(lb.id, None).await;
        }
        if !is_leader() {
            debug!("not (or no longer surely) the leader; not changing the load balancer");
            return Ok(Step::Wait(Duration::from_secs(1)));
        }
        let started = Instant::now();
        match self.mutate(&lb, &c, limits).await {
            Ok(Mutation::Sent) => {}
            Ok(Mutation::Nothing) => return Ok(Step::Converged),
            Ok(Mutation::DrainRunning(d)) => return Ok(Step::Revisit(d)),
            Err(e) => return self.on_error(e).await.into_step(),
        }
        self.retry.reset();
        let step = self.settle(lb.id, Some(Instant::now())).await;
        if matches!(step, Ok(Step::Progress)) {
            debug!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "mutation applied and load balancer ACTIVE"
            );
        }
        step
    }

    async fn describe(&mut self, plan: &NodePlan) -> Result<(), LbsyncError> {
        let (lb, limits) = self.read().await?;
        let c = plan_changes(&plan.want, &lb_nodes(&lb), &self.statics, limits);
        println!(
            "load balancer {:?} (id {}, {}): {} nodes now",
            lb.name,
            lb.id,
            lb.status,
            lb.nodes.len()
        );
        for id in c.removes.concat() {
            let n = lb.nodes.iter().find(|n| n.id == id);
            let what = if self.drains.period.is_zero() {
                "remove "
            } else {
                "drain  "
            };
            println!(
                "{what} node {id} {}",
                n.map(|n| format!("{}:{}", n.address, n.port))
                    .unwrap_or_default()
            );
        }
        for a in &c.adds {
            println!("add     {a}");
        }
        for id in &c.enable {
            println!("enable  node {id}");
        }
        for a in &c.unplaced {
            println!("no room {a} (node limit)");
        }
        if c.is_converged() {
            println!("nothing to change");
        }
        Ok(())
    }
}
