//! Figure 11 (issue 21): a rolling deploy under load. N web containers (the harness web image,
//! each announced by its own agent) sit behind a real nginx whose upstream `sidekick lbsync
//! --backend nginx` keeps in step with etcd. A bounded load generator (see `rolling_load`) sends
//! requests through nginx the whole time, and the upstream file is read every 100 ms. Meanwhile
//! the deploy replaces the containers one by one, as a 2014 `fleetctl` deploy did: start the new
//! container and its agent, wait a fixed step (no registry gate), then stop the old one with its
//! grace period (`docker stop -t 2`; the container keeps serving until it is killed).
//!
//! Three subjects on the same load balancer (the 2014 loop writes the same five keys, so the same
//! lbsync reads them): `sidekick run` per container; the 2014 shell loop whose old unit is
//! stopped as fleet stopped it (BindsTo: the loop is killed and its ExecStop's five
//! `etcdctl del` run beside the `docker stop`); and the same loop when only the container is
//! stopped (`docker stop`, as figure 3 does: the loop notices on its next curl).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use testkit::agent::AgentProcess;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::Etcd;
use testkit::free_port;
use testkit::nginx::Nginx;

use super::rolling_load::{Load, Sampler};
use super::shell::ShellLoop;
use super::Plan;

pub use super::rolling_load::{Sample, Second};

const PREFIX: &str = "/services/web/";
const UPSTREAM: &str = "web";
/// New container started → old one told to stop: a deploy tool's fixed step, the same for both.
pub const STEP: Duration = Duration::from_secs(5);
/// `docker stop -t`: the old container ignores SIGTERM and serves until it is killed.
pub const STOP_SECS: u32 = 2;
/// Load before the first step, so the figure starts from the steady state.
pub const BASELINE_SECS: u64 = 3;
/// Requests per second the load generator aims at (two threads, a new connection each).
pub const RATE: u32 = 100;
/// How long the warm-up may take to bring all N instances into the upstream (the 2014 loop
/// registers on its first good curl, at most its 10 s sleep after a failed one).
const WARM_DEADLINE: Duration = Duration::from_secs(40);

/// One subject's deploy, as the load generator and the upstream sampler saw it. Times are
/// seconds since the first step (the baseline is negative).
#[derive(Debug, Default, Serialize)]
pub struct Run {
    pub label: String,
    pub per_second: Vec<Second>,
    pub members: Vec<Sample>,
    /// When each new container was started.
    pub starts: Vec<f64>,
    /// When each old container was told to stop.
    pub stops: Vec<f64>,
    /// Members when the load stopped (N when the deploy converged).
    pub final_members: usize,
    pub errors: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct RollingResults {
    pub n: usize,
    pub step_secs: f64,
    pub stop_secs: u32,
    pub tail_secs: u64,
    pub rate_per_s: u32,
    pub runs: Vec<Run>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Sidekick,
    /// The old unit stopped as fleet did: loop killed, ExecStop's deletes.
    Shell2014,
    /// Only the container stopped: the loop runs on and notices on its next curl.
    Shell2014DockerStop,
}

impl Subject {
    fn label(self) -> &'static str {
        match self {
            Subject::Sidekick => "sidekick run",
            Subject::Shell2014 => "2014 shell loop, unit stopped (ExecStop)",
            Subject::Shell2014DockerStop => "2014 shell loop, docker stop only",
        }
    }
}

enum Agent {
    Run(AgentProcess),
    Loop(ShellLoop),
}

/// One web container and the agent announcing it.
struct Instance {
    container: Container,
    port: u16,
    key: String,
    agent: Agent,
}

struct Rig<'a> {
    subject: Subject,
    etcd: &'a Etcd,
    next: usize,
}

