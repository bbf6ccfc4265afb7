//! Figure 6: `sidekick host`, one agent for every labelled container of the host, next to the
//! 50 `sidekick run` agents of figure 4. With N labelled containers already running: how long the
//! agent takes to register all of them from its start, its idle RSS and CPU, then bursts of
//! `docker run`s at once (each container's `start` event → the receipt of its port key), and
//! SIGTERM (signal → the receipt of the last DELETE). On the way to N containers (started in
//! steps), a fresh agent's idle CPU and RSS at each step: the figure "footprint against the
//! number of containers".

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::dockerapi::Events;
use super::footprint::{measure_process, Window};
use super::host_floor::{burst_floor, probe_floor, ProbeFloor, PublishAddr};
use super::logs::{parse, Line};
use super::stats::{summarize, Summary};
use super::sys::Anchor;
use super::Plan;
use testkit::agent::AgentProcess;
use testkit::docker::{unique_name, Container, ContainerOpts};
use testkit::etcd::{Etcd, Watcher};

const PREFIX: &str = "/services/hostbench/";
const CASE_LABEL: &str = "sidekick-bench.case";

#[derive(Debug, Clone, Serialize)]
pub struct HostResults {
    /// Labelled containers running when the agent starts (and during the idle window).
    pub n: usize,
    pub containers_started_s: f64,
    /// Agent spawned → the last of the N port keys received.
    pub all_registered_ms: f64,
    pub window: Window,
    /// Containers per burst and the bursts run.
    pub burst_size: usize,
    pub bursts: usize,
    /// Per container of every burst: its `start` event → its port key received.
    pub burst_ms: Vec<f64>,
    /// Per container of every burst, from the agent's log: ms after the `start` event when it
    /// saw the container running (inspect), when the passing probe began and ended, and when
    /// etcd acknowledged the transaction.
    pub burst_steps: Vec<BurstSteps>,
    /// Per burst: the first `docker run` issued → the last `start` event.
    pub burst_spread_ms: Vec<f64>,
    /// SIGTERM → the last DELETE received, with N registered.
    pub sigterm_ms: f64,
    /// SIGTERM → the process exited.
    pub exit_ms: f64,
    /// The host address the containers publish on and the agent probes, and why it is
    /// 127.0.0.1 (docker-proxy) if it fell back to that.
    pub publish_ip: String,
    pub publish_fallback: Option<String>,
    /// A minimal blocking prober on the same containers at the agent's probe rate.
    pub probe_floor: Option<ProbeFloor>,
    /// A second agent with `--health-mode none` on the same containers: the agent without probes.
    pub no_probe_window: Option<Window>,
    /// Per container of bursts with no agent: its `start` event → its first HTTP 200.
    pub floor_burst_ms: Vec<f64>,
    /// Idle CPU and RSS of a fresh agent beside fewer containers (half the idle window each),
    /// on the way to `n`; the full window above is the point at `n`.
    pub sweep: Vec<SweepPoint>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub containers: usize,
    pub window: Window,
}

#[derive(Debug, Clone, Serialize)]
pub struct BurstSteps {
    pub running_seen: Option<f64>,
    pub passing_probe_began: Option<f64>,
    pub probe_passed: Option<f64>,
    pub registered: Option<f64>,
}

impl BurstSteps {
    pub const NAMES: [&'static str; 4] = [
        "agent saw it running (inspect after the event)",
        "passing probe began (log time − elapsed_ms)",
        "probe passed",
        "etcd txn acknowledged (\"registered\")",
    ];

    pub fn values(&self) -> [Option<f64>; 4] {
        [
            self.running_seen,
            self.passing_probe_began,
            self.probe_passed,
            self.registered,
        ]
    }

    /// Each phase's own length, in the order of [`BurstSteps::PHASES`].
    pub fn phases(&self) -> [Option<f64>; 4] {
        let between = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
        [
            self.running_seen,
            between(self.running_seen, self.passing_probe_began),
            between(self.passing_probe_began, self.probe_passed),
            between(self.probe_passed, self.registered),
        ]
    }

    pub const PHASES: [&'static str; 4] = [
        "Docker: start event → inspect answered",
        "container not answering yet: → passing probe began (failed probes)",
        "container answering: the passing probe itself",
        "etcd: probe passed → txn acknowledged",
    ];

