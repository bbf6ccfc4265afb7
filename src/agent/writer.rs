//! The agent's etcd side: connect (retrying), keep one lease, own the prefix through an owner key
//! bound to that lease, and make the keys equal to the wanted record in one transaction guarded
//! by ownership, writing only what differs. Repairs after lease loss, lost ownership and drift.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use super::decide::Desired;
use crate::backoff::{Backoff, RetryLog};
use crate::etcd::lease::{LeaseKeeper, LeaseState};
use crate::etcd::{timed, EtcdConfig, EtcdError};
use crate::registry::{claim, plan, Actual, Claim, Layout, Owner, Record};

/// How long shutdown waits for etcd to revoke the lease.
pub const REVOKE_DEADLINE: Duration = Duration::from_secs(2);

pub struct WriterConfig {
    pub etcd: EtcdConfig,
    pub layout: Layout,
    pub me: Owner,
    pub ttl: Duration,
    pub resync: Duration,
}

enum Ownership {
    Mine { stale_lease: Option<i64> },
    Held(Option<Owner>),
}

/// Reads every managed key (both formats) in one range request.
pub async fn read_actual(client: &Client, layout: &Layout) -> Result<Actual, EtcdError> {
    // [prefix, prefix + "0") covers the prefix itself and everything under "prefix/".
    let end = format!("{}0", layout.prefix);
    let resp = timed(client.clone().get(
        layout.prefix.as_str(),
        Some(GetOptions::new().with_range(end)),
    ))
    .await?;
    let managed = layout.managed_keys();
    Ok(resp
        .kvs()
        .iter()
        .filter_map(|kv| {
            let k = kv.key_str().ok()?.to_string();
            managed.contains(&k).then(|| {
                (
                    k,
                    (String::from_utf8_lossy(kv.value()).into_owned(), kv.lease()),
                )
            })
        })
        .collect())
}

async fn acquire(
    client: &Client,
    layout: &Layout,
    me: &Owner,
    lease: i64,
) -> Result<Ownership, EtcdError> {
    let key = layout.owner_key();
    let me_json = serde_json::to_string(me).unwrap_or_default();
    let put = || {
        TxnOp::put(
            key.as_str(),
            me_json.as_str(),
            Some(PutOptions::new().with_lease(lease)),
        )
    };
    let txn = Txn::new()
        .when([Compare::version(key.as_str(), CompareOp::Equal, 0)])
        .and_then([put()])
        .or_else([TxnOp::get(key.as_str(), None)]);
    let resp = timed(client.clone().txn(txn)).await?;
    if resp.succeeded() {
        return Ok(Ownership::Mine { stale_lease: None });
    }
    let Some(kv) = resp.op_responses().into_iter().find_map(|r| match r {
        TxnOpResponse::Get(g) => g.kvs().first().cloned(),
        _ => None,
    }) else {
        // Deleted between the compare and the get: try again next round.
        return Ok(Ownership::Held(None));
    };
    if kv.lease() == lease {
        return Ok(Ownership::Mine { stale_lease: None });
    }
    let holder: Option<Owner> = serde_json::from_slice(kv.value()).ok();
    let alive = holder
        .as_ref()
        .is_none_or(|h| h.host != me.host || crate::netinfo::pid_alive(h.pid));
    let take = kv.lease() == 0 || claim(me, holder.as_ref(), alive) == Claim::TakeOver;
    if !take {
        return Ok(Ownership::Held(holder));
    }
    let txn = Txn::new()
        .when([Compare::mod_revision(
            key.as_str(),
            CompareOp::Equal,
            kv.mod_revision(),
        )])
        .and_then([put()]);
    if timed(client.clone().txn(txn)).await?.succeeded() {
        info!(owner_key = %key, previous = ?holder, "took over the prefix from a previous agent of this unit");
        Ok(Ownership::Mine {
            stale_lease: Some(kv.lease()).filter(|l| *l != 0),
        })
    } else {
        Ok(Ownership::Held(holder))
    }
}

/// Applies `p` guarded by ownership; `Ok(false)` when ownership was lost.
async fn apply(
    client: &Client,
    layout: &Layout,
    lease: i64,
    p: &crate::registry::Plan,
) -> Result<bool, EtcdError> {
    let mut ops: Vec<TxnOp> = p
        .puts
        .iter()
        .map(|(k, v)| {
            TxnOp::put(
                k.as_str(),
                v.as_str(),
                Some(PutOptions::new().with_lease(lease)),
            )
        })
        .collect();
    ops.extend(p.deletes.iter().map(|k| TxnOp::delete(k.as_str(), None)));
    let txn = Txn::new()
        .when([Compare::lease(layout.owner_key(), CompareOp::Equal, lease)])
        .and_then(ops);
    Ok(timed(client.clone().txn(txn)).await?.succeeded())
}

