//! The endpoint pool: one etcd client per member instead of one client balancing over every
//! endpoint whether it answers or not (etcd-client's balanced channel keeps sending calls to a
//! stopped member). Calls go to one member, the *current* one: the first in `--etcd-endpoints`
//! order that answered a status probe with a known raft leader. A caller whose call fails or
//! misses its deadline marks the member suspect ([`Pool::suspect`]) and the next call goes to
//! another member at once. A background task re-probes the current member every
//! [`PROBE_EVERY`], so a member that died, or that fell into a minority partition (it answers but
//! has no leader), is left at once, and every member every [`PROBE_ALL_EVERY`] (and after each
//! suspicion), so one that came back is usable again. Probes are status reads: no raft
//! proposals. With a single endpoint there is nothing to choose between: its member is probed
//! only after a caller suspects it (the agent's own keepalives and reads are the periodic
//! check). Each status probe costs an idle agent about 0.01 % of a core at one per 2 s (issue
//! 22), so the background probes are what an idle agent spent most on.
//!
//! When no member answers (this host is cut off from etcd), the prober hunts: every
//! [`HUNT_EVERY`] it opens a fresh connection to every member, each with its own deadline, since
//! a connection attempt made during the cut waits out the kernel's SYN retransmission (1 s, then
//! 3 s...) even after the network is back. The first member that answers gets that fresh client
//! and [`Pool::recovered`] tells the callers, which retry at once instead of at the end of
//! their backoff: this bounds how long after the heal the agent finds etcd again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::Client;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::{EtcdConfig, EtcdError};

/// How often the current member is probed in the background (when there are others to move to).
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
/// How often every member is probed in the background, in rounds of [`PROBE_EVERY`] (10 s).
pub const PROBE_ALL_EVERY: u32 = 5;
/// How long one probe (connect and status) may take.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(1);
/// While no member answers: how often a fresh connection to every member is tried.
pub const HUNT_EVERY: Duration = Duration::from_millis(250);

/// A shared handle to the pool; clones are cheap and see the same members.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
    _prober: Arc<AbortOnDrop>,
}

/// Ends the background prober when the last clone of the pool goes.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("endpoints", &self.inner.cfg.endpoints)
            .field("current", &self.current_endpoint())
            .finish()
    }
}

struct Inner {
    cfg: EtcdConfig,
    members: Mutex<Vec<Slot>>,
    current: Mutex<usize>,
    reprobe: Notify,
    /// Counts the ends of outages (no member answered, then one did).
    recovered: watch::Sender<u64>,
}

#[derive(Default, Clone)]
struct Slot {
    client: Option<Client>,
    healthy: bool,
    /// Why the last probe or call failed (logged once per change).
    down: Option<String>,
}

/// One member's client, as handed to a caller: report a failure with its `index`.
#[derive(Clone)]
pub struct Member {
    pub index: usize,
    pub endpoint: String,
    pub client: Client,
}

/// The outcome of probing one member.
enum Probed {
    Up(Client),
    Down(Option<Client>, String),
    Refused(EtcdError),
}

async fn probe(cfg: &EtcdConfig, endpoint: &str, client: Option<Client>) -> Probed {
    let client = match client {
        Some(c) => c,
        None => match cfg.connect_one(endpoint, PROBE_DEADLINE).await {
            Ok(c) => c,
            Err(e) if e.is_config() => return Probed::Refused(e),
            Err(e) => return Probed::Down(None, e.to_string()),
        },
    };
    match tokio::time::timeout(PROBE_DEADLINE, client.clone().status()).await {
        Ok(Ok(s)) if s.leader() != 0 => Probed::Up(client),
        Ok(Ok(_)) => Probed::Down(Some(client), "the member has no raft leader".into()),
        Ok(Err(e)) => {
            let e = EtcdError::from(e);
            if e.is_config() {
                return Probed::Refused(e);
            }
            Probed::Down(Some(client), e.to_string())
        }
        Err(_) => Probed::Down(Some(client), format!("no answer within {PROBE_DEADLINE:?}")),
    }
}

