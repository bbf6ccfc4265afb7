//! The agent's etcd writer: own the prefix through an owner key bound to a lease, and make the
//! keys equal to the wanted record in one transaction guarded by ownership, writing only what
//! differs (an idle writer re-reads on resync and writes nothing: no raft proposals). Its states
//! and transitions are pure (`state`); [`run`] drives them with the calls in `ops`. The caller
//! hands it an endpoint pool and a lease: its own ([`WriterHandle::own_lease`] for `run`) or
//! one shared by every container of a host (`host`).
//!
//! [`WriterHandle::own_lease`]: crate::agent::WriterHandle::own_lease

mod ops;
pub mod state;

pub use ops::read_actual;

use std::future::Future;
use std::ops::ControlFlow;
use std::time::Duration;

use etcd_client::Client;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::decide::Desired;
use super::StopMode;
use crate::backoff::{Backoff, RetryLog};
use crate::etcd::lease::{call_deadline, LeaseState};
use crate::etcd::{EtcdError, Member, Pool};
use crate::registry::{Actual, Layout, Owner};
use ops::{Calls, NotOwner, Ownership};
use state::{next, step, Claim, Event, Next, Reconciled, State, Wait};

/// How long shutdown waits for etcd to revoke the lease (or release the keys).
pub const REVOKE_DEADLINE: Duration = Duration::from_secs(2);

/// How often a held owner key is logged about.
const HELD_LOG_EVERY: Duration = Duration::from_secs(60);

pub struct WriterConfig {
    pub layout: Layout,
    pub me: Owner,
    pub ttl: Duration,
    pub resync: Duration,
}

/// What the caller gives the writer: the pool its calls go through and the lease its keys are
/// bound to.
pub struct Shared {
    pub pool: Pool,
    pub lease: watch::Receiver<LeaseState>,
    /// The lease is this writer's alone: a predecessor's stale lease may be revoked. A lease
    /// shared by a host's containers is never revoked by one of them.
    pub own_lease: bool,
}

fn live(s: &LeaseState) -> Option<state::Lease> {
    match *s {
        LeaseState::Live { id, generation, .. } => Some(state::Lease { id, generation }),
        LeaseState::Pending => None,
    }
}

/// Logs a failed call and moves the pool off the member when the member is at fault.
fn failed(pool: &Pool, m: &Member, e: &EtcdError, log: &mut RetryLog) {
    if e.is_member_fault() {
        pool.suspect(m.index, e);
    }
    log.failed(e);
}

/// Runs one etcd call unless the keeper's lease changes first. Then the call's outcome is moot
/// (the writer starts over under the new lease), and a call stuck on a connection from before an
/// outage does not hold up the registration under the new lease.
async fn unless_lease_changes<T>(
    lease_rx: &mut watch::Receiver<LeaseState>,
    call: impl Future<Output = T>,
) -> Result<T, Event> {
    tokio::select! {
        r = call => Ok(r),
        Ok(()) = lease_rx.changed() => Err(Event::Lease(live(&lease_rx.borrow_and_update()))),
    }
}

/// Says why a write guarded by ownership was refused: the lease ended (the owner key went with
/// it), an older lease of this same agent, or another agent, named.
fn log_not_owner(layout: &Layout, me: &Owner, holder: &NotOwner) {
    match holder {
        NotOwner::Vacant => warn!(
            key = %layout.prefix,
            "the key's ownership record is gone, and the keys with it: this agent's etcd lease ended (it expired, e.g. while etcd was unreachable, or was revoked) or the record was deleted; claiming the key again"
        ),
        NotOwner::Held(Some(h)) if h.agent == me.agent => debug!(
            key = %layout.prefix,
            "the owner key is this agent's under another of its leases; claiming it again"
        ),
        NotOwner::Held(h) => warn!(
            key = %layout.prefix,
            holder_host = h.as_ref().map(|h| h.host.as_str()).unwrap_or("?"),
            holder_container = h.as_ref().map(|h| h.container.as_str()).unwrap_or("?"),
            holder_pid = h.as_ref().map(|h| h.pid).unwrap_or(0),
            "lost ownership of the key to another agent"
        ),
    }
}

