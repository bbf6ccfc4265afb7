//! Figure 5: `sidekick lbsync --backend rackspace` (the real binary) between real etcd and the
//! in-process CLB emulator: (a) time from one etcd change to the node appearing/disappearing in
//! the emulator's state (polled every millisecond), with the LB idle and with the change arriving
//! right as the previous one landed (LB still PENDING_UPDATE); (b) API calls per add and per
//! remove of 1, 10 and 30 instances, from the emulator's counters (identity excluded).
//! lbsync runs with `--allow-empty` (so the last instance may go) and `--resync-interval 1h`
//! (so the periodic safety-net pass does not add calls inside a measurement).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use etcd_client::{Client, DeleteOptions, Txn, TxnOp};
use serde::Serialize;
use sidekick::registry::{codec, KeyFormat, Layout, Record};

use super::stats::{summarize, Summary};
use super::Plan;
use clb_emulator::{BackgroundEmulator, Config, Emulator, Stats};
use testkit::agent::AgentProcess;
use testkit::etcd::Etcd;

const LB: &str = "bench-lb";
const PREFIX: &str = "/services/web/";

struct LbRig {
    lbsync: AgentProcess,
    emu: BackgroundEmulator,
    lb: u64,
    rt: tokio::runtime::Runtime,
    client: Client,
    _etcd: Etcd,
    _dir: tempfile::TempDir,
}

fn addr(i: usize) -> (String, u16) {
    (
        format!("10.{}.{}.{}", 1 + i / 60000, (i / 250) % 240, i % 250 + 1),
        8080,
    )
}

