//! The Prometheus metrics: one registry per process holding the families of the running mode,
//! rendered by the `prometheus` crate's text encoder (format 0.0.4). Label values come from
//! bounded sets (a key per managed container, a fixed reason/kind/method list, HTTP codes), so
//! the number of series never grows with address churn.

use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

use super::Mode;

/// Probe and request latencies: 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Docker event to keys written: includes the health probes, so up to a minute.
const REGISTRATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
/// One lbsync pass: an nginx reload or a few paced API calls, up to the 2 min ACTIVE wait.
const RECONCILE_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

#[derive(Debug, thiserror::Error)]
#[error("setting up the metrics registry: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// Every family; the ones a mode does not use are created but never registered (not rendered).
pub struct Metrics {
    registry: Registry,
    pub registered: IntGaugeVec,
    pub registration_latency: Histogram,
    pub probe_duration: Histogram,
    pub probe_failures: IntCounterVec,
    pub docker_reconnects: IntCounter,
    pub etcd_requests: IntCounter,
    pub etcd_errors: IntCounterVec,
    pub lease_keepalive: Histogram,
    pub leader: IntGauge,
    pub nodes: IntGaugeVec,
    pub api_requests: IntCounterVec,
    pub reconcile_duration: Histogram,
    pub last_success: Gauge,
}

fn histogram(name: &str, help: &str, buckets: &[f64]) -> Result<Histogram, prometheus::Error> {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
}

impl Metrics {
    pub fn new(mode: Mode) -> Result<Metrics, MetricsError> {
        let registry = Registry::new();
        let m = Metrics {
            registered: IntGaugeVec::new(
                Opts::new("sidekick_registered", "1 while the key's entries are in etcd, else 0."),
                &["key"],
            )?,
            registration_latency: histogram(
                "sidekick_registration_latency_seconds",
                "From the Docker event to the keys written in etcd.",
                REGISTRATION_BUCKETS,
            )?,
            probe_duration: histogram(
                "sidekick_probe_duration_seconds",
                "Duration of one health probe.",
                LATENCY_BUCKETS,
            )?,
            probe_failures: IntCounterVec::new(
                Opts::new("sidekick_probe_failures_total", "Failed health probes by reason."),
                &["reason"],
            )?,
            docker_reconnects: IntCounter::new(
                "sidekick_docker_reconnects_total",
                "Times the Docker event stream was lost and re-opened.",
            )?,
            etcd_requests: IntCounter::new(
                "sidekick_etcd_requests_total",
                "Unary etcd requests sent.",
            )?,
            etcd_errors: IntCounterVec::new(
                Opts::new("sidekick_etcd_errors_total", "Failed etcd requests by kind."),
                &["kind"],
            )?,
            lease_keepalive: histogram(
                "sidekick_lease_keepalive_seconds",
                "Round trip of one etcd lease keepalive.",
                LATENCY_BUCKETS,
            )?,
            leader: IntGauge::new(
                "sidekick_lbsync_leader",
                "1 while this lbsync is the elected leader, else 0.",
            )?,
            nodes: IntGaugeVec::new(
                Opts::new(
                    "sidekick_lbsync_nodes",
                    "Backends wanted by the registry (desired) and present in the load balancer (actual).",
                ),
                &["state"],
            )?,
            api_requests: IntCounterVec::new(
                Opts::new(
                    "sidekick_lbsync_api_requests_total",
                    "Load balancer API requests by method and HTTP status (error: no answer).",
                ),
                &["method", "code"],
            )?,
            reconcile_duration: histogram(
                "sidekick_lbsync_reconcile_duration_seconds",
                "Duration of one reconcile pass.",
                RECONCILE_BUCKETS,
            )?,
            last_success: Gauge::new(
                "sidekick_lbsync_last_success_timestamp_seconds",
                "Unix time of the last pass that left the load balancer converged.",
            )?,
            registry,
        };
        let build = IntGaugeVec::new(
            Opts::new("sidekick_build_info", "Always 1; the version in a label."),
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let r = &m.registry;
        r.register(Box::new(build))?;
        r.register(Box::new(m.etcd_requests.clone()))?;
        r.register(Box::new(m.etcd_errors.clone()))?;
        r.register(Box::new(m.lease_keepalive.clone()))?;
        match mode {
            Mode::Run | Mode::Host => {
                r.register(Box::new(m.registered.clone()))?;
                r.register(Box::new(m.registration_latency.clone()))?;
                r.register(Box::new(m.probe_duration.clone()))?;
                r.register(Box::new(m.probe_failures.clone()))?;
                r.register(Box::new(m.docker_reconnects.clone()))?;
            }
            Mode::Lbsync => {
                r.register(Box::new(m.leader.clone()))?;
                r.register(Box::new(m.nodes.clone()))?;
                r.register(Box::new(m.api_requests.clone()))?;
                r.register(Box::new(m.reconcile_duration.clone()))?;
                r.register(Box::new(m.last_success.clone()))?;
            }
        }
        Ok(m)
    }

    /// The exposition text and its content type.
    pub fn render(&self) -> (Vec<u8>, String) {
        let encoder = TextEncoder::new();
        let mut out = Vec::with_capacity(4096);
        // Encoding into a Vec only fails on malformed families, which `new` cannot build.
        let _ = encoder.encode(&self.registry.gather(), &mut out);
        (out, encoder.format_type().to_string())
    }
}
