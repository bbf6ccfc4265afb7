//! Leader election among lbsync instances through one etcd key bound to a lease: the first to
//! create the key leads; the others poll and take over once the leader's lease is revoked (clean
//! shutdown) or expires (crash), within about one TTL. A leader acts only while its lease is
//! confirmed by etcd with a safety margin, so a partitioned leader stops before a standby starts.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp, TxnOpResponse};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::backoff::RetryLog;
use crate::etcd::lease::{LeaseKeeper, LeaseState};
use crate::etcd::timed;

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
    /// Campaigns for `key` with identity `me` under a lease of `ttl`.
    pub fn spawn(client: Client, key: String, me: String, ttl: Duration) -> Election {
        let keeper = LeaseKeeper::spawn(client.clone(), ttl);
        let lease = keeper.subscribe();
        let (role_tx, role) = watch::channel(Role::Candidate);
        let (stop_tx, stop_rx) = oneshot::channel();
        let poll = (ttl / 10).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let task = tokio::spawn(campaign(client, key, me, keeper, role_tx, poll, stop_rx));
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

async fn campaign(
    client: Client,
    key: String,
    me: String,
    keeper: LeaseKeeper,
    role: watch::Sender<Role>,
    poll: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let mut lease_rx = keeper.subscribe();
    let mut log = RetryLog::new("campaigning for lbsync leadership in etcd");
    loop {
        let lease = *lease_rx.borrow_and_update();
        if let LeaseState::Live { id, .. } = lease {
            let txn = Txn::new()
                .when([Compare::version(key.as_str(), CompareOp::Equal, 0)])
                .and_then([TxnOp::put(
                    key.as_str(),
                    me.as_str(),
                    Some(PutOptions::new().with_lease(id)),
                )])
                .or_else([TxnOp::get(key.as_str(), None)]);
            match timed(client.clone().txn(txn)).await {
                Ok(resp) => {
                    log.succeeded();
                    let holder = resp.op_responses().into_iter().find_map(|r| match r {
                        TxnOpResponse::Get(g) => g.kvs().first().map(|kv| {
                            (String::from_utf8_lossy(kv.value()).into_owned(), kv.lease())
                        }),
                        _ => None,
                    });
                    let next = match holder {
                        None if resp.succeeded() => Role::Leader,
                        Some((_, l)) if l == id => Role::Leader,
                        Some((who, _)) => Role::Follower { leader: who },
                        None => Role::Candidate,
                    };
                    if *role.borrow() != next {
                        match &next {
                            Role::Leader => {
                                info!(key = %key, "elected leader: this lbsync now reconciles")
                            }
                            Role::Follower { leader } => {
                                info!(key = %key, leader = %leader, "standing by: another lbsync leads")
                            }
                            Role::Candidate => {}
                        }
                        role.send_replace(next);
                    }
                }
                Err(e) => {
                    log.failed(&e);
                }
            }
        } else if *role.borrow() == Role::Leader {
            warn!(key = %key, "lost the leadership lease; stepping down");
            role.send_replace(Role::Candidate);
        }
        tokio::select! {
            _ = &mut stop => break,
            r = lease_rx.changed() => {
                if r.is_err() { break; }
                if *role.borrow() == Role::Leader {
                    warn!(key = %key, "leadership lease replaced; stepping down and campaigning again");
                    role.send_replace(Role::Candidate);
                }
            }
            _ = tokio::time::sleep(poll) => {}
        }
    }
    role.send_replace(Role::Candidate);
    keeper.revoke(Duration::from_secs(2)).await;
}
