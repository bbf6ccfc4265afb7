//! The writer's etcd calls, each under the caller's deadline and each error naming the operation
//! and the key: read the managed keys, claim the owner key, apply a plan guarded by ownership,
//! release (delete the keys and the owner key) without revoking a shared lease.

use std::collections::BTreeMap;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, GetOptions, KeyValue, PutOptions, Txn, TxnOp, TxnOpResponse,
    TxnResponse,
};
use tracing::info;

use crate::etcd::access::AGENT_NEEDS;
use crate::etcd::{timed, timed_within, EtcdError};
use crate::registry::{handover, plan_keys, Actual, Handover, Layout, Owner, Record};

/// Who holds the owner key after a claim.
pub enum Ownership {
    /// This agent; `stale_lease` is the lease of the predecessor it took over from.
    Mine {
        stale_lease: Option<i64>,
    },
    Held(Option<Owner>),
    /// It went between the claim's compare and its read (its lease just ended): claim again.
    Vanished,
}

/// Who holds the owner key when a write guarded by ownership was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotOwner {
    /// Nobody: the owner key went with the lease it was bound to (ours ended: it expired, e.g.
    /// while etcd was unreachable, or it was revoked).
    Vacant,
    /// Another lease holds it; its record when that parses.
    Held(Option<Owner>),
}

/// One writer's calls: a member's client, the deadline, and the etcd user (for errors).
pub struct Calls<'a> {
    pub client: &'a Client,
    pub deadline: Duration,
    pub user: Option<&'a str>,
}

impl Calls<'_> {
    fn named(&self, e: EtcdError, op: &'static str, key: &str) -> EtcdError {
        e.named(op, key, AGENT_NEEDS, self.user)
    }
}

/// Reads every managed key (both formats) in one range request.
pub async fn read_actual(client: &Client, layout: &Layout) -> Result<Actual, EtcdError> {
    read_actual_within(client, layout, crate::etcd::REQUEST_TIMEOUT).await
}

