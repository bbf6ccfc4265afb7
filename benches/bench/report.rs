//! The markdown report: header (machine, versions, plan), the results table with a verdict per
//! target, then the details that explain the figures (see `detail`).

use std::fmt::Write as _;

use serde::Serialize;

use super::footprint::{Many, ShellWindow, Window};
use super::host::HostResults;
use super::lbsync::LbResults;
use super::metrics::MetricsFigure;
use super::registration::{Cycles, SidekickResults};
use super::stats::{fmt_num, summarize, Summary};
use super::sys::HostInfo;
use super::Plan;

#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub command: String,
    pub quick: bool,
    pub host: Option<HostInfo>,
    pub sidekick: Option<SidekickResults>,
    pub shell: Option<Cycles>,
    pub one_agent: Option<Window>,
    pub shell_footprint: Option<ShellWindow>,
    pub many: Option<Many>,
    pub host_mode: Option<HostResults>,
    pub metrics: Option<MetricsFigure>,
    pub metrics_abuse: Option<super::metrics_abuse::AbuseFigure>,
    pub lbsync: Vec<LbResults>,
    pub idle: Option<super::idle::IdleResults>,
    pub lbsync_scale: Option<super::lbsync_scale::ScaleResults>,
    pub engines: Option<super::engines::EnginesResults>,
    pub rolling: Option<super::rolling::RollingResults>,
    pub figures: super::figures::Figures,
    pub errors: Vec<String>,
    pub run_secs: f64,
    pub loadavg_end: String,
}

pub fn ms(x: f64) -> String {
    format!("{} ms", fmt_num(x))
}

pub fn mib(kb: f64) -> String {
    format!("{:.2} MiB", kb / 1024.0)
}

pub fn pct(x: f64) -> String {
    if x < 0.1 {
        format!("{x:.3} %")
    } else {
        format!("{x:.2} %")
    }
}

/// "met" / "**MISSED**" on the median, noting a p95 over the bound.
fn verdict_le(s: &Summary, bound: f64) -> String {
    match (s.median <= bound, s.p95 <= bound) {
        (true, true) => "met".into(),
        (true, false) => "met (p95 over)".into(),
        _ => "**MISSED**".into(),
    }
}

struct Table(String);

impl Table {
    fn new() -> Table {
        Table(String::from(
            "| # | figure | N | median | p95 | target | verdict |\n|---|---|---|---|---|---|---|\n",
        ))
    }
    fn row(&mut self, cells: [&str; 7]) {
        let _ = writeln!(self.0, "| {} |", cells.join(" | "));
    }
    fn summary(
        &mut self,
        id: &str,
        what: &str,
        s: Option<Summary>,
        f: fn(f64) -> String,
        target: &str,
        verdict: &str,
    ) {
        match s {
            Some(s) => self.row([
                id,
                what,
                &s.n.to_string(),
                &f(s.median),
                &f(s.p95),
                target,
                verdict,
            ]),
            None => self.row([id, what, "0", "—", "—", target, "not measured"]),
        }
    }
}

fn latencies(c: &Cycles) -> (Option<Summary>, Option<Summary>, Option<Summary>) {
    let reg: Vec<f64> = c.reg.iter().map(|s| s.latency_ms).collect();
    let dereg: Vec<f64> = c.dereg.iter().map(|s| s.latency_ms).collect();
    let margin: Vec<f64> = c.dereg.iter().map(|s| s.margin_ms).collect();
    (summarize(&reg), summarize(&dereg), summarize(&margin))
}