/// The index a pool should use: `current` while it is healthy, else the first healthy one after
/// it (in endpoint order, wrapping); else the next member after it that has a client (it may
/// answer); else `current`.
pub fn choose(current: usize, healthy: &[bool], has_client: &[bool]) -> usize {
    let n = healthy.len();
    if n == 0 || healthy.get(current).copied().unwrap_or(false) {
        return current;
    }
    let after = |ok: &dyn Fn(usize) -> bool| (1..=n).map(|d| (current + d) % n).find(|&i| ok(i));
    after(&|i| healthy[i])
        .or_else(|| after(&|i| i != current && has_client[i]))
        .unwrap_or(current)
}

impl Pool {
    /// Probes every endpoint at once and starts on the first (in order) that answers with a
    /// leader. Fails when none does (callers retry) or when etcd refuses the credentials.
    pub async fn connect(cfg: &EtcdConfig) -> Result<Pool, EtcdError> {
        let probes = cfg.endpoints.iter().map(|e| probe(cfg, e, None));
        let results = futures_util::future::join_all(probes).await;
        let mut slots = Vec::with_capacity(results.len());
        let mut why = Vec::new();
        for (endpoint, r) in cfg.endpoints.iter().zip(results) {
            slots.push(match r {
                Probed::Up(c) => Slot {
                    client: Some(c),
                    healthy: true,
                    down: None,
                },
                Probed::Down(c, e) => {
                    why.push(format!("{endpoint}: {e}"));
                    Slot {
                        client: c,
                        healthy: false,
                        down: Some(e),
                    }
                }
                Probed::Refused(e) => return Err(e),
            });
        }
        let Some(first) = slots.iter().position(|s| s.healthy) else {
            return Err(EtcdError::Unreachable(why.join("; ")));
        };
        for (endpoint, s) in cfg.endpoints.iter().zip(&slots) {
            if let Some(e) = &s.down {
                warn!(endpoint = %endpoint, error = %e, "etcd member does not answer; using the others and probing it in the background");
            }
        }
        debug!(endpoint = %cfg.endpoints[first], "using etcd member");
        let inner = Arc::new(Inner {
            cfg: cfg.clone(),
            members: Mutex::new(slots),
            current: Mutex::new(first),
            reprobe: Notify::new(),
            recovered: watch::Sender::new(0),
        });
        let prober = tokio::spawn(reprobe_loop(inner.clone()));
        Ok(Pool {
            inner,
            _prober: Arc::new(AbortOnDrop(prober)),
        })
    }

    /// The member calls should go to now.
    pub fn member(&self) -> Member {
        let members = lock(&self.inner.members);
        let mut i = *lock(&self.inner.current);
        if members.get(i).and_then(|s| s.client.as_ref()).is_none() {
            i = members.iter().position(|s| s.client.is_some()).unwrap_or(0);
        }
        Member {
            index: i,
            endpoint: self.inner.cfg.endpoints[i].clone(),
            // Some member always has a client: `connect` only succeeds with one.
            client: members[i]
                .client
                .clone()
                .unwrap_or_else(|| unreachable_client(&members)),
        }
    }

    /// The current member's client (for callers that do not report failures).
    pub fn client(&self) -> Client {
        self.member().client
    }

    pub fn current_endpoint(&self) -> String {
        self.inner.cfg.endpoints[*lock(&self.inner.current)].clone()
    }

    pub fn config(&self) -> &EtcdConfig {
        &self.inner.cfg
    }

    /// Changes each time a member answers again after none did: a caller waiting out a backoff
    /// (or a call stuck on a connection from before) retries at once.
    pub fn recovered(&self) -> watch::Receiver<u64> {
        self.inner.recovered.subscribe()
    }

    /// A call through member `index` failed or missed its deadline: stop using it until a probe
    /// says it answers again, and move the calls to another member now.
    pub fn suspect(&self, index: usize, why: &dyn std::fmt::Display) {
        {
            let mut members = lock(&self.inner.members);
            let Some(slot) = members.get_mut(index) else {
                return;
            };
            if slot.healthy {
                slot.healthy = false;
                slot.down = Some(why.to_string());
            }
            self.inner.rechoose(&members, Some(why));
        }
        self.inner.reprobe.notify_one();
    }
}

