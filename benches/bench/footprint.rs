//! Figure 4: what an idle agent costs. RSS is sampled from /proc/PID/status (VmRSS, split into
//! anon/file/shmem) and broken down by mapping from /proc/PID/smaps; CPU is the growth of
//! utime+stime in /proc/PID/stat over the window divided by wall time (plus, for one agent, the
//! nanosecond on-CPU time of its threads from /proc/PID/task/*/schedstat). For the shell loop,
//! the whole process tree counts: CPU of every process in the tree (own + waited-for children,
//! so curl/etcdctl/sleep children that ran and exited inside the window are included) and RSS as
//! the sum over the loop and its live children, sampled every 10 ms.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::shell::ShellLoop;
use super::stats::{summarize, Summary};
use super::sys::{self, clk_tck, cpu_ticks, rss, rss_by_mapping, tree, Rss};
use super::Plan;
use testkit::agent::AgentProcess;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::{Etcd, Watcher};
use testkit::free_port;

#[derive(Debug, Clone, Serialize)]
pub struct Window {
    pub secs: f64,
    pub cpu_pct: f64,
    /// From schedstat nanoseconds (single process only; threads that exit inside the window
    /// are missing from it).
    pub cpu_pct_ns: Option<f64>,
    pub rss_kb: Summary,
    pub last: Rss,
    pub mapping: BTreeMap<String, u64>,
    pub pss_kb: Option<u64>,
}

/// Sum of on-CPU nanoseconds of the live threads of `pid`.
fn sched_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let s = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
        total += s.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// Proportional set size (shared pages divided among their users), kB.
