//! Following every labelled container of the host with one event stream (`host`): subscribe to
//! container events filtered on the labels (replaying from a timestamp taken before the list, so
//! nothing falls between the two), list every container carrying them, then pass each event on.
//! When the stream ends (daemon restart, severed socket) reconnect with capped jittered backoff,
//! replay with `since`, and list everything again: containers that vanished meanwhile are simply
//! absent from the new list. Inspecting is the caller's business (it knows which container needs
//! what); everything goes to it as a [`HostEvent`].

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tracing::{debug, warn};

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

fn events_options(labels: &[String], since_nanos: i64) -> EventsOptions {
    let mut f = filters(labels);
    f.insert(
        "event".to_string(),
        ACTIONS.iter().map(|s| s.to_string()).collect(),
    );
    EventsOptions {
        since: Some(since_arg(since_nanos)),
        until: None,
        filters: Some(f),
    }
}

/// The ids of every container, running or not, carrying all of `labels`.
pub async fn list(docker: &Docker, labels: &[String]) -> Result<Vec<String>, DockerError> {
    let mut f = filters(labels);
    f.remove("type");
    let options = ListContainersOptions {
        all: true,
        filters: Some(f),
        ..Default::default()
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, docker.list_containers(Some(options))).await {
        Ok(Ok(list)) => Ok(list.into_iter().filter_map(|c| c.id).collect()),
        Ok(Err(e)) => Err(e.into()),
        Err(_) => Err(DockerError::Timeout(REQUEST_TIMEOUT)),
    }
}

/// Runs until the receiver is dropped. `labels` are Docker `label` filters (`NAME` or
/// `NAME=VALUE`), all of which a container must match.
pub async fn follow_all(docker: Docker, labels: Vec<String>, tx: mpsc::Sender<HostEvent>) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut log = RetryLog::new("reaching docker");
    // Replay from one second back on the first subscription: covers clock skew between the list
    // and the stream's start; duplicate events only cause a harmless second look.
    let mut since = now_nanos().saturating_sub(1_000_000_000);
    loop {
        let mut stream = docker.events(Some(events_options(&labels, since)));
        match list(&docker, &labels).await {
            Ok(ids) => {
                log.succeeded();
                backoff.reset();
                if tx.send(HostEvent::Listed(ids)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                log.failed(&e);
                if tx
                    .send(HostEvent::Disconnected(e.to_string()))
                    .await
                    .is_err()
                {
                    return;
                }
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        }
        loop {
            match stream.next().await {
                Some(Ok(ev)) => {
                    let f = Facts::of(&ev);
                    since = since.max(f.at_nanos);
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
                Some(Err(e)) => {
                    warn!(error = %e, "docker event stream failed; reconnecting");
                    break;
                }
                None => {
                    warn!("docker event stream ended (daemon restart?); reconnecting");
                    break;
                }
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
