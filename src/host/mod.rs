//! `sidekick host`: one process for every container of this host labelled `sidekick.key`. One
//! Docker event stream (`docker::follow_all`), one look (inspect) per container at a time, and
//! per service of a managed container the same pipeline `run` uses (`agent::run_container`),
//! configured from its labels over the host-level flags. The bookkeeping is pure (`state`); this module carries
//! out its actions and owns the shutdown sequence: SIGTERM/SIGINT stops every agent, then the
//! lease goes (see `etcd`), and the process exits 0.

mod etcd;
pub mod state;

pub use etcd::{spawn_writer, HostEtcd};

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{error, info, info_span, warn, Instrument};

use crate::agent::{new_owner, run_container, writer, AgentError};
use crate::config::{container_services, AgentConfig, HostConfig};
use crate::docker::follow::DockerUpdate;
use crate::docker::follow_all::{follow_all, HostEvent};
use crate::docker::{self, ContainerView, Labelled};
use state::{Action, AgentId, Event, Found, FoundService, Inspection, Supervisor};

/// How long shutdown waits for the agents (each revoking or releasing) before it gives up.
const STOP_DEADLINE: Duration = Duration::from_secs(writer::REVOKE_DEADLINE.as_secs() + 2);

/// Updates queued per agent; the agent drains them at once, so this is rarely more than one.
const AGENT_QUEUE: usize = 32;

/// Runs until `shutdown` resolves; then stops every agent, lets the lease go and returns.
pub async fn run(cfg: HostConfig, shutdown: impl Future<Output = ()>) -> Result<(), AgentError> {
    let labels = cfg.label_filters();
    info!(labels = ?labels, host = %cfg.defaults.host, etcd = ?cfg.defaults.etcd.endpoints, "sidekick host starting");
    tokio::pin!(shutdown);
    let Some(docker) = docker::connect_waiting(&cfg.defaults.docker_host, &mut shutdown).await?
    else {
        return Ok(());
    };
    let cfg = Arc::new(cfg);
    let Some(etcd) = HostEtcd::start(&cfg.defaults, &mut shutdown).await? else {
        return Ok(());
    };
    let (events_tx, events) = mpsc::channel(256);
    let follower = tokio::spawn(follow_all(
        docker.clone(),
        cfg.defaults.docker_host.clone(),
        labels,
        events_tx,
    ));
    let mut io = Io {
        cfg,
        docker,
        etcd,
        stop: watch::channel(false).0,
        agents: HashMap::new(),
        tasks: JoinSet::new(),
        task_ids: HashMap::new(),
        inspects: JoinSet::new(),
    };
    let managed = io.supervise(events, &mut shutdown).await;
    info!(
        containers = managed,
        "shutting down: stopping every container's agent and revoking the lease"
    );
    follower.abort();
    io.stop_all().await;
    Ok(())
}

/// The I/O side of the supervisor.
struct Io {
    cfg: Arc<HostConfig>,
    docker: bollard::Docker,
    etcd: HostEtcd,
    /// Tells every agent to stop (shutdown).
    stop: watch::Sender<bool>,
    /// Each managed service's updates.
    agents: HashMap<AgentId, mpsc::Sender<DockerUpdate>>,
    tasks: JoinSet<()>,
    task_ids: HashMap<tokio::task::Id, AgentId>,
    inspects: JoinSet<(String, Inspection)>,
}

impl Io {
    /// Feeds Docker's events, the agents' ends and the inspect answers to the supervisor and
    /// carries out its actions, until `shutdown`; returns how many containers it managed.
    async fn supervise<S: Future<Output = ()>>(
        &mut self,
        mut events: mpsc::Receiver<HostEvent>,
        shutdown: &mut Pin<&mut S>,
    ) -> usize {
        let mut state = Supervisor::new();
        let mut pulse = crate::telemetry::Pulse::start("host", Duration::ZERO);
        loop {
            let event = tokio::select! {
                biased;
                _ = shutdown.as_mut() => return state.managed(),
                Some(ev) = events.recv() => Event::Docker(ev),
                Some(done) = self.tasks.join_next_with_id() => {
                    let task = match &done { Ok((task, _)) => *task, Err(e) => e.id() };
                    match self.task_ids.remove(&task) {
                        Some(agent) => Event::Finished { agent },
                        None => continue,
                    }
                }
                Some(Ok((id, found))) = self.inspects.join_next() => Event::Inspected { id, found },
                _ = pulse.tick() => continue,
            };
            let listed = matches!(event, Event::Docker(HostEvent::Listed(_)));
            for action in state.step(event) {
                self.apply(action).await;
            }
            crate::telemetry::host_pass(listed, self.inspects.len());
        }
    }