fn main_table(r: &Results, plan: &Plan) -> String {
    let mut t = Table::new();
    let sk = r.sidekick.as_ref().map(|s| latencies(&s.cycles));
    let sh = r.shell.as_ref().map(latencies);
    let (skr, skd, skm) = sk.unwrap_or((None, None, None));
    let (shr, shd, shm) = sh.unwrap_or((None, None, None));
    let v = |s: Option<Summary>, b: f64| s.map(|s| verdict_le(&s, b)).unwrap_or_default();
    t.summary(
        "1",
        "registration, `sidekick run`: `start` event → last of 5 PUTs seen",
        skr,
        ms,
        "p50 ≤ 20 ms",
        &v(skr, 20.0),
    );
    let floor = r
        .sidekick
        .as_ref()
        .and_then(|s| summarize(&s.floor.iter().map(|f| f.ready_ms).collect::<Vec<f64>>()));
    if let (Some(reg), Some(f)) = (skr, floor) {
        t.summary(
            "1",
            "… floor: the container alone, `start` event → first HTTP 200 polled 1 ms apart",
            Some(f),
            ms,
            "",
            "",
        );
        let gap = reg.median - f.median;
        let ok = if gap <= 3.0 { "met" } else { "**MISSED**" };
        t.row([
            "1",
            "… registration p50 minus the floor's p50",
            "",
            &ms(gap),
            "—",
            "≤ 3 ms",
            ok,
        ]);
    }
    t.summary(
        "2",
        "deregistration, `sidekick run`: before `docker stop -t 2` → DELETE seen",
        skd,
        ms,
        "p50 ≤ 50 ms",
        &v(skd, 50.0),
    );
    let before = skm.map(|m| {
        if m.min > 0.0 {
            format!("met (min {})", ms(m.min))
        } else {
            "**MISSED** (some after death)".into()
        }
    });
    t.summary(
        "2",
        "… margin: `die` event − DELETE (positive = before the death)",
        skm,
        ms,
        "> 0 (before `die`)",
        &before.unwrap_or_default(),
    );
    t.summary(
        "3",
        "registration, 2014 shell loop (10 s sleep, 10 s lease)",
        shr,
        ms,
        "baseline",
        "",
    );
    t.summary(
        "3",
        "deregistration, 2014 shell loop",
        shd,
        ms,
        "baseline",
        "",
    );
    t.summary(
        "3",
        "… margin: `die` − DELETE, 2014 shell loop",
        shm,
        ms,
        "baseline",
        "",
    );
    let ratio = |a: Option<Summary>, b: Option<Summary>| match (a, b) {
        (Some(a), Some(b)) if b.median > 0.0 => format!("{:.0}×", a.median / b.median),
        _ => "—".into(),
    };
    t.row([
        "3",
        "ratio shell / sidekick (medians): registration",
        "",
        &ratio(shr, skr),
        "",
        "",
        "",
    ]);
    t.row([
        "3",
        "ratio shell / sidekick (medians): deregistration",
        "",
        &ratio(shd, skd),
        "",
        "",
        "",
    ]);
    footprint_rows(&mut t, r, plan);
    host_rows(&mut t, r, plan);
    idle_rows(&mut t, r);
    metrics_rows(&mut t, r, plan);
    abuse_rows(&mut t, r);
    for lb in &r.lbsync {
        for (what, s, bound) in lb.summaries() {
            t.summary(
                "5a",
                &format!(
                    "lbsync PENDING {} ms: {what}: etcd change → node on the LB",
                    lb.pending_ms
                ),
                s,
                ms,
                &format!("p50 ≤ {bound:.0} ms"),
                &s.map(|s| verdict_le(&s, bound)).unwrap_or_default(),
            );
        }
        let ok = if lb.gets_peak_per_s <= 5 {
            "met"
        } else {
            "**MISSED**"
        };
        t.row([
            "5c",
            &format!(
                "lbsync PENDING {} ms: LB GETs in the busiest second of the run",
                lb.pending_ms
            ),
            "1",
            &lb.gets_peak_per_s.to_string(),
            "—",
            "≤ 5",
            ok,
        ]);
    }
    if let Some(x) = &r.lbsync_scale {
        let v = |ok: bool| if ok { "met" } else { "**MISSED**" };
        let n = x.instances;
        t.row([
            "5d",
            &format!("lbsync nginx, {n} instances (5-key layout): start → full upstream"),
            "1",
            &ms(x.full_upstream_ms),
            "—",
            "≤ 2000 ms",
            v(x.full_upstream_ms <= 2000.0),
        ]);
        t.row([
            "5d",
            &format!(
                "lbsync nginx, {n} instances: RSS with the full upstream (peak {:.1} MiB)",
                x.hwm_mib
            ),
            "1",
            &format!("{:.1} MiB", x.rss_mib),
            "—",
            "≤ 64 MiB",
            v(x.rss_mib <= 64.0),
        ]);
        t.row([
            "5d",
            &format!(
                "lbsync nginx, {n} instances: CPU during {} changes/s for {} s",
                x.churn_per_s, x.churn_secs
            ),
            "1",
            &format!("{:.1} % of a core", x.churn_cpu_pct),
            "—",
            "≤ 5 %",
            v(x.churn_cpu_pct <= 5.0),
        ]);
        t.row([
            "5d",
            &format!("lbsync nginx, {n} instances: last change → upstream matches etcd"),
            "1",
            &ms(x.converge_after_churn_ms),
            "—",
            "≤ 500 ms",
            v(x.converge_after_churn_ms <= 500.0),
        ]);
    }
    for lb in &r.lbsync {
        for c in lb.calls.iter().filter(|c| c.op == "add") {
            let room = 25usize;
            let want = c.n.min(room).div_ceil(room) as u64;
            let ok = if c.post_nodes == want {
                "met"
            } else {
                "**MISSED**"
            };
            t.row(["5b", &format!("lbsync PENDING {} ms: add {} at once: POSTs ({} nodes placed, {} calls in all)", lb.pending_ms, c.n, c.nodes, c.total), "1", &c.post_nodes.to_string(), "—", &format!("{want} (room 25)"), ok]);
        }
        for c in lb.calls.iter().filter(|c| c.op == "remove") {
            let want = c.n.div_ceil(10) as u64;
            let ok = if c.delete_nodes == want {
                "as expected"
            } else {
                "differs"
            };
            t.row([
                "5b",
                &format!(
                    "lbsync PENDING {} ms: remove {}: DELETEs ({} calls in all)",
                    lb.pending_ms, c.n, c.total
                ),
                "1",
                &c.delete_nodes.to_string(),
                "—",
                &format!("{want} (batches of 10; no target)"),
                ok,
            ]);
        }
    }
    t.0
}

