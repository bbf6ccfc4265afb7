//! Figure 10: the same `sidekick run` cycles on the Docker Engine and on Podman's Docker-compatible
//! API, in the same run: start event → the five keys, and stop request → keys gone (with the
//! margin before the `die` event). Podman sends no event at `podman stop` before the death, so the
//! agent reads the running container's state every 50 ms there; the idle CPU of the agent and of
//! Podman's API service over a window shows what that costs. On Docker the same cycles also run
//! for a container on a user-defined network (`--network`, internal mode) and one on the host
//! network (`--net=host`), against the published port of the same run.

use std::time::{Duration, Instant};

use serde::Serialize;
use std::fmt::Write as _;

use super::cycle::Rig;
use super::dockerapi::Events;
use super::registration::{run_cycles, Cycles, KEY, STOP_SECS};
use super::report::{ms, pct};
use super::stats::summarize;
use super::sys::{clk_tck, cpu_ticks};
use super::Plan;
use testkit::docker::{ContainerOpts, Network};
use testkit::engine::{Engine, Kind};
use testkit::etcd::{Etcd, Watcher};
use testkit::free_port;

/// How the container is reached, and so what the agent is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attach {
    /// `-p 127.0.0.1:PORT:80`: the published port.
    Published,
    /// On a user-defined network, nothing published: `--network NAME`.
    Internal,
    /// `--net=host`, serving on a free port of the host: no flag but the port.
    HostNetwork,
}

