//! The per-container agent: [`run_container`] wires one container's Docker updates, the prober
//! and the etcd writer around the pure decisions in `decide`; `sidekick run` ([`run`]) feeds it
//! from its own Docker follower and owns the shutdown sequence (SIGTERM/SIGINT: revoke the lease
//! so the keys vanish at once, exit 0); `sidekick host` runs one per labelled container.

pub mod decide;
pub mod prober;
pub mod writer;

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn, Instrument};

use crate::config::AgentConfig;
use crate::docker::follow::{follow, DockerUpdate};
use crate::docker::{self, ContainerView, DockerError};
use crate::etcd::access::{connect_checked, Need, AGENT_NEEDS};
use crate::etcd::lease::LeaseKeeper;
use crate::etcd::{EtcdError, Pool};
use crate::health::{Probe, Prober, Transition};
use crate::registry::Owner;
use decide::{decide, probe_target, Desired, HealthState, Kill, Reason};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Etcd(#[from] EtcdError),
}

impl AgentError {
    /// True for errors the user must fix in the configuration (exit 2): etcd refused the
    /// credentials or a permission the agent needs.
    pub fn is_config(&self) -> bool {
        matches!(self, AgentError::Etcd(e) if e.is_config())
            || matches!(self, AgentError::Docker(DockerError::NoSuchNetwork { .. }))
    }
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

/// How a container's writer is told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// The process shuts down: revoking the lease removes every key at once (`run`: the agent's
    /// own lease; `host`: the one lease all its containers share, revoked by `host` itself).
    Shutdown,
    /// This container is gone but the process goes on (`host`): its keys and its owner record
    /// must go now, and nothing else.
    Release,
}

/// One container's etcd writer, whichever way it is wired: `run` gives it its own lease
/// ([`WriterHandle::own_lease`]); `host` gives every container's writer the one lease of the
/// host ([`WriterHandle::shared`]).
pub struct WriterHandle {
    desired: watch::Sender<Desired>,
    stop: oneshot::Sender<StopMode>,
    task: tokio::task::JoinHandle<()>,
}

impl WriterHandle {
    /// A writer on a lease someone else keeps (and revokes): on [`StopMode::Release`] it deletes
    /// its own keys, on [`StopMode::Shutdown`] it leaves them to the lease.
    pub fn shared(cfg: writer::WriterConfig, shared: writer::Shared) -> WriterHandle {
        let (desired_tx, desired_rx) = watch::channel(Desired::Undecided);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(
            async move {
                writer::run(cfg, shared, desired_rx, stop_rx).await;
            }
            .in_current_span(),
        );
        WriterHandle {
            desired: desired_tx,
            stop: stop_tx,
            task,
        }
    }

    /// `run`'s writer: it keeps its own lease through `pool` and revokes it when stopped (in
    /// either [`StopMode`]: the lease holds this container's keys only).
    pub fn own_lease(pool: Pool, cfg: writer::WriterConfig) -> WriterHandle {
        let (desired_tx, desired_rx) = watch::channel(Desired::Undecided);
        let (stop_tx, stop_rx) = oneshot::channel();
        let keeper = LeaseKeeper::spawn(pool.clone(), cfg.ttl);
        let shared = writer::Shared {
            pool,
            lease: keeper.subscribe(),
            own_lease: true,
        };
        // In the caller's span: `host` runs each container's agent in one naming it.
        let task = tokio::spawn(
            async move {
                writer::run(cfg, shared, desired_rx, stop_rx).await;
                keeper.revoke(writer::REVOKE_DEADLINE).await;
            }
            .in_current_span(),
        );
        WriterHandle {
            desired: desired_tx,
            stop: stop_tx,
            task,
        }
    }

    /// Stops the writer and waits for it, at most the revoke deadline and a second.
    pub async fn stop(self, mode: StopMode) {
        let _ = self.stop.send(mode);
        let _ =
            tokio::time::timeout(writer::REVOKE_DEADLINE + Duration::from_secs(1), self.task).await;
    }
}