pub fn pss(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    s.lines()
        .find(|l| l.starts_with("Pss:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// One process over `window`, RSS sampled every second.
pub fn measure_process(pid: u32, window: Duration) -> Result<Window, String> {
    let gone = || format!("process {pid} went away during the window");
    let t0 = Instant::now();
    let (ticks0, _) = cpu_ticks(pid).ok_or_else(gone)?;
    let ns0 = sched_ns(pid);
    let mut samples = Vec::new();
    let mut last = Rss::default();
    for i in 0..=(window.as_secs() as u32 + 1) {
        let r = rss(pid).ok_or_else(gone)?;
        samples.push(r.rss as f64);
        last = r;
        let next = t0 + Duration::from_secs(u64::from(i) + 1);
        if next > t0 + window {
            break;
        }
        sys::sleep_until(next);
    }
    sys::sleep_until(t0 + window);
    let (ticks1, _) = cpu_ticks(pid).ok_or_else(gone)?;
    let ns1 = sched_ns(pid);
    let wall = t0.elapsed().as_secs_f64();
    Ok(Window {
        secs: wall,
        cpu_pct: (ticks1 - ticks0) as f64 / clk_tck() / wall * 100.0,
        cpu_pct_ns: ns0
            .zip(ns1)
            .map(|(a, b)| b.saturating_sub(a) as f64 / 1e9 / wall * 100.0),
        rss_kb: summarize(&samples).ok_or("no RSS samples")?,
        last,
        mapping: rss_by_mapping(pid),
        pss_kb: pss(pid),
    })
}

/// CPU ticks of a process tree: own + waited-for children of every live member.
fn tree_ticks(root: u32) -> u64 {
    tree(root)
        .iter()
        .filter_map(|p| cpu_ticks(*p))
        .map(|(own, kids)| own + kids)
        .sum()
}

fn tree_rss(root: u32) -> u64 {
    tree(root)
        .iter()
        .filter_map(|p| rss(*p))
        .map(|r| r.rss)
        .sum()
}

/// A process tree over `window`, RSS summed over the tree every 10 ms.
pub fn measure_tree(root: u32, window: Duration) -> Result<Window, String> {
    let t0 = Instant::now();
    let c0 = tree_ticks(root);
    let mut samples = Vec::new();
    let max_samples = window.as_millis() as usize / 10 + 10;
    while t0.elapsed() < window && samples.len() < max_samples {
        let r = tree_rss(root);
        if r == 0 {
            return Err(format!("process tree {root} went away"));
        }
        samples.push(r as f64);
        std::thread::sleep(Duration::from_millis(10));
    }
    let c1 = tree_ticks(root);
    let wall = t0.elapsed().as_secs_f64();
    Ok(Window {
        secs: wall,
        cpu_pct: c1.saturating_sub(c0) as f64 / clk_tck() / wall * 100.0,
        cpu_pct_ns: None,
        rss_kb: summarize(&samples).ok_or("no RSS samples")?,
        last: rss(root).unwrap_or_default(),
        mapping: BTreeMap::new(),
        pss_kb: None,
    })
}

fn agent_args(etcd: &Etcd, container: &str, key: &str, unit: &str) -> Vec<String> {
    testkit::agent::run_args_as(&etcd.sidekick_args(), container, key, unit, &[])
}

fn spawn_agent(args: &[String]) -> AgentProcess {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    super::sys::spawn_sidekick(&argv, &[])
}

/// One `sidekick run` at default intervals beside a healthy container.
pub fn one_agent(plan: &Plan) -> Result<Window, String> {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let key = "/services/web/web01";
    let watcher = Watcher::start(&etcd.endpoints(), &format!("{key}/"));
    let agent = spawn_agent(&agent_args(&etcd, web.name(), key, "monweb@01.service"));
    watcher
        .wait_for(|e| e.key == format!("{key}/port"), Duration::from_secs(20))
        .ok_or_else(|| agent.context("agent never registered"))?;
    std::thread::sleep(plan.settle);
    measure_process(agent.pid(), plan.idle)
}

#[derive(Debug, Clone, Serialize)]
pub struct ShellWindow {
    pub window: Window,
    /// DELETEs of the port key inside the window while the container stayed healthy.
    pub lapses: usize,
    /// Share of the window the port key was absent.
    pub absent_pct: f64,
}

/// The 2014 loop beside a healthy container.
pub fn shell_loop(plan: &Plan) -> Result<ShellWindow, String> {
    let etcd = Etcd::start();
    let port = free_port();
    let _web = Container::run(ContainerOpts::web().publish(&format!("127.0.0.1:{port}:80")));
    let key = "/services/web/web01";
    let watcher = Watcher::start(&etcd.endpoints(), &format!("{key}/"));
    let shell = ShellLoop::spawn(port, key, &etcd.endpoint_arg());
    let port_key = format!("{key}/port");
    watcher
        .wait_for(|e| e.key == port_key && e.is_put(), Duration::from_secs(25))
        .ok_or("the shell loop never registered")?;
    std::thread::sleep(plan.settle);
    let mark = watcher.len();
    let start = Instant::now();
    let window = measure_tree(shell.pid(), plan.idle)?;
    let end = Instant::now();
    let evs: Vec<_> = watcher
        .events_since(mark)
        .into_iter()
        .filter(|e| e.key == port_key && e.at <= end)
        .collect();
    let mut absent = Duration::ZERO;
    let mut gone_since: Option<Instant> = None;
    for e in &evs {
        match (e.is_delete(), gone_since) {
            (true, None) => gone_since = Some(e.at),
            (false, Some(t)) => {
                absent += e.at - t;
                gone_since = None;
            }
            _ => {}
        }
    }
    if let Some(t) = gone_since {
        absent += end - t;
    }
    Ok(ShellWindow {
        window,
        lapses: evs.iter().filter(|e| e.is_delete()).count(),
        absent_pct: absent.as_secs_f64() / (end - start).as_secs_f64() * 100.0,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Many {
    pub n: usize,
    pub secs: f64,
    pub containers_started_s: f64,
    pub all_registered_s: f64,
    pub window: ManyWindow,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManyWindow {
    /// Sum of VmRSS over the agents at each sample.
    pub total_rss_kb: Summary,
    /// Sum of PSS over the agents (shared pages counted once), at the end of the window.
    pub total_pss_kb: u64,
    /// Each agent's median RSS, across agents.
    pub per_agent_rss_kb: Summary,
    /// From utime+stime (10 ms ticks).
    pub total_cpu_pct: f64,
    pub per_agent_cpu_pct: Summary,
    /// From the threads' schedstat nanoseconds.
    pub total_cpu_pct_ns: f64,
    pub per_agent_cpu_pct_ns: Summary,
    pub etcd_cpu_pct: Option<f64>,
}

/// The etcd process this benchmark started (a child named etcd), if any.
fn etcd_pid() -> Option<u32> {
    tree(std::process::id()).into_iter().find(|p| {
        std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "etcd")
    })
}

fn start_containers(n: usize) -> Result<Vec<Container>, String> {
    let made = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    let c = Container::run(ContainerOpts::web());
                    made.lock().unwrap().push(c);
                }
            });
        }
    });
    let v = made.into_inner().unwrap();
    if v.len() != n {
        return Err(format!("started {} of {n} containers", v.len()));
    }
    Ok(v)
}

