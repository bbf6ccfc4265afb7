//! Learning how long a load balancer stays PENDING_UPDATE after one of our mutations, so a caller
//! waiting for ACTIVE can sleep through most of the window instead of polling it.
//!
//! The client records the time of every accepted (202) mutation per load balancer and every
//! status it reads back. The first accepting status (ACTIVE) after a mutation ends the window:
//! its length becomes the learned window (the last PENDING sighting and the ACTIVE sighting
//! bracket it; when the very first look was already ACTIVE, the estimate shrinks by a quarter so
//! a window that got shorter is re-learned). Pure: times are arguments.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// Never wait longer than this for one poll, whatever was learned.
pub const MAX_POLL_DELAY: Duration = Duration::from_secs(10);
/// The shortest poll interval once past the expected end of the window.
const MIN_POLL: Duration = Duration::from_millis(100);
/// A learned window is capped here (a stuck load balancer must not teach minutes).
const MAX_WINDOW: Duration = Duration::from_secs(60);
/// Added to the expected end of the window, so the poll lands just after it.
const MARGIN: Duration = Duration::from_millis(20);

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
        let window = match open.pending_seen {
            Some(_) => elapsed,
            None => match self.learned {
                Some(w) => elapsed.min(w) * 3 / 4,
                None => elapsed,
            },
        };
        self.learned = Some(window.min(MAX_WINDOW));
        self.open.remove(&lb);
    }

    /// The learned length of a PENDING window, once one was seen end.
    pub fn learned(&self) -> Option<Duration> {
        self.learned
    }

    /// How long to wait before the next look at `lb` while waiting for it to accept changes:
    /// zero with no mutation of ours in flight; otherwise until just after the learned window
    /// ends, and past it (or with nothing learned) half the time since the mutation, at least
    /// 100 ms (few looks at a window that turned out longer, little latency at a short one).
    pub fn suggested_delay(&self, lb: u64, now: Instant) -> Duration {
        let Some(open) = self.open.get(&lb) else {
            return Duration::ZERO;
        };
        let elapsed = now.saturating_duration_since(open.mutated_at);
        let delay = match self.learned {
            Some(w) if elapsed < w && open.pending_seen.is_none_or(|p| p < w) => {
                w - elapsed + MARGIN
            }
            _ => (elapsed / 2).max(MIN_POLL),
        };
        delay.min(MAX_POLL_DELAY)
    }
}

#[cfg(test)]
mod tests;
