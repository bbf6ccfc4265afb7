//! `sidekick run`: the per-container agent. Wires the Docker follower, the prober and the etcd
//! writer together around the pure decisions in `decide`, and owns the shutdown sequence
//! (SIGTERM/SIGINT: revoke the lease so the keys vanish at once, exit 0).

pub mod decide;
pub mod prober;
pub mod writer;

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use crate::config::AgentConfig;
use crate::docker::follow::{follow, DockerUpdate};
use crate::docker::{self, ContainerView, DockerError};
use crate::health::{Probe, Prober, Transition};
use crate::registry::Owner;
use decide::{decide, probe_target, Desired, HealthState, Kill, Reason};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Docker(#[from] DockerError),
}

/// A fresh random identity for this agent process.
pub fn new_owner(cfg: &AgentConfig) -> Owner {
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Owner {
        agent: format!("{:016x}", fastrand::u64(..)),
        host: cfg.host.clone(),
        container: cfg.container.clone(),
        pid: std::process::id(),
        started_ms,
    }
}

/// What the probe target is tied to: a new run of the container or a new address re-probes
/// from scratch.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TargetKey {
    probe: Probe,
    container_id: String,
    started_at_nanos: i64,
}

/// Runs the agent until `shutdown` resolves; then revokes the lease and returns.
pub async fn run(cfg: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    let docker = docker::connect(&cfg.docker_host)?;
    info!(container = %cfg.container, port = %cfg.port, key = %cfg.layout.prefix, mode = ?cfg.health.mode, etcd = ?cfg.etcd.endpoints, "sidekick run starting");

    let (docker_tx, mut docker_rx) = mpsc::channel(64);
    let follower = tokio::spawn(follow(docker, cfg.container.clone(), cfg.port, docker_tx));

    let (target_tx, target_rx) = watch::channel(None);
    let (report_tx, mut report_rx) = mpsc::channel(16);
    let prober = Prober::new(cfg.health.timeout);
    let schedule = prober::Schedule {
        interval: cfg.health.interval,
        rise: cfg.health.rise,
        fall: cfg.health.fall,
    };
    let probe_task = tokio::spawn(prober::run(
        move |p: Probe| {
            let pr = prober.clone();
            async move { pr.probe(&p).await }
        },
        target_rx,
        report_tx,
        schedule,
    ));

    let (desired_tx, desired_rx) = watch::channel(Desired::Undecided);
    let (stop_tx, stop_rx) = oneshot::channel();
    let writer_cfg = writer::WriterConfig {
        etcd: cfg.etcd.clone(),
        layout: cfg.layout.clone(),
        me: new_owner(&cfg),
        ttl: cfg.ttl,
        resync: cfg.resync,
    };
    let writer = tokio::spawn(writer::run(writer_cfg, desired_rx, stop_rx));

    let mut brain = Brain::new(&cfg);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            Some(u) = docker_rx.recv() => brain.on_docker(u),
            Some(r) = report_rx.recv() => brain.on_report(r),
            else => break,
        }
        brain.step(&target_tx, &desired_tx);
    }
    info!("shutting down: revoking the lease");
    follower.abort();
    probe_task.abort();
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(writer::REVOKE_DEADLINE + Duration::from_secs(1), writer).await;
    Ok(())
}

/// The agent's state between events; every change goes through `step`.
struct Brain<'a> {
    cfg: &'a AgentConfig,
    view: Option<ContainerView>,
    kill: Option<Kill>,
    health: HealthState,
    generation: u64,
    target: Option<TargetKey>,
    desired: Desired,
    reason: Option<Reason>,
    docker_down: bool,
    /// Whether Docker has answered at least once: until then nothing is known about the
    /// container, and a predecessor's keys are left alone.
    docker_seen: bool,
}

impl<'a> Brain<'a> {
    fn new(cfg: &'a AgentConfig) -> Brain<'a> {
        Brain {
            cfg,
            view: None,
            kill: None,
            health: HealthState::default(),
            generation: 0,
            target: None,
            desired: Desired::Undecided,
            reason: None,
            docker_down: false,
            docker_seen: false,
        }
    }

    fn on_docker(&mut self, u: DockerUpdate) {
        match u {
            DockerUpdate::Snapshot(v) => {
                self.docker_down = false;
                self.docker_seen = true;
                self.view = v;
            }
            DockerUpdate::Kill {
                container_id,
                signal,
                at_nanos,
            } => {
                self.kill = Some(Kill {
                    container_id,
                    signal,
                    at_nanos,
                });
            }
            DockerUpdate::Disconnected(e) => {
                if !self.docker_down {
                    warn!(error = %e, "lost docker; keeping the last known state and probing on");
                }
                self.docker_down = true;
            }
        }
    }

    fn on_report(&mut self, r: prober::Report) {
        if r.generation != self.generation {
            return;
        }
        match r.transition {
            Transition::Fell => warn!(
                error = r.outcome.error.as_deref().unwrap_or(""),
                status = r.outcome.status,
                "health check failed"
            ),
            Transition::Rose => info!(
                status = r.outcome.status,
                elapsed_ms = r.outcome.elapsed_ms,
                "health check passed"
            ),
            Transition::Steady => {}
        }
        self.health = HealthState {
            healthy: r.healthy,
            last_error: r.outcome.error.clone(),
            probed: true,
            passes: r.passes,
        };
    }

    fn step(
        &mut self,
        target_tx: &watch::Sender<Option<prober::Target>>,
        desired_tx: &watch::Sender<Desired>,
    ) {
        let probe = probe_target(self.cfg, self.view.as_ref(), self.kill.as_ref());
        let key = match (&probe, &self.view) {
            (Some(p), Some(v)) => Some(TargetKey {
                probe: p.clone(),
                container_id: v.id.clone(),
                started_at_nanos: v.started_at_nanos,
            }),
            _ => None,
        };
        if key != self.target {
            self.generation += 1;
            self.target = key;
            self.health = HealthState::default();
            target_tx.send_replace(probe.map(|probe| prober::Target {
                generation: self.generation,
                probe,
            }));
        }
        let (record, reason) = if self.docker_seen {
            decide(
                self.cfg,
                self.view.as_ref(),
                self.kill.as_ref(),
                &self.health,
            )
        } else {
            (None, Reason::DockerUnknown)
        };
        let desired = Desired::from_decision(record, &reason);
        if self.reason.as_ref() != Some(&reason) {
            info!(state = %reason, "container state");
            self.reason = Some(reason);
        }
        if desired != self.desired {
            self.desired = desired.clone();
            desired_tx.send_replace(desired);
        }
    }
}
