//! The rolling deploy's two observers: [`Load`], a bounded load generator (two threads, a plain
//! HTTP/1.0 GET on a new connection each, paced to a fixed rate) counting answered and failed
//! requests per second; and [`Sampler`], which reads nginx's upstream file every 100 ms and
//! counts its members and those whose container is already dead.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use testkit::docker::http_get_at;

const THREADS: u32 = 2;
const CONNECT: Duration = Duration::from_secs(1);
const IO: Duration = Duration::from_secs(2);
const SAMPLE: Duration = Duration::from_millis(100);

/// One second of load: `t_s` is its start, in seconds since the first step.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Second {
    pub t_s: i64,
    /// 2xx answers.
    pub ok: u64,
    /// Any other status, a refused or reset connection, or a timeout.
    pub failed: u64,
}

/// One read of the upstream file.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub t_s: f64,
    pub members: usize,
    /// Members whose container was already stopped (dead) at that moment.
    pub stale: usize,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<(u64, u64)>>>,
    baseline_secs: u64,
}

impl Load {
    /// Starts sending `rate` requests per second in all to `addr`, counted per second from
    /// `baseline_secs` before `t0`.
    pub fn start(addr: SocketAddr, t0: Instant, baseline_secs: u64, rate: u32) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let origin = t0 - Duration::from_secs(baseline_secs);
        let period = Duration::from_secs(1) * THREADS / rate.max(1);
        let threads = (0..THREADS)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || generate(addr, origin, period, &stop))
            })
            .collect();
        Load {
            stop,
            threads,
            baseline_secs,
        }
    }

    /// Stops the threads and merges their counts.
    pub fn stop(self) -> Vec<Second> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<(u64, u64)> = Vec::new();
        for t in self.threads {
            let counts = t.join().unwrap_or_default();
            if all.len() < counts.len() {
                all.resize(counts.len(), (0, 0));
            }
            for (i, (ok, failed)) in counts.into_iter().enumerate() {
                all[i].0 += ok;
                all[i].1 += failed;
            }
        }
        all.into_iter()
            .enumerate()
            .map(|(i, (ok, failed))| Second {
                t_s: i as i64 - self.baseline_secs as i64,
                ok,
                failed,
            })
            .collect()
    }
}

/// One thread: a request every `period` (never a burst to catch up), counted in the second
/// since `origin` in which it ended.
fn generate(
    addr: SocketAddr,
    origin: Instant,
    period: Duration,
    stop: &AtomicBool,
) -> Vec<(u64, u64)> {
    let mut counts: Vec<(u64, u64)> = Vec::new();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let ok = matches!(http_get_at(addr, "/", CONNECT, IO), Ok((200..=299, _)));
        let sec = origin.elapsed().as_secs() as usize;
        if counts.len() <= sec {
            counts.resize(sec + 1, (0, 0));
        }
        if ok {
            counts[sec].0 += 1;
        } else {
            counts[sec].1 += 1;
        }
        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    counts
}

pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Reads upstream `name` in `file` every 100 ms; `dead` holds the host ports of containers
    /// already stopped. Times are seconds since `t0`.
    pub fn start(
        file: PathBuf,
        name: &'static str,
        t0: Instant,
        dead: Arc<Mutex<BTreeSet<u16>>>,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut out = Vec::new();
            let mut next = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                let servers = sidekick::nginx::parse(name, &text).servers;
                let stale = dead
                    .lock()
                    .map(|d| servers.iter().filter(|a| d.contains(&a.port())).count())
                    .unwrap_or(0);
                let now = Instant::now();
                let t_s = if now >= t0 {
                    (now - t0).as_secs_f64()
                } else {
                    -(t0 - now).as_secs_f64()
                };
                out.push(Sample {
                    t_s,
                    members: servers.len(),
                    stale,
                });
                next += SAMPLE;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            out
        });
        Sampler { stop, thread }
    }

    pub fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// What the report says about one run: totals, and how long the upstream held fewer than `n`
/// members or a dead one (each sample counts until the next).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    pub ok: u64,
    pub failed: u64,
    pub below_n_s: f64,
    pub stale_s: f64,
    pub min_members: usize,
    pub max_members: usize,
}

pub fn tally(per_second: &[Second], members: &[Sample], n: usize) -> Tally {
    let mut t = Tally {
        ok: per_second.iter().map(|s| s.ok).sum(),
        failed: per_second.iter().map(|s| s.failed).sum(),
        min_members: members.iter().map(|s| s.members).min().unwrap_or(0),
        max_members: members.iter().map(|s| s.members).max().unwrap_or(0),
        ..Default::default()
    };
    for w in members.windows(2) {
        let dt = w[1].t_s - w[0].t_s;
        if w[0].members < n {
            t.below_n_s += dt;
        }
        if w[0].stale > 0 {
            t.stale_s += dt;
        }
    }
    t
}
