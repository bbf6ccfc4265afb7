//! `sidekick lbsync`: a level-triggered reconciler from the registry prefix (desired) into a load
//! balancer (actual). Every pass re-reads the whole prefix and the backend, plans with pure
//! functions, and takes one step; etcd changes (debounced), leadership changes and a periodic
//! resync trigger passes. Only the elected leader changes anything.

pub mod election;
pub mod plan;
pub mod rackspace;
pub mod warned;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use etcd_client::{Client, GetOptions};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::backoff::{Backoff, RetryLog};
use crate::config::{BackendConfig, LbsyncConfig, Recheck};
use crate::etcd::{timed, EtcdError};
use crate::health::{Probe, Prober};
use crate::nginx::{Applied, NginxBackend};
use crate::registry::codec as instances;
use election::{Election, Role};
use rackspace::RackspaceExec;
use warned::Warned;

/// What one step of a backend asks for next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing left to do until something changes.
    Converged,
    /// A change was made (or the state moved): step again at once.
    Progress,
    /// Wait this long before the next step, whatever happens meanwhile.
    Wait(Duration),
    /// Wait for the next resync (or a change in etcd).
    Resync,
}

#[derive(Debug, thiserror::Error)]
pub enum LbsyncError {
    #[error(transparent)]
    Rackspace(#[from] crate::rackspace::Error),
    #[error(transparent)]
    Nginx(#[from] crate::nginx::NginxError),
    #[error(transparent)]
    Etcd(#[from] EtcdError),
}

enum Exec {
    Rackspace(Box<RackspaceExec>),
    Nginx(NginxBackend),
}

/// A snapshot of the registry prefix.
pub struct Snapshot {
    pub revision: i64,
    pub desired: BTreeSet<SocketAddr>,
    pub instances: usize,
}

async fn read_prefix(
    client: &Client,
    cfg: &LbsyncConfig,
    warned: &mut Warned,
) -> Result<Snapshot, EtcdError> {
    let resp = timed(
        client
            .clone()
            .get(cfg.prefix.as_str(), Some(GetOptions::new().with_prefix())),
    )
    .await?;
    let kvs: BTreeMap<String, String> = resp
        .kvs()
        .iter()
        .filter_map(|kv| {
            Some((
                kv.key_str().ok()?.to_string(),
                String::from_utf8_lossy(kv.value()).into_owned(),
            ))
        })
        .collect();
    let (inst, skipped) = instances::parse(&cfg.prefix, &kvs, &cfg.address_field);
    warned.report(&skipped);
    Ok(Snapshot {
        revision: resp.header().map(|h| h.revision()).unwrap_or(0),
        desired: instances::addresses(&inst),
        instances: inst.len(),
    })
}

/// Keeps only the addresses that are already served or pass lbsync's own re-check.
async fn recheck(
    r: &Recheck,
    prober: &Prober,
    desired: &BTreeSet<SocketAddr>,
    present: &BTreeSet<SocketAddr>,
) -> BTreeSet<SocketAddr> {
    let candidates: Vec<SocketAddr> = desired.difference(present).copied().collect();
    let probes = candidates.iter().map(|addr| {
        let p = Probe::Http {
            addr: *addr,
            path: r.path.clone(),
            digest: r.digest.clone(),
        };
        async move { (p.addr(), prober.probe(&p).await) }
    });
    let mut keep: BTreeSet<SocketAddr> = desired.intersection(present).copied().collect();
    for (addr, outcome) in futures_util::future::join_all(probes).await {
        if outcome.pass {
            keep.insert(addr);
        } else {
            warn!(instance = %addr, error = outcome.error.as_deref().unwrap_or(""), "instance failed lbsync's re-check; not adding it");
        }
    }
    keep
}

fn build_exec(cfg: &LbsyncConfig) -> Result<Exec, LbsyncError> {
    Ok(match &cfg.backend {
        BackendConfig::Rackspace(t) => {
            let client = crate::rackspace::Client::new(t.client.clone())?;
            Exec::Rackspace(Box::new(RackspaceExec::new(
                client,
                t.lb_name.clone(),
                t.lb_id,
            )))
        }
        BackendConfig::Nginx(n) => Exec::Nginx(NginxBackend::new(n.clone())?),
    })
}

/// One step of the backend towards `desired`.
async fn step(
    exec: &mut Exec,
    cfg: &LbsyncConfig,
    prober: &Prober,
    desired: &BTreeSet<SocketAddr>,
    is_leader: &dyn Fn() -> bool,
) -> Step {
    match exec {
        Exec::Rackspace(rs) => {
            let desired = match &cfg.recheck {
                Some(r) => {
                    let present = match rs.plan(desired, &cfg.statics, cfg.allow_empty).await {
                        Ok((lb, _)) => rackspace::lb_nodes(&lb)
                            .iter()
                            .filter_map(|n| n.addr)
                            .collect(),
                        Err(_) => BTreeSet::new(),
                    };
                    recheck(r, prober, desired, &present).await
                }
                None => desired.clone(),
            };
            rs.step(&desired, &cfg.statics, cfg.allow_empty, is_leader)
                .await
        }
        Exec::Nginx(ng) => {
            let present = ng.current().unwrap_or_default();
            let mut want = match &cfg.recheck {
                Some(r) => recheck(r, prober, desired, &present).await,
                None => desired.clone(),
            };
            let managed_present = present.difference(&cfg.statics).count() > 0;
            if want.is_empty() && !cfg.allow_empty && managed_present {
                error!("the registry prefix is empty: keeping nginx's current backends (pass --allow-empty to allow emptying it)");
                return Step::Converged;
            }
            want.retain(|a| !cfg.statics.contains(a));
            if !is_leader() {
                return Step::Wait(Duration::from_secs(1));
            }
            match ng.apply(&want, &cfg.statics).await {
                Ok(Applied::Unchanged) => Step::Converged,
                Ok(Applied::Reloaded { .. }) => Step::Converged,
                Err(e) => {
                    error!(error = %e, kind = e.metric_label(), "nginx was not updated; retrying at the resync interval");
                    Step::Resync
                }
            }
        }
    }
}

/// Prints what a pass would change, without changing it.
async fn dry_run(exec: &mut Exec, cfg: &LbsyncConfig, snap: &Snapshot) -> Result<(), LbsyncError> {
    println!(
        "registry {}: {} valid instances, {} distinct addresses",
        cfg.prefix,
        snap.instances,
        snap.desired.len()
    );
    match exec {
        Exec::Rackspace(rs) => {
            let (lb, p) = rs
                .plan(&snap.desired, &cfg.statics, cfg.allow_empty)
                .await?;
            println!(
                "load balancer {:?} (id {}, {}): {} nodes now",
                lb.name,
                lb.id,
                lb.status,
                lb.nodes.len()
            );
            for batch in &p.removes {
                for id in batch {
                    let n = lb.nodes.iter().find(|n| n.id == *id);
                    println!(
                        "remove  node {id} {}",
                        n.map(|n| format!("{}:{}", n.address, n.port))
                            .unwrap_or_default()
                    );
                }
            }
            for a in &p.adds {
                println!("add     {a}");
            }
            for id in &p.enable {
                println!("enable  node {id}");
            }
            for a in &p.unplaced {
                println!("no room {a} (node limit)");
            }
            if p.empty_guard {
                println!(
                    "guard   the registry is empty: nothing would be removed without --allow-empty"
                );
            }
            if p.is_converged() {
                println!("nothing to change");
            }
        }
        Exec::Nginx(ng) => {
            let present = ng.current()?;
            for a in present
                .difference(&snap.desired)
                .filter(|a| !cfg.statics.contains(a))
            {
                println!("remove  {a}");
            }
            for a in snap.desired.difference(&present) {
                println!("add     {a}");
            }
        }
    }
    Ok(())
}

/// Runs lbsync until `shutdown` resolves.
pub async fn run(cfg: LbsyncConfig, shutdown: impl Future<Output = ()>) -> Result<(), LbsyncError> {
    tokio::pin!(shutdown);
    let mut exec = build_exec(&cfg)?;
    let Some(pool) = election::connect_checked(&cfg, &mut shutdown).await? else {
        return Ok(());
    };
    let mut warned = Warned::default();
    if cfg.dry_run {
        let snap = read_prefix(&pool.client(), &cfg, &mut warned).await?;
        return dry_run(&mut exec, &cfg, &snap).await;
    }
    let me = format!(
        "{}/{}",
        crate::netinfo::hostname().unwrap_or_default(),
        std::process::id()
    );
    info!(prefix = %cfg.prefix, election_key = %cfg.election_key, id = %me, "sidekick lbsync starting");
    let election = Election::spawn(pool.clone(), cfg.election_key.clone(), me, cfg.ttl);
    let mut role = election.subscribe();
    let (dirty_tx, mut dirty) = tokio::sync::watch::channel(Instant::now());
    let mut dirty_tx = Some(dirty_tx);
    let prober = Prober::new(
        cfg.recheck
            .as_ref()
            .map(|r| r.timeout)
            .unwrap_or(Duration::from_secs(2)),
    );
    let mut etcd_backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut read_log = RetryLog::new("reading the registry prefix");
    let mut next_pass = Instant::now();
    let mut hold_until = Instant::now();
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            r = role.changed() => { if r.is_err() { break; } next_pass = Instant::now(); }
            r = dirty.changed() => {
                if r.is_err() { break; }
                // Debounce: wait for `debounce` of quiet after the latest change, so a burst
                // becomes one pass; a change that already aged (say, during a step) goes at once.
                // `until` bounds the wait however busy etcd is.
                let until = crate::duration::after(Instant::now(), cfg.debounce.saturating_mul(10));
                loop {
                    let quiet_at = crate::duration::after(*dirty.borrow_and_update(), cfg.debounce).min(until);
                    if Instant::now() >= quiet_at {
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(quiet_at) => {}
                        r = dirty.changed() => if r.is_err() { break },
                    }
                }
                next_pass = Instant::now();
            }
            _ = tokio::time::sleep_until(next_pass.max(hold_until)) => {}
        }
        if Instant::now() < hold_until || Instant::now() < next_pass {
            continue;
        }
        if *role.borrow() != Role::Leader {
            next_pass = crate::duration::after(Instant::now(), cfg.resync);
            continue;
        }
        let snap = match read_prefix(&pool.client(), &cfg, &mut warned).await {
            Ok(s) => s,
            Err(e) => {
                read_log.failed(&e);
                next_pass = crate::duration::after(Instant::now(), etcd_backoff.next_delay());
                continue;
            }
        };
        etcd_backoff.reset();
        read_log.succeeded();
        if let Some(tx) = dirty_tx.take() {
            tokio::spawn(watch::watch_prefix(
                pool.clone(),
                cfg.prefix.clone(),
                snap.revision + 1,
                tx,
            ));
        }
        let is_leader = || election.is_leader_now();
        match step(&mut exec, &cfg, &prober, &snap.desired, &is_leader).await {
            Step::Progress => next_pass = Instant::now(),
            Step::Converged | Step::Resync => {
                next_pass = crate::duration::after(Instant::now(), cfg.resync)
            }
            Step::Wait(d) => {
                hold_until = crate::duration::after(Instant::now(), d);
                next_pass = hold_until;
            }
        }
    }
    info!("shutting down: resigning leadership");
    election.resign().await;
    Ok(())
}
