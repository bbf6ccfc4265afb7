//! Leader election among lbsync instances through one etcd key bound to a lease, without writes
//! while idle: read the key; if it is vacant, create it only if still absent (a transaction
//! comparing its create revision with 0) under this instance's lease; then WATCH it and read it
//! again only when it is deleted (the leader's lease was revoked on shutdown or expired after a
//! crash), when the watch breaks, or after [`REREAD_EVERY`] of silence. Watches, reads and
//! keepalives are not raft proposals, so an idle lbsync costs the cluster no writes.
//!
//! A leader acts only through [`Fence::judge`]: the lease the key was won with (not merely some
//! live lease: a lease granted after a partition heals is a new term), confirmed by etcd with a
//! safety margin, so a partitioned leader stops before a standby starts, and a registry view
//! caught up with the revision the term was confirmed at, so it never acts on a stale view. It
//! steps down (one line, the leader gauge to 0) the moment the fence closes. The key's value
//! names the target (backend and load balancer): an lbsync with another target refuses to run.
//! Every call goes through the endpoint pool with a deadline inside the TTL and moves to another
//! member when one misses it, so campaigning goes through a member that answers.

use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Duration;

use etcd_client::{
    Compare, CompareOp, EventType, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::backoff::{Backoff, RetryLog};
use crate::etcd::access::LBSYNC_NEEDS;
use crate::etcd::lease::{call_deadline, LeaseKeeper, LeaseState};
use crate::etcd::{timed_within, EtcdError, Member, Pool};

/// How long a silent watch is trusted before the key is read again (a read, not a write).
pub const REREAD_EVERY: Duration = Duration::from_secs(60);

/// What the election key holds: who leads and what it reconciles into. A plain value (written by
/// an lbsync from before the target was recorded) is an id with no target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Holder {
    fn decode(value: &[u8]) -> Holder {
        serde_json::from_slice(value).unwrap_or_else(|_| Holder {
            id: String::from_utf8_lossy(value).into_owned(),
            target: None,
        })
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| self.id.clone())
    }

    /// True when both name a target and the targets differ.
    fn conflicts_with(&self, other: &Holder) -> bool {
        matches!((&self.target, &other.target), (Some(a), Some(b)) if a != b)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Candidate,
    /// Holds the key under `lease`; `revision` is etcd's revision when that was last confirmed:
    /// the registry view must have caught up with it before this instance changes anything.
    Leader {
        lease: i64,
        revision: i64,
    },
    Follower {
        leader: String,
    },
    /// The key is held by an lbsync that reconciles into another target: a configuration error.
    Conflict {
        holder: Holder,
    },
}

impl Role {
    pub fn leads(&self) -> bool {
        matches!(self, Role::Leader { .. })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Leader { .. } => write!(f, "leader"),
            Role::Conflict { holder } => write!(f, "refused (key held by {})", holder.id),
            Role::Follower { leader } => write!(f, "standby (leader: {leader})"),
            Role::Candidate => write!(f, "campaigning"),
        }
    }
}

/// Whether this instance may change the load balancer right now, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    Act,
    NotLeader,
    /// The lease the key was won with expired or was replaced: a follower from that instant.
    LeaseReplaced,
    /// etcd has not confirmed the lease recently enough that no standby can have taken over.
    Unconfirmed,
    /// The registry view is older than the revision leadership was confirmed at.
    ViewBehind {
        need: i64,
    },
}

impl Fence {
    /// The rule every mutation goes through (pure): leadership is the lease the key was won
    /// with, confirmed with `margin` to spare, acting on a view at or past the winning revision.
    pub fn judge(
        role: &Role,
        lease: &LeaseState,
        view_revision: i64,
        now: Instant,
        margin: Duration,
    ) -> Fence {
        let Role::Leader {
            lease: won,
            revision,
        } = *role
        else {
            return Fence::NotLeader;
        };
        match *lease {
            LeaseState::Live { id, .. } if id != won => Fence::LeaseReplaced,
            LeaseState::Pending => Fence::LeaseReplaced,
            LeaseState::Live {
                confirmed_until, ..
            } if confirmed_until <= now + margin => Fence::Unconfirmed,
            _ if view_revision < revision => Fence::ViewBehind { need: revision },
            _ => Fence::Act,
        }
    }
}

/// How long before etcd's confirmation runs out a leader stops acting.
fn safety_margin(ttl: Duration) -> Duration {
    (ttl / 4).min(Duration::from_secs(1))
}