/// Runs until `stop` says how to stop (or the caller goes away). With [`StopMode::Release`] on
/// a shared lease the keys and the owner key are deleted here; otherwise whoever holds the
/// lease revokes it. Returns the mode.
pub async fn run(
    cfg: WriterConfig,
    sh: Shared,
    desired: watch::Receiver<Desired>,
    mut stop: oneshot::Receiver<StopMode>,
) -> StopMode {
    let mut driver = Driver::new(cfg, sh, desired);
    let mut state = State::NoLease;
    let mut event = Event::Lease(live(&driver.lease_rx.borrow_and_update()));
    let mode = loop {
        state = step(state, event);
        event = match next(&state) {
            Next::Claim(lease) => driver.claim(lease).await,
            Next::Reconcile { lease, cache } => driver.reconcile(lease, cache).await,
            Next::Wait(wait) => match driver.wait(wait, &mut stop).await {
                ControlFlow::Continue(event) => event,
                ControlFlow::Break(mode) => break mode,
            },
        };
    };
    if mode == StopMode::Release && !driver.own_lease {
        if let State::Owned { lease, .. } = state {
            driver.release(lease).await;
        }
    }
    mode
}

/// The I/O around the pure machine: one method per [`Next`], each returning the event its
/// outcome is.
struct Driver {
    cfg: WriterConfig,
    pool: Pool,
    own_lease: bool,
    lease_rx: watch::Receiver<LeaseState>,
    desired: watch::Receiver<Desired>,
    /// The etcd user, for errors.
    user: Option<String>,
    deadline: Duration,
    backoff: Backoff,
    log: RetryLog,
    /// A predecessor's lease, revoked once the keys are rewritten under ours.
    stale_lease: Option<i64>,
    /// When "another sidekick owns this key" was last logged (`None`: not held).
    held_logged: Option<Instant>,
    next_resync: Instant,
}

impl Driver {
    fn new(cfg: WriterConfig, sh: Shared, desired: watch::Receiver<Desired>) -> Driver {
        Driver {
            user: sh.pool.config().user().map(str::to_string),
            deadline: call_deadline(cfg.ttl),
            backoff: Backoff::new(Duration::from_millis(50), Duration::from_secs(2)),
            log: RetryLog::new("updating the keys in etcd"),
            stale_lease: None,
            held_logged: None,
            next_resync: Instant::now() + cfg.resync,
            cfg,
            pool: sh.pool,
            own_lease: sh.own_lease,
            lease_rx: sh.lease,
            desired,
        }
    }

    /// Claims the owner key under `lease`.
    async fn claim(&mut self, lease: state::Lease) -> Event {
        let m = self.pool.member();
        let calls = Calls {
            client: &m.client,
            deadline: self.deadline,
            user: self.user.as_deref(),
        };
        let claimed = ops::acquire(&calls, &self.cfg.layout, &self.cfg.me, lease.id);
        match unless_lease_changes(&mut self.lease_rx, claimed).await {
            Err(preempted) => preempted,
            Ok(Ok(ownership)) => self.claimed(ownership),
            Ok(Err(e)) => {
                failed(&self.pool, &m, &e, &mut self.log);
                Event::Claimed(Claim::Failed)
            }
        }
    }

    /// What a claim that reached etcd found, logged.
    fn claimed(&mut self, ownership: Ownership) -> Event {
        let key = &self.cfg.layout.prefix;
        match ownership {
            Ownership::Mine { stale_lease } => {
                self.stale_lease = stale_lease.or(self.stale_lease);
                self.backoff.reset();
                if self.held_logged.take().is_some() {
                    info!(key = %key, "the previous owner is gone; this agent now owns the key");
                }
                Event::Claimed(Claim::Mine)
            }
            Ownership::Vanished => {
                debug!(key = %key, "the owner key went while it was being claimed; claiming again");
                Event::Timer
            }
            Ownership::Held(holder) => {
                if self
                    .held_logged
                    .is_none_or(|t| t.elapsed() >= HELD_LOG_EVERY)
                {
                    error!(
                        key = %key,
                        holder_host = holder.as_ref().map(|h| h.host.as_str()).unwrap_or("?"),
                        holder_container = holder.as_ref().map(|h| h.container.as_str()).unwrap_or("?"),
                        holder_pid = holder.as_ref().map(|h| h.pid).unwrap_or(0),
                        "another sidekick owns this --key; not writing until its lease ends (check the unit files: two agents share one key)"
                    );
                    self.held_logged = Some(Instant::now());
                }
                Event::Claimed(Claim::Held)
            }
        }
    }

