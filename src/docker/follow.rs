//! Following one container: subscribe to its events (replaying from a timestamp taken before the
//! inspect, so nothing falls between the two), inspect it, re-inspect on every event, and when the
//! stream ends (daemon restart, severed socket) reconnect with capped jittered backoff, replay with
//! `since`, and inspect again. Every update goes to the agent as a [`DockerUpdate`]. On Podman
//! (see `engine`) the events are filtered here, and the container is re-read every
//! [`PODMAN_POLL`]: to see its `stopping` state before it dies, and a start sooner than
//! Podman's late event.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::engine::{identify, relevant_action, Engine, PODMAN_POLL};
use super::{inspect, ContainerView, PortSpec};
use crate::backoff::{Backoff, RetryLog};

/// Events that can change what the agent announces.
pub(super) const ACTIONS: &[&str] = &[
    "create",
    "start",
    "restart",
    "kill",
    "die",
    "stop",
    "destroy",
    "rename",
    "pause",
    "unpause",
    "health_status",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerUpdate {
    /// The container as Docker reports it now (`None`: no such container).
    Snapshot(Option<ContainerView>),
    /// A `kill` event: `signal` was sent at `at_nanos` (daemon clock).
    Kill {
        container_id: String,
        signal: String,
        at_nanos: i64,
    },
    /// The daemon cannot be reached; the last snapshot may be stale.
    Disconnected(String),
}

pub(super) fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Docker's `since` takes `seconds.nanoseconds`.
pub(super) fn since_arg(nanos: i64) -> String {
    format!(
        "{}.{:09}",
        nanos.div_euclid(1_000_000_000),
        nanos.rem_euclid(1_000_000_000)
    )
}

/// What the agents need from one event: its action, the container's id, the signal of a
/// `kill`, and when it happened (daemon clock, ns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Facts {
    pub action: String,
    pub id: String,
    pub signal: String,
    pub at_nanos: i64,
}

impl Facts {
    pub(super) fn of(ev: &EventMessage) -> Facts {
        let attrs = ev.actor.as_ref().and_then(|a| a.attributes.as_ref());
        Facts {
            action: ev.action.clone().unwrap_or_default(),
            id: ev
                .actor
                .as_ref()
                .and_then(|a| a.id.clone())
                .unwrap_or_default(),
            signal: attrs
                .and_then(|a| a.get("signal").cloned())
                .unwrap_or_default(),
            at_nanos: ev
                .time_nano
                .unwrap_or_else(|| ev.time.unwrap_or(0).saturating_mul(1_000_000_000)),
        }
    }
}

fn options(
    engine: Engine,
    reference: &str,
    known_id: Option<&str>,
    since_nanos: i64,
) -> EventsOptions {
    let mut containers = vec![reference.to_string()];
    if let Some(id) = known_id.filter(|id| *id != reference) {
        containers.push(id.to_string());
    }
    let mut filters = HashMap::new();
    filters.insert("type".to_string(), vec!["container".to_string()]);
    filters.insert("container".to_string(), containers);
    if engine.filters_events() {
        filters.insert(
            "event".to_string(),
            ACTIONS.iter().map(|s| s.to_string()).collect(),
        );
    }
    EventsOptions {
        since: Some(since_arg(since_nanos)),
        until: None,
        filters: Some(filters),
    }
}

/// What woke the follower.
enum Step {
    Event(EventMessage),
    /// Podman: time to re-read the running container's state.
    Poll,
    Ended(String),
}

/// Runs until the receiver is dropped. `host` names the socket in logs.
pub async fn follow(
    docker: Docker,
    host: String,
    reference: String,
    spec: PortSpec,
    tx: mpsc::Sender<DockerUpdate>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut log = RetryLog::new("reaching docker");
    // Replay from one second back on the first subscription: covers clock skew between the
    // inspect and the stream's start; duplicate events only cause a harmless re-inspect.
    let mut since = now_nanos() - 1_000_000_000;
    let mut known_id: Option<String> = None;
    loop {
        let looked = match identify(&docker, &host).await {
            Ok(engine) => {
                let stream = docker.events(Some(options(
                    engine,
                    &reference,
                    known_id.as_deref(),
                    since,
                )));
                inspect(&docker, &reference, spec)
                    .await
                    .map(|view| (engine, stream, view))
            }
            Err(e) => Err(e),
        };
        let (engine, mut stream, view) = match looked {
            Ok(l) => l,
            Err(e) => {
                if tx
                    .send(DockerUpdate::Disconnected(e.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
                log.failed(&e);
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        log.succeeded();
        backoff.reset();
        let id_now = view.as_ref().map(|v| v.id.clone());
        let mut last = view.clone();
        if tx.send(DockerUpdate::Snapshot(view)).await.is_err() {
            return;
        }
        let mut resubscribe = id_now.is_some() && id_now != known_id;
        known_id = id_now.or(known_id);
        // Follow the stream until it ends, or until the container's id changed (the filter must
        // name the new id so that a rename away from our name is still seen).
        while !resubscribe {
            let polling = engine.polls_state();
            let step = tokio::select! {
                ev = stream.next() => match ev {
                    Some(Ok(ev)) => Step::Event(ev),
                    Some(Err(e)) => Step::Ended(format!("docker event stream failed: {e}")),
                    None => Step::Ended("docker event stream ended (daemon restart?)".into()),
                },
                _ = tokio::time::sleep(PODMAN_POLL), if polling => Step::Poll,
            };
            let polled = match step {
                Step::Ended(why) => {
                    warn!("{why}; reconnecting");
                    break;
                }
                Step::Poll => true,
                Step::Event(ev) => {
                    let Facts {
                        action,
                        id,
                        signal,
                        at_nanos: at,
                    } = Facts::of(&ev);
                    since = since.max(at);
                    if !relevant_action(&action) {
                        continue;
                    }
                    debug!(action = %action, container = %id, "docker event");
                    if action == "kill"
                        && tx
                            .send(DockerUpdate::Kill {
                                container_id: id.clone(),
                                signal,
                                at_nanos: at,
                            })
                            .await
                            .is_err()
                    {
                        return;
                    }
                    false
                }
            };
            match inspect(&docker, &reference, spec).await {
                Ok(view) => {
                    if polled && view == last {
                        continue;
                    }
                    let id_now = view.as_ref().map(|v| v.id.clone());
                    resubscribe = id_now.is_some() && id_now != known_id;
                    known_id = id_now.or(known_id);
                    last = view.clone();
                    if tx.send(DockerUpdate::Snapshot(view)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "docker inspect failed; reconnecting");
                    break;
                }
            }
        }
        if !resubscribe {
            crate::telemetry::docker_reconnect();
            if tx
                .send(DockerUpdate::Disconnected("event stream ended".into()))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

#[cfg(test)]
mod tests;
