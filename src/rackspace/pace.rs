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
mod tests {
    use super::*;

    #[test]
    fn bursts_up_to_the_allowance_then_spaces_by_the_sliding_second() {
        let t0 = Instant::now();
        let mut w = VecDeque::new();
        let waits: Vec<Duration> = (0..12).map(|_| book(&mut w, 9, 599, t0)).collect();
        assert!(waits[..9].iter().all(|d| d.is_zero()), "{waits:?}");
        assert_eq!(
            waits[9], SECOND,
            "the tenth waits until the first leaves the window"
        );
        assert_eq!(waits[10], SECOND);
        // Never more than 9 booked in any one-second window.
        let mut times: Vec<Instant> = w.iter().copied().collect();
        times.sort();
        for (i, t) in times.iter().enumerate() {
            assert!(times[i..].iter().take_while(|u| **u < *t + SECOND).count() <= 9);
        }
    }

    #[test]
    fn spaced_requests_never_wait() {
        let t0 = Instant::now();
        let mut w = VecDeque::new();
        for i in 0..50u32 {
            assert!(book(&mut w, 9, 599, t0 + Duration::from_millis(150) * i).is_zero());
        }
    }

    #[test]
    fn the_minute_allowance_holds_too() {
        let t0 = Instant::now();
        let mut w = VecDeque::new();
        let mut last = Duration::ZERO;
        for i in 0..5u32 {
            last = book(&mut w, 100, 4, t0 + Duration::from_millis(10) * i);
        }
        assert!(last >= Duration::from_secs(59), "{last:?}");
        assert!(allowance("PATCH").is_none());
        assert_eq!(allowance("DELETE"), Some((4, 299)));
    }
}
