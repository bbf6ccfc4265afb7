//! The Rackspace Cloud Load Balancer backend, one mutation per step: observe the LB once per pass
//! (or reuse the state the post-mutation poll just returned), plan its node changes from the
//! shared [`NodePlan`], make one change, and poll when the client suggests (past the PENDING
//! window it learned, within its GET budget) until the LB is ACTIVE again. With a drain period, a
//! node leaves as DRAINING first and is deleted once the period is over; wanted again meanwhile,
//! it goes back to ENABLED. API errors become a wait decision: 422 immutable → wait for ACTIVE and
//! re-plan, 413 rate limit → Retry-After, 413 node limit → re-read the limits once, rejected
//! credentials → fatal (at start at once, later after a few spaced retries), 5xx/transport →
//! backoff, LB gone → retry at the resync interval. A cached LB never survives an error.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::super::node_plan::NodePlan;
use super::super::plan::{plan_changes, LbNode, Limits, NodeChanges};
use super::super::{LbsyncError, Step};
use super::{Backend, Halt};
use crate::telemetry::sample;
use drain::{is_draining, removal, Removal};

mod drain;
mod on_error;
use crate::backoff::Backoff;
use crate::rackspace::{Client, Error, LbStatus, LoadBalancer, NewNode, NodeCondition};

/// How long the executor waits for a PENDING_UPDATE to end before giving the pass back.
const ACTIVE_WAIT: Duration = Duration::from_secs(120);
const FIRST_POLL: Duration = Duration::from_millis(25);
const MAX_POLL: Duration = Duration::from_secs(2);
/// A learned PENDING window shorter than this is treated as none.
const INSTANT_WINDOW: Duration = Duration::from_millis(25);

pub struct RackspaceExec {
    client: Client,
    lb_name: Option<String>,
    lb_id_flag: Option<u64>,
    lb_id: Option<u64>,
    limits: Option<Limits>,
    statics: BTreeSet<SocketAddr>,
    drain_period: Duration,
    /// When each node we set DRAINING started its drain (as far as this process knows).
    draining_since: BTreeMap<u64, Instant>,
    /// The LB as observed for this pass (or as the last poll after our mutation returned it).
    fresh: Option<LoadBalancer>,
    backoff: Backoff,
    duplicates_in_a_row: u32,
    reported_unplaced: BTreeSet<SocketAddr>,
    reported_status: Option<String>,
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

/// What [`RackspaceExec::mutate`] did.
enum Mutation {
    Sent,
    Nothing,
    /// Only drained nodes wait for their period to end.
    DrainRunning(Duration),
}

impl RackspaceExec {
    pub fn new(
        client: Client,
        lb_name: Option<String>,
        lb_id: Option<u64>,
        statics: BTreeSet<SocketAddr>,
        drain_period: Duration,
    ) -> RackspaceExec {
        RackspaceExec {
            client,
            lb_name,
            lb_id_flag: lb_id,
            lb_id,
            limits: None,
            statics,
            drain_period,
            draining_since: BTreeMap::new(),
            fresh: None,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
            duplicates_in_a_row: 0,
            reported_unplaced: BTreeSet::new(),
            reported_status: None,
        }
    }

    async fn lb_id(&mut self) -> Result<u64, Error> {
        if let Some(id) = self.lb_id {
            return Ok(id);
        }
        let id = self
            .client
            .resolve(self.lb_name.as_deref(), self.lb_id_flag)
            .await?;
        info!(
            lb_id = id,
            lb_name = self.lb_name.as_deref().unwrap_or(""),
            "load balancer resolved"
        );
        self.lb_id = Some(id);
        Ok(id)
    }