    /// Makes etcd equal to the wanted keys under `lease`.
    async fn reconcile(&mut self, lease: state::Lease, cache: Option<Actual>) -> Event {
        let m = self.pool.member();
        let calls = Calls {
            client: &m.client,
            deadline: self.deadline,
            user: self.user.as_deref(),
        };
        let want = self.desired.borrow_and_update().clone();
        let reconciled = reconcile_once(&calls, &self.cfg.layout, lease.id, &want, cache);
        match unless_lease_changes(&mut self.lease_rx, reconciled).await {
            Err(preempted) => preempted,
            Ok(Ok(Ok(actual))) => {
                self.reconciled(&m.client, &want).await;
                Event::Reconciled(Reconciled::Done(actual))
            }
            Ok(Ok(Err(holder))) => {
                crate::telemetry::registered(&self.cfg.layout.prefix, false);
                log_not_owner(&self.cfg.layout, &self.cfg.me, &holder);
                Event::Reconciled(Reconciled::Lost)
            }
            Ok(Err(e)) => {
                failed(&self.pool, &m, &e, &mut self.log);
                Event::Reconciled(Reconciled::Failed)
            }
        }
    }

    /// After etcd was made equal to `want`: report it, and revoke a predecessor's lease.
    async fn reconciled(&mut self, client: &Client, want: &Desired) {
        let key = &self.cfg.layout.prefix;
        match want {
            Desired::Present(_) => crate::telemetry::registered(key, true),
            Desired::Absent => crate::telemetry::registered(key, false),
            Desired::Undecided => {}
        }
        self.backoff.reset();
        self.log.succeeded();
        // Only once the keys were rewritten under our lease: undecided, they still live on the
        // predecessor's.
        let decided = !matches!(want, Desired::Undecided);
        let own_lease = self.own_lease;
        if let Some(old) = self.stale_lease.take_if(|_| decided).filter(|_| own_lease) {
            ops::revoke_stale(client, old).await;
            debug!(
                lease = format_args!("{old:x}"),
                "revoked the previous agent's lease"
            );
        }
    }

    /// Waits as `wait` says, for a change of the wanted keys or the lease, or for `stop`.
    async fn wait(
        &mut self,
        wait: Wait,
        stop: &mut oneshot::Receiver<StopMode>,
    ) -> ControlFlow<StopMode, Event> {
        let until = match wait {
            Wait::Event => None,
            Wait::Backoff => Some(Instant::now() + self.backoff.next_delay()),
            Wait::Held => Some(Instant::now() + (self.cfg.ttl / 3).min(Duration::from_secs(2))),
            Wait::Resync => Some(self.next_resync),
        };
        let timer = async move {
            match until {
                Some(t) => tokio::time::sleep_until(t).await,
                None => std::future::pending().await,
            }
        };
        let lease_rx = &mut self.lease_rx;
        ControlFlow::Continue(tokio::select! {
            m = stop => return ControlFlow::Break(m.unwrap_or(StopMode::Shutdown)),
            r = self.desired.changed() => match r {
                Ok(()) => Event::DesiredChanged,
                Err(_) => return ControlFlow::Break(StopMode::Shutdown),
            },
            r = lease_rx.changed() => match r {
                Ok(()) => Event::Lease(live(&lease_rx.borrow_and_update())),
                Err(_) => return ControlFlow::Break(StopMode::Shutdown),
            },
            _ = timer => if wait == Wait::Resync {
                self.next_resync = Instant::now() + self.cfg.resync;
                Event::Resync
            } else {
                Event::Timer
            },
        })
    }

    /// Deletes the keys and the owner key held under `lease` (a shared lease outlives them).
    async fn release(&self, lease: state::Lease) {
        let layout = &self.cfg.layout;
        let calls = Calls {
            client: &self.pool.client(),
            deadline: REVOKE_DEADLINE,
            user: self.user.as_deref(),
        };
        match ops::release(&calls, layout, lease.id).await {
            Ok(true) => info!(key = %layout.prefix, "deregistered: the container is gone"),
            Ok(false) => {
                debug!(key = %layout.prefix, "not the owner any more; nothing to release")
            }
            Err(e) => {
                warn!(key = %layout.prefix, error = %e, "could not delete the keys; they go with the lease")
            }
        }
    }
}

/// One reconcile of etcd against `want`; an undecided want leaves the keys as they are and only
/// learns what etcd holds.
async fn reconcile_once(
    calls: &Calls<'_>,
    layout: &Layout,
    lease: i64,
    want: &Desired,
    cache: Option<Actual>,
) -> Result<Result<Actual, NotOwner>, EtcdError> {
    match want {
        Desired::Undecided => match cache {
            Some(c) => Ok(Ok(c)),
            None => ops::read_actual(calls.client, layout).await.map(Ok),
        },
        Desired::Absent => ops::reconcile(calls, layout, lease, None, cache).await,
        Desired::Present(r) => ops::reconcile(calls, layout, lease, Some(r), cache).await,
    }
}
