//! One etcd lease kept alive by hand (etcd-client never renews on its own and its streams do not
//! heal): grant, keepalive about every TTL/4, grant a new lease when the old one is gone, revoke
//! on shutdown. Every call has a deadline well inside the TTL ([`call_deadline`]); a call that
//! fails or misses it marks its member suspect in the [`Pool`] and the next attempt goes to
//! another member at once, so a member cut off from its peers (which still accepts the
//! connection but can no longer renew anything) costs one deadline, not the lease. When no member
//! answered and the pool finds one again ([`Pool::recovered`]), the keeper stops waiting (a
//! backoff, or a call stuck on a connection from before) and renews or re-grants at once.

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::{timed_within, Pool};
use crate::backoff::{Backoff, RetryLog};

/// The deadline of every call the lease depends on: a quarter of the TTL (between 300 ms and
/// 5 s), so a keepalive that misses it still leaves time to renew through another member.
pub fn call_deadline(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_millis(300), Duration::from_secs(5))
}

/// The lease as its users see it. `generation` grows each time a new lease replaces a lost one,
/// so users know to re-acquire what they held under the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    Pending,
    Live {
        id: i64,
        generation: u64,
        /// Until when etcd has confirmed the lease (last keepalive send time + TTL).
        confirmed_until: Instant,
    },
}

/// Handle to the keeper task.
pub struct LeaseKeeper {
    state: watch::Receiver<LeaseState>,
    stop: Option<oneshot::Sender<Duration>>,
    task: tokio::task::JoinHandle<()>,
}

impl LeaseKeeper {
    /// Starts keeping a lease of `ttl` alive through `pool`.
    pub fn spawn(pool: Pool, ttl: Duration) -> LeaseKeeper {
        let (tx, rx) = watch::channel(LeaseState::Pending);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(keep(pool, ttl, tx, stop_rx));
        LeaseKeeper {
            state: rx,
            stop: Some(stop_tx),
            task,
        }
    }

    /// Receives a change whenever a lease is granted or replaced (not on every keepalive).
    pub fn subscribe(&self) -> watch::Receiver<LeaseState> {
        self.state.clone()
    }

    /// Stops the keepalive and revokes the lease (deleting every key bound to it), waiting at
    /// most `deadline` for etcd; if etcd does not answer the keys expire with the TTL.
    pub async fn revoke(mut self, deadline: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(deadline);
        }
        let _ = tokio::time::timeout(
            deadline.saturating_add(Duration::from_millis(100)),
            &mut self.task,
        )
        .await;
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

/// How long the lease had gone unconfirmed when etcd said it was gone, if that was longer than
/// its TTL: it then expired while etcd was unreachable (not revoked under our eyes).
pub fn expired_unconfirmed(
    now: Instant,
    confirmed_until: Instant,
    ttl: Duration,
) -> Option<Duration> {
    (now >= confirmed_until).then(|| now.saturating_duration_since(confirmed_until) + ttl)
}

/// How a keepalive session ended.
enum Ended {
    /// The stream broke (why); re-open it for the same lease.
    Broken(String),
    /// A member answers again after none did: re-open at once.
    Retry,
    /// etcd says the lease no longer exists; grant a new one.
    Lost,
    /// Shutdown was asked with this revoke deadline.
    Stop(Duration),
}

async fn keep(
    pool: Pool,
    ttl: Duration,
    tx: watch::Sender<LeaseState>,
    stop: oneshot::Receiver<Duration>,
) {
    let period = (ttl / 4).max(Duration::from_millis(300));
    let mut k = Keeper {
        recovered: pool.recovered(),
        pool,
        ttl,
        period,
        tx,
        stop,
        generation: 0,
        backoff: Backoff::new(
            Duration::from_millis(100),
            Duration::from_secs(2).min(period),
        ),
        log: RetryLog::new("keeping the etcd lease alive"),
    };
    while let Some(id) = k.grant().await {
        loop {
            match k.session(id).await {
                Ended::Stop(d) => return finish(&k.pool, id, d).await,
                Ended::Lost => {
                    k.lost(id);
                    break;
                }
                Ended::Retry => k.backoff.reset(),
                Ended::Broken(why) => {
                    if let Some(d) = k.pause(id, &why).await {
                        return finish(&k.pool, id, d).await;
                    }
                }
            }
        }
    }
}

/// The keeper task's state: the lease's settings, its users' channel, the shutdown request, and
/// how its retries are paced and logged.
struct Keeper {
    pool: Pool,
    ttl: Duration,
    /// How often a keepalive is sent.
    period: Duration,
    tx: watch::Sender<LeaseState>,
    stop: oneshot::Receiver<Duration>,
    /// Ticks when a member answers again after none did.
    recovered: watch::Receiver<u64>,
    /// Leases granted so far.
    generation: u64,
    backoff: Backoff,
    log: RetryLog,
}

impl Keeper {
    fn ttl_secs(&self) -> i64 {
        self.ttl.as_secs().max(1) as i64
    }

    /// Grants a new lease (retrying until one is granted) and publishes it; `None` when shutdown
    /// was asked first (there is nothing to revoke then).
    async fn grant(&mut self) -> Option<i64> {
        loop {
            let sent = Instant::now();
            let m = self.pool.member();
            let mut c = m.client.clone();
            let granted = tokio::select! {
                r = timed_within(call_deadline(self.ttl), c.lease_grant(self.ttl_secs(), None)) => r,
                Ok(()) = self.recovered.changed() => continue,
                _ = &mut self.stop => return None,
            };
            let id = match granted {
                Ok(resp) => resp.id(),
                Err(e) => {
                    if e.is_member_fault() {
                        self.pool.suspect(m.index, &e);
                    }
                    self.log.failed(&e);
                    tokio::select! {
                        _ = tokio::time::sleep(self.backoff.next_delay()) => continue,
                        Ok(()) = self.recovered.changed() => { self.backoff.reset(); continue }
                        _ = &mut self.stop => return None,
                    }
                }
            };
            self.generation += 1;
            self.backoff.reset();
            self.log.succeeded();
            info!(
                lease = format_args!("{id:x}"),
                ttl_s = self.ttl_secs(),
                generation = self.generation,
                "etcd lease granted"
            );
            self.tx.send_replace(LeaseState::Live {
                id,
                generation: self.generation,
                confirmed_until: crate::duration::after(sent, self.ttl),
            });
            return Some(id);
        }
    }

