//! Client-side pacing, so lbsync leaves most of the account's shared rate limit to other tools.
//! One booking rule serves every method: a [`Budget`] of at most `burst` sends in any `window`,
//! and after a burst one per `interval` sustained (a GCRA token bucket; a zero interval leaves
//! only the window).
//!
//! - GET: 3 per second sustained with bursts of 5, and never more than 5 in any 1.01 s (a margin
//!   for jitter between our send times and the server's arrival times). After an idle spell the
//!   bucket is full, so the first GET goes out at once; polling for ACTIVE in a tight loop gets
//!   slowed to 3/s instead of reaching the API's 10/s.
//! - POST, PUT, DELETE: one under the documented per-second limits (PUT 10/s, POST and DELETE
//!   5/s), so clock skew between us and the API's limiter does not matter. That also keeps them
//!   under the per-minute limits (600 and 300 a minute are ten and five a second).
//! - A `Retry-After` from a 413 holds back every later request of that method until it passes.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);
/// The GET window a little over a second: the server counts by its arrival times, which jitter
/// against our send times by a few milliseconds, so exactly one second apart here can be 999 ms
/// apart there (seen in the emulator: a sixth GET 999 ms after the first of five).
const GET_WINDOW: Duration = Duration::from_millis(1010);
/// The longest `Retry-After` honoured.
const MAX_HOLD: Duration = Duration::from_secs(300);

/// Sustained GETs per second.
pub const GET_RATE: u32 = 3;
/// GETs allowed at once after an idle spell, and in any one second.
pub const GET_BURST: usize = 5;

/// The budget of `method`; `None` for a method that is not paced.
pub fn budget(method: &str) -> Option<Budget> {
    match method {
        "GET" => Some(Budget::new(SECOND / GET_RATE, GET_BURST, GET_WINDOW)),
        "PUT" => Some(Budget::new(Duration::ZERO, 9, SECOND)),
        "POST" | "DELETE" => Some(Budget::new(Duration::ZERO, 4, SECOND)),
        _ => None,
    }
}

/// At most `burst` sends in any `window`, and one per `interval` sustained. Bookings are
/// monotonic (sends go out in booking order), so the window only needs the last `burst` send
/// times.
#[derive(Debug)]
pub struct Budget {
    interval: Duration,
    tolerance: Duration,
    burst: usize,
    window: Duration,
    /// Theoretical arrival time of the next request at the sustained rate.
    tat: Option<Instant>,
    recent: VecDeque<Instant>,
}

impl Budget {
    pub fn new(interval: Duration, burst: usize, window: Duration) -> Budget {
        let burst = burst.max(1);
        Budget {
            interval,
            tolerance: interval * (burst as u32 - 1),
            burst,
            window,
            tat: None,
            recent: VecDeque::new(),
        }
    }

    /// Books one send wanted at `now`; returns how long to wait before sending it.
    pub fn book(&mut self, now: Instant) -> Duration {
        let mut at = now;
        if let Some(tat) = self.tat {
            at = at.max(tat.checked_sub(self.tolerance).unwrap_or(tat));
        }
        if self.recent.len() >= self.burst {
            at = at.max(self.recent[self.recent.len() - self.burst] + self.window);
        }
        if let Some(last) = self.recent.back() {
            at = at.max(*last);
        }
        self.tat = Some(self.tat.map_or(at, |t| t.max(at)) + self.interval);
        self.recent.push_back(at);
        while self.recent.len() > self.burst {
            self.recent.pop_front();
        }
        at.saturating_duration_since(now)
    }
}

#[derive(Debug, Default)]
struct Books {
    budgets: HashMap<String, Budget>,
    blocked_until: HashMap<String, Instant>,
}

/// The pacing state shared by every clone of a client.
#[derive(Debug, Default)]
pub struct Pacer {
    books: Mutex<Books>,
}

impl Pacer {
    /// Books a send of `method` and returns how long to wait before sending it.
    pub fn reserve(&self, method: &str) -> Duration {
        let now = Instant::now();
        let mut books = self.books.lock().unwrap_or_else(|p| p.into_inner());
        let blocked = books
            .blocked_until
            .get(method)
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        // Book as of the end of the block, so the budget is not spent during it.
        let wait = match budget(method) {
            Some(fresh) => books
                .budgets
                .entry(method.to_string())
                .or_insert(fresh)
                .book(now + blocked),
            None => Duration::ZERO,
        };
        blocked + wait
    }

    /// The API asked to wait `retry_after` before sending `method` again.
    pub fn hold(&self, method: &str, retry_after: Duration) {
        let until = Instant::now() + retry_after.min(MAX_HOLD);
        let mut books = self.books.lock().unwrap_or_else(|p| p.into_inner());
        let slot = books
            .blocked_until
            .entry(method.to_string())
            .or_insert(until);
        *slot = (*slot).max(until);
    }
}

#[cfg(test)]
mod tests;
