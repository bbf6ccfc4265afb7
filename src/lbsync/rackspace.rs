//! Executing plans against a Rackspace Cloud Load Balancer, one mutation per step: read the LB
//! (or reuse the state the post-mutation poll just returned), plan, make one change, and poll with
//! short growing intervals (after a wait learned from the last PENDING window) until the LB is
//! ACTIVE again. API errors become a wait decision:
//! 422 immutable → wait for ACTIVE and re-plan, 413 rate limit → Retry-After, 413 node limit →
//! re-read the limits once, 401 → already retried by the client, 5xx/transport → backoff,
//! LB gone → retry at the resync interval. A cached node list never survives an error.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{error, info, warn};

use super::plan::{plan, LbNode, Limits, Plan};
use super::Step;
use crate::backoff::Backoff;
use crate::rackspace::{Client, Error, LbStatus, LoadBalancer, NewNode, NodeCondition};

/// How long the executor waits for a PENDING_UPDATE to end before giving the pass back.
const ACTIVE_WAIT: Duration = Duration::from_secs(120);
const FIRST_POLL: Duration = Duration::from_millis(25);
const MAX_POLL: Duration = Duration::from_secs(2);
/// The longest first wait after a mutation, whatever the last window was.
const MAX_HINT: Duration = Duration::from_secs(10);

pub struct RackspaceExec {
    client: Client,
    lb_name: Option<String>,
    lb_id_flag: Option<u64>,
    lb_id: Option<u64>,
    limits: Option<Limits>,
    /// The LB as the last poll after our own mutation returned it; used once, then dropped.
    fresh: Option<LoadBalancer>,
    /// How long the last PENDING window after our own mutation lasted, at least.
    pending_hint: Duration,
    backoff: Backoff,
    duplicates_in_a_row: u32,
    reported_unplaced: BTreeSet<SocketAddr>,
}