impl Attach {
    fn label(self) -> &'static str {
        match self {
            Attach::Published => "published port",
            Attach::Internal => "internal network (`--network`)",
            Attach::HostNetwork => "host network (`--net=host`)",
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct EngineFigure {
    pub engine: String,
    /// How the container was attached (see [`Attach::label`]).
    pub attach: String,
    pub cycles: Cycles,
    /// CPU of the agent over the idle window, % of one core.
    pub agent_cpu_pct: Option<f64>,
    /// CPU of Podman's API service over the same window (Podman only).
    pub service_cpu_pct: Option<f64>,
    pub idle_secs: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct EnginesResults {
    pub docker: Option<EngineFigure>,
    pub podman: Option<EngineFigure>,
    /// Docker, internal mode and host networking.
    pub internal: Option<EngineFigure>,
    pub host_network: Option<EngineFigure>,
    /// Why Podman was not measured.
    pub podman_skipped: Option<String>,
}

fn cpu_pct(pid: Option<u32>, window: Duration) -> impl FnOnce() -> Option<f64> {
    let before = pid.and_then(cpu_ticks);
    let t0 = Instant::now();
    move || {
        let after = pid.and_then(cpu_ticks)?;
        let used = (after.0 - before?.0) as f64 / clk_tck();
        let secs = t0.elapsed().as_secs_f64().max(window.as_secs_f64() / 2.0);
        Some(100.0 * used / secs)
    }
}

fn measure(engine: &Engine, attach: Attach, plan: &Plan) -> Result<EngineFigure, String> {
    let etcd = Etcd::start();
    let port = free_port();
    // Declared before the container, so it is removed after it.
    let network = (attach == Attach::Internal).then(Network::dual_stack);
    let opts = ContainerOpts::web()
        .ignore_sigterm()
        .stop_timeout(STOP_SECS);
    let mut extra: Vec<String> = Vec::new();
    let opts = match (attach, &network) {
        (Attach::Internal, Some(net)) => {
            extra.extend(["--network".to_string(), net.name().to_string()]);
            opts.no_publish().arg("--network").arg(net.name())
        }
        (Attach::HostNetwork, _) => {
            extra.extend(["--public-ip".to_string(), "127.0.0.1".to_string()]);
            opts.no_publish()
                .env("WEB_PORT", &port.to_string())
                .arg("--net=host")
        }
        _ => opts.publish(&format!("127.0.0.1:{port}:80")),
    };
    let container = engine.run(opts);
    let host = engine.docker_host();
    let socket = host.strip_prefix("unix://").unwrap_or(&host).to_string();
    let events = match engine.kind() {
        Kind::Docker => Events::follow(container.id()),
        Kind::Podman => Events::follow_api(&socket, container.id())?,
    };
    if attach == Attach::Published {
        // Elsewhere nothing is published to poll: the registration below waits for the app.
        container.wait_http_ready(Duration::from_secs(20));
    }
    let watcher = Watcher::start(&etcd.endpoints(), &format!("{KEY}/"));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let mut args = testkit::agent::run_args(
        &engine.with_args(etcd.sidekick_args()),
        container.name(),
        KEY,
        &extra,
    );
    if attach == Attach::HostNetwork {
        // The host network has no port 80 to spare: the container serves on `port`.
        for a in args.iter_mut().filter(|a| *a == "80/tcp") {
            *a = format!("{port}/tcp");
        }
    }
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let agent = super::sys::spawn_sidekick(&argv, &[]);
    let rig = Rig {
        container_id: container.id(),
        watcher: &watcher,
        events: &events,
        key: KEY,
        socket: (engine.kind() == Kind::Podman).then_some(socket.as_str()),
    };
    if !rig.wait_registered(Duration::from_secs(20)) {
        return Err(agent.context(&format!(
            "sidekick run never registered the container on {}",
            engine.cli()
        )));
    }
    let window = plan.settle * 3;
    let agent_cpu = cpu_pct(Some(agent.pid()), window);
    let service_cpu = cpu_pct(engine.service_pid(), window);
    std::thread::sleep(window);
    let (agent_cpu_pct, service_cpu_pct) = (agent_cpu(), service_cpu());
    let cycles = run_cycles(
        &rig,
        plan.sidekick_n,
        Duration::from_secs(10),
        Duration::from_secs(10),
        None,
        engine.cli(),
    );
    Ok(EngineFigure {
        engine: engine.cli().to_string(),
        attach: attach.label().to_string(),
        cycles,
        agent_cpu_pct,
        service_cpu_pct,
        idle_secs: window.as_secs_f64(),
    })
}

pub fn run(plan: &Plan) -> Result<EnginesResults, String> {
    let docker = Engine::docker();
    let mut out = EnginesResults {
        docker: Some(measure(&docker, Attach::Published, plan)?),
        internal: Some(measure(&docker, Attach::Internal, plan)?),
        host_network: Some(measure(&docker, Attach::HostNetwork, plan)?),
        ..Default::default()
    };
    match Engine::podman() {
        Some(podman) => out.podman = Some(measure(&podman, Attach::Published, plan)?),
        None => out.podman_skipped = Some("podman is not available on this machine".into()),
    }
    Ok(out)
}

fn median(v: impl Iterator<Item = f64>) -> Option<f64> {
    summarize(&v.collect::<Vec<_>>()).map(|s| s.median)
}

/// The figure's section of the report.
pub fn render(r: &EnginesResults) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "### Figure 10: Docker Engine and Podman, published ports, internal and host networks, same run\n"
    );
    let _ = writeln!(o, "`sidekick run` on a container ignoring SIGTERM (`stop -t {STOP_SECS}` through each engine's API socket). Registration: the engine's `start` event to the last of the five PUTs; deregistration: the stop request to the last DELETE, and how many cycles had the keys gone before the `die` event. Idle CPU: while registered, % of one core.\n");
    let _ = writeln!(o, "| engine | container | start → keys p50 / p95 | stop → keys gone p50 / p95 | gone before `die` | idle CPU agent / API service |\n|---|---|---|---|---|---|");
    let docker_reg = r
        .docker
        .as_ref()
        .and_then(|d| median(d.cycles.reg.iter().map(|s| s.latency_ms)));
    for f in [&r.docker, &r.internal, &r.host_network, &r.podman]
        .into_iter()
        .flatten()
    {
        let reg = summarize(
            &f.cycles
                .reg
                .iter()
                .map(|s| s.latency_ms)
                .collect::<Vec<_>>(),
        );
        let dereg = summarize(
            &f.cycles
                .dereg
                .iter()
                .map(|s| s.latency_ms)
                .collect::<Vec<_>>(),
        );
        let both = |s: Option<super::stats::Summary>| {
            s.map(|s| format!("{} / {}", ms(s.median), ms(s.p95)))
                .unwrap_or("-".into())
        };
        let before = f.cycles.dereg.iter().filter(|s| s.margin_ms > 0.0).count();
        let cpu = |x: Option<f64>| x.map(pct).unwrap_or("-".into());
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {before} of {} | {} / {} |",
            f.engine,
            f.attach,
            both(reg),
            both(dereg),
            f.cycles.dereg.len(),
            cpu(f.agent_cpu_pct),
            cpu(f.service_cpu_pct),
        );
    }
    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    for f in [&r.internal, &r.host_network].into_iter().flatten() {
        let reg = median(f.cycles.reg.iter().map(|s| s.latency_ms));
        let _ = writeln!(
            o,
            "\nTarget: {} start → keys p50 ≤ 1.2× the published port's ({}): {}.",
            f.attach,
            docker_reg.map(|d| ms(1.2 * d)).unwrap_or("-".into()),
            verdict(matches!((reg, docker_reg), (Some(x), Some(d)) if x <= 1.2 * d)),
        );
    }
    if let Some(p) = &r.podman {
        let dereg = median(p.cycles.dereg.iter().map(|s| s.latency_ms));
        let reg = median(p.cycles.reg.iter().map(|s| s.latency_ms));
        let all_before = p.cycles.dereg.iter().all(|s| s.margin_ms > 0.0);
        let _ = writeln!(
            o,
            "\nTargets: Podman stop → keys gone p50 ≤ 100 ms and before the death: {}; Podman start → keys p50 ≤ 2× Docker's ({}): {}.",
            verdict(dereg.is_some_and(|d| d <= 100.0) && all_before),
            docker_reg.map(|d| ms(2.0 * d)).unwrap_or("-".into()),
            verdict(matches!((reg, docker_reg), (Some(p), Some(d)) if p <= 2.0 * d)),
        );
        for e in p.cycles.errors.iter().chain(
            [&r.docker, &r.internal, &r.host_network]
                .into_iter()
                .flatten()
                .flat_map(|d| d.cycles.errors.iter()),
        ) {
            let _ = writeln!(o, "- error: {e}");
        }
    }
    if let Some(why) = &r.podman_skipped {
        let _ = writeln!(o, "\nPodman: not measured ({why}).");
    }
    o.push('\n');
    o
}
