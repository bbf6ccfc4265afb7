//! Learning how long a load balancer stays PENDING_UPDATE after one of our mutations, so a caller
//! waiting for ACTIVE sleeps through the window and spends its few GETs (3/s, 5 in any second)
//! right at the window's expected end instead of spreading them over it.
//!
//! The client records the time of every accepted (202) mutation per load balancer and every
//! status it reads back. The first accepting status (ACTIVE) after a mutation ends the window.
//! When a PENDING look came before it, the end lies between the two looks and the ACTIVE look's
//! time becomes the learned window (the looks are at most one short step apart, so it is tight).
//! When the very first look was already ACTIVE, the window may have got shorter: the estimate
//! shrinks by a small step that doubles with every such window in a row (5, 10, 20 ms, ...; at
//! most a quarter), so a much shorter window is re-learned in a few mutations while a steady one
//! only swings by a few milliseconds. Pure: times are arguments.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// Never wait longer than this for one poll, whatever was learned.
pub const MAX_POLL_DELAY: Duration = Duration::from_secs(10);
/// The shortest poll interval once well past the expected end of the window (or with nothing
/// learned yet).
const MIN_POLL: Duration = Duration::from_millis(100);
/// The poll interval after a PENDING look close to the expected end of the window.
const STEP: Duration = Duration::from_millis(12);
/// Short steps continue this far past the expected end (at least; an eighth of the window for
/// long ones); a window still PENDING after that turned out longer and gets growing intervals.
const STEP_ZONE: Duration = Duration::from_millis(60);
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
    /// zero with no mutation of ours in flight; otherwise until the learned window ends; after a
    /// PENDING look near that end, short steps (12 ms); well past it (or with nothing learned)
    /// half the time since the mutation, at least 100 ms (few looks at a window that turned out
    /// longer, little latency at a short one).
    pub fn suggested_delay(&self, lb: u64, now: Instant) -> Duration {
        let Some(open) = self.open.get(&lb) else {
            return Duration::ZERO;
        };
        let elapsed = now.saturating_duration_since(open.mutated_at);
        let growing = (elapsed / 2).max(MIN_POLL);
        let delay = match self.learned {
            Some(w) if open.pending_seen.is_none() => w.saturating_sub(elapsed),
            Some(w) if elapsed < w + STEP_ZONE.max(w / 8) => match open.pending_seen {
                // Seen pending before the expected end: look again at it.
                Some(p) if p + STEP < w => (w - elapsed).max(STEP),
                _ => STEP,
            },
            _ => growing,
        };
        delay.min(MAX_POLL_DELAY)
    }
}

#[cfg(test)]
mod tests;