/// CPU cell: utime+stime, and the schedstat figure when there is one.
fn cpu_cell(ticks: f64, ns: Option<f64>) -> String {
    match ns {
        Some(ns) => format!("{} (schedstat {})", pct(ticks), pct(ns)),
        None => pct(ticks),
    }
}

/// Verdict on the larger of the two CPU figures.
fn cpu_verdict(ticks: f64, ns: Option<f64>, bound: f64) -> &'static str {
    if ticks.max(ns.unwrap_or(0.0)) <= bound {
        "met"
    } else {
        "**MISSED**"
    }
}

fn footprint_rows(t: &mut Table, r: &Results, plan: &Plan) {
    let idle = plan.idle.as_secs();
    if let Some(w) = &r.one_agent {
        let ok = if w.rss_kb.p95 <= 8.0 * 1024.0 {
            "met"
        } else {
            "**MISSED**"
        };
        let what = format!("one agent idle {idle} s: RSS (VmRSS, 1 Hz samples)");
        t.summary("4", &what, Some(w.rss_kb), mib, "≤ 8 MiB", ok);
        let what = format!("one agent idle {idle} s: CPU (utime+stime / wall)");
        let cell = cpu_cell(w.cpu_pct, w.cpu_pct_ns);
        // Issue 22: ≤ 0.03 %, judged on schedstat's nanoseconds where there are any (one 10 ms
        // tick of utime+stime is already 0.017 % of a 60 s window).
        let ok = cpu_verdict(w.cpu_pct_ns.unwrap_or(w.cpu_pct), None, 0.03);
        t.row([
            "4",
            &what,
            "1 window",
            &cell,
            "—",
            "≤ 0.03 % (schedstat)",
            ok,
        ]);
    }
    if let Some(s) = &r.shell_footprint {
        let what = format!("2014 shell loop {idle} s: RSS of its process tree (10 ms samples)");
        t.summary("4", &what, Some(s.window.rss_kb), mib, "baseline", "");
        let what = format!("2014 shell loop {idle} s: CPU of its tree incl. children");
        t.row([
            "4",
            &what,
            "1 window",
            &pct(s.window.cpu_pct),
            "—",
            "baseline",
            "",
        ]);
    }
    if let Some(m) = &r.many {
        let (n, w) = (m.n, &m.window);
        let nf = n as f64;
        let what = format!("{n} agents beside {n} containers: total RSS (sum of VmRSS)");
        let ok = if w.total_rss_kb.p95 <= nf * 8192.0 {
            "met"
        } else {
            "**MISSED**"
        };
        t.summary(
            "4",
            &what,
            Some(w.total_rss_kb),
            mib,
            &format!("≤ {n} × 8 MiB"),
            ok,
        );
        let what = format!("{n} agents: total PSS (shared pages counted once)");
        t.row(["4", &what, "1", &mib(w.total_pss_kb as f64), "—", "", ""]);
        let what = format!("{n} agents: total CPU over {:.0} s", m.secs);
        let cell = cpu_cell(w.total_cpu_pct, Some(w.total_cpu_pct_ns));
        let ok = cpu_verdict(w.total_cpu_pct, Some(w.total_cpu_pct_ns), nf * 0.05);
        t.row([
            "4",
            &what,
            "1 window",
            &cell,
            "—",
            &format!("≤ {n} × 0.05 %"),
            ok,
        ]);
        let what = format!("{n} agents: CPU per agent, schedstat (across agents)");
        let per = w.per_agent_cpu_pct_ns;
        t.summary(
            "4",
            &what,
            Some(per),
            pct,
            "≤ 0.05 %",
            &verdict_le(&per, 0.05),
        );
    }
}