async fn read_actual_within(
    client: &Client,
    layout: &Layout,
    deadline: Duration,
) -> Result<Actual, EtcdError> {
    // [prefix, prefix + "0") covers the prefix itself and everything under "prefix/".
    let end = format!("{}0", layout.prefix);
    let resp = timed_within(
        deadline,
        client.clone().get(
            layout.prefix.as_str(),
            Some(GetOptions::new().with_range(end)),
        ),
    )
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

/// Claims the owner key under `lease` (create if absent; take over from a dead predecessor of
/// this unit). Reads before it writes: a key someone else holds costs no write.
pub async fn acquire(
    c: &Calls<'_>,
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
    // Read first: a held key is answered by a read, so an agent waiting for another one's
    // key makes no raft proposals; only a vacant key is claimed by a transaction.
    let current = timed_within(c.deadline, c.client.clone().get(key.as_str(), None))
        .await
        .map_err(|e| c.named(e, "reading", &key))?
        .kvs()
        .first()
        .cloned();
    let kv = match current {
        Some(kv) => kv,
        None => {
            let txn = Txn::new()
                .when([Compare::version(key.as_str(), CompareOp::Equal, 0)])
                .and_then([put()])
                .or_else([TxnOp::get(key.as_str(), None)]);
            let resp = timed_within(c.deadline, c.client.clone().txn(txn))
                .await
                .map_err(|e| c.named(e, "writing", &key))?;
            if resp.succeeded() {
                return Ok(Ownership::Mine { stale_lease: None });
            }
            let Some(kv) = resp.op_responses().into_iter().find_map(|r| match r {
                TxnOpResponse::Get(g) => g.kvs().first().cloned(),
                _ => None,
            }) else {
                return Ok(Ownership::Vanished);
            };
            kv
        }
    };
    take_over(c, &key, put(), me, lease, kv).await
}

/// The owner key held under `kv`: this agent's already, or taken over from a dead predecessor of
/// this unit when `claim` says so (guarded by the key's revision), or held by another agent.
async fn take_over(
    c: &Calls<'_>,
    key: &str,
    put: TxnOp,
    me: &Owner,
    lease: i64,
    kv: KeyValue,
) -> Result<Ownership, EtcdError> {
    if kv.lease() == lease {
        return Ok(Ownership::Mine { stale_lease: None });
    }
    let holder: Option<Owner> = serde_json::from_slice(kv.value()).ok();
    let alive = holder
        .as_ref()
        .is_none_or(|h| h.host != me.host || crate::netinfo::pid_alive(h.pid));
    let take = kv.lease() == 0 || handover(me, holder.as_ref(), alive) == Handover::TakeOver;
    if !take {
        return Ok(Ownership::Held(holder));
    }
    let txn = Txn::new()
        .when([Compare::mod_revision(
            key,
            CompareOp::Equal,
            kv.mod_revision(),
        )])
        .and_then([put]);
    let took = timed_within(c.deadline, c.client.clone().txn(txn))
        .await
        .map_err(|e| c.named(e, "writing", key))?
        .succeeded();
    if took {
        info!(owner_key = %key, previous = ?holder, "took over the prefix from a previous agent of this unit");
        Ok(Ownership::Mine {
            stale_lease: Some(kv.lease()).filter(|l| *l != 0),
        })
    } else {
        Ok(Ownership::Held(holder))
    }
}

/// Makes etcd hold exactly `want` (reading it first when `cache` is `None`); what etcd holds
/// now, or who holds the owner key when ownership was lost. Writes nothing when nothing differs.
pub async fn reconcile(
    c: &Calls<'_>,
    layout: &Layout,
    lease: i64,
    want: Option<&Record>,
    cache: Option<Actual>,
) -> Result<Result<Actual, NotOwner>, EtcdError> {
    let desired: BTreeMap<String, String> = want.map(|r| layout.render(r)).unwrap_or_default();
    let actual = match cache {
        Some(a) => a,
        None => read_actual_within(c.client, layout, c.deadline)
            .await
            .map_err(|e| c.named(e, "reading", &layout.prefix))?,
    };
    let p = plan_keys(&desired, &actual, lease);
    if p.is_empty() {
        return Ok(Ok(actual));
    }
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
    let owner_key = layout.owner_key();
    let txn = Txn::new()
        .when([Compare::lease(owner_key.as_str(), CompareOp::Equal, lease)])
        .and_then(ops)
        .or_else([TxnOp::get(owner_key.as_str(), None)]);
    let resp = timed_within(c.deadline, c.client.clone().txn(txn))
        .await
        .map_err(|e| c.named(e, "writing", &layout.prefix))?;
    if !resp.succeeded() {
        return Ok(Err(not_owner(resp)));
    }
    match want {
        Some(r) => info!(
            key = %layout.prefix, written = p.puts.len(), deleted = p.deletes.len(), lease = format_args!("{lease:x}"),
            ip = %r.public_ipv4_addr.or(r.public_ipv6_addr).map(|i| i.to_string()).unwrap_or_default(),
            ipv6 = %r.public_ipv6_addr.map(|i| i.to_string()).unwrap_or_default(), port = r.port, "registered"
        ),
        None => info!(key = %layout.prefix, deleted = p.deletes.len(), "deregistered"),
    }
    Ok(Ok(desired
        .into_iter()
        .map(|(k, v)| (k, (v, lease)))
        .collect()))
}

/// Who holds the owner key, from the read in a refused transaction's else branch.
fn not_owner(resp: TxnResponse) -> NotOwner {
    let holder = resp.op_responses().into_iter().find_map(|r| match r {
        TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.value().to_vec()),
        _ => None,
    });
    match holder {
        None => NotOwner::Vacant,
        Some(v) => NotOwner::Held(serde_json::from_slice(&v).ok()),
    }
}

/// Deletes this writer's keys and its owner key, guarded by ownership under `lease`: how a
/// writer on a shared lease lets one container go without touching the others.
pub async fn release(c: &Calls<'_>, layout: &Layout, lease: i64) -> Result<bool, EtcdError> {
    let mut ops: Vec<TxnOp> = layout
        .managed_keys()
        .iter()
        .map(|k| TxnOp::delete(k.as_str(), None))
        .collect();
    ops.push(TxnOp::delete(layout.owner_key(), None));
    let txn = Txn::new()
        .when([Compare::lease(layout.owner_key(), CompareOp::Equal, lease)])
        .and_then(ops);
    Ok(timed_within(c.deadline, c.client.clone().txn(txn))
        .await
        .map_err(|e| c.named(e, "deleting", &layout.prefix))?
        .succeeded())
}

/// Revokes a predecessor's lease (its keys were rewritten under ours already).
pub async fn revoke_stale(client: &Client, lease: i64) {
    let _ = timed(client.clone().lease_revoke(lease)).await;
}
