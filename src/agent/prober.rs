//! The probe schedule: probe a new target at once, retry quickly until it passes so a container is
//! registered within milliseconds of listening (each retry waits a quarter of the time spent
//! retrying so far, at least 1 ms and at most 10 ms, for the first 2 s; then doubling up to the
//! interval), probe every interval while healthy, and re-probe sooner after a single failure so
//! `--fall` confirms quickly. Rise/fall damping happens here; each result goes to the agent as a
//! [`Report`].

use std::future::Future;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::health::{Damper, Outcome, Probe, Transition};

/// The shortest wait between retries. A lone container usually listens 2-6 ms after Docker's
/// `start` event (the readiness floor of scripts/bench, figure 1); a refused connect on the host
/// costs tens of microseconds, so the first retries come this close together.
pub const FIRST_RETRY: Duration = Duration::from_millis(1);

/// During the fast phase each retry waits `1 / RETRY_SHARE` of the time retried so far: a target
/// that answers after `t` is found at most `t / RETRY_SHARE` late, for about
/// `RETRY_SHARE * ln(t / FIRST_RETRY)` probes (16 by 50 ms).
pub const RETRY_SHARE: u32 = 4;

/// The longest wait between retries during the first [`FAST_PHASE`] of retries. Under a burst of
/// `docker run`s a container may take 50-250 ms to listen; waits of 20 ms or more then overshoot
/// by half that on average, which was most of `host`'s burst p95 (figure 6).
pub const FAST_CAP: Duration = Duration::from_millis(10);

/// How long retries stay at most [`FAST_CAP`] apart: bounds what a target that never passes
/// (a wrong digest, a dead app) costs to about 200 probes before the delay doubles away.
pub const FAST_PHASE: Duration = Duration::from_secs(2);

/// The retry state while unhealthy: the time spent in retries so far (waits and the probes
/// themselves, so a server that hangs every probe until its timeout leaves the fast phase after
/// [`FAST_PHASE`] too, not after 200 probes) and, after the fast phase, the doubling delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    slow: Duration,
    waited: Duration,
}

impl Retry {
    pub fn new() -> Retry {
        Retry {
            slow: FAST_CAP,
            waited: Duration::ZERO,
        }
    }

    /// Counts time a failed probe took towards [`FAST_PHASE`].
    pub fn spent(&mut self, probe: Duration) {
        self.waited = self.waited.saturating_add(probe);
    }
}

impl Default for Retry {
    fn default() -> Retry {
        Retry::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Grows with every new target (new container run, new address); stale reports are dropped.
    pub generation: u64,
    pub probe: Probe,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub generation: u64,
    pub outcome: Outcome,
    pub transition: Transition,
    pub healthy: bool,
    /// Consecutive passes so far (for "n of rise").
    pub passes: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub interval: Duration,
    pub rise: u32,
    pub fall: u32,
}

/// Pure: how long to wait before the next probe. `retry` is the growing retry delay while
/// unhealthy.
pub fn next_delay(
    healthy: bool,
    last_pass: bool,
    retry: &mut Retry,
    interval: Duration,
) -> Duration {
    if !healthy {
        let d = if retry.waited < FAST_PHASE {
            (retry.waited / RETRY_SHARE).clamp(FIRST_RETRY, FAST_CAP)
        } else {
            retry.slow = retry.slow.saturating_mul(2);
            retry.slow
        }
        .min(interval);
        retry.waited = retry.waited.saturating_add(d);
        d
    } else if last_pass {
        *retry = Retry::new();
        interval
    } else {
        // Healthy with a failure pending: confirm or clear it sooner than a full interval.
        (interval / 4).max(FIRST_RETRY)
    }
}

/// Runs until the target sender is dropped. `probe` performs one probe.
pub async fn run<F, Fut>(
    probe: F,
    mut targets: watch::Receiver<Option<Target>>,
    reports: mpsc::Sender<Report>,
    schedule: Schedule,
) where
    F: Fn(Probe) -> Fut,
    Fut: Future<Output = Outcome>,
{
    loop {
        let current = targets.borrow_and_update().clone();
        let Some(target) = current else {
            if targets.changed().await.is_err() {
                return;
            }
            continue;
        };
        let mut damper = Damper::new(schedule.rise, schedule.fall);
        let mut retry = Retry::new();
        loop {
            let outcome = tokio::select! {
                o = probe(target.probe.clone()) => o,
                r = targets.changed() => { if r.is_err() { return; } break; }
            };
            crate::telemetry::probe_observed(&outcome);
            let transition = damper.record(outcome.pass);
            let pass = outcome.pass;
            if !pass {
                retry.spent(Duration::from_millis(outcome.elapsed_ms));
            }
            let report = Report {
                generation: target.generation,
                outcome,
                transition,
                healthy: damper.healthy(),
                passes: damper.passes(),
            };
            if reports.send(report).await.is_err() {
                return;
            }
            let delay = next_delay(damper.healthy(), pass, &mut retry, schedule.interval);
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                r = targets.changed() => { if r.is_err() { return; } break; }
            }
        }
    }
}

#[cfg(test)]
mod tests;