    /// From the agent's log lines (`container{name=N key=K}: ...`).
    fn from_log(log: &[Line], name: &str, key: &str, start_ns: i64) -> BurstSteps {
        let from = start_ns - 1_000_000;
        let span = format!("name={name} ");
        let find =
            |after: i64, f: &dyn Fn(&str) -> bool| log.iter().find(|l| l.ns >= after && f(&l.text));
        let ms = |ns: i64| (ns - start_ns) as f64 / 1e6;
        let running = find(from, &|t| {
            t.contains(&span) && t.contains("waiting for the first passing health probe")
        });
        let passed = find(from, &|t| {
            t.contains(&span) && t.contains("health check passed")
        });
        let registered = find(from, &|t| t.contains(&format!("registered key={key} ")));
        BurstSteps {
            running_seen: running.map(|l| ms(l.ns)),
            passing_probe_began: passed.and_then(|l| {
                let elapsed = field_u64(&l.text, "elapsed_ms")?;
                Some(ms(l.ns) - elapsed as f64)
            }),
            probe_passed: passed.map(|l| ms(l.ns)),
            registered: registered.map(|l| ms(l.ns)),
        }
    }
}

fn field_u64(text: &str, name: &str) -> Option<u64> {
    let i = text.find(&format!("{name}="))? + name.len() + 1;
    text[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

impl HostResults {
    pub fn burst(&self) -> Option<Summary> {
        summarize(&self.burst_ms)
    }
}

/// A labelled web container published on `publish` (a `-p` spec).
fn opts(case: &str, i: usize, publish: &str) -> ContainerOpts {
    ContainerOpts::web()
        .publish(publish)
        .label(CASE_LABEL, case)
        .label("sidekick.key", &format!("{PREFIX}h{i:03}"))
}

/// `sidekick host` for this run's containers (those labelled with `case`), plus `extra`.
fn host_args(etcd: &Etcd, case: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["host", "--host", "core01", "--require-label"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.push(format!("{CASE_LABEL}={case}"));
    v.extend(etcd.sidekick_args());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// `docker run` of every `opts` at once, `threads` at a time.
pub(super) fn run_at_once(opts: Vec<ContainerOpts>, threads: usize) -> Vec<Container> {
    let queue = Mutex::new(opts);
    let made = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let next = queue.lock().unwrap().pop();
                let Some(o) = next else { break };
                let c = Container::run(o);
                made.lock().unwrap().push(c);
            });
        }
    });
    made.into_inner().unwrap()
}

pub(super) fn remove_all(containers: Vec<Container>) {
    let q = Mutex::new(containers);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let c = q.lock().unwrap().pop();
                match c {
                    Some(c) => drop(c),
                    None => break,
                }
            });
        }
    });
}

/// The first receipt of each port key under the prefix, since watcher mark `mark`.
fn port_puts(w: &Watcher, mark: usize) -> BTreeMap<String, Instant> {
    let mut out = BTreeMap::new();
    for e in w.events_since(mark) {
        if e.is_put() && e.key.ends_with("/port") {
            out.entry(e.key.clone()).or_insert(e.at);
        }
    }
    out
}

fn wait(deadline: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    f()
}

