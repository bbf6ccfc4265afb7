//! When to look at the load balancer while waiting for it to accept changes (ACTIVE) again.
//! Every accepted (202) mutation puts it in PENDING_UPDATE for a while, only ACTIVE accepts the
//! next one, and the way to know is to poll `GET /loadbalancers/{id}` (API reference §2).
//!
//! After a mutation of ours, the first look is where the last window of ours ended (the 202 to
//! the first ACTIVE read); while still PENDING past it, the looks back off from a short step. A
//! steady window costs one look (now and then two), so the few GETs of the client's budget (3/s,
//! 5 in any second) are not spread over the window. A first look already ACTIVE means the window
//! may have got shorter: the estimate shrinks by a step that doubles with each such window in a
//! row (5, 10, 20 ms, ...; at most a quarter), so a much shorter window is re-learned in a few
//! mutations. A window that is not ours (or before anything was learned) is polled at half the
//! time waited so far, at least 100 ms. Pure: times are arguments.

use std::time::Duration;

/// Never wait longer than this for one look.
pub const MAX_POLL: Duration = Duration::from_secs(2);
/// The first look with nothing learned (then half the time waited so far).
const MIN_POLL: Duration = Duration::from_millis(100);
/// The first look after a PENDING look at or past the expected end (then half the time past it).
const STEP: Duration = Duration::from_millis(12);
/// The first shrink of the estimate after a first look that was already ACTIVE.
const SHRINK: Duration = Duration::from_millis(5);

/// The length of our last PENDING window, as learned.
#[derive(Debug, Default)]
pub struct PendingWindow {
    learned: Option<Duration>,
    /// Windows in a row whose first look was already ACTIVE (the estimate may be too long).
    early_in_a_row: u32,
}

impl PendingWindow {
    /// How long to wait before the next look, `elapsed` after the wait began (at our accepted
    /// mutation when `ours`); `pending_seen` is when the last look still found it PENDING.
    pub fn delay(&self, ours: bool, elapsed: Duration, pending_seen: Option<Duration>) -> Duration {
        let delay = match self.learned.filter(|_| ours) {
            None => (elapsed / 2).max(MIN_POLL),
            Some(w) if pending_seen.is_none_or(|p| p < w) => w.saturating_sub(elapsed),
            Some(w) => (elapsed.saturating_sub(w) / 2).max(STEP),
        };
        delay.min(MAX_POLL)
    }

    /// Our mutation's window ended: ACTIVE was read `elapsed` after it.
    pub fn ended(&mut self, elapsed: Duration, pending_seen: Option<Duration>) {
        let window = match (pending_seen, self.learned) {
            (None, Some(w)) => {
                let shrink = (SHRINK * (1 << self.early_in_a_row.min(16))).min(w / 4);
                self.early_in_a_row = self.early_in_a_row.saturating_add(1);
                elapsed.min(w).saturating_sub(shrink)
            }
            _ => {
                self.early_in_a_row = 0;
                elapsed
            }
        };
        self.learned = Some(window);
    }
}

#[cfg(test)]
mod tests;