/// Figure 7: raft proposals while idle.
fn idle_rows(t: &mut Table, r: &Results) {
    let Some(i) = &r.idle else { return };
    let what = format!(
        "raft proposals while idle {} s: one `sidekick run` + one `sidekick lbsync` (raft_index {} → {})",
        i.window_s, i.raft_index_before, i.raft_index_after
    );
    let ok = if i.proposals() == 0 {
        "met"
    } else {
        "**MISSED**"
    };
    t.row([
        "7",
        &what,
        "1 window",
        &i.proposals().to_string(),
        "—",
        "0",
        ok,
    ]);
}

/// Figure 8: one agent with `--metrics-addr` (scraped every 15 s) beside one without.
fn metrics_rows(t: &mut Table, r: &Results, plan: &Plan) {
    let Some(m) = &r.metrics else { return };
    let idle = plan.idle.as_secs();
    let what = format!("metrics off, idle {idle} s: RSS (VmRSS, 1 Hz)");
    t.summary("8", &what, Some(m.off.rss_kb), mib, "baseline", "");
    let what = format!(
        "metrics on, idle {idle} s, {} scrapes of {} B: RSS",
        m.scrapes, m.scrape_bytes
    );
    let extra = m.on.rss_kb.p95 - m.off.rss_kb.p95;
    let ok = if extra <= 512.0 { "met" } else { "**MISSED**" };
    let target = format!("off + ≤ 0.5 MiB (p95 +{})", mib(extra));
    t.summary("8", &what, Some(m.on.rss_kb), mib, &target, ok);
    let what = "… anonymous RSS at the end of the window, off → on (the file-backed rest is the shared executable)";
    let cell = format!(
        "{} → {}",
        mib(m.off.last.anon as f64),
        mib(m.on.last.anon as f64)
    );
    t.row(["8", what, "1", &cell, "—", "", ""]);
    let what = format!("metrics off, idle {idle} s: CPU");
    let cell = cpu_cell(m.off.cpu_pct, m.off.cpu_pct_ns);
    t.row(["8", &what, "1 window", &cell, "—", "baseline", ""]);
    let what = format!("metrics on, idle {idle} s: CPU");
    let cell = cpu_cell(m.on.cpu_pct, m.on.cpu_pct_ns);
    let ok = cpu_verdict(m.on.cpu_pct, m.on.cpu_pct_ns, 0.05);
    t.row(["8", &what, "1 window", &cell, "—", "≤ 0.05 % (as off)", ok]);
}

