//! Figure 9: the metrics port under abuse (issue 22). One `sidekick host` with `--metrics-addr`;
//! 1 000 idle connections and 50 slowloris clients are held open against it (reopened whenever
//! it closes them, `testkit::abuse`) while `/healthz` is asked every 50 ms on a new connection,
//! as a liveness probe would. Measured: the probe's latency (connect to last byte) before and
//! during the abuse, the probes that failed, and the agent's RSS growth (VmRSS at 1 Hz during
//! the abuse against the median before it).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::stats::{percentile, summarize, Summary};
use super::sys::rss;
use super::Plan;
use testkit::abuse::Abuse;
use testkit::etcd::Etcd;

pub const IDLE: usize = 1000;
pub const SLOW: usize = 50;
const PROBE_EVERY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Serialize)]
pub struct AbuseFigure {
    pub before_ms: Option<Summary>,
    pub before_p99_ms: Option<f64>,
    pub during_ms: Option<Summary>,
    pub during_p99_ms: Option<f64>,
    pub probes: usize,
    pub failed: usize,
    pub rss_before_kb: f64,
    pub rss_max_kb: f64,
    /// The same for the anonymous part (heap; the rest is mostly the executable's pages, some
    /// touched for the first time by the abuse).
    pub anon_before_kb: f64,
    pub anon_max_kb: f64,
    /// Abusive connections the agent closed and the clients reopened.
    pub reopened: usize,
    pub secs: f64,
}

impl AbuseFigure {
    pub fn rss_growth_kb(&self) -> f64 {
        self.rss_max_kb - self.rss_before_kb
    }
}

/// Probes `/healthz` every 50 ms for `window`: (latencies in ms, failures, RSS samples in kB as
/// (VmRSS, RssAnon)).
fn probe(port: u16, pid: u32, window: Duration) -> (Vec<f64>, usize, Vec<(f64, f64)>) {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let (mut lat, mut failed, mut rss_kb) = (Vec::new(), 0, Vec::new());
    let t0 = Instant::now();
    let mut next_rss = t0;
    let mut next = t0;
    while t0.elapsed() < window {
        if Instant::now() >= next_rss {
            rss_kb.extend(rss(pid).map(|r| (r.rss as f64, r.anon as f64)));
            next_rss += Duration::from_secs(1);
        }
        let t = Instant::now();
        match testkit::docker::http_get_at(
            addr,
            "/healthz",
            Duration::from_secs(2),
            Duration::from_secs(2),
        ) {
            Ok((200, _)) => lat.push(t.elapsed().as_secs_f64() * 1e3),
            _ => failed += 1,
        }
        next += PROBE_EVERY;
        super::sys::sleep_until(next);
    }
    (lat, failed, rss_kb)
}

pub fn run(plan: &Plan) -> Result<AbuseFigure, String> {
    let etcd = Etcd::start();
    let port = testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    // No container carries this label: the agent only serves its port and watches Docker.
    let filter = format!(
        "sidekick-bench.none={}",
        testkit::docker::unique_name("abuse")
    );
    let args =
        testkit::agent::host_args(&etcd.sidekick_args(), &filter, &["--metrics-addr", &addr]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let agent = super::sys::spawn_sidekick(&argv, &[]);
    testkit::wait_until(Duration::from_secs(20), "/healthz answers", || {
        matches!(testkit::docker::http_get(port, "/healthz"), Ok((200, _)))
    });
    std::thread::sleep(plan.settle);
    let window = if plan.quick {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(30)
    };
    let (before, _, rss_before) = probe(port, agent.pid(), window / 3);
    let abuse = Abuse::start(port, IDLE, SLOW);
    let t = Instant::now();
    let (during, failed, rss_during) = probe(port, agent.pid(), window);
    let secs = t.elapsed().as_secs_f64();
    let reopened = abuse.reopened();
    drop(abuse);
    let median = |v: &[f64]| summarize(v).map(|s| s.median);
    Ok(AbuseFigure {
        before_ms: summarize(&before),
        before_p99_ms: percentile(&before, 99.0),
        during_ms: summarize(&during),
        during_p99_ms: percentile(&during, 99.0),
        probes: during.len() + failed,
        failed,
        rss_before_kb: median(&rss_before.iter().map(|r| r.0).collect::<Vec<_>>())
            .ok_or("no RSS sample before the abuse")?,
        rss_max_kb: rss_during.iter().map(|r| r.0).fold(0.0, f64::max),
        anon_before_kb: median(&rss_before.iter().map(|r| r.1).collect::<Vec<_>>())
            .ok_or("no RSS sample before the abuse")?,
        anon_max_kb: rss_during.iter().map(|r| r.1).fold(0.0, f64::max),
        reopened,
        secs,
    })
}
