//! Following every labelled container of the host with one event stream (`host`), on the
//! skeleton in `stream`: subscribe to container events filtered on the labels, list every
//! container carrying them, then pass each event on; after a reconnect list everything again:
//! containers that vanished meanwhile are simply absent from the new list. Inspecting is the
//! caller's business (it knows which container needs what); everything goes to it as a
//! [`HostEvent`]. On Podman (see `engine`) the events are filtered here, and the running labelled
//! containers are listed every [`PODMAN_POLL`]: one that left the list (`stopping`, before it
//! dies) or joined it is reported as changed.
//!
//! [`PODMAN_POLL`]: super::engine::PODMAN_POLL

use std::collections::{BTreeSet, HashMap};

use bollard::models::EventMessage;
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::Docker;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::engine::{labels_match, relevant_action, Engine};
use super::stream::{self, Facts, Flow, Subject};
use super::DockerError;

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

fn events_options(engine: Engine, labels: &[String], since_nanos: i64) -> EventsOptions {
    // Podman's key-only label filter matches no event: there the labels are matched here.
    let labels = engine.filters_events().then(|| ("label", labels.to_vec()));
    stream::events_options(engine, labels, since_nanos)
}

/// The ids of the containers carrying all of `labels`: all of them, or the running ones.
async fn list(docker: &Docker, labels: &[String], all: bool) -> Result<Vec<String>, DockerError> {
    let options = ListContainersOptions {
        all,
        filters: Some(HashMap::from([("label".to_string(), labels.to_vec())])),
        ..Default::default()
    };
    let list = super::request(docker.list_containers(Some(options))).await?;
    Ok(list.into_iter().filter_map(|c| c.id).collect())
}

/// The ids in `before` and not in `now`, then those in `now` and not in `before`.
fn moved(before: &BTreeSet<String>, now: &BTreeSet<String>) -> Vec<String> {
    let left = before.difference(now);
    left.chain(now.difference(before)).cloned().collect()
}

/// Runs until the receiver is dropped. `labels` are Docker `label` filters (`NAME` or
/// `NAME=VALUE`), all of which a container must match; `host` names the socket in logs.
pub async fn follow_all(
    docker: Docker,
    host: String,
    labels: Vec<String>,
    tx: mpsc::Sender<HostEvent>,
) {
    let all = All {
        docker,
        tx,
        labels,
        running: None,
    };
    stream::follow(host, all).await;
}

/// The labelled containers.
struct All {
    docker: Docker,
    tx: mpsc::Sender<HostEvent>,
    labels: Vec<String>,
    /// Podman: the running set of the last poll (None until the first one after a look).
    running: Option<BTreeSet<String>>,
}

impl All {
    async fn send(&self, event: HostEvent) -> Flow {
        match self.tx.send(event).await {
            Ok(()) => Flow::Follow,
            Err(_) => Flow::Quit,
        }
    }
}

impl Subject for All {
    fn docker(&self) -> &Docker {
        &self.docker
    }

    async fn disconnected(&self, why: String) -> bool {
        self.send(HostEvent::Disconnected(why)).await == Flow::Follow
    }

    fn options(&self, engine: Engine, since_nanos: i64) -> EventsOptions {
        events_options(engine, &self.labels, since_nanos)
    }

    async fn look(&mut self) -> Result<Flow, DockerError> {
        self.running = None;
        let ids = list(&self.docker, &self.labels, true).await?;
        Ok(self.send(HostEvent::Listed(ids)).await)
    }

    async fn event(&mut self, engine: Engine, ev: &EventMessage, f: Facts) -> Flow {
        if !engine.filters_events() {
            let attrs = ev.actor.as_ref().and_then(|a| a.attributes.as_ref());
            if !relevant_action(&f.action) || !labels_match(attrs, &self.labels) {
                return Flow::Follow;
            }
        }
        debug!(action = %f.action, container = %f.id, "docker event");
        if f.id.is_empty() {
            return Flow::Follow;
        }
        if f.action == "kill" {
            let kill = HostEvent::Kill {
                id: f.id.clone(),
                signal: f.signal,
                at_nanos: f.at_nanos,
            };
            if self.send(kill).await == Flow::Quit {
                return Flow::Quit;
            }
        }
        self.send(HostEvent::Changed {
            id: f.id,
            action: f.action,
        })
        .await
    }

    async fn poll(&mut self) -> Flow {
        let now: BTreeSet<String> = match list(&self.docker, &self.labels, false).await {
            Ok(ids) => ids.into_iter().collect(),
            Err(e) => {
                warn!(error = %e, "listing the running containers failed; reconnecting");
                return Flow::Reconnect;
            }
        };
        let before = self.running.replace(now.clone());
        for id in before.map(|b| moved(&b, &now)).unwrap_or_default() {
            debug!(container = %id, "running set changed");
            let action = "poll".to_string();
            if self.send(HostEvent::Changed { id, action }).await == Flow::Quit {
                return Flow::Quit;
            }
        }
        Flow::Follow
    }
}

#[cfg(test)]
mod tests;