pub fn run(plan: &Plan) -> Result<HostResults, String> {
    let n = plan.many_n;
    let etcd = Etcd::start();
    let case = unique_name("host");
    let publish = PublishAddr::setup();
    let spec = publish.spec(None);
    let watcher = Watcher::start(&etcd.endpoints(), PREFIX);
    let mut standing = Vec::new();
    let mut containers_started_s = 0.0;
    let mut sweep = Vec::new();
    for k in [n / 5, n / 2, n] {
        let t0 = Instant::now();
        let more = (standing.len()..k).map(|i| opts(&case, i, &spec)).collect();
        standing.extend(run_at_once(more, 4));
        containers_started_s += t0.elapsed().as_secs_f64();
        if k < n && k > 0 {
            match idle_window(&etcd, &case, &watcher, k, plan, &[]) {
                Ok(window) => sweep.push(SweepPoint {
                    containers: k,
                    window,
                }),
                Err(e) => {
                    remove_all(standing);
                    return Err(format!("sweep at {k} containers: {e}"));
                }
            }
        }
    }
    let args = host_args(&etcd, &case, &[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mark = watcher.len();
    let spawned = Instant::now();
    let mut agent = super::sys::spawn_sidekick(&argv, &[]);
    if !wait(Duration::from_secs(60), || {
        port_puts(&watcher, mark).len() >= n
    }) {
        let got = port_puts(&watcher, mark).len();
        remove_all(standing);
        return Err(agent.context(&format!(
            "only {got} of {n} containers registered within 60 s"
        )));
    }
    let last = port_puts(&watcher, mark)
        .values()
        .max()
        .copied()
        .unwrap_or(spawned);
    let all_registered_ms = last.duration_since(spawned).as_secs_f64() * 1e3;
    std::thread::sleep(plan.settle);
    let window = match measure_process(agent.pid(), plan.idle) {
        Ok(w) => w,
        Err(e) => {
            remove_all(standing);
            return Err(e);
        }
    };
    let mut out = HostResults {
        n,
        containers_started_s,
        all_registered_ms,
        window,
        burst_size: if plan.quick { 10 } else { 20 },
        bursts: if plan.quick { 1 } else { 3 },
        burst_ms: Vec::new(),
        burst_steps: Vec::new(),
        burst_spread_ms: Vec::new(),
        sigterm_ms: 0.0,
        exit_ms: 0.0,
        publish_ip: publish.ip.to_string(),
        publish_fallback: publish.fallback.clone(),
        probe_floor: None,
        no_probe_window: None,
        floor_burst_ms: Vec::new(),
        sweep,
        errors: Vec::new(),
    };
    let addrs: Vec<SocketAddr> = standing
        .iter()
        .filter_map(|c| c.try_host_port(80))
        .map(|p| SocketAddr::from((publish.ip, p)))
        .collect();
    let rounds = if plan.quick { 2 } else { 6 };
    out.probe_floor = Some(probe_floor(&addrs, Duration::from_secs(5), rounds));
    for b in 0..out.bursts {
        if let Err(e) = burst(
            &case,
            n + b * out.burst_size,
            out.burst_size,
            (&watcher, &agent, &spec),
            &mut out,
        ) {
            out.errors.push(format!("burst {b}: {e}"));
        }
    }
    let (sigterm_ms, exit_ms) = sigterm(&mut agent, &watcher, n)?;
    out.sigterm_ms = sigterm_ms;
    out.exit_ms = exit_ms;
    match no_probes(&etcd, &case, &watcher, n, plan) {
        Ok(w) => out.no_probe_window = Some(w),
        Err(e) => out.errors.push(format!("agent without probes: {e}")),
    }
    remove_all(standing);
    for b in 0..out.bursts {
        let first = n + (out.bursts + b) * out.burst_size;
        let floor_opts = (first..first + out.burst_size)
            .map(|_| ContainerOpts::web().label(CASE_LABEL, &case))
            .collect();
        match burst_floor(&publish, &format!("label={CASE_LABEL}={case}"), floor_opts) {
            Ok(v) => out.floor_burst_ms.extend(v),
            Err(e) => out.errors.push(format!("floor burst {b}: {e}")),
        }
    }
    Ok(out)
}

/// `size` `docker run`s at once; per container, its `start` event → its port key received.
fn burst(
    case: &str,
    first: usize,
    size: usize,
    (watcher, agent, spec): (&Watcher, &AgentProcess, &str),
    out: &mut HostResults,
) -> Result<(), String> {
    let events = Events::follow_filter(&format!("label={CASE_LABEL}={case}"));
    std::thread::sleep(Duration::from_millis(300)); // the events child subscribes
    let mark = watcher.len();
    let anchor = Anchor::now();
    let issued = super::sys::wall_ns();
    let made = run_at_once(
        (first..first + size).map(|i| opts(case, i, spec)).collect(),
        size,
    );
    let result = (|| {
        let want: BTreeSet<String> = (first..first + size)
            .map(|i| format!("{PREFIX}h{i:03}/port"))
            .collect();
        let all = || {
            let got = port_puts(watcher, mark);
            want.iter().all(|k| got.contains_key(k))
        };
        if !wait(Duration::from_secs(30), all) {
            return Err(format!(
                "only {} of {size} burst containers registered within 30 s",
                port_puts(watcher, mark).len()
            ));
        }
        let puts = port_puts(watcher, mark);
        let starts: BTreeMap<String, i64> = events
            .all()
            .into_iter()
            .filter(|e| e.action == "start")
            .map(|e| (e.id, e.time_nano))
            .collect();
        let mut last_start = issued;
        let log = parse(&agent.logs());
        for c in &made {
            let key = c.inspect("{{index .Config.Labels \"sidekick.key\"}}");
            let start = *starts
                .get(c.id())
                .ok_or_else(|| format!("no start event for {}", c.name()))?;
            let put = puts
                .get(&format!("{key}/port"))
                .ok_or_else(|| format!("no port key for {key}"))?;
            last_start = last_start.max(start);
            out.burst_ms
                .push((anchor.wall_of(*put) - start) as f64 / 1e6);
            out.burst_steps
                .push(BurstSteps::from_log(&log, c.name(), &key, start));
        }
        out.burst_spread_ms.push((last_start - issued) as f64 / 1e6);
        Ok(())
    })();
    remove_all(made);
    // Wait for the removed containers' keys to go before the next burst.
    let _ = wait(Duration::from_secs(20), || {
        let now = watcher.events();
        let gone: BTreeSet<&str> = now
            .iter()
            .filter(|e| e.is_delete() && e.key.ends_with("/port"))
            .map(|e| e.key.as_str())
            .collect();
        (first..first + size).all(|i| gone.contains(format!("{PREFIX}h{i:03}/port").as_str()))
    });
    result
}

/// A second agent with `--health-mode none` beside the same `n` containers, idle for half the
/// window once it registered them all: what the agent costs without its probes.
fn no_probes(
    etcd: &Etcd,
    case: &str,
    watcher: &Watcher,
    n: usize,
    plan: &Plan,
) -> Result<Window, String> {
    idle_window(etcd, case, watcher, n, plan, &["--health-mode", "none"])
}

/// A fresh agent with `extra` flags beside the first `n` containers, idle for half the window
/// once it registered them all, then stopped by SIGTERM.
fn idle_window(
    etcd: &Etcd,
    case: &str,
    watcher: &Watcher,
    n: usize,
    plan: &Plan,
    extra: &[&str],
) -> Result<Window, String> {
    let args = host_args(etcd, case, extra);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mark = watcher.len();
    let mut agent = super::sys::spawn_sidekick(&argv, &[]);
    if !wait(Duration::from_secs(30), || {
        port_puts(watcher, mark).len() >= n
    }) {
        return Err(agent.context("did not register every container within 30 s"));
    }
    std::thread::sleep(plan.settle);
    let w = measure_process(agent.pid(), plan.idle / 2);
    agent.sigterm();
    let _ = agent.wait_exit(Duration::from_secs(10));
    w
}

/// SIGTERM with `n` registered: the signal → the last DELETE received, and → the exit.
fn sigterm(agent: &mut AgentProcess, watcher: &Watcher, n: usize) -> Result<(f64, f64), String> {
    let registered = |w: &Watcher| -> BTreeSet<String> {
        let mut present = BTreeSet::new();
        for e in w.events() {
            if e.key.ends_with("/port") {
                if e.is_put() {
                    present.insert(e.key.clone());
                } else {
                    present.remove(&e.key);
                }
            }
        }
        present
    };
    let before = registered(watcher).len();
    if before < n {
        return Err(format!("only {before} of {n} registered before SIGTERM"));
    }
    let mark = watcher.len();
    let t = Instant::now();
    agent.sigterm();
    let exited = agent.wait_exit(Duration::from_secs(10));
    let exit_ms = t.elapsed().as_secs_f64() * 1e3;
    if exited.is_none() {
        return Err(agent.context("did not exit within 10 s of SIGTERM"));
    }
    if !wait(Duration::from_secs(10), || registered(watcher).is_empty()) {
        return Err(format!(
            "{} keys left after SIGTERM",
            registered(watcher).len()
        ));
    }
    let last = watcher
        .events_since(mark)
        .iter()
        .filter(|e| e.is_delete())
        .map(|e| e.at)
        .max()
        .ok_or("no DELETE after SIGTERM")?;
    Ok((last.duration_since(t).as_secs_f64() * 1e3, exit_ms))
}
