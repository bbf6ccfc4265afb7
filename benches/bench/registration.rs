//! Figures 1-3: registration and deregistration latency of `sidekick run` and of the 2014 shell
//! loop on the same kind of container (the harness web image on a fixed 127.0.0.1 port, ignoring
//! SIGTERM, `--stop-timeout 2`), plus what explains them: the container's own readiness floor
//! (first HTTP 200 after `start`, polled every millisecond with no agent running) and, per cycle,
//! the agent's own timestamped log lines.

use std::time::Duration;

use serde::Serialize;

use super::cycle::{DeregSample, RegSample, Rig};
use super::dockerapi::{self, Events};
use super::logs::{self, Breakdown};
use super::shell::ShellLoop;
use super::sys::wall_ns;
use super::Plan;
use testkit::docker::{http_get, Container, ContainerOpts};
use testkit::etcd::{Etcd, Watcher};
use testkit::free_port;

pub const KEY: &str = "/services/web/web01";
/// `docker stop -t` for the deregistration cycles (the container ignores SIGTERM).
pub const STOP_SECS: u32 = 2;

#[derive(Debug, Default, Serialize)]
pub struct Cycles {
    pub reg: Vec<RegSample>,
    pub dereg: Vec<DeregSample>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FloorSample {
    /// Docker `start` event to the first complete HTTP 200 from /health.php.
    pub ready_ms: f64,
    /// Connection attempts that failed before (docker-proxy accepts, then drops the connection
    /// while nothing listens in the container).
    pub failed_attempts: u32,
    /// When the poller's first attempt began (it starts on seeing the `start` event).
    pub first_attempt_ms: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct SidekickResults {
    pub cycles: Cycles,
    pub floor: Vec<FloorSample>,
    pub reg_breakdown: Vec<Breakdown>,
    pub dereg_breakdown: Vec<Breakdown>,
    /// A docker-proxy process serves the container's published port.
    pub userland_proxy: bool,
}

fn web_container() -> (Container, u16) {
    let port = free_port();
    let c = Container::run(
        ContainerOpts::web()
            .publish(&format!("127.0.0.1:{port}:80"))
            .ignore_sigterm()
            .stop_timeout(STOP_SECS),
    );
    (c, port)
}

/// A random pause between actions: 100-400 ms, or uniform over `period` for a polling loop
/// (whose latency depends on where in its period the action falls; without this the cycles
/// would lock onto its period).
fn pause(period: Option<Duration>) {
    let ms = match period {
        Some(p) => fastrand::u64(..p.as_millis() as u64),
        None => 100 + fastrand::u64(..300),
    };
    std::thread::sleep(Duration::from_millis(ms));
}

/// First HTTP 200 after a fresh start, polled every millisecond.
fn readiness_floor(
    container: &Container,
    events: &Events,
    port: u16,
) -> Result<FloorSample, String> {
    dockerapi::kill(container.id())?;
    container.wait_status("exited", Duration::from_secs(10));
    let mark = events.len();
    dockerapi::start(container.id())?;
    let start = events
        .wait_for(mark, "start", Duration::from_secs(10))
        .ok_or("no start event")?;
    let first_attempt_ms = (wall_ns() - start.time_nano) as f64 / 1e6;
    for failed in 0u32..20_000 {
        if let Ok((200, _)) = http_get(port, "/health.php") {
            return Ok(FloorSample {
                ready_ms: (wall_ns() - start.time_nano) as f64 / 1e6,
                failed_attempts: failed,
                first_attempt_ms,
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Err("the container never answered HTTP 200".into())
}

pub(super) fn run_cycles(
    rig: &Rig,
    n: usize,
    reg_deadline: Duration,
    gone_deadline: Duration,
    period: Option<Duration>,
    label: &str,
) -> Cycles {
    let mut c = Cycles::default();
    for i in 0..n {
        pause(period);
        match rig.measure_stop(STOP_SECS, gone_deadline) {
            Ok(s) => c.dereg.push(s),
            Err(e) => c.errors.push(format!("{label} cycle {i} stop: {e}")),
        }
        pause(period);
        match rig.measure_start(reg_deadline) {
            Ok(s) => c.reg.push(s),
            Err(e) => c.errors.push(format!("{label} cycle {i} start: {e}")),
        }
        eprintln!(
            "bench: {label} cycle {}/{n}: reg {} ms, dereg {} ms",
            i + 1,
            c.reg
                .last()
                .map(|s| format!("{:.1}", s.latency_ms))
                .unwrap_or("-".into()),
            c.dereg
                .last()
                .map(|s| format!("{:.1}", s.latency_ms))
                .unwrap_or("-".into()),
        );
    }
    c
}

/// Figures 1 and 2 for `sidekick run` (default intervals).
pub fn sidekick(plan: &Plan) -> Result<SidekickResults, String> {
    let etcd = Etcd::start();
    let (container, port) = web_container();
    let events = Events::follow(container.id());
    container.wait_http_ready(Duration::from_secs(20));
    let mut out = SidekickResults {
        userland_proxy: super::sys::userland_proxy_for(port),
        ..Default::default()
    };
    for i in 0..plan.floor_n {
        match readiness_floor(&container, &events, port) {
            Ok(s) => out.floor.push(s),
            Err(e) => out.cycles.errors.push(format!("readiness floor {i}: {e}")),
        }
    }
    let watcher = Watcher::start(&etcd.endpoints(), &format!("{KEY}/"));
    let args = testkit::agent::run_args(&etcd.sidekick_args(), container.name(), KEY, &[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let agent = super::sys::spawn_sidekick(&argv, &[("RUST_LOG", "info,sidekick=debug")]);
    let rig = Rig {
        container_id: container.id(),
        watcher: &watcher,
        events: &events,
        key: KEY,
        socket: None,
    };
    if !rig.wait_registered(Duration::from_secs(20)) {
        return Err(agent.context("sidekick run never registered the container"));
    }
    out.cycles = run_cycles(
        &rig,
        plan.sidekick_n,
        Duration::from_secs(10),
        Duration::from_secs(10),
        None,
        "sidekick",
    );
    let log = logs::parse(&agent.logs());
    out.reg_breakdown = out
        .cycles
        .reg
        .iter()
        .map(|s| logs::registration(&log, s))
        .collect();
    out.dereg_breakdown = out
        .cycles
        .dereg
        .iter()
        .map(|s| logs::deregistration(&log, s))
        .collect();
    Ok(out)
}

/// Figure 3: the same cycles for the 2014 loop (10 s sleep, 10 s lease).
pub fn shell(plan: &Plan) -> Result<Cycles, String> {
    let etcd = Etcd::start();
    let (container, port) = web_container();
    let events = Events::follow(container.id());
    container.wait_http_ready(Duration::from_secs(20));
    let watcher = Watcher::start(&etcd.endpoints(), &format!("{KEY}/"));
    let _shell = ShellLoop::spawn(port, KEY, &etcd.endpoint_arg());
    let rig = Rig {
        container_id: container.id(),
        watcher: &watcher,
        events: &events,
        key: KEY,
        socket: None,
    };
    if !rig.wait_registered(Duration::from_secs(25)) {
        return Err("the shell loop never registered the container".into());
    }
    Ok(run_cycles(
        &rig,
        plan.shell_n,
        Duration::from_secs(25),
        Duration::from_secs(25),
        Some(Duration::from_secs(10)),
        "shell",
    ))
}