    async fn limits(&mut self) -> Result<Limits, Error> {
        if let Some(l) = self.limits {
            return Ok(l);
        }
        let l = match self.client.absolute_limits().await {
            Ok(l) => l,
            Err(e) if e.is_transient() || e.is_rejected_credentials() => return Err(e),
            Err(e) => {
                let l = Limits::default();
                warn!(error = %e, node_limit = l.node_limit, batch_delete_limit = l.batch_delete_limit,
                    "the API did not give its limits; using the documented defaults");
                l
            }
        };
        info!(
            node_limit = l.node_limit,
            batch_delete_limit = l.batch_delete_limit,
            "load balancer limits"
        );
        self.limits = Some(l);
        Ok(l)
    }

    /// Reads the LB (or reuses the fresh one) and keeps it for this pass.
    async fn read(&mut self) -> Result<LoadBalancer, Error> {
        let id = self.lb_id().await?;
        self.limits().await?;
        let lb = match self.fresh.take() {
            Some(lb) if lb.id == id => lb,
            _ => self.client.get_load_balancer(id).await?,
        };
        Ok(lb)
    }

    /// Logs a status that does not accept changes once per status, not once per pass.
    fn report_status(&mut self, lb_id: u64, status: &LbStatus) {
        let s = status.to_string();
        if self.reported_status.as_deref() != Some(s.as_str()) {
            warn!(lb_id, status = %s, "load balancer is not in a state that accepts changes; retrying at the resync interval");
            self.reported_status = Some(s);
        }
    }

    /// Polls until the LB is ACTIVE; keeps the final state for the next step. Each look waits
    /// what the client suggests (just past the PENDING window it learned from our own mutations,
    /// see [`Client::suggested_poll_delay`]; its GET budget paces the rest), or, with no
    /// mutation of ours in flight, a short growing interval.
    async fn wait_active(&mut self, id: u64) -> Result<(), Halt> {
        let started = Instant::now();
        let mut delay = FIRST_POLL;
        loop {
            // A window learned as (nearly) zero: look at once rather than after the client's
            // 100 ms floor for windows it has not seen end (at most one extra GET).
            let instant = self
                .client
                .learned_pending_window()
                .is_some_and(|w| w < INSTANT_WINDOW);
            let suggested = if instant && delay == FIRST_POLL {
                Duration::ZERO
            } else {
                self.client.suggested_poll_delay(id)
            };
            if !suggested.is_zero() {
                tokio::time::sleep(suggested).await;
            }
            let lb = match self.client.get_load_balancer(id).await {
                Ok(lb) => lb,
                Err(e) => return Err(self.on_error(e).await),
            };
            if lb.status.accepts_changes() {
                self.reported_status = None;
                self.fresh = Some(lb);
                return Ok(());
            }
            if !lb.status.is_pending() {
                self.report_status(id, &lb.status);
                return Err(Step::Resync.into());
            }
            if started.elapsed() > ACTIVE_WAIT {
                warn!(lb_id = id, status = %lb.status, waited_s = started.elapsed().as_secs(), "load balancer still not ACTIVE; giving the pass back");
                return Err(Step::Wait(Duration::from_secs(5)).into());
            }
            if suggested.is_zero() {
                tokio::time::sleep(delay).await;
                delay = (delay * 3 / 2).min(MAX_POLL);
            }
        }
    }

    fn report(&mut self, c: &NodeChanges, lb_id: u64) {
        let unplaced: BTreeSet<SocketAddr> = c.unplaced.iter().copied().collect();
        if !unplaced.is_empty() && unplaced != self.reported_unplaced {
            error!(lb_id, count = unplaced.len(), node_limit = self.limits.map(|l| l.node_limit).unwrap_or(0),
                addresses = %sample(&unplaced, 10),
                "instances do not fit under the load balancer's node limit; they stay out");
            debug!(lb_id, addresses = ?unplaced, "every instance left out by the node limit");
        }
        self.reported_unplaced = unplaced;
    }