/// Runs the agent until `shutdown` resolves; then revokes the lease and returns.
pub async fn run(cfg: AgentConfig, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    info!(container = %cfg.container, port = %cfg.port, key = %cfg.layout.prefix, mode = ?cfg.health.mode, etcd = ?cfg.etcd.endpoints, "sidekick run starting");
    tokio::pin!(shutdown);
    let Some(docker) = docker::connect_waiting(&cfg.docker_host, &mut shutdown).await? else {
        return Ok(());
    };
    if let Some(n) = &cfg.network {
        docker::require_network(&docker, "--network", n).await?;
    }
    let needs = [
        Need::ReadWrite(cfg.layout.owner_key()),
        Need::ReadWrite(cfg.layout.prefix.clone()),
    ];
    let Some(pool) = connect_checked(&cfg.etcd, &needs, AGENT_NEEDS, &mut shutdown).await? else {
        return Ok(());
    };
    let (docker_tx, docker_rx) = mpsc::channel(64);
    let follower = tokio::spawn(follow(
        docker,
        cfg.docker_host.clone(),
        cfg.container.clone(),
        cfg.port,
        docker_tx,
    ));
    let writer = WriterHandle::own_lease(
        pool,
        writer::WriterConfig {
            layout: cfg.layout.clone(),
            me: new_owner(&cfg),
            ttl: cfg.ttl,
            resync: cfg.resync,
        },
    );
    let ended = run_container(&cfg, docker_rx, writer, shutdown, || {
        info!("shutting down: revoking the lease")
    })
    .await;
    follower.abort();
    debug!(?ended, "agent stopped");
    Ok(())
}

/// One container's pipeline: the Docker updates, the prober and the writer around the pure
/// decisions, for `run` (once) and `host` (per container). Runs until `shutdown` resolves (the
/// writer stops with [`StopMode::Shutdown`]; `on_shutdown` runs first, to log) or `updates`
/// closes, which means the container is gone for good ([`StopMode::Release`]). Returns the mode.
pub async fn run_container(
    cfg: &AgentConfig,
    mut updates: mpsc::Receiver<DockerUpdate>,
    writer: WriterHandle,
    shutdown: impl Future<Output = ()>,
    on_shutdown: impl FnOnce(),
) -> StopMode {
    let (target_tx, target_rx) = watch::channel(None);
    let (report_tx, mut report_rx) = mpsc::channel(16);
    let prober = Prober::new(cfg.health.timeout);
    let schedule = prober::Schedule {
        interval: cfg.health.interval,
        rise: cfg.health.rise,
        fall: cfg.health.fall,
    };
    let probe_task = tokio::spawn(
        prober::run(
            move |p: Probe| {
                let pr = prober.clone();
                async move { pr.probe(&p).await }
            },
            target_rx,
            report_tx,
            schedule,
        )
        .in_current_span(),
    );

    let mut state = AgentState::new(cfg);
    let mut pulse = crate::telemetry::Pulse::start("agent", Duration::ZERO);
    tokio::pin!(shutdown);
    let mode = loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break StopMode::Shutdown,
            u = updates.recv() => match u {
                Some(u) => state.on_docker(u),
                None => break StopMode::Release,
            },
            Some(r) = report_rx.recv() => state.on_report(r),
            _ = pulse.tick() => continue,
        }
        state.publish(&target_tx, &writer.desired);
    };
    probe_task.abort();
    if mode == StopMode::Shutdown {
        on_shutdown();
    }
    writer.stop(mode).await;
    if mode == StopMode::Release {
        crate::telemetry::forget(&cfg.layout.prefix);
    }
    mode
}

/// The agent's state between events: `on_docker` and `on_report` record what happened, then
/// `publish` decides again and sends the probe target and the desired record when they changed.
struct AgentState<'a> {
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

impl<'a> AgentState<'a> {
    fn new(cfg: &'a AgentConfig) -> AgentState<'a> {
        AgentState {
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
                crate::telemetry::docker_event(&self.cfg.layout.prefix);
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
            Transition::Steady if !r.outcome.pass => debug!(
                error = r.outcome.error.as_deref().unwrap_or(""),
                elapsed_ms = r.outcome.elapsed_ms,
                "health probe failed"
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

    fn publish(
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
            crate::telemetry::agent_state(&reason);
            self.reason = Some(reason);
        }
        if desired != self.desired {
            self.desired = desired.clone();
            desired_tx.send_replace(desired);
        }
    }
}
