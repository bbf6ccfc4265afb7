//! Following one container (`run`) on the skeleton in `stream`: subscribe to its events, inspect
//! it, re-inspect on every event, and when the stream ends reconnect, replay and inspect again.
//! Every update goes to the agent as a [`DockerUpdate`]. On Podman (see `engine`) the events are
//! filtered here, and the container is re-read every [`PODMAN_POLL`]: to see its `stopping` state
//! before it dies, and a start sooner than Podman's late event.
//!
//! [`PODMAN_POLL`]: super::engine::PODMAN_POLL

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use bollard::Docker;
use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::engine::{relevant_action, Engine};
use super::stream::{self, Facts, Flow, Subject};
use super::{inspect, ContainerView, DockerError, PortSpec};

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
    stream::events_options(engine, [("container", containers)], since_nanos)
}

/// Runs until the receiver is dropped. `host` names the socket in logs.
pub async fn follow(
    docker: Docker,
    host: String,
    reference: String,
    spec: PortSpec,
    tx: mpsc::Sender<DockerUpdate>,
) {
    let one = One {
        docker,
        tx,
        reference,
        spec,
        known_id: None,
        last: None,
    };
    stream::follow(host, one).await;
}

/// The followed container: how it is named, and what was last seen of it.
struct One {
    docker: Docker,
    tx: mpsc::Sender<DockerUpdate>,
    reference: String,
    spec: PortSpec,
    /// Its id once seen: the event filter names it too, so that a rename away from `reference`
    /// is still seen.
    known_id: Option<String>,
    /// The last snapshot sent.
    last: Option<ContainerView>,
}

impl One {
    /// Sends `view`; resubscribes when the container's id changed (the filter must name it).
    async fn send(&mut self, view: Option<ContainerView>) -> Flow {
        let id_now = view.as_ref().map(|v| v.id.clone());
        let resubscribe = id_now.is_some() && id_now != self.known_id;
        self.known_id = id_now.or(self.known_id.take());
        self.last = view.clone();
        if self.tx.send(DockerUpdate::Snapshot(view)).await.is_err() {
            Flow::Quit
        } else if resubscribe {
            Flow::Resubscribe
        } else {
            Flow::Follow
        }
    }

    /// Inspects the container again and sends what it looks like (after a poll, only a change).
    async fn reinspect(&mut self, polled: bool) -> Flow {
        match inspect(&self.docker, &self.reference, self.spec).await {
            Ok(view) if polled && view == self.last => Flow::Follow,
            Ok(view) => self.send(view).await,
            Err(e) => {
                warn!(error = %e, "docker inspect failed; reconnecting");
                Flow::Reconnect
            }
        }
    }
}

impl Subject for One {
    fn docker(&self) -> &Docker {
        &self.docker
    }

    async fn disconnected(&self, why: String) -> bool {
        self.tx.send(DockerUpdate::Disconnected(why)).await.is_ok()
    }

    fn options(&self, engine: Engine, since_nanos: i64) -> EventsOptions {
        options(
            engine,
            &self.reference,
            self.known_id.as_deref(),
            since_nanos,
        )
    }

    async fn look(&mut self) -> Result<Flow, DockerError> {
        let view = inspect(&self.docker, &self.reference, self.spec).await?;
        Ok(self.send(view).await)
    }

    async fn event(&mut self, _: Engine, _: &EventMessage, f: Facts) -> Flow {
        if !relevant_action(&f.action) {
            return Flow::Follow;
        }
        debug!(action = %f.action, container = %f.id, "docker event");
        if f.action == "kill" {
            let kill = DockerUpdate::Kill {
                container_id: f.id,
                signal: f.signal,
                at_nanos: f.at_nanos,
            };
            if self.tx.send(kill).await.is_err() {
                return Flow::Quit;
            }
        }
        self.reinspect(false).await
    }

    async fn poll(&mut self) -> Flow {
        self.reinspect(true).await
    }
}

#[cfg(test)]
mod tests;