    /// Makes the one mutation `c` asks for first.
    async fn mutate(&mut self, lb: &LoadBalancer, c: &NodeChanges) -> Result<Mutation, Error> {
        let nodes = lb_nodes(lb);
        let ids: Vec<u64> = c.removes.concat();
        self.draining_since.retain(|id, _| ids.contains(id));
        // Found DRAINING (set by an earlier run, or by hand): its period starts when first seen.
        for n in nodes
            .iter()
            .filter(|n| ids.contains(&n.id) && is_draining(n))
        {
            self.draining_since.entry(n.id).or_insert_with(Instant::now);
        }
        let batch = self.limits.unwrap_or_default().batch_delete_limit;
        let step = removal(
            &ids,
            &nodes,
            &self.draining_since,
            self.drain_period,
            Instant::now(),
            batch as usize,
        );
        match step {
            Removal::Drain(id) => {
                self.client
                    .set_node_condition(lb.id, id, NodeCondition::Draining)
                    .await?;
                self.draining_since.insert(id, Instant::now());
                info!(
                    lb_id = lb.id,
                    node_id = id,
                    drain_period_s = self.drain_period.as_secs_f64(),
                    "draining node before removing it"
                );
                return Ok(Mutation::Sent);
            }
            Removal::Delete(batch_ids) => {
                self.client.delete_nodes(lb.id, &batch_ids, batch).await?;
                info!(lb_id = lb.id, removed = batch_ids.len(), node_ids = ?batch_ids, "removed nodes");
                return Ok(Mutation::Sent);
            }
            Removal::WaitFor(_) | Removal::Nothing => {}
        }
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
            self.client.add_nodes(lb.id, &new).await?;
            info!(lb_id = lb.id, added = new.len(), addresses = %sample(&c.adds, 10), "added nodes");
            return Ok(Mutation::Sent);
        }
        if let Some(id) = c.enable.first() {
            self.client
                .set_node_condition(lb.id, *id, NodeCondition::Enabled)
                .await?;
            self.draining_since.remove(id);
            info!(lb_id = lb.id, node_id = id, "re-enabled node");
            return Ok(Mutation::Sent);
        }
        Ok(match step {
            Removal::WaitFor(d) => Mutation::DrainRunning(d),
            _ => Mutation::Nothing,
        })
    }
}

impl Backend for RackspaceExec {
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
            Ok(lb) => {
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
        let lb = match self.fresh.take() {
            Some(lb) => lb,
            None => match self.read().await {
                Ok(lb) => lb,
                Err(e) => return self.on_error(e).await.into_step(),
            },
        };
        let limits = self.limits.unwrap_or_default();
        let c = plan_changes(&plan.want, &lb_nodes(&lb), &self.statics, limits);
        self.report(&c, lb.id);
        if c.is_converged() {
            self.backoff.reset();
            self.duplicates_in_a_row = 0;
            self.draining_since.clear();
            return Ok(Step::Converged);
        }
        if !lb.status.accepts_changes() {
            return match self.wait_active(lb.id).await {
                Ok(()) => Ok(Step::Progress),
                Err(h) => h.into_step(),
            };
        }
        if !is_leader() {
            debug!("not (or no longer surely) the leader; not changing the load balancer");
            return Ok(Step::Wait(Duration::from_secs(1)));
        }
        let started = Instant::now();
        match self.mutate(&lb, &c).await {
            Ok(Mutation::Sent) => {}
            Ok(Mutation::Nothing) => return Ok(Step::Converged),
            Ok(Mutation::DrainRunning(d)) => return Ok(Step::Revisit(d)),
            Err(e) => return self.on_error(e).await.into_step(),
        }
        self.duplicates_in_a_row = 0;
        self.backoff.reset();
        match self.wait_active(lb.id).await {
            Ok(()) => {
                debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "mutation applied and load balancer ACTIVE"
                );
                Ok(Step::Progress)
            }
            Err(h) => h.into_step(),
        }
    }

    async fn describe(&mut self, plan: &NodePlan) -> Result<(), LbsyncError> {
        let lb = match self.fresh.take() {
            Some(lb) => lb,
            None => self.read().await?,
        };
        let limits = self.limits.unwrap_or_default();
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
            let what = if self.drain_period.is_zero() {
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