/// Figure 9: `/healthz` and RSS while 1 000 idle and 50 slowloris connections are held open.
fn abuse_rows(t: &mut Table, r: &Results) {
    use super::metrics_abuse::{IDLE, SLOW};
    let Some(a) = &r.metrics_abuse else { return };
    let p99 = |p: Option<f64>| p.map(ms).unwrap_or_else(|| "—".into());
    let what = "`/healthz` on a new connection every 50 ms, before the abuse (p99 in the cell)";
    let cell = format!("p99 {}", p99(a.before_p99_ms));
    t.summary("9", what, a.before_ms, ms, "baseline", "");
    t.row(["9", "… before the abuse: p99", "", &cell, "—", "", ""]);
    let what = format!(
        "`/healthz` beside {IDLE} idle + {SLOW} slowloris connections, {:.0} s ({} reopened after the agent closed them)",
        a.secs, a.reopened
    );
    t.summary("9", &what, a.during_ms, ms, "", "");
    let ok = a.failed == 0 && a.during_p99_ms.is_some_and(|p| p <= 50.0);
    let cell = format!(
        "p99 {}, {} of {} failed",
        p99(a.during_p99_ms),
        a.failed,
        a.probes
    );
    let verdict = if ok { "met" } else { "**MISSED**" };
    t.row([
        "9",
        "… during the abuse: p99 and failures",
        "",
        &cell,
        "—",
        "p99 ≤ 50 ms, 0 failed",
        verdict,
    ]);
    let growth = a.rss_growth_kb();
    let cell = format!(
        "{} → max {} (+{}; anonymous +{})",
        mib(a.rss_before_kb),
        mib(a.rss_max_kb),
        mib(growth),
        mib(a.anon_max_kb - a.anon_before_kb)
    );
    let verdict = if growth <= 2048.0 {
        "met"
    } else {
        "**MISSED**"
    };
    t.row([
        "9",
        "… RSS (VmRSS, 1 Hz): before → during",
        "",
        &cell,
        "—",
        "≤ +2 MiB",
        verdict,
    ]);
}

/// Figure 6, right after the many `run` agents it replaces.
fn host_rows(t: &mut Table, r: &Results, plan: &Plan) {
    let Some(h) = &r.host_mode else { return };
    let (n, w) = (h.n, &h.window);
    let idle = plan.idle.as_secs();
    let met = |ok: bool| if ok { "met" } else { "**MISSED**" };
    let what =
        format!("`sidekick host` beside {n} labelled containers, idle {idle} s: RSS (VmRSS, 1 Hz)");
    t.summary(
        "6",
        &what,
        Some(w.rss_kb),
        mib,
        "≤ 12 MiB",
        met(w.rss_kb.p95 <= 12.0 * 1024.0),
    );
    if let Some(m) = &r.many {
        let what = format!(
            "… the same {} containers with one `sidekick run` each (figure 4): total RSS, ratio",
            m.n
        );
        let ratio = format!(
            "{} ({:.0}×)",
            mib(m.window.total_rss_kb.median),
            m.window.total_rss_kb.median / w.rss_kb.median.max(1.0)
        );
        t.row(["6", &what, "", &ratio, "", "", ""]);
    }
    let what = format!("`sidekick host`, {n} containers: CPU over {idle} s (utime+stime / wall)");
    let cell = cpu_cell(w.cpu_pct, w.cpu_pct_ns);
    let ok = cpu_verdict(w.cpu_pct, w.cpu_pct_ns, 0.05);
    t.row(["6", &what, "1 window", &cell, "—", "≤ 0.05 % in all", ok]);
    if let Some(f) = &h.probe_floor {
        let what = format!(
            "… floor: one plain blocking HTTP probe per container and 5 s, no agent ({:.0} probes/s, {:.0} µs each)",
            f.rate_per_s, f.us_per_probe
        );
        t.row([
            "6",
            &what,
            &f.probes.to_string(),
            &pct(f.pct_at_rate),
            "—",
            "",
            "",
        ]);
        // Issue 22: the agent's own cost beside its probes, both from this run (schedstat).
        let own = w.cpu_pct_ns.unwrap_or(w.cpu_pct) - f.pct_at_rate;
        t.row([
            "6",
            "… the agent's own cost: its CPU (schedstat) minus the probe floor",
            "",
            &pct(own),
            "—",
            "≤ 0.03 %",
            met(own <= 0.03),
        ]);
    }
    if let Some(np) = &h.no_probe_window {
        let what = format!(
            "… `sidekick host --health-mode none`, same {n} containers: CPU over {:.0} s",
            np.secs
        );
        let cell = cpu_cell(np.cpu_pct, np.cpu_pct_ns);
        t.row(["6", &what, "1 window", &cell, "—", "", ""]);
    }
    let what = format!(
        "`sidekick host` started beside {n} running containers: spawn → all {n} port keys seen"
    );
    t.row([
        "6",
        &what,
        "1",
        &ms(h.all_registered_ms),
        "—",
        "≤ 1 s",
        met(h.all_registered_ms <= 1000.0),
    ]);
    let what = format!(
        "`sidekick host`: {} bursts of {} `docker run` at once: each `start` event → its port key seen",
        h.bursts, h.burst_size
    );
    let b = h.burst();
    let verdict = b
        .map(|s| met(s.p95 <= 30.0).to_string())
        .unwrap_or_default();
    t.summary("6", &what, b, ms, "p95 ≤ 30 ms", &verdict);
    if let Some(f) = summarize(&h.floor_burst_ms) {
        let what = "… floor: the same bursts with no agent, `start` event → first HTTP 200 (an ideal agent: port known beforehand, polled 1 ms apart from the event)";
        t.summary("6", what, Some(f), ms, "", "");
        if let Some(b) = b {
            let gap = b.p95 - f.p95;
            t.row([
                "6",
                "… burst p95 minus the floor's p95",
                "",
                &ms(gap),
                "—",
                "≤ 15 ms",
                met(gap <= 15.0),
            ]);
        }
    }
    let what = format!("`sidekick host` SIGTERM with {n} registered: signal → last DELETE seen");
    t.row([
        "6",
        &what,
        "1",
        &ms(h.sigterm_ms),
        "—",
        "≤ 100 ms",
        met(h.sigterm_ms <= 100.0),
    ]);
}