fn remove_in_parallel(containers: Vec<Container>) {
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

/// `n` agents beside `n` containers on this host.
pub fn many(plan: &Plan) -> Result<Many, String> {
    let n = plan.many_n;
    let etcd = Etcd::start();
    let prefix = "/services/bench/";
    let watcher = Watcher::start(&etcd.endpoints(), prefix);
    let t0 = Instant::now();
    let containers = start_containers(n)?;
    let containers_started_s = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut agents: Vec<AgentProcess> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let key = format!("{prefix}a{i:02}");
            spawn_agent(&agent_args(
                &etcd,
                c.name(),
                &key,
                &format!("monweb@{i:02}.service"),
            ))
        })
        .collect();
    let registered = |w: &Watcher| {
        w.puts()
            .iter()
            .filter(|e| e.key.ends_with("/port"))
            .map(|e| e.key.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    let ok = testkit::wait::poll_until(Duration::from_secs(120), || registered(&watcher) >= n);
    let all_registered_s = t1.elapsed().as_secs_f64();
    let result = if !ok {
        Err(format!(
            "only {} of {n} agents registered within 120 s",
            registered(&watcher)
        ))
    } else {
        std::thread::sleep(plan.settle);
        measure_many(&agents, plan.idle).map(|window| Many {
            n,
            secs: plan.idle.as_secs_f64(),
            containers_started_s,
            all_registered_s,
            window,
        })
    };
    agents.clear();
    remove_in_parallel(containers);
    result
}

fn pct_of(deltas: &[f64], wall: f64) -> Vec<f64> {
    deltas.iter().map(|d| d / wall * 100.0).collect()
}

fn measure_many(agents: &[AgentProcess], window: Duration) -> Result<ManyWindow, String> {
    let pids: Vec<u32> = agents.iter().map(AgentProcess::pid).collect();
    let ticks = || -> Vec<u64> {
        pids.iter()
            .map(|p| cpu_ticks(*p).map_or(0, |t| t.0))
            .collect()
    };
    let nanos = || -> Vec<u64> { pids.iter().map(|p| sched_ns(*p).unwrap_or(0)).collect() };
    let etcd = etcd_pid();
    let t0 = Instant::now();
    let (ticks0, ns0) = (ticks(), nanos());
    let etcd0 = etcd.and_then(cpu_ticks).map(|t| t.0);
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); pids.len()];
    let mut totals = Vec::new();
    let secs = window.as_secs().max(1);
    for i in 0..=secs {
        let mut total = 0.0;
        for (j, p) in pids.iter().enumerate() {
            let r = rss(*p).ok_or_else(|| format!("agent {j} (pid {p}) exited"))?;
            per[j].push(r.rss as f64);
            total += r.rss as f64;
        }
        totals.push(total);
        if i < secs {
            sys::sleep_until(t0 + Duration::from_secs(i + 1));
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let (ticks1, ns1) = (ticks(), nanos());
    let etcd1 = etcd.and_then(cpu_ticks).map(|t| t.0);
    let tck = clk_tck();
    let by_ticks: Vec<f64> = ticks0
        .iter()
        .zip(&ticks1)
        .map(|(a, b)| b.saturating_sub(*a) as f64 / tck)
        .collect();
    let by_ns: Vec<f64> = ns0
        .iter()
        .zip(&ns1)
        .map(|(a, b)| b.saturating_sub(*a) as f64 / 1e9)
        .collect();
    let (cpu, cpu_ns) = (pct_of(&by_ticks, wall), pct_of(&by_ns, wall));
    let medians: Vec<f64> = per
        .iter()
        .filter_map(|s| summarize(s).map(|x| x.median))
        .collect();
    Ok(ManyWindow {
        total_rss_kb: summarize(&totals).ok_or("no samples")?,
        total_pss_kb: pids.iter().filter_map(|p| pss(*p)).sum(),
        per_agent_rss_kb: summarize(&medians).ok_or("no samples")?,
        total_cpu_pct: cpu.iter().sum(),
        per_agent_cpu_pct: summarize(&cpu).ok_or("no samples")?,
        total_cpu_pct_ns: cpu_ns.iter().sum(),
        per_agent_cpu_pct_ns: summarize(&cpu_ns).ok_or("no samples")?,
        etcd_cpu_pct: etcd0
            .zip(etcd1)
            .map(|(a, b)| b.saturating_sub(a) as f64 / tck / wall * 100.0),
    })
}