impl Inner {
    /// The one rule for which member takes the calls, applied after any change to `members`
    /// (held locked by the caller): [`choose`], and a log line when the calls move. Says whether
    /// any member answers.
    fn rechoose(&self, members: &[Slot], reason: Option<&dyn std::fmt::Display>) -> bool {
        let (healthy, has): (Vec<bool>, Vec<bool>) = members
            .iter()
            .map(|s| (s.healthy, s.client.is_some()))
            .unzip();
        let mut current = lock(&self.current);
        let next = choose(*current, &healthy, &has);
        if next != *current {
            let (from, to) = (&self.cfg.endpoints[*current], &self.cfg.endpoints[next]);
            let reason = reason.map(tracing::field::display);
            if healthy[next] {
                info!(from = %from, to = %to, reason, "moving etcd calls to another member");
            } else {
                // No member answers: trying them in turn is not news (the caller's retry log
                // says that etcd is unreachable).
                debug!(from = %from, to = %to, reason, "trying another etcd member");
            }
            *current = next;
        }
        healthy.contains(&true)
    }
}

impl Slot {
    /// Takes in one probe's outcome, logging a member that goes down or comes back once each.
    fn record(&mut self, endpoint: &str, probed: Probed) {
        match probed {
            Probed::Up(c) => {
                if self.down.take().is_some() {
                    info!(endpoint = %endpoint, "etcd member answers again");
                }
                self.client = Some(c);
                self.healthy = true;
            }
            Probed::Down(c, why) => {
                if self.down.is_none() {
                    warn!(endpoint = %endpoint, error = %why, "etcd member does not answer; using the others");
                }
                self.client = self.client.take().or(c);
                self.healthy = false;
                self.down = Some(why);
            }
            Probed::Refused(e) => {
                self.healthy = false;
                self.down = Some(e.to_string());
            }
        }
    }
}

fn unreachable_client(members: &[Slot]) -> Client {
    // Only reached if no slot has a client, which `connect` rules out; keep the first client
    // found to stay total.
    members
        .iter()
        .find_map(|s| s.client.clone())
        .expect("a pool always holds at least one client")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Re-probes the current member every [`PROBE_EVERY`] and every member every
/// [`PROBE_ALL_EVERY`] rounds and after each suspicion (only then with a single endpoint) until
/// the pool is dropped (the last [`Pool`] clone aborts it), hunting (see [`hunt`]) while none
/// answers; logs a member going down or coming back once each.
async fn reprobe_loop(inner: Arc<Inner>) {
    let (mut round, mut everyone) = (0u32, true);
    loop {
        let slots: Vec<Slot> = lock(&inner.members).clone();
        let current = *lock(&inner.current);
        let probes = inner
            .cfg
            .endpoints
            .iter()
            .zip(&slots)
            .enumerate()
            .filter(|(i, _)| everyone || *i == current)
            .map(|(i, (e, s))| {
                let cfg = &inner.cfg;
                async move { (i, probe(cfg, e, s.client.clone()).await) }
            });
        let results = futures_util::future::join_all(probes).await;
        let outage = {
            let mut members = lock(&inner.members);
            for (i, r) in results {
                members[i].record(&inner.cfg.endpoints[i], r);
            }
            !inner.rechoose(&members, None)
        };
        if outage {
            hunt(&inner).await;
            continue;
        }
        let choice = inner.cfg.endpoints.len() > 1;
        everyone = tokio::select! {
            _ = inner.reprobe.notified() => {
                tokio::time::sleep(Duration::from_millis(200)).await;
                true
            }
            _ = tokio::time::sleep(PROBE_EVERY), if choice => {
                round = round.wrapping_add(1);
                round % PROBE_ALL_EVERY == 0
            }
        };
    }
}

/// No member answers: every [`HUNT_EVERY`], a fresh connection to every member, until one
/// answers. That member gets the fresh client (its old one may be stuck on a connection made
/// during the cut) and the calls; `recovered` changes so callers retry at once.
async fn hunt(inner: &Inner) {
    let mut tries = JoinSet::new();
    let mut every = tokio::time::interval(HUNT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                for (i, endpoint) in inner.cfg.endpoints.iter().enumerate() {
                    let (cfg, endpoint) = (inner.cfg.clone(), endpoint.clone());
                    tries.spawn(async move { (i, probe(&cfg, &endpoint, None).await) });
                }
            }
            Some(done) = tries.join_next() => {
                let Ok((i, Probed::Up(client))) = done else { continue };
                {
                    // Every member is down here, so `record` logs that this one answers again.
                    let mut members = lock(&inner.members);
                    members[i].record(&inner.cfg.endpoints[i], Probed::Up(client));
                    inner.rechoose(&members, None);
                }
                inner.recovered.send_modify(|n| *n += 1);
                // Dropping `tries` aborts the other attempts.
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
