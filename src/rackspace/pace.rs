//! Client-side pacing, so lbsync leaves most of the account's shared rate limit to other tools.
//!
//! - GET: a budget of 3 per second sustained with bursts of 5, and never more than 5 in any one
//!   second (a GCRA token bucket plus a sliding window of 1.01 s, a margin for jitter between our
//!   send times and the server's arrival times). After an idle spell the bucket
//!   is full, so the first GET goes out at once; polling for ACTIVE in a tight loop gets slowed to
//!   3/s instead of reaching the API's 10/s.
//! - POST, PUT, DELETE: one under the documented per-method limits (PUT 10/s and 600/min, POST and
//!   DELETE 5/s and 300/min), so clock skew between us and the API's limiter does not matter.
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
const MINUTE: Duration = Duration::from_secs(60);

/// Sustained GETs per second.
pub const GET_RATE: u32 = 3;
/// GETs allowed at once after an idle spell, and in any one second.
pub const GET_BURST: u32 = 5;

/// Requests allowed per second and per minute for a non-GET `method`, one under the documented
/// limits.
pub fn allowance(method: &str) -> Option<(usize, usize)> {
    match method {
        "PUT" => Some((9, 599)),
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

/// The GET budget: a GCRA token bucket (`rate` per second, `burst` at once) and a sliding window
/// of at most `burst` sends in any one second. Bookings are monotonic, so the window only needs
/// the last `burst` send times.
#[derive(Debug)]
pub struct GetBudget {
    interval: Duration,
    tolerance: Duration,
    burst: usize,
    /// Theoretical arrival time of the next request at the sustained rate.
    tat: Option<Instant>,
    recent: VecDeque<Instant>,
}

impl GetBudget {
    pub fn new(rate: u32, burst: u32) -> GetBudget {
        let interval = SECOND / rate.max(1);
        GetBudget {
            interval,
            tolerance: interval * burst.max(1).saturating_sub(1),
            burst: burst.max(1) as usize,
            tat: None,
            recent: VecDeque::new(),
        }
    }

    /// Books one GET wanted at `now`; returns how long to wait before sending it.
    pub fn book(&mut self, now: Instant) -> Duration {
        let mut at = now;
        if let Some(tat) = self.tat {
            at = at.max(tat.checked_sub(self.tolerance).unwrap_or(tat));
        }
        if self.recent.len() >= self.burst {
            at = at.max(self.recent[self.recent.len() - self.burst] + GET_WINDOW);
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

impl Default for GetBudget {
    fn default() -> Self {
        GetBudget::new(GET_RATE, GET_BURST)
    }
}

#[derive(Debug, Default)]
struct Books {
    get: GetBudget,
    windows: HashMap<String, VecDeque<Instant>>,
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
        let at = now + blocked;
        let wait = if method == "GET" {
            books.get.book(at)
        } else if let Some((per_second, per_minute)) = allowance(method) {
            let window = books.windows.entry(method.to_string()).or_default();
            book(window, per_second, per_minute, at)
        } else {
            Duration::ZERO
        };
        blocked + wait
    }

    /// The API asked to wait `retry_after` before sending `method` again.
    pub fn hold(&self, method: &str, retry_after: Duration) {
        let until = Instant::now() + retry_after.min(MINUTE * 5);
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