    /// Stops every agent (waiting at most [`STOP_DEADLINE`]), then lets the lease go.
    async fn stop_all(mut self) {
        self.inspects.abort_all();
        // The agents' update channels stay open: a closed one would mean "this container is gone"
        // (release its keys one by one), while shutdown leaves them all to the lease.
        self.stop.send_replace(true);
        let all_stopped = tokio::time::timeout(STOP_DEADLINE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if all_stopped.is_err() {
            warn!("some agents did not stop in time; their keys expire with the lease");
        }
        self.etcd.shutdown().await;
    }

    async fn apply(&mut self, action: Action) {
        match action {
            Action::Inspect { id, after } => {
                let (docker, cfg) = (self.docker.clone(), self.cfg.clone());
                self.inspects.spawn(async move {
                    if !after.is_zero() {
                        tokio::time::sleep(after).await;
                    }
                    let found = docker::inspect_raw(&docker, &id)
                        .await
                        .map(|c| c.map(|c| Box::new(found(&cfg, &c))))
                        .map_err(|e| e.to_string());
                    (id, found)
                });
            }
            Action::Start {
                agent,
                config,
                first,
            } => self.start(agent, config, first),
            Action::Send { agent, update } => {
                if let Some(tx) = self.agents.get(&agent) {
                    let _ = tx.send(update).await;
                }
            }
            Action::Finish { id } => {
                let before = self.agents.len();
                self.agents.retain(|agent, _| agent.container != id);
                if self.agents.len() < before {
                    info!(id = %short(&id), "container removed; releasing its keys");
                }
            }
            Action::Unmanaged { id, error } => {
                error!(id = %short(&id), error = %error, "not managing this service of the container: a sidekick label does not parse");
            }
            Action::Waiting {
                agent,
                name,
                key,
                holder,
            } => {
                error!(container = %name, id = %short(&agent.container), service = %agent.service, key = %key, holder = %holder, "another container on this host has an agent on this sidekick.key; waiting until it is removed");
            }
        }
    }

    /// Starts a service's agent, feeding it `first`.
    fn start(&mut self, agent: AgentId, config: Box<AgentConfig>, first: Vec<DockerUpdate>) {
        let (tx, rx) = mpsc::channel(AGENT_QUEUE.max(first.len()));
        for u in first {
            let _ = tx.try_send(u);
        }
        info!(container = %config.container, id = %short(&agent.container), service = %agent.service, key = %config.layout.prefix, port = %config.port, mode = %config.health.mode, "managing container");
        let span = info_span!("container", name = %config.container, service = %agent.service, key = %config.layout.prefix);
        let writer = span.in_scope(|| spawn_writer(&self.etcd, &config, new_owner(&config)));
        let mut stop = self.stop.subscribe();
        let task = self.tasks.spawn(
            async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                run_container(&config, rx, writer, shutdown, || {}).await;
            }
            .instrument(span),
        );
        self.task_ids.insert(task.id(), agent.clone());
        self.agents.insert(agent, tx);
    }
}

/// What `host` needs from one inspect answer.
fn found(cfg: &HostConfig, c: &bollard::models::ContainerInspectResponse) -> Found {
    let labelled = Labelled::from_inspect(c);
    let services = container_services(&cfg.defaults, cfg.resync, &labelled).map(|list| {
        list.into_iter()
            .map(|s| FoundService {
                view: s
                    .config
                    .as_ref()
                    .ok()
                    .map(|a| ContainerView::from_inspect(c, a.port)),
                service: s.name,
                config: s.config.map(Box::new),
            })
            .collect()
    });
    Found {
        name: labelled.name,
        services,
    }
}

fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}