    /// etcd says lease `id` is gone: says whether it expired while etcd was unreachable, and
    /// tells the users no lease is held.
    fn lost(&self, id: i64) {
        let unconfirmed = match *self.tx.borrow() {
            LeaseState::Live {
                confirmed_until, ..
            } => expired_unconfirmed(Instant::now(), confirmed_until, self.ttl),
            LeaseState::Pending => None,
        };
        match unconfirmed {
            Some(d) => warn!(
                lease = format_args!("{id:x}"),
                ttl_s = self.ttl_secs(),
                unconfirmed_ms = d.as_millis() as u64,
                "etcd lease expired while etcd was unreachable (not renewed for longer than its TTL); granting a new one and re-registering"
            ),
            None => warn!(
                lease = format_args!("{id:x}"),
                "etcd lease expired or was revoked; granting a new one and re-registering"
            ),
        }
        self.tx.send_replace(LeaseState::Pending);
    }

    /// The keepalive stream broke (`why`): waits before re-opening it, briefly while another
    /// member can be tried. `Some(deadline)` when shutdown was asked meanwhile.
    async fn pause(&mut self, id: i64, why: &str) -> Option<Duration> {
        self.log.failed(&why);
        // Another member is tried at once; backing off only once they all failed.
        let delay = if self.backoff.attempts() < 2 {
            self.backoff.next_delay().min(Duration::from_millis(50))
        } else {
            self.backoff.next_delay()
        };
        debug!(
            lease = format_args!("{id:x}"),
            retry_in_ms = delay.as_millis() as u64,
            "re-opening the keepalive stream"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => None,
            Ok(()) = self.recovered.changed() => { self.backoff.reset(); None }
            d = &mut self.stop => Some(d.unwrap_or(Duration::ZERO)),
        }
    }

    /// One keepalive stream: open it (noting a recovery), renew every `period`, return when it
    /// breaks.
    async fn session(&mut self, id: i64) -> Ended {
        let answer_deadline = call_deadline(self.ttl);
        let sent = Instant::now();
        let m = self.pool.member();
        let mut c = m.client.clone();
        let pool = &self.pool;
        let broken = |why: String| {
            pool.suspect(m.index, &why);
            Ended::Broken(format!("{}: {why}", m.endpoint))
        };
        let opened = tokio::select! {
            r = tokio::time::timeout(answer_deadline, c.lease_keep_alive(id)) => r,
            Ok(()) = self.recovered.changed() => return Ended::Retry,
            d = &mut self.stop => return Ended::Stop(d.unwrap_or(Duration::ZERO)),
        };
        let (mut keeper, mut stream) = match opened {
            Ok(Ok(pair)) => pair,
            Ok(Err(etcd_client::Error::LeaseKeepAliveError(msg))) if msg.contains("not found") => {
                return Ended::Lost
            }
            Ok(Err(e)) => return broken(format!("keepalive: {e}")),
            Err(_) => return broken(format!("keepalive: no answer within {answer_deadline:?}")),
        };
        confirm(&self.tx, crate::duration::after(sent, self.ttl));
        self.log.succeeded();
        self.backoff.reset();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.period) => {}
                d = &mut self.stop => return Ended::Stop(d.unwrap_or(Duration::ZERO)),
            }
            let sent = Instant::now();
            if keeper.keep_alive().await.is_err() {
                return broken("keepalive stream closed".into());
            }
            match tokio::time::timeout(answer_deadline, stream.message()).await {
                Ok(Ok(Some(resp))) if resp.ttl() > 0 => {
                    crate::telemetry::lease_keepalive(sent.elapsed());
                    let ttl = Duration::from_secs(resp.ttl() as u64);
                    confirm(&self.tx, crate::duration::after(sent, ttl));
                }
                Ok(Ok(Some(_))) => return Ended::Lost,
                Ok(Ok(None)) => return broken("keepalive stream ended".into()),
                Ok(Err(e)) => return broken(format!("keepalive stream broke: {e}")),
                Err(_) => {
                    return broken(format!("keepalive: no answer within {answer_deadline:?}"))
                }
            }
        }
    }
}

fn confirm(tx: &watch::Sender<LeaseState>, until: Instant) {
    // Quietly: users wake on new leases, not on every renewal.
    tx.send_if_modified(|s| {
        if let LeaseState::Live {
            confirmed_until, ..
        } = s
        {
            *confirmed_until = until;
        }
        false
    });
}

async fn finish(client: &Pool, id: i64, deadline: Duration) {
    match tokio::time::timeout(deadline, client.client().lease_revoke(id)).await {
        Ok(Ok(_)) => info!(
            lease = format_args!("{id:x}"),
            "etcd lease revoked; its keys are gone"
        ),
        Ok(Err(e)) => {
            warn!(lease = format_args!("{id:x}"), error = %e, "could not revoke the etcd lease; its keys expire with the TTL")
        }
        Err(_) => warn!(
            lease = format_args!("{id:x}"),
            "etcd did not answer the revoke in time; the keys expire with the TTL"
        ),
    }
}
