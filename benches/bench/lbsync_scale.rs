//! Figure 5d (issue 14): `sidekick lbsync --backend nginx` (the real binary) over 20 000 instances
//! in the 5-key layout (100 000 keys): time from start to the full upstream file, RSS then, CPU
//! during 100 changes per second (one instance's port rewritten per change), and the time from
//! the last change until the file matches etcd. nginx's check and reload are `true`: the file is
//! what is measured, not nginx. The same start → full upstream and RSS at every size of
//! [`SIZES`] on the way there (the instances written in steps, a fresh lbsync at each step):
//! the figure "lbsync convergence against the number of instances".

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use etcd_client::{Txn, TxnOp};
use serde::Serialize;
use sidekick::registry::{codec, KeyFormat, Layout, Record};
use testkit::etcd::Etcd;

use super::Plan;

const PREFIX: &str = "/services/web/";
/// Instances at each step of the sweep; the last is figure 5d's.
pub const SIZES: [usize; 5] = [2_000, 5_000, 10_000, 15_000, 20_000];

/// One step of the sweep: a fresh lbsync over `instances` instances.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub instances: usize,
    pub full_upstream_ms: f64,
    pub rss_mib: f64,
}

#[derive(Debug, Serialize)]
pub struct ScaleResults {
    pub instances: usize,
    pub write_ms: f64,
    pub full_upstream_ms: f64,
    pub rss_mib: f64,
    pub hwm_mib: f64,
    pub churn_per_s: u32,
    pub churn_secs: u64,
    pub churn_cpu_pct: f64,
    pub converge_after_churn_ms: f64,
    /// Start → full upstream and RSS at every size of [`SIZES`] (the last is the figures above).
    pub sweep: Vec<SweepPoint>,
}

fn addr(i: usize, port: u16) -> SocketAddr {
    SocketAddr::from((
        [
            10,
            1 + (i / 60000) as u8,
            ((i / 240) % 250) as u8,
            (i % 240 + 1) as u8,
        ],
        port,
    ))
}

fn ops(i: usize, port: u16) -> Vec<TxnOp> {
    let a = addr(i, port);
    let record = Record {
        unit: format!("monweb@{i:05}.service"),
        host: "core01".into(),
        public_ipv4_addr: Some(a.ip()),
        private_ipv4_addr: Some(a.ip()),
        public_ipv6_addr: None,
        private_ipv6_addr: None,
        port,
    };
    let layout = Layout::new(&format!("{PREFIX}i{i:05}"), KeyFormat::Keys).expect("a valid key");
    codec::render(&layout, &record)
        .into_iter()
        .map(|(k, v)| TxnOp::put(k, v, None))
        .collect()
}

fn upstream(file: &std::path::Path) -> BTreeSet<SocketAddr> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    sidekick::nginx::parse("web", &text).servers
}

fn wait_for(
    file: &std::path::Path,
    want: &BTreeSet<SocketAddr>,
    t0: Instant,
    deadline: Duration,
) -> Result<f64, String> {
    while t0.elapsed() < deadline {
        if upstream(file) == *want {
            return Ok(t0.elapsed().as_secs_f64() * 1e3);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(format!(
        "the upstream did not match etcd within {deadline:?} ({} of {})",
        upstream(file).len(),
        want.len()
    ))
}

pub fn run(plan: &Plan) -> Result<ScaleResults, String> {
    let n = SIZES[SIZES.len() - 1];
    let churn_secs = if plan.quick { 10 } else { 60 };
    let etcd = Etcd::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = rt.block_on(etcd.client());
    let mut want: Vec<u16> = vec![8080; n];
    let set = |want: &[u16], k: usize| -> BTreeSet<SocketAddr> {
        want[..k]
            .iter()
            .enumerate()
            .map(|(i, p)| addr(i, *p))
            .collect()
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let args = |file: &std::path::Path| {
        testkit::agent::lbsync_nginx_args(file, &etcd.sidekick_args(), &[])
    };
    let mut write_ms = 0.0;
    let mut written = 0;
    let mut sweep = Vec::new();
    let mut last = None;
    for (step, &k) in SIZES.iter().enumerate() {
        let t_write = Instant::now();
        rt.block_on(async {
            let mut c = client.clone();
            for chunk in (written..k).collect::<Vec<_>>().chunks(25) {
                let txn = Txn::new()
                    .and_then(chunk.iter().flat_map(|&i| ops(i, 8080)).collect::<Vec<_>>());
                c.txn(txn).await.map_err(|e| format!("etcd txn: {e}"))?;
            }
            Ok::<(), String>(())
        })?;
        write_ms += t_write.elapsed().as_secs_f64() * 1e3;
        written = k;
        let file = dir.path().join(format!("upstream-{k}.conf"));
        let args = args(&file);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let t0 = Instant::now();
        let mut lbsync = super::sys::spawn_sidekick(&argv, &[]);
        let full_upstream_ms = wait_for(&file, &set(&want, k), t0, Duration::from_secs(60))
            .map_err(|e| lbsync.context(&e))?;
        let mem = super::sys::rss(lbsync.pid()).ok_or("lbsync's /proc status")?;
        sweep.push(SweepPoint {
            instances: k,
            full_upstream_ms,
            rss_mib: mem.rss as f64 / 1024.0,
        });
        if step + 1 == SIZES.len() {
            last = Some((lbsync, file, full_upstream_ms, mem));
        } else {
            // SIGTERM: it resigns the election, so the next lbsync leads at once.
            lbsync.sigterm();
            if lbsync.wait_exit(Duration::from_secs(10)).is_none() {
                return Err(lbsync.context("did not exit within 10 s of SIGTERM"));
            }
        }
    }
    let (lbsync, file, full_upstream_ms, mem) = last.ok_or("no sweep step ran")?;
    let set = |want: &[u16]| set(want, n);

    // Churn: 100 changes per second, each one instance's port key, spread over the second.
    let cpu0 = super::sys::cpu_ticks(lbsync.pid()).ok_or("lbsync's CPU ticks")?;
    let c0 = Instant::now();
    rt.block_on(async {
        let mut c = client.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for k in 0..(churn_secs as usize * 100) {
            tick.tick().await;
            let i = (k * 7919) % n;
            want[i] = if want[i] == 8080 { 9090 } else { 8080 };
            c.put(format!("{PREFIX}i{i:05}/port"), want[i].to_string(), None)
                .await
                .map_err(|e| format!("etcd put: {e}"))?;
        }
        Ok::<(), String>(())
    })?;
    let t_stop = Instant::now();
    let converge_after_churn_ms = wait_for(&file, &set(&want), t_stop, Duration::from_secs(30))
        .map_err(|e| lbsync.context(&e))?;
    let cpu1 = super::sys::cpu_ticks(lbsync.pid()).ok_or("lbsync's CPU ticks")?;
    let ticks = (cpu1.0 + cpu1.1).saturating_sub(cpu0.0 + cpu0.1) as f64;
    let churn_cpu_pct = 100.0 * ticks / super::sys::clk_tck() / c0.elapsed().as_secs_f64();
    drop(lbsync);
    Ok(ScaleResults {
        instances: n,
        write_ms,
        full_upstream_ms,
        rss_mib: mem.rss as f64 / 1024.0,
        hwm_mib: mem.hwm as f64 / 1024.0,
        churn_per_s: 100,
        churn_secs,
        churn_cpu_pct,
        converge_after_churn_ms,
        sweep,
    })
}
