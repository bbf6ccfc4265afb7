//! Client-side pacing under the API's documented per-method rate limits (GET and PUT 10/s and
//! 600/min, POST and DELETE 5/s and 300/min), one request under each so clock skew between us and
//! the API's limiter does not matter. A reconcile that polls for ACTIVE then never draws a 413;
//! the 413 handling stays for limits shared with other clients of the same account.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// Requests allowed per second and per minute for `method`, one under the documented limits.
pub fn allowance(method: &str) -> Option<(usize, usize)> {
    match method {
        "GET" | "PUT" => Some((9, 599)),
        "POST" | "DELETE" => Some((4, 299)),
        _ => None,
    }
}

/// Pure: when the next request may go out given the send times already booked in `window`
/// (oldest first), and books it. Returns how long to wait from `now`.
pub fn book(
    window: &mut VecDeque<Instant>,
    per_second: usize,
    per_minute: usize,
    now: Instant,
) -> Duration {
    while window
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
    {
        window.pop_front();
    }
    let mut at = now;
    if window.len() >= per_minute {
        at = at.max(window[window.len() - per_minute] + MINUTE);
    }
    // Booked times may lie in the future; count those within a second before `at`.
    loop {
        let recent: Vec<&Instant> = window.iter().filter(|t| **t + SECOND > at).collect();
        if recent.len() < per_second {
            break;
        }
        let oldest = **recent.iter().min().unwrap_or(&&at);
        at = at.max(oldest + SECOND);
    }
    window.push_back(at);
    at.saturating_duration_since(now)
}

/// Per-method windows shared by every clone of a client.
#[derive(Debug, Default)]
pub struct Pacer {
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Pacer {
    /// Books a send of `method` and returns how long to wait before sending it.
    pub fn reserve(&self, method: &str) -> Duration {
        let Some((per_second, per_minute)) = allowance(method) else {
            return Duration::ZERO;
        };
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let window = windows.entry(method.to_string()).or_default();
        book(window, per_second, per_minute, Instant::now())
    }
}

#[cfg(test)]
mod tests;
