//! Figure 8: what `--metrics-addr` costs. Two `sidekick run` agents beside the same healthy
//! container, one without the flag and one with it and scraped every 15 s (Prometheus' default
//! interval), measured side by side over the same idle window so that machine noise hits both:
//! RSS (VmRSS at 1 Hz) and CPU (utime+stime and schedstat).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::footprint::{measure_process, Window};
use super::Plan;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::{Etcd, Watcher};

/// Prometheus' default scrape interval.
const SCRAPE_EVERY: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Serialize)]
pub struct MetricsFigure {
    pub off: Window,
    pub on: Window,
    /// Scrapes answered during the window, and the size of the last one.
    pub scrapes: usize,
    pub scrape_bytes: usize,
}

fn args(etcd: &Etcd, container: &str, key: &str, metrics: Option<&str>) -> Vec<String> {
    let extra: Vec<&str> = metrics
        .map(|a| vec!["--metrics-addr", a])
        .unwrap_or_default();
    testkit::agent::run_args(&etcd.sidekick_args(), container, key, &extra)
}

pub fn run(plan: &Plan) -> Result<MetricsFigure, String> {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let watcher = Watcher::start(&etcd.endpoints(), "/services/web/");
    let port = testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let spawn = |key: &str, metrics: Option<&str>| {
        let a = args(&etcd, web.name(), key, metrics);
        let argv: Vec<&str> = a.iter().map(String::as_str).collect();
        super::sys::spawn_sidekick(&argv, &[])
    };
    let off = spawn("/services/web/metrics-off", None);
    let on = spawn("/services/web/metrics-on", Some(&addr));
    for key in ["metrics-off", "metrics-on"] {
        let port_key = format!("/services/web/{key}/port");
        watcher
            .wait_for(|e| e.key == port_key, Duration::from_secs(20))
            .ok_or_else(|| format!("{key} never registered"))?;
    }
    std::thread::sleep(plan.settle);
    let stop = Arc::new(AtomicBool::new(false));
    let scraper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut n, mut bytes) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                if let Ok((200, body)) = testkit::docker::http_get(port, "/metrics") {
                    n += 1;
                    bytes = body.len();
                }
                let mut slept = Duration::ZERO;
                while slept < SCRAPE_EVERY && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    slept += Duration::from_millis(100);
                }
            }
            (n, bytes)
        })
    };
    let on_pid = on.pid();
    let window = plan.idle;
    let on_thread = std::thread::spawn(move || measure_process(on_pid, window));
    let off_w = measure_process(off.pid(), window);
    let on_w = on_thread
        .join()
        .map_err(|_| "the measuring thread panicked")?;
    stop.store(true, Ordering::Relaxed);
    let (scrapes, scrape_bytes) = scraper.join().map_err(|_| "the scraper panicked")?;
    Ok(MetricsFigure {
        off: off_w?,
        on: on_w?,
        scrapes,
        scrape_bytes,
    })
}
