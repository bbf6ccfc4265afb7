//! Capped exponential backoff with full jitter for every reconnect and retry loop, and
//! [`RetryLog`], which keeps such loops visible without flooding the log.

use std::fmt::Display;
use std::time::{Duration, Instant};

use tracing::{info, warn};

#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
    attempts: u32,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            next: first,
            attempts: 0,
        }
    }

    /// The next delay: uniformly random in [d/2, d], where d doubles up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.saturating_mul(2).min(self.cap);
        self.attempts = self.attempts.saturating_add(1);
        let half = d / 2;
        half + Duration::from_nanos(fastrand::u64(0..=(d - half).as_nanos() as u64))
    }

    /// How many delays were handed out since the last reset (for log lines).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn reset(&mut self) {
        self.next = self.first;
        self.attempts = 0;
    }
}

/// How often a failing or flapping retry loop says so.
pub const RETRY_LOG_EVERY: Duration = Duration::from_secs(60);

/// The log side of a retry loop: warns on the first failure and says once when the loop
/// recovers; after that, a loop that keeps failing or flapping (fail, recover, fail...) writes at
/// most one WARN and one INFO per [`RETRY_LOG_EVERY`], with the counts since the last line,
/// instead of a pair per failure.
#[derive(Debug)]
pub struct RetryLog {
    what: &'static str,
    /// Failures since the last success.
    failures: u64,
    /// Failures and recoveries not yet reported.
    unreported_failures: u64,
    unreported_recoveries: u64,
    last_warn: Option<Instant>,
    last_recovered: Option<Instant>,
}

impl RetryLog {
    pub fn new(what: &'static str) -> RetryLog {
        RetryLog {
            what,
            failures: 0,
            unreported_failures: 0,
            unreported_recoveries: 0,
            last_warn: None,
            last_recovered: None,
        }
    }

    /// Records a failure; returns whether it was logged.
    pub fn failed(&mut self, error: &dyn Display) -> bool {
        self.failures += 1;
        self.unreported_failures += 1;
        if self
            .last_warn
            .is_some_and(|t| t.elapsed() < RETRY_LOG_EVERY)
        {
            return false;
        }
        self.last_warn = Some(Instant::now());
        if self.unreported_failures > 1 || self.unreported_recoveries > 0 {
            warn!(what = self.what, error = %error, failures = self.failures, failures_since_last_line = self.unreported_failures, recoveries_since_last_line = self.unreported_recoveries, "still failing on and off; retrying with backoff");
        } else {
            warn!(what = self.what, error = %error, failures = self.failures, "failing; retrying with backoff");
        }
        self.unreported_failures = 0;
        self.unreported_recoveries = 0;
        true
    }

    /// Records a success; logs the recovery unless one was logged less than a period ago.
    pub fn succeeded(&mut self) -> bool {
        if self.failures == 0 {
            return false;
        }
        let failures = std::mem::take(&mut self.failures);
        self.unreported_recoveries += 1;
        if self
            .last_recovered
            .is_some_and(|t| t.elapsed() < RETRY_LOG_EVERY)
        {
            return false;
        }
        self.last_recovered = Some(Instant::now());
        info!(what = self.what, failures, "recovered");
        self.unreported_recoveries = 0;
        true
    }

    pub fn failures(&self) -> u64 {
        self.failures
    }
}

/// The start-up retry loop: runs `attempt` until it succeeds (`Ok(Some(_))`), fails with an
/// error `is_final` says no retry can fix (returned at once: a configuration error), or `stop`
/// resolves first (`Ok(None)`). Other failures go through a [`RetryLog`] named `what` and wait
/// the next `backoff` delay.
pub async fn retry_until_stopped<T, E, Fut>(
    what: &'static str,
    mut backoff: Backoff,
    stop: impl std::future::Future<Output = ()>,
    mut attempt: impl FnMut() -> Fut,
    is_final: impl Fn(&E) -> bool,
) -> Result<Option<T>, E>
where
    Fut: std::future::Future<Output = Result<T, E>>,
    E: Display,
{
    tokio::pin!(stop);
    let mut log = RetryLog::new(what);
    loop {
        match attempt().await {
            Ok(v) => {
                log.succeeded();
                return Ok(Some(v));
            }
            Err(e) if is_final(&e) => return Err(e),
            Err(e) => {
                log.failed(&e);
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = &mut stop => return Ok(None),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