/// The first wait after the next mutation: the last moment this window was seen PENDING (a lower
/// bound of its length), or, when the first look already found the LB ACTIVE, a little less than
/// the wait that did. Never back to zero for a known window: polling it from zero costs half a
/// dozen GETs, and two such windows in a second trip the client's own GET pacing (seen in
/// `scripts/bench` as a remove taking two windows instead of one).
fn next_hint(hint: Duration, last_pending: Option<Duration>) -> Duration {
    match last_pending {
        Some(p) => p.min(MAX_HINT),
        None => hint * 3 / 4,
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

impl RackspaceExec {
    pub fn new(client: Client, lb_name: Option<String>, lb_id: Option<u64>) -> RackspaceExec {
        RackspaceExec {
            client,
            lb_name,
            lb_id_flag: lb_id,
            lb_id,
            limits: None,
            fresh: None,
            pending_hint: Duration::ZERO,
            backoff: Backoff::new(Duration::from_millis(200), Duration::from_secs(30)),
            duplicates_in_a_row: 0,
            reported_unplaced: BTreeSet::new(),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
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
        let l = self.client.absolute_limits().await?;
        let l = Limits {
            node_limit: l.node_limit as usize,
            batch_delete_limit: l.batch_delete_limit as usize,
        };
        info!(
            node_limit = l.node_limit,
            batch_delete_limit = l.batch_delete_limit,
            "load balancer limits read"
        );
        self.limits = Some(l);
        Ok(l)
    }

    /// Reads the LB and the plan for `desired`, without changing anything.
    pub async fn plan(
        &mut self,
        desired: &BTreeSet<SocketAddr>,
        statics: &BTreeSet<SocketAddr>,
        allow_empty: bool,
    ) -> Result<(LoadBalancer, Plan), Error> {
        let id = self.lb_id().await?;
        let limits = self.limits().await?;
        let lb = match self.fresh.take() {
            Some(lb) if lb.id == id => lb,
            _ => self.client.get_load_balancer(id).await?,
        };
        let p = plan(desired, &lb_nodes(&lb), statics, limits, allow_empty);
        Ok((lb, p))
    }

    /// Polls until the LB is ACTIVE; keeps the final state for the next step.
    /// After our own mutation the first poll waits `pending_hint`: how long the previous window
    /// was seen PENDING (a lower bound of its length), so a known window costs about two GETs
    /// instead of one every growing interval, and the API's GET rate limit is left for real work.
    async fn wait_active(&mut self, id: u64, after_mutation: bool) -> Result<(), Step> {
        let started = Instant::now();
        if after_mutation && !self.pending_hint.is_zero() {
            tokio::time::sleep(self.pending_hint).await;
        }
        let mut delay = FIRST_POLL;
        let mut last_pending: Option<Duration> = None;
        loop {
            let lb = match self.client.get_load_balancer(id).await {
                Ok(lb) => lb,
                Err(e) => return Err(self.on_error(e).await),
            };
            match lb.status {
                LbStatus::Active => {
                    if after_mutation {
                        self.pending_hint = next_hint(self.pending_hint, last_pending);
                    }
                    self.fresh = Some(lb);
                    return Ok(());
                }
                LbStatus::PendingUpdate | LbStatus::Build | LbStatus::PendingCreate => {
                    last_pending = Some(started.elapsed());
                }
                other => {
                    error!(lb_id = id, status = %other, "load balancer is not in a state that accepts changes; retrying at the resync interval");
                    return Err(Step::Resync);
                }
            }
            if started.elapsed() > ACTIVE_WAIT {
                warn!(lb_id = id, status = %lb.status, waited_s = started.elapsed().as_secs(), "load balancer still not ACTIVE; giving the pass back");
                return Err(Step::Wait(Duration::from_secs(5)));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 3 / 2).min(MAX_POLL);
        }
    }

    /// Turns an API error into how long to wait before the next step.
    async fn on_error(&mut self, e: Error) -> Step {
        self.fresh = None;
        match &e {
            Error::Immutable { .. } => {
                info!(error = %e, "load balancer busy; waiting for ACTIVE and re-planning");
                if let Some(id) = self.lb_id {
                    if let Err(step) = Box::pin(self.wait_active(id, false)).await {
                        return step;
                    }
                }
                Step::Progress
            }
            Error::RateLimited { retry_after } => {
                let d = retry_after.unwrap_or_else(|| self.backoff.next_delay());
                warn!(
                    retry_in_ms = d.as_millis() as u64,
                    "rate limited by the load balancer API; waiting"
                );
                Step::Wait(d)
            }
            Error::Duplicate { .. } | Error::NotPartOfLb { .. } | Error::NodeNotFound { .. } => {
                self.duplicates_in_a_row += 1;
                if self.duplicates_in_a_row > 3 {
                    error!(error = %e, "the load balancer keeps refusing the plan; retrying at the resync interval");
                    Step::Resync
                } else {
                    info!(error = %e, "the load balancer changed under us; re-reading and re-planning");
                    Step::Progress
                }
            }
            Error::NodeLimit { .. } => {
                let before = self.limits.take();
                let after = self.limits().await.ok();
                if after.is_some() && after != before {
                    info!(error = %e, "node limit changed; re-planning");
                    Step::Progress
                } else {
                    error!(error = %e, "node limit reached; the instances that do not fit stay out; retrying at the resync interval");
                    Step::Resync
                }
            }
            Error::LbGone { .. } | Error::NoSuchLb { .. } | Error::AmbiguousLb { .. } => {
                error!(error = %e, "load balancer unavailable; retrying at the resync interval");
                if self.lb_id_flag.is_none() {
                    self.lb_id = None;
                }
                Step::Resync
            }
            _ => {
                let d = self.backoff.next_delay();
                warn!(error = %e, kind = e.metric_label(), attempt = self.backoff.attempts(), retry_in_ms = d.as_millis() as u64, "load balancer API call failed; retrying");
                Step::Wait(d)
            }
        }
    }

    /// One step towards `desired`; `is_leader` is asked right before the mutation.
    pub async fn step(
        &mut self,
        desired: &BTreeSet<SocketAddr>,
        statics: &BTreeSet<SocketAddr>,
        allow_empty: bool,
        is_leader: &dyn Fn() -> bool,
    ) -> Step {
        let (lb, p) = match self.plan(desired, statics, allow_empty).await {
            Ok(x) => x,
            Err(e) => return self.on_error(e).await,
        };
        self.report(&p, lb.id);
        crate::telemetry::lbsync_actual(lb.nodes.len());
        if p.is_converged() {
            self.backoff.reset();
            self.duplicates_in_a_row = 0;
            return Step::Converged;
        }
        if lb.status != LbStatus::Active {
            return match self.wait_active(lb.id, false).await {
                Ok(()) => Step::Progress,
                Err(s) => s,
            };
        }
        if !is_leader() {
            warn!("not (or no longer surely) the leader; not changing the load balancer");
            return Step::Wait(Duration::from_secs(1));
        }
        let started = Instant::now();
        let result = if let Some(batch) = p.removes.first() {
            let limit = self
                .limits
                .map(|l| l.batch_delete_limit as u32)
                .unwrap_or(10);
            let r = self.client.delete_nodes(lb.id, batch, limit).await;
            if r.is_ok() {
                info!(lb_id = lb.id, removed = batch.len(), node_ids = ?batch, "removed nodes");
            }
            r
        } else if !p.adds.is_empty() {
            let nodes: Vec<NewNode> = p
                .adds
                .iter()
                .map(|a| NewNode {
                    address: a.ip().to_string(),
                    port: a.port(),
                    condition: NodeCondition::Enabled,
                })
                .collect();
            let r = self.client.add_nodes(lb.id, &nodes).await.map(drop);
            if r.is_ok() {
                info!(lb_id = lb.id, added = nodes.len(), addresses = ?p.adds, "added nodes");
            }
            r
        } else if let Some(id) = p.enable.first() {
            let r = self
                .client
                .set_node_condition(lb.id, *id, NodeCondition::Enabled)
                .await;
            if r.is_ok() {
                info!(lb_id = lb.id, node_id = id, "re-enabled node");
            }
            r
        } else {
            Ok(())
        };
        if let Err(e) = result {
            return self.on_error(e).await;
        }
        self.duplicates_in_a_row = 0;
        self.backoff.reset();
        match self.wait_active(lb.id, true).await {
            Ok(()) => {
                tracing::debug!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "mutation applied and load balancer ACTIVE"
                );
                Step::Progress
            }
            Err(s) => s,
        }
    }

    fn report(&mut self, p: &Plan, lb_id: u64) {
        if p.empty_guard {
            error!(lb_id, "the registry prefix is empty: keeping the load balancer's managed nodes (pass --allow-empty to allow emptying it)");
        }
        let unplaced: BTreeSet<SocketAddr> = p.unplaced.iter().copied().collect();
        if !unplaced.is_empty() && unplaced != self.reported_unplaced {
            error!(lb_id, count = unplaced.len(), addresses = ?unplaced, "instances do not fit under the load balancer's node limit; they stay out");
        }
        self.reported_unplaced = unplaced;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pending_hint_follows_the_window_and_never_collapses_to_zero() {
        let ms = Duration::from_millis;
        // No window (PENDING 0): stays zero.
        assert_eq!(next_hint(Duration::ZERO, None), Duration::ZERO);
        // Seen PENDING up to 290 ms: wait that long next time.
        assert_eq!(next_hint(Duration::ZERO, Some(ms(290))), ms(290));
        // The hinted first look found it ACTIVE: shave the hint, keep most of it.
        assert_eq!(next_hint(ms(320), None), ms(240));
        // A window that shrank from 10 s to 300 ms is re-learned in about a dozen mutations.
        let mut h = MAX_HINT;
        let mut n = 0;
        while h > ms(300) {
            h = next_hint(h, None);
            n += 1;
        }
        assert!(n <= 13, "{n}");
        assert_eq!(next_hint(ms(20_000), Some(ms(20_000))), MAX_HINT);
    }
}