/// Runs until `stop` fires, then revokes the lease (its keys vanish at once).
pub async fn run(
    cfg: WriterConfig,
    mut desired: watch::Receiver<Desired>,
    mut stop: oneshot::Receiver<()>,
) {
    let stopped = async {
        let _ = (&mut stop).await;
    };
    let Some(client) = crate::etcd::connect_retrying(&cfg.etcd, stopped).await else {
        return;
    };
    let keeper = LeaseKeeper::spawn(client.clone(), cfg.ttl);
    let mut lease_rx = keeper.subscribe();
    let layout = &cfg.layout;
    let mut owned_gen: Option<u64> = None;
    let mut cache: Option<Actual> = None;
    let mut stale_lease: Option<i64> = None;
    let mut backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    let mut log = RetryLog::new("updating the keys in etcd");
    let mut next_resync = Instant::now() + cfg.resync;
    let mut last_held_log: Option<Instant> = None;
    loop {
        let lease = *lease_rx.borrow_and_update();
        let mut retry_in: Option<Duration> = None;
        if let LeaseState::Live { id, generation, .. } = lease {
            if owned_gen != Some(generation) {
                cache = None;
                match acquire(&client, layout, &cfg.me, id).await {
                    Ok(Ownership::Mine { stale_lease: s }) => {
                        owned_gen = Some(generation);
                        stale_lease = s.or(stale_lease);
                        backoff.reset();
                    }
                    Ok(Ownership::Held(holder)) => {
                        if last_held_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
                            error!(
                                key = %layout.prefix,
                                holder_host = holder.as_ref().map(|h| h.host.as_str()).unwrap_or("?"),
                                holder_container = holder.as_ref().map(|h| h.container.as_str()).unwrap_or("?"),
                                holder_pid = holder.as_ref().map(|h| h.pid).unwrap_or(0),
                                "another sidekick owns this --key; not writing until its lease ends (check the unit files: two agents share one key)"
                            );
                            last_held_log = Some(Instant::now());
                        }
                        retry_in = Some((cfg.ttl / 3).min(Duration::from_secs(2)));
                    }
                    Err(e) => {
                        log.failed(&e);
                        retry_in = Some(backoff.next_delay());
                    }
                }
            }
            if owned_gen == Some(generation) {
                if last_held_log.take().is_some() {
                    info!(key = %layout.prefix, "the previous owner is gone; this agent now owns the key");
                }
                let want = desired.borrow_and_update().clone();
                let outcome = match &want {
                    Desired::Undecided => None,
                    Desired::Absent => Some(reconcile(&client, layout, id, None, &mut cache).await),
                    Desired::Present(r) => {
                        Some(reconcile(&client, layout, id, Some(r), &mut cache).await)
                    }
                };
                match outcome {
                    None => {}
                    Some(Ok(true)) => {
                        crate::telemetry::registered(&layout.prefix, want != Desired::Absent);
                        backoff.reset();
                        log.succeeded();
                        if let Some(old) = stale_lease.take() {
                            let _ = timed(client.clone().lease_revoke(old)).await;
                            debug!(
                                lease = format_args!("{old:x}"),
                                "revoked the previous agent's lease"
                            );
                        }
                    }
                    Some(Ok(false)) => {
                        warn!(key = %layout.prefix, "lost ownership of the key to another agent");
                        owned_gen = None;
                        retry_in = Some(Duration::from_millis(100));
                    }
                    Some(Err(e)) => {
                        cache = None;
                        log.failed(&e);
                        retry_in = Some(backoff.next_delay());
                    }
                }
            }
        }
        let wait = retry_in
            .map(|d| Instant::now() + d)
            .unwrap_or(next_resync)
            .min(next_resync);
        tokio::select! {
            _ = &mut stop => break,
            r = desired.changed() => if r.is_err() { break },
            r = lease_rx.changed() => if r.is_err() { break },
            _ = tokio::time::sleep_until(wait) => {
                if Instant::now() >= next_resync {
                    cache = None;
                    next_resync = Instant::now() + cfg.resync;
                }
            }
        }
    }
    keeper.revoke(REVOKE_DEADLINE).await;
}

/// Makes etcd hold exactly `want`; `Ok(false)` when ownership was lost.
async fn reconcile(
    client: &Client,
    layout: &Layout,
    lease: i64,
    want: Option<&Record>,
    cache: &mut Option<Actual>,
) -> Result<bool, EtcdError> {
    let desired: BTreeMap<String, String> = want.map(|r| layout.render(r)).unwrap_or_default();
    let actual = match cache.take() {
        Some(a) => a,
        None => read_actual(client, layout).await?,
    };
    let p = plan(&desired, &actual, lease);
    if p.is_empty() {
        *cache = Some(actual);
        return Ok(true);
    }
    if !apply(client, layout, lease, &p).await? {
        return Ok(false);
    }
    match want {
        Some(r) => info!(
            key = %layout.prefix, written = p.puts.len(), deleted = p.deletes.len(), lease = format_args!("{lease:x}"),
            ip = %r.public_ipv4_addr, port = r.port, "registered"
        ),
        None => info!(key = %layout.prefix, deleted = p.deletes.len(), "deregistered"),
    }
    *cache = Some(desired.into_iter().map(|(k, v)| (k, (v, lease))).collect());
    Ok(true)
}
