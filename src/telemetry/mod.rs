//! Telemetry: Prometheus metrics and `/healthz` on `--metrics-addr` (`server`, `metrics`), the
//! main loops' heartbeat (`heartbeat`), and systemd's notify protocol with its watchdog
//! (`notify`; `READY=1`, `STATUS=`, `WATCHDOG=1`, `STOPPING=1`), and the bounded list a log line
//! names (`sample`).
//!
//! `main` calls [`start`] once per process; the rest of the code reports through the one-line
//! functions below (`telemetry::registered(&key, true)`, `telemetry::probe_observed(&outcome)`,
//! ...). Each is a no-op unless telemetry was started, which happens only with `--metrics-addr`
//! or under systemd (`NOTIFY_SOCKET`), so an agent without either pays nothing. What systemd is
//! told is decided purely in `summary`.

mod heartbeat;
mod metrics;
mod notify;
mod sample;
mod server;
mod summary;

pub use heartbeat::Pulse;
pub use metrics::{Metrics, MetricsError};
pub use sample::{sample, LOG_SAMPLE};
pub use summary::{probe_failure_reason, Summary};

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sd_notify::NotifyState;
use tokio::time::Instant;

use crate::health::Outcome;
use heartbeat::Heartbeat;

/// Which mode runs: decides the metric families and when `READY=1` is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Run,
    Host,
    Lbsync,
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// The cause is the `source`, printed after the message by `main` (not repeated in it).
    #[error("cannot listen on --metrics-addr {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What systemd was told, and registration timing.
struct Shared {
    summary: Summary,
    status_sent: String,
    ready_sent: bool,
    /// Per key: when Docker last reported the container while it was not registered.
    pending: HashMap<String, Instant>,
}

pub struct Telemetry {
    mode: Mode,
    metrics: Option<Metrics>,
    heartbeat: Heartbeat,
    notify: bool,
    shared: Mutex<Shared>,
}

static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();

fn get() -> Option<&'static Telemetry> {
    TELEMETRY.get()
}

fn metrics() -> Option<&'static Metrics> {
    get().and_then(|t| t.metrics.as_ref())
}

fn heartbeat() -> Option<&'static Heartbeat> {
    get().map(|t| &t.heartbeat)
}

/// Starts telemetry for `mode`: binds `metrics_addr` (when given) and serves it, and under
/// systemd starts the watchdog pings. Does nothing without either. Call once, inside the runtime.
pub async fn start(mode: Mode, metrics_addr: Option<SocketAddr>) -> Result<(), TelemetryError> {
    let notify = notify::enabled();
    if metrics_addr.is_none() && !notify {
        return Ok(());
    }
    let watchdog = notify.then(notify::watchdog).flatten();
    let listener = match metrics_addr {
        Some(addr) => Some(
            server::bind(addr)
                .await
                .map_err(|source| TelemetryError::Bind { addr, source })?,
        ),
        None => None,
    };
    let t = Telemetry {
        mode,
        metrics: metrics_addr.map(|_| Metrics::new(mode)).transpose()?,
        heartbeat: Heartbeat::new(heartbeat::period_for(watchdog)),
        notify,
        shared: Mutex::new(Shared {
            summary: Summary::new(mode),
            status_sent: String::new(),
            ready_sent: false,
            pending: HashMap::new(),
        }),
    };
    if TELEMETRY.set(t).is_err() {
        return Ok(());
    }
    let Some(t) = get() else { return Ok(()) };
    if let Some(listener) = listener {
        tokio::spawn(server::serve(listener, t));
    }
    if let Some(w) = watchdog {
        tokio::spawn(notify::watchdog_loop(t, w / 2));
    }
    t.update(|_| {});
    Ok(())
}

/// Resolves with `shutdown`, telling systemd `STOPPING=1` first: wrap the mode's shutdown future.
pub async fn stopping_on(shutdown: impl Future<Output = ()>) {
    shutdown.await;
    if get().is_some_and(|t| t.notify) {
        notify::send(&[NotifyState::Stopping]);
    }
}

impl Telemetry {
    /// Applies `f` to the summary; sends `STATUS=` when the line changed and `READY=1` the first
    /// time the mode counts as ready.
    fn update(&self, f: impl FnOnce(&mut Shared)) {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        if !self.notify {
            return;
        }
        let line = s.summary.line();
        let ready = !s.ready_sent && s.summary.ready();
        if line == s.status_sent && !ready {
            return;
        }
        let status = NotifyState::Status(&line);
        if ready {
            notify::send(&[NotifyState::Ready, status]);
            s.ready_sent = true;
        } else {
            notify::send(&[status]);
        }
        s.status_sent = line;
    }
}

fn update(f: impl FnOnce(&mut Shared)) {
    if let Some(t) = get() {
        t.update(f);
    }
}