impl LbRig {
    fn start(pending: Duration) -> Result<LbRig, String> {
        let etcd = Etcd::start();
        let emu = Emulator::new(Config {
            pending_update: pending,
            ..Config::default()
        })
        .start_background()
        .map_err(|e| format!("emulator: {e}"))?;
        let lb = emu.api.create_load_balancer(LB);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let key_file = dir.path().join("api-key");
        std::fs::write(&key_file, "demo-api-key\n").map_err(|e| e.to_string())?;
        let mut args: Vec<String> = [
            "lbsync",
            "--backend",
            "rackspace",
            "--lb-name",
            LB,
            "--username",
            "demo",
            "--region",
            "ORD",
            "--allow-empty",
            "--resync-interval",
            "1h",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend([
            "--api-key-file".into(),
            key_file.display().to_string(),
            "--identity-url".into(),
            emu.identity_url.clone(),
        ]);
        args.extend(etcd.sidekick_args());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let lbsync = super::sys::spawn_sidekick(&argv, &[("RUST_LOG", "info,sidekick=debug")]);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let access = etcd.access();
        let client = rt.block_on(access.client());
        let rig = LbRig {
            lbsync,
            emu,
            lb,
            rt,
            client,
            _etcd: etcd,
            _dir: dir,
        };
        // Warm-up: leadership, token, LB resolution and limits happen on the first change.
        let t = rig.put(&[0])?;
        rig.wait_count(1, t, Duration::from_secs(30))?;
        rig.quiet();
        let t = rig.delete_all()?;
        rig.wait_count(0, t, Duration::from_secs(30))?;
        rig.quiet();
        Ok(rig)
    }

    fn node_count(&self) -> usize {
        self.emu.api.nodes(self.lb).len()
    }

    fn has(&self, i: usize) -> bool {
        let (ip, port) = addr(i);
        self.emu
            .api
            .nodes(self.lb)
            .iter()
            .any(|n| n.address == ip && n.port == port)
    }

    /// Writes instances `ids` (five keys each; up to 25 instances per transaction, below
    /// etcd's 128-operation limit); the instant right before the first transaction.
    fn put(&self, ids: &[usize]) -> Result<Instant, String> {
        let mut c = self.client.clone();
        let txns: Vec<Txn> = ids
            .chunks(25)
            .map(|chunk| {
                let ops: Vec<TxnOp> = chunk
                    .iter()
                    .flat_map(|&i| {
                        let (ip, port) = addr(i);
                        let ip = Some(ip.parse().expect("addr() gives IPs"));
                        let record = Record {
                            unit: format!("monweb@{i:03}.service"),
                            host: "core01".into(),
                            public_ipv4_addr: ip,
                            private_ipv4_addr: ip,
                            public_ipv6_addr: None,
                            private_ipv6_addr: None,
                            port,
                        };
                        let layout = Layout::new(&format!("{PREFIX}i{i:03}"), KeyFormat::Keys)
                            .expect("a valid key");
                        codec::render(&layout, &record)
                            .into_iter()
                            .map(|(k, v)| TxnOp::put(k, v, None))
                    })
                    .collect();
                Txn::new().and_then(ops)
            })
            .collect();
        self.rt.block_on(async move {
            let t0 = Instant::now();
            for t in txns {
                c.txn(t).await.map_err(|e| format!("etcd txn: {e}"))?;
            }
            Ok(t0)
        })
    }

    /// Deletes one instance's keys (one delete-range request).
    fn delete(&self, i: usize) -> Result<Instant, String> {
        self.delete_prefix(format!("{PREFIX}i{i:03}/"))
    }

    fn delete_all(&self) -> Result<Instant, String> {
        self.delete_prefix(PREFIX.to_string())
    }

    fn delete_prefix(&self, p: String) -> Result<Instant, String> {
        let mut c = self.client.clone();
        self.rt.block_on(async move {
            let t0 = Instant::now();
            c.delete(p, Some(DeleteOptions::new().with_prefix()))
                .await
                .map_err(|e| format!("etcd delete: {e}"))?;
            Ok(t0)
        })
    }

    /// Polls the emulator every millisecond until `f` holds; ms since `t0`.
    fn wait(
        &self,
        t0: Instant,
        deadline: Duration,
        f: impl Fn(&Self) -> bool,
    ) -> Result<f64, String> {
        while t0.elapsed() < deadline {
            if f(self) {
                return Ok(t0.elapsed().as_secs_f64() * 1e3);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Err(self.lbsync.context(&format!(
            "the load balancer did not converge within {deadline:?}"
        )))
    }

    fn wait_count(&self, n: usize, t0: Instant, deadline: Duration) -> Result<f64, String> {
        self.wait(t0, deadline, |r| r.node_count() == n)
    }

    /// Until the LB is ACTIVE and lbsync has made no request for 300 ms (bounded: 30 s).
    fn quiet(&self) {
        let start = Instant::now();
        let mut last = (self.emu.api.stats().total_requests(), Instant::now());
        while start.elapsed() < Duration::from_secs(30) {
            std::thread::sleep(Duration::from_millis(10));
            let now = self.emu.api.stats().total_requests();
            if now != last.0 {
                last = (now, Instant::now());
            // 1.1 s: the client paces itself in a sliding one-second window under the API's
            // rate limits, so "idle" starts with that window empty.
            } else if last.1.elapsed() >= Duration::from_millis(1100)
                && self.emu.api.status(self.lb).as_deref() == Some("ACTIVE")
            {
                return;
            }
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Latency {
    pub add_idle: Vec<f64>,
    pub del_idle: Vec<f64>,
    pub add_busy: Vec<f64>,
    pub del_busy: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Calls {
    pub op: &'static str,
    pub n: usize,
    /// Nodes on the LB afterwards (adds) / removed (removes).
    pub nodes: usize,
    pub post_nodes: u64,
    pub delete_nodes: u64,
    pub get_lb: u64,
    pub other: u64,
    pub total: u64,
    pub ms: f64,
    pub by_route: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize)]
pub struct LbResults {
    pub pending_ms: u64,
    /// The most `GET /loadbalancers/{id}` requests in any one second of the whole run.
    pub gets_peak_per_s: u64,
    pub latency: Latency,
    pub calls: Vec<Calls>,
}

impl LbResults {
    /// Each latency with its target p50 in ms: 15 ms on an idle LB; one PENDING window + 15 ms
    /// right after a change (issue 8).
    pub fn summaries(&self) -> [(&'static str, Option<Summary>, f64); 4] {
        let busy = self.pending_ms as f64 + 15.0;
        [
            ("add, LB idle", summarize(&self.latency.add_idle), 15.0),
            ("remove, LB idle", summarize(&self.latency.del_idle), 15.0),
            (
                "add, right after a change (LB PENDING)",
                summarize(&self.latency.add_busy),
                busy,
            ),
            (
                "remove, right after a change (LB PENDING)",
                summarize(&self.latency.del_busy),
                busy,
            ),
        ]
    }
}

fn calls_of(op: &'static str, n: usize, nodes: usize, ms: f64, s: &Stats) -> Calls {
    let mut by_route = BTreeMap::new();
    for r in &s.requests {
        if r.route == "tokens" {
            continue;
        }
        *by_route
            .entry(format!("{} {} {}", r.method, r.route, r.status))
            .or_insert(0) += r.count;
    }
    let post_nodes = s.requests_to("POST", "nodes");
    let delete_nodes = s.requests_to("DELETE", "nodes") + s.requests_to("DELETE", "node");
    let get_lb = s.requests_to("GET", "loadbalancer");
    let total = s.total_requests() - s.requests_to("POST", "tokens");
    Calls {
        op,
        n,
        nodes,
        post_nodes,
        delete_nodes,
        get_lb,
        other: total - post_nodes - delete_nodes - get_lb,
        total,
        ms,
        by_route,
    }
}

const DEADLINE: Duration = Duration::from_secs(30);

fn latency(rig: &LbRig, n: usize) -> Result<Latency, String> {
    let mut l = Latency::default();
    for k in 0..n {
        let i = 1 + k;
        rig.quiet();
        let t = rig.put(&[i])?;
        l.add_idle.push(rig.wait(t, DEADLINE, |r| r.has(i))?);
        rig.quiet();
        let t = rig.delete(i)?;
        l.del_idle.push(rig.wait(t, DEADLINE, |r| !r.has(i))?);
        let t = rig.put(&[i])?;
        l.add_busy.push(rig.wait(t, DEADLINE, |r| r.has(i))?);
        let t = rig.delete(i)?;
        l.del_busy.push(rig.wait(t, DEADLINE, |r| !r.has(i))?);
    }
    Ok(l)
}

fn calls(rig: &LbRig) -> Result<Vec<Calls>, String> {
    let mut out = Vec::new();
    for n in [1usize, 10, 30] {
        let ids: Vec<usize> = (100..100 + n).collect();
        // Add n at once to an empty LB.
        rig.quiet();
        rig.emu.api.reset_stats();
        let t = rig.put(&ids)?;
        let want = n.min(25);
        let ms = rig.wait_count(want, t, DEADLINE)?;
        rig.quiet();
        out.push(calls_of(
            "add",
            n,
            rig.node_count(),
            ms,
            &rig.emu.api.stats(),
        ));
        // Empty it again, then build an LB holding all n (beyond the node limit for 30) with
        // every instance registered, so the next pass finds nothing to do.
        let t = rig.delete_all()?;
        rig.wait_count(0, t, DEADLINE)?;
        rig.quiet();
        for &i in &ids {
            let (ip, port) = addr(i);
            rig.emu.api.add_node_direct(rig.lb, &ip, port);
        }
        rig.put(&ids)?;
        rig.quiet();
        rig.emu.api.reset_stats();
        let t = rig.delete_all()?;
        let ms = rig.wait_count(0, t, DEADLINE)?;
        rig.quiet();
        out.push(calls_of("remove", n, n, ms, &rig.emu.api.stats()));
    }
    Ok(out)
}

/// The most LB GETs seen in any one-second window until `done` (sampled every 20 ms; the
/// counters' resets between measurements are bridged).
fn gets_peak(rig: &LbRig, done: &std::sync::atomic::AtomicBool) -> u64 {
    let gets = || rig.emu.api.stats().requests_to("GET", "loadbalancer");
    let (mut total, mut last) = (0u64, gets());
    let mut window: std::collections::VecDeque<(Instant, u64)> = Default::default();
    let mut peak = 0;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        let now = gets();
        total += if now >= last { now - last } else { now };
        last = now;
        let t = Instant::now();
        window.push_back((t, total));
        while window
            .front()
            .is_some_and(|(t0, _)| t.duration_since(*t0) > Duration::from_secs(1))
        {
            window.pop_front();
        }
        if let Some((_, first)) = window.front() {
            peak = peak.max(total - first);
        }
    }
    peak
}

pub fn run(plan: &Plan, pending: Duration) -> Result<LbResults, String> {
    let rig = LbRig::start(pending)?;
    let done = std::sync::atomic::AtomicBool::new(false);
    let (measured, gets_peak_per_s) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| gets_peak(&rig, &done));
        let measured = latency(&rig, plan.lbsync_n).and_then(|l| Ok((l, calls(&rig)?)));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (measured, sampler.join().unwrap_or(0))
    });
    let (latency, calls) = measured?;
    // For looking into an outlier: the lbsync log of each PENDING setting.
    if let Some(p) = std::env::var_os("BENCH_LBSYNC_LOG") {
        let path = format!("{}-{}ms.log", p.to_string_lossy(), pending.as_millis());
        let _ = std::fs::write(path, rig.lbsync.logs());
    }
    Ok(LbResults {
        pending_ms: pending.as_millis() as u64,
        gets_peak_per_s,
        latency,
        calls,
    })
}