/// Handle to the election task.
pub struct Election {
    role: watch::Receiver<Role>,
    lease: watch::Receiver<LeaseState>,
    margin: Duration,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Election {
    /// Campaigns for `key` as `me` under a lease of `ttl`, through `pool`.
    pub fn spawn(pool: Pool, key: String, me: Holder, ttl: Duration) -> Election {
        let keeper = LeaseKeeper::spawn(pool.clone(), ttl);
        let lease = keeper.subscribe();
        let (role_tx, role) = watch::channel(Role::Candidate);
        crate::telemetry::lbsync_role(false, Role::Candidate.to_string());
        let (stop_tx, stop_rx) = oneshot::channel();
        let c = Campaign {
            pool,
            key,
            me,
            deadline: call_deadline(ttl),
            margin: safety_margin(ttl),
            role: role_tx,
        };
        let task = tokio::spawn(c.pursue(keeper, stop_rx));
        Election {
            role,
            lease,
            margin: safety_margin(ttl),
            stop: Some(stop_tx),
            task,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    /// Whether a change may be made now, given the revision the registry view has caught up
    /// with: ask right before every mutation.
    pub fn fence(&self, view_revision: i64) -> Fence {
        Fence::judge(
            &self.role.borrow(),
            &self.lease.borrow(),
            view_revision,
            Instant::now(),
            self.margin,
        )
    }

    /// Steps down: revokes the lease so a standby takes over at once.
    pub async fn resign(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut self.task).await;
    }
}

/// Who holds the election key (and under which lease), and at which revision it was read.
struct Seen {
    holder: Option<(Holder, i64)>,
    revision: i64,
}

struct Campaign {
    pool: Pool,
    key: String,
    me: Holder,
    deadline: Duration,
    margin: Duration,
    role: watch::Sender<Role>,
}

impl Campaign {
    fn named(&self, e: EtcdError, op: &'static str) -> EtcdError {
        e.named(op, &self.key, LBSYNC_NEEDS, self.pool.config().user())
    }

    /// Reads the key; if vacant, creates it under `lease` if still absent.
    async fn observe(&self, m: &Member, lease: i64) -> Result<Seen, EtcdError> {
        let resp = timed_within(self.deadline, m.client.clone().get(self.key.as_str(), None))
            .await
            .map_err(|e| self.named(e, "reading"))?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(0);
        if let Some(kv) = resp.kvs().first() {
            return Ok(Seen {
                holder: Some((Holder::decode(kv.value()), kv.lease())),
                revision,
            });
        }
        let txn = Txn::new()
            .when([Compare::create_revision(
                self.key.as_str(),
                CompareOp::Equal,
                0,
            )])
            .and_then([TxnOp::put(
                self.key.as_str(),
                self.me.encode(),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(self.key.as_str(), None)]);
        let resp = timed_within(self.deadline, m.client.clone().txn(txn))
            .await
            .map_err(|e| self.named(e, "writing"))?;
        let revision = resp.header().map(|h| h.revision()).unwrap_or(revision);
        if resp.succeeded() {
            return Ok(Seen {
                holder: Some((self.me.clone(), lease)),
                revision,
            });
        }
        let holder = resp.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(g) => g
                .kvs()
                .first()
                .map(|kv| (Holder::decode(kv.value()), kv.lease())),
            _ => None,
        });
        Ok(Seen { holder, revision })
    }

    fn set(&self, next: Role) {
        if *self.role.borrow() == next {
            return;
        }
        match &next {
            Role::Leader { .. } => {
                info!(key = %self.key, "elected leader: this lbsync now reconciles")
            }
            Role::Follower { leader } => {
                info!(key = %self.key, leader = %leader, "standing by: another lbsync leads")
            }
            Role::Candidate | Role::Conflict { .. } => {}
        }
        // The leader gauge and the status line follow every change.
        crate::telemetry::lbsync_role(next.leads(), next.to_string());
        self.role.send_replace(next);
    }

    /// Leads under `lease`, keeping the revision of an unbroken term.
    fn lead(&self, lease: i64, revision: i64) {
        if !matches!(*self.role.borrow(), Role::Leader { lease: l, .. } if l == lease) {
            self.set(Role::Leader { lease, revision });
        }
    }

    /// Stops acting as leader (if it was), saying why once.
    fn step_down(&self, why: &'static str) {
        if self.role.borrow().leads() {
            warn!(key = %self.key, reason = why, "stepping down: this lbsync no longer changes the load balancer");
        }
        self.set(Role::Candidate);
    }

    /// When a leader must stop acting unless etcd confirms its lease again.
    fn lapse(&self, lease: &LeaseState) -> Option<Instant> {
        match lease {
            LeaseState::Live {
                confirmed_until, ..
            } if self.role.borrow().leads() => Some(
                confirmed_until
                    .checked_sub(self.margin)
                    .unwrap_or(*confirmed_until),
            ),
            _ => None,
        }
    }

    /// Watches the key from `revision + 1` until it is deleted, the watch ends, the lease
    /// changes or lapses (`Continue`: read it again), or `stop` fires (`Break`).
    async fn wait(
        &self,
        m: &Member,
        revision: i64,
        lease_rx: &mut watch::Receiver<LeaseState>,
        stop: &mut oneshot::Receiver<()>,
    ) -> ControlFlow<()> {
        let opts = WatchOptions::new().with_start_revision(revision + 1);
        let mut client = m.client.clone();
        let opened = tokio::select! {
            r = timed_within(self.deadline, client.watch(self.key.as_str(), Some(opts))) => r,
            _ = &mut *stop => return Break(()),
        };
        let mut stream = match opened {
            Ok(pair) => pair,
            Err(e) => {
                self.pool.suspect(m.index, &e);
                return Continue(());
            }
        };
        let silence = tokio::time::sleep(REREAD_EVERY);
        tokio::pin!(silence);
        loop {
            let lapse = self.lapse(&lease_rx.borrow());
            tokio::select! {
                _ = &mut *stop => return Break(()),
                r = lease_rx.changed() => return if r.is_err() { Break(()) } else { Continue(()) },
                _ = &mut silence => return Continue(()),
                _ = sleep_until_some(lapse) => {
                    // Renewed meanwhile (keepalives update the lease quietly): look again.
                    if self.lapse(&lease_rx.borrow()).is_some_and(|at| at > Instant::now()) {
                        continue;
                    }
                    self.step_down("etcd has not confirmed the leadership lease in time");
                    return Continue(());
                }
                msg = stream.message() => match msg {
                    Ok(Some(resp)) => {
                        if resp.canceled() {
                            debug!(key = %self.key, reason = resp.cancel_reason(), "election watch canceled");
                            self.pool.suspect(m.index, &resp.cancel_reason());
                            return Continue(());
                        }
                        if resp.events().iter().any(|e| e.event_type() == EventType::Delete) {
                            return Continue(());
                        }
                    }
                    Ok(None) => return Continue(()),
                    Err(e) => {
                        self.pool.suspect(m.index, &e);
                        return Continue(());
                    }
                },
            }
        }
    }

    async fn pursue(self, keeper: LeaseKeeper, mut stop: oneshot::Receiver<()>) {
        let mut lease_rx = keeper.subscribe();
        let mut log = RetryLog::new("campaigning for lbsync leadership in etcd");
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        loop {
            let lease = *lease_rx.borrow_and_update();
            let LeaseState::Live { id, .. } = lease else {
                self.step_down("the leadership lease expired or was revoked");
                tokio::select! {
                    _ = &mut stop => break,
                    r = lease_rx.changed() => if r.is_err() { break },
                }
                continue;
            };
            if matches!(*self.role.borrow(), Role::Leader { lease, .. } if lease != id) {
                self.step_down("the leadership lease was replaced by a new one");
            }
            let m = self.pool.member();
            let seen = match self.observe(&m, id).await {
                Ok(s) => s,
                Err(e) => {
                    if e.is_member_fault() {
                        self.pool.suspect(m.index, &e);
                    }
                    log.failed(&e);
                    tokio::select! {
                        _ = &mut stop => break,
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                        r = lease_rx.changed() => if r.is_err() { break },
                    }
                    continue;
                }
            };
            log.succeeded();
            backoff.reset();
            match seen.holder {
                Some((_, l)) if l == id => self.lead(id, seen.revision),
                Some((holder, _)) if holder.conflicts_with(&self.me) => {
                    error!(key = %self.key, holder = %holder.id, holder_target = holder.target.as_deref().unwrap_or(""), target = self.me.target.as_deref().unwrap_or(""), "the election key is held by an lbsync that reconciles into another target");
                    self.set(Role::Conflict { holder });
                    break;
                }
                Some((holder, _)) => self.set(Role::Follower { leader: holder.id }),
                // Deleted between the compare and the get: read again.
                None => continue,
            }
            if self
                .wait(&m, seen.revision, &mut lease_rx, &mut stop)
                .await
                .is_break()
            {
                break;
            }
        }
        if !matches!(*self.role.borrow(), Role::Conflict { .. }) {
            self.set(Role::Candidate);
        }
        keeper.revoke(Duration::from_secs(2)).await;
    }
}

/// Sleeps until `at`, or for ever when there is none.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