/// The key's entries are now in etcd (`true`) or not (`false`), as the writer just made them.
pub fn registered(key: &str, on: bool) {
    let Some(t) = get() else { return };
    if let Some(m) = &t.metrics {
        m.registered.with_label_values(&[key]).set(i64::from(on));
    }
    t.update(|s| {
        let was = s.summary.registered.insert(key.to_string(), on);
        if on && was != Some(true) {
            if let (Some(since), Some(m)) = (s.pending.remove(key), &t.metrics) {
                m.registration_latency
                    .observe(since.elapsed().as_secs_f64());
            }
        }
    });
}

/// The agent of `key` is gone for good (`host`: its container was removed): its series goes, so
/// no alert waits on a container that no longer exists.
pub fn forget(key: &str) {
    let Some(t) = get() else { return };
    if let Some(m) = &t.metrics {
        let _ = m.registered.remove_label_values(&[key]);
    }
    t.update(|s| {
        s.summary.registered.remove(key);
        s.pending.remove(key);
    });
}

/// Docker just reported the container of `key` (an event or a re-inspect): the start of the
/// registration latency when the key is not registered yet.
pub fn docker_event(key: &str) {
    let Some(t) = get() else { return };
    if t.metrics.is_none() {
        return;
    }
    t.update(|s| {
        if s.summary.registered.get(key) != Some(&true) {
            s.pending.insert(key.to_string(), Instant::now());
        }
    });
}

/// `run`: why the container is (not) registrable, for `STATUS=`.
pub fn agent_state(reason: &dyn std::fmt::Display) {
    if get().is_some_and(|t| t.mode == Mode::Run && t.notify) {
        let text = reason.to_string();
        update(|s| s.summary.reason = Some(text));
    }
}

/// One health probe finished.
pub fn probe_observed(o: &Outcome) {
    let Some(m) = metrics() else { return };
    m.probe_duration.observe(o.elapsed_ms as f64 / 1000.0);
    if !o.pass {
        m.probe_failures
            .with_label_values(&[probe_failure_reason(o)])
            .inc();
    }
}

/// The Docker event stream was lost and is being re-opened.
pub fn docker_reconnect() {
    if let Some(m) = metrics() {
        m.docker_reconnects.inc();
    }
}

/// Counts one unary etcd request and, when it failed, its error kind.
pub fn etcd_request(failed: Option<&'static str>) {
    if let Some(m) = metrics() {
        m.etcd_requests.inc();
        if let Some(kind) = failed {
            m.etcd_errors.with_label_values(&[kind]).inc();
        }
    }
}

/// One lease keepalive was answered after `rtt`.
pub fn lease_keepalive(rtt: Duration) {
    if let Some(m) = metrics() {
        m.lease_keepalive.observe(rtt.as_secs_f64());
    }
}

/// `host`, after each input of its main loop: whether that input was Docker's listing of the
/// containers, and how many inspections are still out. Ready once the first listing is looked at.
pub fn host_pass(listed: bool, inspections_out: usize) {
    if get().is_some_and(|t| t.notify) {
        update(|s| {
            let sm = &mut s.summary;
            sm.host_listed |= listed;
            sm.host_pass_done |= sm.host_listed && inspections_out == 0;
        });
    }
}

/// `lbsync`: the election's role now (the leader gauge and `STATUS=`/`READY=1`).
pub fn lbsync_role(leading: bool, text: String) {
    let Some(t) = get() else { return };
    if let Some(m) = &t.metrics {
        m.leader.set(i64::from(leading));
    }
    t.update(|s| s.summary.role = Some(text));
}

/// `lbsync`: how many backends the registry wants.
pub fn lbsync_desired(n: usize) {
    let Some(t) = get() else { return };
    if let Some(m) = &t.metrics {
        m.nodes.with_label_values(&["desired"]).set(n as i64);
    }
    t.update(|s| s.summary.desired = Some(n));
}

/// `lbsync`: how many nodes the load balancer holds.
pub fn lbsync_actual(n: usize) {
    let Some(t) = get() else { return };
    if let Some(m) = &t.metrics {
        m.nodes.with_label_values(&["actual"]).set(n as i64);
    }
    t.update(|s| s.summary.actual = Some(n));
}

/// `lbsync`: one load balancer API request; `code` is the HTTP status, `None` when no answer came.
pub fn lbsync_api_request(method: &str, code: Option<u16>) {
    if let Some(m) = metrics() {
        let code = code.map(|c| c.to_string());
        m.api_requests
            .with_label_values(&[method, code.as_deref().unwrap_or("error")])
            .inc();
    }
}

/// `lbsync`: one pass took `elapsed`; `converged` when it left the load balancer as wanted.
pub fn reconcile_done(elapsed: Duration, converged: bool) {
    let Some(t) = get() else { return };
    if let Some(m) = &t.metrics {
        m.reconcile_duration.observe(elapsed.as_secs_f64());
        if converged {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            m.last_success.set(now);
        }
    }
    t.update(|s| {
        s.summary.passes += 1;
        s.summary.last_pass_ok = converged;
    });
}