/// The pictures, drawn by this run from the samples of the tables below.
fn figures_section(f: &super::figures::Figures) -> String {
    let mut o = String::new();
    if f.drawn.is_empty() && f.missing.is_empty() {
        return o;
    }
    let _ = writeln!(o, "## Figures\n");
    let _ = writeln!(
        o,
        "Drawn by this run (`testkit::plot`) from the samples of the tables below.\n"
    );
    for (file, title) in &f.drawn {
        let _ = writeln!(o, "![{title}](figures/{file})\n");
    }
    for (file, why) in &f.missing {
        let _ = writeln!(o, "- not drawn: `{file}`: {why}");
    }
    if !f.missing.is_empty() {
        o.push('\n');
    }
    o
}

pub fn render(r: &Results, plan: &Plan) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# sidekick benchmarks\n");
    let _ = writeln!(
        o,
        "Generated by `{}`{}. Do not edit by hand: re-run the script.\n",
        r.command,
        if r.quick {
            " (**quick smoke run**: fewer repetitions, short windows)"
        } else {
            ""
        }
    );
    if let Some(h) = &r.host {
        let _ = writeln!(o, "| | |\n|---|---|");
        let _ = writeln!(o, "| date | {} |", h.date);
        let _ = writeln!(o, "| CPU | {} |", h.cpu_model);
        let _ = writeln!(o, "| cores | {} |", h.cores);
        let _ = writeln!(o, "| memory | {} MiB |", h.memory_mb);
        let _ = writeln!(o, "| kernel | {} |", h.kernel);
        let proxy = match &r.sidekick {
            Some(s) if s.userland_proxy => "; userland proxy (docker-proxy) on",
            Some(_) => "; no userland proxy",
            None => "",
        };
        let _ = writeln!(o, "| Docker Engine | {}{proxy} |", h.docker);
        let _ = writeln!(o, "| etcd | {} |", h.etcd);
        let _ = writeln!(o, "| sidekick binary | `{}` |", h.sidekick_bin);
        let _ = writeln!(
            o,
            "| load average at start / end | {} / {} |",
            h.loadavg, r.loadavg_end
        );
        let _ = writeln!(o, "| benchmark run time | {:.0} s |\n", r.run_secs);
    }
    o.push_str(&figures_section(&r.figures));
    let _ = writeln!(o, "## Results\n");
    let _ = writeln!(o, "Median and p95 by nearest rank (p95 of 20 samples is the 19th smallest; of 5 or fewer, the largest). Verdicts judge the median against the target unless said otherwise; RSS is judged on its p95. Latencies are wall-clock differences on one host clock.\n");
    o.push_str(&main_table(r, plan));
    o.push('\n');
    if let Some(x) = &r.rolling {
        o.push_str(&super::rolling::render(x));
    }
    if let Some(e) = &r.engines {
        o.push_str(&super::engines::render(e));
    }
    if !r.errors.is_empty() {
        let _ = writeln!(o, "### Errors\n");
        for e in &r.errors {
            let _ = writeln!(
                o,
                "- {}",
                e.replace('\n', " ").chars().take(600).collect::<String>()
            );
        }
        o.push('\n');
    }
    o.push_str(&super::detail::render(r, plan));
    o
}
