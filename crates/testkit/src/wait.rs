//! Deadline-bounded polling. Every wait here ends: at its deadline it panics naming what it waited
//! for, and the number of polls is bounded by deadline / interval.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often conditions are polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

fn max_polls(deadline: Duration) -> u64 {
    // Polls can take time themselves; the elapsed-time check ends the loop first in practice.
    deadline.as_millis() as u64 / POLL_INTERVAL.as_millis() as u64 + 2
}

/// Polls `f` every 20 ms until it returns true; panics with `what` after `deadline`.
pub fn wait_until(deadline: Duration, what: &str, f: impl FnMut() -> bool) {
    if !poll_until(deadline, f) {
        panic!("timed out after {deadline:?} waiting for {what}");
    }
}

/// Polls `f` every 20 ms until it returns true; false if `deadline` passed first (so the caller
/// can fail with its own context, e.g. the agent's logs).
pub fn poll_until(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    for _ in 0..max_polls(deadline) {
        if f() {
            return true;
        }
        if start.elapsed() >= deadline {
            break;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    f()
}

/// Polls `f` until it returns `Some`; panics with `what` after `deadline`.
pub fn wait_for_value<T>(deadline: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let mut out = None;
    wait_until(deadline, what, || {
        out = f();
        out.is_some()
    });
    out.expect("wait_until returned, so the value is set")
}

/// Async version of [`wait_until`]: awaits `f()` every 20 ms until it yields true.
pub async fn wait_until_async<F, Fut>(deadline: Duration, what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    for _ in 0..max_polls(deadline) {
        let left = deadline.saturating_sub(start.elapsed()).max(POLL_INTERVAL);
        if let Ok(true) = tokio::time::timeout(left, f()).await {
            return;
        }
        if start.elapsed() >= deadline {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    panic!("timed out after {deadline:?} waiting for {what}");
}
