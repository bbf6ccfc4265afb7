//! Following every labelled container of the host with one event stream (`host`): subscribe to
//! container events filtered on the labels (replaying from a timestamp taken before the list, so
//! nothing falls between the two), list every container carrying them, then pass each event on.
//! When the stream ends (daemon restart, severed socket) reconnect with capped jittered backoff,
//! replay with `since`, and list everything again: containers that vanished meanwhile are simply
//! absent from the new list. Inspecting is the caller's business (it knows which container needs
//! what); everything goes to it as a [`HostEvent`]. On Podman (see `engine`) the events are
//! filtered here, and the running labelled containers are listed every [`PODMAN_POLL`]: one
//! that left the list (`stopping`, before it dies) or joined it is reported as changed.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::engine::{identify, labels_match, relevant_action, Engine, PODMAN_POLL};
use super::follow::{now_nanos, since_arg, Facts, ACTIONS};
use super::{DockerError, REQUEST_TIMEOUT};
use crate::backoff::{Backoff, RetryLog};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEvent {
    /// The ids of every container carrying the labels now, after each (re)connect; the events
    /// that follow are newer.
    Listed(Vec<String>),
    /// Something happened to this container (`action`): what it looks like now needs a look.
    Changed { id: String, action: String },
    /// A `kill` event: `signal` was sent at `at_nanos` (daemon clock). A `Changed` follows.
    Kill {
        id: String,
        signal: String,
        at_nanos: i64,
    },
    /// The daemon cannot be reached; what was last seen may be stale.
    Disconnected(String),
}

fn filters(labels: &[String]) -> HashMap<String, Vec<String>> {
    HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        ("label".to_string(), labels.to_vec()),
    ])
}

fn events_options(engine: Engine, labels: &[String], since_nanos: i64) -> EventsOptions {
    let mut f = filters(labels);
    if engine.filters_events() {
        f.insert(
            "event".to_string(),
            ACTIONS.iter().map(|s| s.to_string()).collect(),
        );
    } else {
        f.remove("label");
    }
    EventsOptions {
        since: Some(since_arg(since_nanos)),
        until: None,
        filters: Some(f),
    }
}

/// The ids of every container, running or not, carrying all of `labels`.
pub async fn list(docker: &Docker, labels: &[String]) -> Result<Vec<String>, DockerError> {
    list_some(docker, labels, true).await
}

/// The ids of the containers carrying all of `labels`: all of them, or the running ones.
async fn list_some(
    docker: &Docker,
    labels: &[String],
    all: bool,
) -> Result<Vec<String>, DockerError> {
    let mut f = filters(labels);
    f.remove("type");
    let options = ListContainersOptions {
        all,
        filters: Some(f),
        ..Default::default()
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, docker.list_containers(Some(options))).await {
        Ok(Ok(list)) => Ok(list.into_iter().filter_map(|c| c.id).collect()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(DockerError::Timeout(REQUEST_TIMEOUT)),
    }
}

/// The ids in `before` and not in `now`, then those in `now` and not in `before`.
fn moved(before: &BTreeSet<String>, now: &BTreeSet<String>) -> Vec<String> {
    let left = before.difference(now);
    left.chain(now.difference(before)).cloned().collect()
}

/// What woke the follower.
enum Step {
    Event(bollard::models::EventMessage),
    /// Podman: time to list the running containers again.
    Poll,
    Ended(&'static str, Option<String>),
}

/// Docker could not be reached: says so (to the log and the receiver) and waits out the backoff;
/// false when the receiver is gone.
async fn lost(
    tx: &mpsc::Sender<HostEvent>,
    log: &mut RetryLog,
    backoff: &mut Backoff,
    e: &(dyn std::fmt::Display + Sync),
) -> bool {
    log.failed(e);
    if tx
        .send(HostEvent::Disconnected(e.to_string()))
        .await
        .is_err()
    {
        return false;
    }
    tokio::time::sleep(backoff.next_delay()).await;
    true
}

/// Runs until the receiver is dropped. `labels` are Docker `label` filters (`NAME` or
/// `NAME=VALUE`), all of which a container must match; `host` names the socket in logs.
pub async fn follow_all(
    docker: Docker,
    host: String,
    labels: Vec<String>,
    tx: mpsc::Sender<HostEvent>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut log = RetryLog::new("reaching docker");
    // Replay from one second back on the first subscription: covers clock skew between the list
    // and the stream's start; duplicate events only cause a harmless second look.
    let mut since = now_nanos().saturating_sub(1_000_000_000);
    loop {
        let engine = match identify(&docker, &host).await {
            Ok(engine) => engine,
            Err(e) => {
                if !lost(&tx, &mut log, &mut backoff, &e).await {
                    return;
                }
                continue;
            }
        };
        let mut stream = docker.events(Some(events_options(engine, &labels, since)));
        // Podman: the running set of the last poll (None until the first one).
        let mut running: Option<BTreeSet<String>> = None;
        match list(&docker, &labels).await {
            Ok(ids) => {
                log.succeeded();
                backoff.reset();
                if tx.send(HostEvent::Listed(ids)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if !lost(&tx, &mut log, &mut backoff, &e).await {
                    return;
                }
                continue;
            }
        }
        loop {
            let step = tokio::select! {
                ev = stream.next() => match ev {
                    Some(Ok(ev)) => Step::Event(ev),
                    Some(Err(e)) => Step::Ended("docker event stream failed", Some(e.to_string())),
                    None => Step::Ended("docker event stream ended (daemon restart?)", None),
                },
                _ = tokio::time::sleep(PODMAN_POLL), if engine.polls_state() => Step::Poll,
            };
            let ev = match step {
                Step::Event(ev) => ev,
                Step::Ended(why, error) => {
                    warn!(error = error.as_deref(), "{why}; reconnecting");
                    break;
                }
                Step::Poll => {
                    let now: BTreeSet<String> = match list_some(&docker, &labels, false).await {
                        Ok(ids) => ids.into_iter().collect(),
                        Err(e) => {
                            warn!(error = %e, "listing the running containers failed; reconnecting");
                            break;
                        }
                    };
                    let before = running.replace(now.clone());
                    for id in before.map(|b| moved(&b, &now)).unwrap_or_default() {
                        debug!(container = %id, "running set changed");
                        let changed = HostEvent::Changed {
                            id,
                            action: "poll".into(),
                        };
                        if tx.send(changed).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
            };
            let f = Facts::of(&ev);
            since = since.max(f.at_nanos);
            if !engine.filters_events() {
                let attrs = ev.actor.as_ref().and_then(|a| a.attributes.as_ref());
                if !relevant_action(&f.action) || !labels_match(attrs, &labels) {
                    continue;
                }
            }
            debug!(action = %f.action, container = %f.id, "docker event");
            if f.id.is_empty() {
                continue;
            }
            if f.action == "kill" {
                let kill = HostEvent::Kill {
                    id: f.id.clone(),
                    signal: f.signal,
                    at_nanos: f.at_nanos,
                };
                if tx.send(kill).await.is_err() {
                    return;
                }
            }
            let changed = HostEvent::Changed {
                id: f.id,
                action: f.action,
            };
            if tx.send(changed).await.is_err() {
                return;
            }
        }
        crate::telemetry::docker_reconnect();
        if tx
            .send(HostEvent::Disconnected("event stream ended".into()))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

#[cfg(test)]
mod tests;
