//! Leader election among lbsync instances through one etcd key bound to a lease, without writes
//! while idle: read the key; if it is vacant, create it only if still absent (a transaction
//! comparing its create revision with 0) under this instance's lease; then WATCH it and read it
//! again only when it is deleted (the leader's lease was revoked on shutdown or expired after a
//! crash), when the watch breaks, or after [`RECHECK_EVERY`] of silence. Watches, reads and
//! keepalives are not raft proposals, so an idle lbsync costs the cluster no writes.
//!
//! A leader acts only while its lease is confirmed by etcd with a safety margin
//! ([`Election::is_leader_now`]), so a partitioned leader stops before a standby starts; every
//! call goes through the endpoint pool with a deadline inside the TTL and moves to another
//! member when one misses it, so campaigning goes through a member that answers.

use std::time::Duration;

use etcd_client::{
    Compare, CompareOp, EventType, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::backoff::{Backoff, RetryLog};
use crate::etcd::access::LBSYNC_NEEDS;
use crate::etcd::lease::{call_deadline, LeaseKeeper, LeaseState};
use crate::etcd::{timed_within, EtcdError, Member, Pool};

/// How long a silent watch is trusted before the key is read again (a read, not a write).
pub const RECHECK_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Candidate,
    Leader,
    Follower { leader: String },
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
    /// Campaigns for `key` with identity `me` under a lease of `ttl`, through `pool`.
    pub fn spawn(pool: Pool, key: String, me: String, ttl: Duration) -> Election {
        let keeper = LeaseKeeper::spawn(pool.clone(), ttl);
        let lease = keeper.subscribe();
        let (role_tx, role) = watch::channel(Role::Candidate);
        let (stop_tx, stop_rx) = oneshot::channel();
        let c = Campaign {
            pool,
            key,
            me,
            deadline: call_deadline(ttl),
            role: role_tx,
        };
        let task = tokio::spawn(c.run(keeper, stop_rx));
        Election {
            role,
            lease,
            margin: (ttl / 4).min(Duration::from_secs(1)),
            stop: Some(stop_tx),
            task,
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    /// True only while this instance leads and etcd confirmed its lease recently enough that no
    /// standby can have taken over: call before every mutation.
    pub fn is_leader_now(&self) -> bool {
        *self.role.borrow() == Role::Leader
            && matches!(*self.lease.borrow(), LeaseState::Live { confirmed_until, .. } if confirmed_until > Instant::now() + self.margin)
    }

    /// Steps down: revokes the lease so a standby takes over at once.
    pub async fn resign(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), &mut self.task).await;
    }
}

/// Who holds the election key, and at which revision it was read.
struct Seen {
    holder: Option<(String, i64)>,
    revision: i64,
}

struct Campaign {
    pool: Pool,
    key: String,
    me: String,
    deadline: Duration,
    role: watch::Sender<Role>,
}