impl Rig<'_> {
    /// `docker run` of web container number `next`, then its agent.
    fn start(&mut self) -> Instance {
        self.next += 1;
        let port = free_port();
        let key = format!("{PREFIX}web{:02}", self.next);
        let container = Container::run(
            ContainerOpts::web()
                .publish(&format!("127.0.0.1:{port}:80"))
                .ignore_sigterm()
                .stop_timeout(STOP_SECS),
        );
        let agent = match self.subject {
            Subject::Sidekick => {
                let args = testkit::agent::run_args(
                    &self.etcd.sidekick_args(),
                    container.name(),
                    &key,
                    &[],
                );
                let argv: Vec<&str> = args.iter().map(String::as_str).collect();
                Agent::Run(super::sys::spawn_sidekick(&argv, &[]))
            }
            Subject::Shell2014 | Subject::Shell2014DockerStop => {
                Agent::Loop(ShellLoop::spawn(port, &key, &self.etcd.endpoint_arg()))
            }
        };
        Instance {
            container,
            port,
            key,
            agent,
        }
    }

    /// Stops `old` as the deploy tool does; returns once the container is dead, and the agent
    /// if it is to run on.
    fn stop(&self, old: Instance) -> Result<Option<ShellLoop>, String> {
        let Instance {
            mut container,
            key,
            agent,
            ..
        } = old;
        match agent {
            Agent::Run(mut agent) => {
                // The agent sees the stop request (`kill` event) and deregisters on its own.
                container.stop_with_timeout(STOP_SECS);
                agent.sigterm();
                agent.wait_exit(Duration::from_secs(5));
            }
            Agent::Loop(shell) if self.subject == Subject::Shell2014DockerStop => {
                container.stop_with_timeout(STOP_SECS);
                container.rm_force();
                return Ok(Some(shell));
            }
            Agent::Loop(shell) => {
                // fleet: BindsTo stops monweb@ with web@ (no ordering between them), so the
                // loop dies and its ExecStop deletes the five keys while `docker stop` runs.
                drop(shell);
                let exec_stop = exec_stop_2014(&key, &self.etcd.endpoint_arg())?;
                container.stop_with_timeout(STOP_SECS);
                let out = exec_stop
                    .wait_with_output()
                    .map_err(|e| format!("ExecStop of {key}: {e}"))?;
                if !out.status.success() {
                    return Err(format!(
                        "ExecStop of {key}: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
            }
        }
        container.rm_force();
        Ok(None)
    }
}

/// monweb@'s ExecStop: five separate `etcdctl rm` (v3: `del`), started in the background.
fn exec_stop_2014(key: &str, endpoints: &str) -> Result<std::process::Child, String> {
    let script = "for k in unit host public_ipv4_addr private_ipv4_addr port; do \
                  etcdctl del \"$KEY/$k\" >/dev/null || exit 1; done";
    Command::new("bash")
        .args(["-c", script])
        .env("KEY", key)
        .env("ETCDCTL_API", "3")
        .env("ETCDCTL_ENDPOINTS", endpoints)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn the 2014 ExecStop: {e}"))
}

fn upstream(file: &std::path::Path) -> BTreeSet<SocketAddr> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    sidekick::nginx::parse(UPSTREAM, &text).servers
}

fn ports(set: &BTreeSet<SocketAddr>) -> BTreeSet<u16> {
    set.iter().map(|a| a.port()).collect()
}

fn lbsync(etcd: &Etcd, nginx: &Nginx) -> AgentProcess {
    let file = nginx.upstream_file().display().to_string();
    let mut args: Vec<String> = [
        "lbsync",
        "--backend",
        "nginx",
        "--prefix",
        PREFIX,
        "--upstream-name",
        UPSTREAM,
        "--upstream-file",
        &file,
        "--check-cmd",
        &nginx.check_cmd(),
        "--reload-cmd",
        &nginx.reload_cmd(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(etcd.sidekick_args());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    super::sys::spawn_sidekick(&argv, &[])
}

fn deploy(subject: Subject, n: usize, tail: Duration) -> Result<Run, String> {
    let etcd = Etcd::start();
    // No retry on another backend: the 2014 load balancer (a Rackspace CLB) had none, so a
    // request sent to a dead member fails where the client sees it.
    let nginx = Nginx::start_with(UPSTREAM, "", "off");
    let lb = lbsync(&etcd, &nginx);
    let mut rig = Rig {
        subject,
        etcd: &etcd,
        next: 0,
    };
    let mut live: Vec<Instance> = (0..n).map(|_| rig.start()).collect();
    // Loops left running after their container was stopped (docker stop only).
    let mut orphans: Vec<ShellLoop> = Vec::new();
    let want: BTreeSet<u16> = live.iter().map(|i| i.port).collect();
    let warm = Instant::now();
    while ports(&upstream(&nginx.upstream_file())) != want {
        if warm.elapsed() > WARM_DEADLINE {
            return Err(lb.context(&format!(
                "{}: the upstream never held the {n} first instances within {WARM_DEADLINE:?} \
                 (holds {:?}, want {want:?})",
                subject.label(),
                upstream(&nginx.upstream_file())
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "bench: rolling {}: {n} instances in the upstream after {:.1} s",
        subject.label(),
        warm.elapsed().as_secs_f64()
    );
    let dead: Arc<Mutex<BTreeSet<u16>>> = Arc::default();
    let t0 = Instant::now() + Duration::from_secs(BASELINE_SECS);
    let addr = SocketAddr::from(([127, 0, 0, 1], nginx.port));
    let load = Load::start(addr, t0, BASELINE_SECS, RATE);
    let sampler = Sampler::start(nginx.upstream_file(), UPSTREAM, t0, dead.clone());
    super::sys::sleep_until(t0);
    let mut run = Run {
        label: subject.label().into(),
        ..Default::default()
    };
    let since = |at: Instant| at.saturating_duration_since(t0).as_secs_f64();
    for step in 0..n {
        let started = Instant::now();
        run.starts.push(since(started));
        live.push(rig.start());
        super::sys::sleep_until(started + STEP);
        let old = live.remove(0);
        let (port, key) = (old.port, old.key.clone());
        run.stops.push(since(Instant::now()));
        match rig.stop(old) {
            Ok(orphan) => orphans.extend(orphan),
            Err(e) => run.errors.push(format!("step {}: {e}", step + 1)),
        }
        if let Ok(mut d) = dead.lock() {
            d.insert(port);
        }
        eprintln!(
            "bench: rolling {}: step {}/{n}: {key} replaced by {}",
            subject.label(),
            step + 1,
            live.last().map(|i| i.key.as_str()).unwrap_or("-")
        );
    }
    std::thread::sleep(tail);
    run.per_second = load.stop();
    run.members = sampler.stop();
    run.final_members = upstream(&nginx.upstream_file()).len();
    let want: BTreeSet<u16> = live.iter().map(|i| i.port).collect();
    if ports(&upstream(&nginx.upstream_file())) != want {
        run.errors.push(format!(
            "the upstream did not converge to the {n} new instances within {tail:?} of the last \
             step"
        ));
    }
    drop(orphans);
    drop(live);
    drop(lb);
    Ok(run)
}

/// The subjects one after the other, each on its own etcd, nginx and lbsync.
pub fn run(plan: &Plan) -> Result<RollingResults, String> {
    let n = if plan.quick { 2 } else { 3 };
    let tail = Duration::from_secs(if plan.quick { 8 } else { 12 });
    let mut out = RollingResults {
        n,
        step_secs: STEP.as_secs_f64(),
        stop_secs: STOP_SECS,
        tail_secs: tail.as_secs(),
        rate_per_s: RATE,
        runs: Vec::new(),
    };
    for subject in [
        Subject::Sidekick,
        Subject::Shell2014,
        Subject::Shell2014DockerStop,
    ] {
        out.runs.push(deploy(subject, n, tail)?);
    }
    Ok(out)
}

/// The report's section: per subject, requests answered and failed, and how long the load
/// balancer held fewer than N members or a dead one.
pub fn render(r: &RollingResults) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let _ = writeln!(o, "### Rolling deploy under load (figure 11)\n");
    let _ = writeln!(
        o,
        "{n} web containers behind a real nginx whose upstream `sidekick lbsync --backend nginx` \
         keeps in step with etcd; {rate} requests/s (two threads, a new connection per request) \
         through nginx the whole time, with no retry on another backend \
         (`proxy_next_upstream off`: the 2014 Rackspace load balancer had none); the upstream \
         file read every 100 ms. The deploy replaces the {n} containers one by one: start the \
         new one and its agent, wait {step:.0} s (a fixed step, no registry gate, as a 2014 \
         `fleetctl` deploy), then `docker stop -t {stop}` the old one (it serves until killed). \
         `sidekick run` announces each container. The 2014 loop (curl + five `etcdctl` puts every \
         10 s, 10 s lease) runs twice: once stopped with its container as fleet's `BindsTo` did, \
         its ExecStop's five `etcdctl del` running beside the `docker stop`; once left running \
         while only the container is stopped (as in figure 3: it notices on its next curl). nginx \
         keeps its passive checks (`max_fails=1 fail_timeout=10s`: one failed request takes a \
         dead member out for 10 s). All use the same lbsync (the 2014 \
         keys are the same five keys), so the 2014 subjects are spared the 2014 lbhelper's own \
         10 s polling. Times are from the first step; the load ran {tail} s past the last.\n",
        n = r.n,
        rate = r.rate_per_s,
        step = r.step_secs,
        stop = r.stop_secs,
        tail = r.tail_secs,
    );
    let _ = writeln!(
        o,
        "| subject | requests answered (2xx) | failed | failed % | time with fewer than {n} \
         members | time with a dead member | members min / max | members at the end |\n\
         |---|---|---|---|---|---|---|---|",
        n = r.n
    );
    for run in &r.runs {
        let t = super::rolling_load::tally(&run.per_second, &run.members, r.n);
        let total = (t.ok + t.failed).max(1) as f64;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {:.2} % | {:.1} s | {:.1} s | {} / {} | {} |",
            run.label,
            t.ok,
            t.failed,
            100.0 * t.failed as f64 / total,
            t.below_n_s,
            t.stale_s,
            t.min_members,
            t.max_members,
            run.final_members
        );
    }
    for run in &r.runs {
        for e in &run.errors {
            let _ = writeln!(o, "\n- {}: {e}", run.label);
        }
    }
    o.push('\n');
    o
}
