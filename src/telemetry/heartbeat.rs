//! Liveness of the main loops. Each loop holds a [`Pulse`] and selects on [`Pulse::tick`]: the tick
//! completes (and beats) only when the loop is back waiting in its `select!`, so a loop stuck in a
//! handler stops beating. [`Heartbeat::stale`] names a loop whose last beat is older than three
//! periods plus the longest step it declared; `/healthz` and the systemd watchdog read it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The beat period without a systemd watchdog.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(5);

/// The beat period: [`DEFAULT_PERIOD`], or shorter so that a stuck loop is noticed (three periods)
/// well within half the watchdog timeout.
pub fn period_for(watchdog: Option<Duration>) -> Duration {
    match watchdog {
        Some(w) => (w / 6).clamp(Duration::from_millis(50), DEFAULT_PERIOD),
        None => DEFAULT_PERIOD,
    }
}

struct Slot {
    name: &'static str,
    last: Instant,
    allowance: Duration,
}

/// The loops' last beats.
pub struct Heartbeat {
    period: Duration,
    next_id: AtomicU64,
    slots: Mutex<HashMap<u64, Slot>>,
}

impl Heartbeat {
    pub fn new(period: Duration) -> Heartbeat {
        Heartbeat {
            period,
            next_id: AtomicU64::new(0),
            slots: Mutex::new(HashMap::new()),
        }
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, name: &'static str, allowance: Duration) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            name,
            last: Instant::now(),
            allowance,
        };
        self.slots().insert(id, slot);
        id
    }

    fn beat(&self, id: u64, at: Instant) {
        if let Some(s) = self.slots().get_mut(&id) {
            s.last = at;
        }
    }

    fn remove(&self, id: u64) {
        self.slots().remove(&id);
    }

    /// The first loop that has not beaten for three periods plus its allowance, with how long.
    pub fn stale(&self, now: Instant) -> Option<(&'static str, Duration)> {
        let limit = self.period.saturating_mul(3);
        self.slots().values().find_map(|s| {
            let age = now.saturating_duration_since(s.last);
            (age > limit.saturating_add(s.allowance)).then_some((s.name, age))
        })
    }
}

/// One loop's beat; a no-op (its tick never completes) while telemetry is off.
pub struct Pulse {
    slot: Option<(u64, Instant)>,
}

impl Pulse {
    /// A loop named `name` whose single step may legitimately take up to `longest_step`
    /// (for example lbsync waiting for a load balancer to become ACTIVE).
    pub fn start(name: &'static str, longest_step: Duration) -> Pulse {
        let slot = super::heartbeat().map(|h| (h.add(name, longest_step), Instant::now()));
        Pulse { slot }
    }

    /// Completes one period after the last beat, beating; select on it in the loop.
    pub async fn tick(&mut self) {
        let (Some((id, last)), Some(h)) = (self.slot.as_mut(), super::heartbeat()) else {
            return std::future::pending().await;
        };
        tokio::time::sleep_until(*last + h.period()).await;
        *last = Instant::now();
        h.beat(*id, *last);
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        if let (Some((id, _)), Some(h)) = (self.slot, super::heartbeat()) {
            h.remove(id);
        }
    }
}
