//! The PENDING window after our own mutations. Every accepted (202) mutation puts the load
//! balancer in PENDING_UPDATE for a while, only ACTIVE accepts the next one, and the way to know
//! is to poll `GET /loadbalancers/{id}` until ACTIVE (API reference §2). The client records when
//! each mutation was accepted and every status it reads back, and keeps the length of the last
//! window it saw end (the 202 to the first ACTIVE read), so a caller waiting for ACTIVE looks once
//! at the expected end and, while still PENDING past it, backs off from a short step: a steady
//! window costs one look (now and then two), and the few GETs of the client's budget (3/s, 5 in
//! any second) are not spread over the window.
//!
//! A first look already ACTIVE means the window may have got shorter: the estimate shrinks by a
//! step that doubles with each such window in a row (5, 10, 20 ms, ...; at most a quarter), so a
//! much shorter window is re-learned in a few mutations. Pure: times are arguments.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// Never wait longer than this for one poll, whatever was learned.
pub const MAX_POLL_DELAY: Duration = Duration::from_secs(10);
/// The first poll interval with nothing learned yet (then half the time since the mutation).
const MIN_POLL: Duration = Duration::from_millis(100);
/// The first poll interval after a PENDING look at or past the expected end (then half the time
/// past it).
const STEP: Duration = Duration::from_millis(12);
/// The first shrink of the estimate after a first look that was already ACTIVE.
const SHRINK: Duration = Duration::from_millis(5);
/// A learned window is capped here (a stuck load balancer must not teach minutes).
const MAX_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Open {
    mutated_at: Instant,
    /// The latest time since the mutation at which the load balancer was still seen pending.
    pending_seen: Option<Duration>,
}

/// Open windows per load balancer and the learned window length.
#[derive(Debug, Default)]
pub struct PendingWindows {
    open: HashMap<u64, Open>,
    learned: Option<Duration>,
    /// Windows in a row whose first look was already ACTIVE (the estimate may be too long).
    early_in_a_row: u32,
}

impl PendingWindows {
    /// An accepted mutation of `lb` at `now`.
    pub fn mutated(&mut self, lb: u64, now: Instant) {
        self.open.insert(
            lb,
            Open {
                mutated_at: now,
                pending_seen: None,
            },
        );
    }

    /// `lb` was read at `now`; `accepts_changes` is true for ACTIVE.
    pub fn observed(&mut self, lb: u64, accepts_changes: bool, now: Instant) {
        let Some(open) = self.open.get_mut(&lb) else {
            return;
        };
        let elapsed = now.saturating_duration_since(open.mutated_at);
        if !accepts_changes {
            open.pending_seen = Some(elapsed);
            return;
        }
        let window = match (open.pending_seen, self.learned) {
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
        self.learned = Some(window.min(MAX_WINDOW));
        self.open.remove(&lb);
    }

    /// The learned length of a PENDING window, once one was seen end.
    pub fn learned(&self) -> Option<Duration> {
        self.learned
    }

    /// How long to wait before the next look at `lb` while waiting for it to accept changes:
    /// zero with no mutation of ours in flight; with nothing learned yet, half the time since the
    /// mutation (at least 100 ms); else until the learned window ends, and after a PENDING look
    /// at or past that end, half the time past it (at least 12 ms). At most 10 s.
    pub fn suggested_delay(&self, lb: u64, now: Instant) -> Duration {
        let Some(open) = self.open.get(&lb) else {
            return Duration::ZERO;
        };
        let elapsed = now.saturating_duration_since(open.mutated_at);
        let delay = match self.learned {
            None => (elapsed / 2).max(MIN_POLL),
            Some(w) if open.pending_seen.is_none_or(|p| p < w) => w.saturating_sub(elapsed),
            Some(w) => (elapsed.saturating_sub(w) / 2).max(STEP),
        };
        delay.min(MAX_POLL_DELAY)
    }
}

#[cfg(test)]
mod tests;