/// How waiting on the key ended.
enum Woke {
    /// The key was deleted or the watch ended: read it again.
    Recheck,
    /// The lease changed.
    Lease,
    Stop,
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
            let who = String::from_utf8_lossy(kv.value()).into_owned();
            return Ok(Seen {
                holder: Some((who, kv.lease())),
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
                self.me.as_str(),
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
                .map(|kv| (String::from_utf8_lossy(kv.value()).into_owned(), kv.lease())),
            _ => None,
        });
        Ok(Seen { holder, revision })
    }

    fn set(&self, next: Role) {
        if *self.role.borrow() == next {
            return;
        }
        match &next {
            Role::Leader => info!(key = %self.key, "elected leader: this lbsync now reconciles"),
            Role::Follower { leader } => {
                info!(key = %self.key, leader = %leader, "standing by: another lbsync leads")
            }
            Role::Candidate => {}
        }
        self.role.send_replace(next);
    }

    /// Watches the key from `revision + 1` until it is deleted, the watch ends, the lease
    /// changes or `stop` fires.
    async fn wait(
        &self,
        m: &Member,
        revision: i64,
        lease_rx: &mut watch::Receiver<LeaseState>,
        stop: &mut oneshot::Receiver<()>,
    ) -> Woke {
        let opts = WatchOptions::new().with_start_revision(revision + 1);
        let mut client = m.client.clone();
        let opened = tokio::select! {
            r = timed_within(self.deadline, client.watch(self.key.as_str(), Some(opts))) => r,
            _ = &mut *stop => return Woke::Stop,
        };
        let mut stream = match opened {
            Ok(pair) => pair,
            Err(e) => {
                self.pool.suspect(m.index, &e);
                return Woke::Recheck;
            }
        };
        let silence = tokio::time::sleep(RECHECK_EVERY);
        tokio::pin!(silence);
        loop {
            tokio::select! {
                _ = &mut *stop => return Woke::Stop,
                r = lease_rx.changed() => return if r.is_err() { Woke::Stop } else { Woke::Lease },
                _ = &mut silence => return Woke::Recheck,
                msg = stream.message() => match msg {
                    Ok(Some(resp)) => {
                        if resp.canceled() {
                            debug!(key = %self.key, reason = resp.cancel_reason(), "election watch canceled");
                            self.pool.suspect(m.index, &resp.cancel_reason());
                            return Woke::Recheck;
                        }
                        if resp.events().iter().any(|e| e.event_type() == EventType::Delete) {
                            return Woke::Recheck;
                        }
                    }
                    Ok(None) => return Woke::Recheck,
                    Err(e) => {
                        self.pool.suspect(m.index, &e);
                        return Woke::Recheck;
                    }
                },
            }
        }
    }

    async fn run(self, keeper: LeaseKeeper, mut stop: oneshot::Receiver<()>) {
        let mut lease_rx = keeper.subscribe();
        let mut log = RetryLog::new("campaigning for lbsync leadership in etcd");
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let mut held: Option<u64> = None;
        loop {
            let lease = *lease_rx.borrow_and_update();
            let LeaseState::Live { id, generation, .. } = lease else {
                if *self.role.borrow() == Role::Leader {
                    warn!(key = %self.key, "lost the leadership lease; stepping down");
                }
                self.set(Role::Candidate);
                tokio::select! {
                    _ = &mut stop => break,
                    r = lease_rx.changed() => if r.is_err() { break },
                }
                continue;
            };
            if held.is_some_and(|g| g != generation) && *self.role.borrow() == Role::Leader {
                warn!(key = %self.key, "leadership lease replaced; stepping down and campaigning again");
                self.set(Role::Candidate);
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
                    }
                    continue;
                }
            };
            log.succeeded();
            backoff.reset();
            match &seen.holder {
                Some((_, l)) if *l == id => {
                    held = Some(generation);
                    self.set(Role::Leader);
                }
                Some((who, _)) => self.set(Role::Follower {
                    leader: who.clone(),
                }),
                // Deleted between the compare and the get: read again.
                None => continue,
            }
            match self.wait(&m, seen.revision, &mut lease_rx, &mut stop).await {
                Woke::Stop => break,
                Woke::Recheck | Woke::Lease => {}
            }
        }
        self.role.send_replace(Role::Candidate);
        keeper.revoke(Duration::from_secs(2)).await;
    }
}

/// Connects lbsync's pool (retrying until a member answers; `Ok(None)` if `stop` resolves
/// first) and checks its role: read on the registry prefix and, unless it only plans
/// (`--dry-run`), readwrite on the election key. A refusal is a configuration error.
pub async fn connect_checked(
    cfg: &crate::config::LbsyncConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Option<Pool>, EtcdError> {
    use crate::etcd::access::{check, Need};
    let Some(pool) = crate::etcd::connect_retrying(&cfg.etcd, stop).await? else {
        return Ok(None);
    };
    let mut needs = vec![Need::Read(cfg.prefix.clone())];
    if !cfg.dry_run {
        needs.push(Need::ReadWrite(cfg.election_key.clone()));
    }
    check(&pool, &needs, LBSYNC_NEEDS).await?;
    Ok(Some(pool))
}
