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
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::decide::Desired;
use super::StopMode;
use crate::backoff::{Backoff, RetryLog};
use crate::etcd::lease::{call_deadline, LeaseState};
use crate::etcd::{EtcdError, Member, Pool};
use crate::registry::{Layout, Owner};
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
    mut desired: watch::Receiver<Desired>,
    mut stop: oneshot::Receiver<StopMode>,
) -> StopMode {
    let layout = &cfg.layout;
    let user = sh.pool.config().user().map(str::to_string);
    let deadline = call_deadline(cfg.ttl);
    let mut lease_rx = sh.lease;
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    let mut log = RetryLog::new("updating the keys in etcd");
    let mut stale_lease: Option<i64> = None;
    let mut held_logged: Option<Instant> = None;
    let mut next_resync = Instant::now() + cfg.resync;
    let mut state = State::NoLease;
    let mut event = Event::Lease(live(&lease_rx.borrow_and_update()));
    let mode = loop {
        state = step(state, event);
        event = match next(&state) {
            Next::Claim(lease) => {
                let m = sh.pool.member();
                let calls = Calls {
                    client: &m.client,
                    deadline,
                    user: user.as_deref(),
                };
                let claimed = ops::acquire(&calls, layout, &cfg.me, lease.id);
                match unless_lease_changes(&mut lease_rx, claimed).await {
                    Err(preempted) => preempted,
                    Ok(Ok(Ownership::Mine { stale_lease: s })) => {
                        stale_lease = s.or(stale_lease);
                        backoff.reset();
                        if held_logged.take().is_some() {
                            info!(key = %layout.prefix, "the previous owner is gone; this agent now owns the key");
                        }
                        Event::Claimed(Claim::Mine)
                    }
                    Ok(Ok(Ownership::Vanished)) => {
                        debug!(key = %layout.prefix, "the owner key went while it was being claimed; claiming again");
                        Event::Timer
                    }
                    Ok(Ok(Ownership::Held(holder))) => {
                        if held_logged.is_none_or(|t| t.elapsed() >= HELD_LOG_EVERY) {
                            error!(
                                key = %layout.prefix,
                                holder_host = holder.as_ref().map(|h| h.host.as_str()).unwrap_or("?"),
                                holder_container = holder.as_ref().map(|h| h.container.as_str()).unwrap_or("?"),
                                holder_pid = holder.as_ref().map(|h| h.pid).unwrap_or(0),
                                "another sidekick owns this --key; not writing until its lease ends (check the unit files: two agents share one key)"
                            );
                            held_logged = Some(Instant::now());
                        }
                        Event::Claimed(Claim::Held)
                    }
                    Ok(Err(e)) => {
                        failed(&sh.pool, &m, &e, &mut log);
                        Event::Claimed(Claim::Failed)
                    }
                }
            }
            Next::Reconcile { lease, cache } => {
                let m = sh.pool.member();
                let calls = Calls {
                    client: &m.client,
                    deadline,
                    user: user.as_deref(),
                };
                let want = desired.borrow_and_update().clone();
                let reconciled = async {
                    match &want {
                        // Not known yet: leave the keys as they are (only learn what etcd holds).
                        Desired::Undecided => match cache {
                            Some(c) => Ok(Ok(c)),
                            None => ops::read_actual(&m.client, layout).await.map(Ok),
                        },
                        Desired::Absent => {
                            ops::reconcile(&calls, layout, lease.id, None, cache).await
                        }
                        Desired::Present(r) => {
                            ops::reconcile(&calls, layout, lease.id, Some(r), cache).await
                        }
                    }
                };
                match unless_lease_changes(&mut lease_rx, reconciled).await {
                    Err(preempted) => preempted,
                    Ok(Ok(Ok(actual))) => {
                        match &want {
                            Desired::Present(_) => {
                                crate::telemetry::registered(&layout.prefix, true)
                            }
                            Desired::Absent => crate::telemetry::registered(&layout.prefix, false),
                            Desired::Undecided => {}
                        }
                        backoff.reset();
                        log.succeeded();
                        // Only once the keys were rewritten under our lease: undecided, they
                        // still live on the predecessor's.
                        let decided = !matches!(want, Desired::Undecided);
                        if let Some(old) = stale_lease.take_if(|_| decided).filter(|_| sh.own_lease)
                        {
                            ops::revoke_stale(&m.client, old).await;
                            debug!(
                                lease = format_args!("{old:x}"),
                                "revoked the previous agent's lease"
                            );
                        }
                        Event::Reconciled(Reconciled::Done(actual))
                    }
                    Ok(Ok(Err(holder))) => {
                        crate::telemetry::registered(&layout.prefix, false);
                        log_not_owner(layout, &cfg.me, &holder);
                        Event::Reconciled(Reconciled::Lost)
                    }
                    Ok(Err(e)) => {
                        failed(&sh.pool, &m, &e, &mut log);
                        Event::Reconciled(Reconciled::Failed)
                    }
                }
            }
            Next::Wait(wait) => {
                let until = match wait {
                    Wait::Event => None,
                    Wait::Backoff => Some(Instant::now() + backoff.next_delay()),
                    Wait::Held => Some(Instant::now() + (cfg.ttl / 3).min(Duration::from_secs(2))),
                    Wait::Resync => Some(next_resync),
                };
                let timer = async {
                    match until {
                        Some(t) => tokio::time::sleep_until(t).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    m = &mut stop => break m.unwrap_or(StopMode::Shutdown),
                    r = desired.changed() => match r {
                        Ok(()) => Event::DesiredChanged,
                        Err(_) => break StopMode::Shutdown,
                    },
                    r = lease_rx.changed() => match r {
                        Ok(()) => Event::Lease(live(&lease_rx.borrow_and_update())),
                        Err(_) => break StopMode::Shutdown,
                    },
                    _ = timer => if wait == Wait::Resync {
                        next_resync = Instant::now() + cfg.resync;
                        Event::Resync
                    } else {
                        Event::Timer
                    },
                }
            }
        };
    };
    if mode == StopMode::Release && !sh.own_lease {
        if let State::Owned { lease, .. } = state {
            let calls = Calls {
                client: &sh.pool.client(),
                deadline: REVOKE_DEADLINE,
                user: user.as_deref(),
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
    mode
}
