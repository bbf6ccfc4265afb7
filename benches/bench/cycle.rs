//! One measured stop/start cycle of a followed container, the same for `sidekick run` and for the
//! 2014 shell loop: registration = Docker's `start` event (`timeNano`) to the watcher's receipt of
//! the last of the five PUTs; deregistration = just before the stop request to the receipt of
//! the DELETE that leaves the last of the five keys absent for good, with Docker's `kill` and
//! `die` events around it.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::dockerapi::{self, Events};
use super::sys::{wall_ns, Anchor};
use testkit::etcd::{WatchEvent, Watcher};

/// The five fields, from the codec `run` writes with.
pub use sidekick::registry::FIELDS;

#[derive(Debug, Clone, Serialize)]
pub struct RegSample {
    pub latency_ms: f64,
    pub start_event_ns: i64,
    /// Receipt of the first and of the last of the five PUTs (wall clock).
    pub first_put_ns: i64,
    pub last_put_ns: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeregSample {
    pub latency_ms: f64,
    pub stop_request_ns: i64,
    /// Docker's `kill` event (SIGTERM sent) after the request.
    pub kill_ms: Option<f64>,
    /// `die` minus the moment the keys were gone: positive = deregistered before the death.
    pub margin_ms: f64,
    /// The keys were already absent when the stop was asked (a lease lapse of the shell loop).
    pub absent_at_request: bool,
}

/// What one measured cycle needs.
pub struct Rig<'a> {
    pub container_id: &'a str,
    pub watcher: &'a Watcher,
    pub events: &'a Events,
    /// e.g. `/services/web/web01`
    pub key: &'a str,
    /// Another engine's API socket (Podman's); None: Docker's.
    pub socket: Option<&'a str>,
}

fn field_of<'e>(key: &str, e: &'e WatchEvent) -> Option<&'e str> {
    let rest = e.key.strip_prefix(key)?.strip_prefix('/')?;
    FIELDS.contains(&rest).then_some(rest)
}

impl Rig<'_> {
    /// The last recorded event of each field (None: never seen).
    fn last_events(&self) -> Vec<Option<WatchEvent>> {
        let evs = self.watcher.events();
        FIELDS
            .iter()
            .map(|f| {
                evs.iter()
                    .rev()
                    .find(|e| field_of(self.key, e) == Some(f))
                    .cloned()
            })
            .collect()
    }

    /// All five keys present (their last events are PUTs).
    pub fn registered(&self) -> bool {
        self.last_events()
            .iter()
            .all(|e| e.as_ref().is_some_and(|e| e.is_put()))
    }

    /// No key present (each last event is a DELETE, or there was none).
    pub fn gone(&self) -> bool {
        self.last_events()
            .iter()
            .all(|e| e.as_ref().is_none_or(|e| e.is_delete()))
    }

    /// Polls `f` every 2 ms up to `deadline`.
    fn wait(&self, deadline: Duration, f: impl Fn(&Self) -> bool) -> bool {
        let start = Instant::now();
        while start.elapsed() < deadline {
            if f(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        f(self)
    }

    pub fn wait_registered(&self, deadline: Duration) -> bool {
        self.wait(deadline, Self::registered)
    }

    /// Starts the (stopped) container and measures until the five keys are written.
    pub fn measure_start(&self, deadline: Duration) -> Result<RegSample, String> {
        let mark = self.watcher.len();
        let ev_mark = self.events.len();
        let anchor = Anchor::now();
        match self.socket {
            Some(sock) => dockerapi::start_at(sock, self.container_id)?,
            None => dockerapi::start(self.container_id)?,
        }
        let start = self
            .events
            .wait_for(ev_mark, "start", Duration::from_secs(10))
            .ok_or("no docker start event within 10 s")?;
        let all_put = |r: &Self| {
            let evs = r.watcher.events_since(mark);
            FIELDS.iter().all(|f| {
                evs.iter()
                    .any(|e| e.is_put() && field_of(r.key, e) == Some(f))
            })
        };
        if !self.wait(deadline, all_put) {
            return Err(format!(
                "the five keys were not all written within {deadline:?} of the start"
            ));
        }
        let evs = self.watcher.events_since(mark);
        let firsts: Vec<i64> = FIELDS
            .iter()
            .filter_map(|f| {
                evs.iter()
                    .find(|e| e.is_put() && field_of(self.key, e) == Some(f))
                    .map(|e| anchor.wall_of(e.at))
            })
            .collect();
        let last = firsts.iter().copied().max().unwrap_or(0);
        let first = firsts.iter().copied().min().unwrap_or(0);
        Ok(RegSample {
            latency_ms: (last - start.time_nano) as f64 / 1e6,
            start_event_ns: start.time_nano,
            first_put_ns: first,
            last_put_ns: last,
        })
    }

    /// `docker stop -t stop_secs` of the (running, registered) container; measures until the
    /// keys are gone for good (waiting up to `deadline` after the container died).
    pub fn measure_stop(&self, stop_secs: u32, deadline: Duration) -> Result<DeregSample, String> {
        let mark = self.watcher.len();
        let ev_mark = self.events.len();
        let anchor = Anchor::now();
        let t0 = wall_ns();
        match self.socket {
            Some(sock) => dockerapi::stop_at(sock, self.container_id, stop_secs)?,
            None => dockerapi::stop(self.container_id, stop_secs)?,
        }
        let die = self
            .events
            .wait_for(ev_mark, "die", Duration::from_secs(10))
            .ok_or("no docker die event after the stop")?;
        let kill = self.events.find(ev_mark, "kill");
        if !self.wait(deadline, Self::gone) {
            return Err(format!(
                "keys still present {deadline:?} after the container died"
            ));
        }
        // The moment the last key went: the latest DELETE after the request (each field's last
        // event is a DELETE now, so no PUT follows it).
        let evs = self.watcher.events_since(mark);
        let gone_at = evs
            .iter()
            .filter(|e| e.is_delete() && field_of(self.key, e).is_some())
            .map(|e| anchor.wall_of(e.at))
            .max();
        let (gone_ns, absent) = match gone_at {
            Some(ns) => (ns, false),
            None => (t0, true),
        };
        Ok(DeregSample {
            latency_ms: (gone_ns - t0) as f64 / 1e6,
            stop_request_ns: t0,
            kill_ms: kill.map(|k| (k.time_nano - t0) as f64 / 1e6),
            margin_ms: (die.time_nano - gone_ns) as f64 / 1e6,
            absent_at_request: absent,
        })
    }
}
