//! The skeleton both followers share (`follow` for one container, `follow_all` for every
//! labelled one): identify the engine, subscribe to events replaying from a timestamp taken
//! before the first look (so nothing falls between the two), take that look, then pass each event
//! and, on Podman, each [`PODMAN_POLL`] tick to the follower. When the stream ends (daemon
//! restart, severed socket) reconnect with capped jittered backoff, replay with `since`, and look
//! again. What a follower subscribes to, looks at and makes of an event is its [`Subject`].

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::EventMessage;
use bollard::query_parameters::EventsOptions;
use bollard::Docker;
use futures_util::{Stream, StreamExt};
use tracing::warn;

use super::engine::{identify, Engine, ACTIONS, PODMAN_POLL};
use super::DockerError;
use crate::backoff::{Backoff, RetryLog};

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

/// The subscription to container events matching `filters`, replaying from `since_nanos`; on an
/// engine whose event filter works ([`Engine::filters_events`]), only the [`ACTIONS`].
pub(super) fn events_options(
    engine: Engine,
    filters: impl IntoIterator<Item = (&'static str, Vec<String>)>,
    since_nanos: i64,
) -> EventsOptions {
    let mut f: HashMap<String, Vec<String>> = filters
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    f.insert("type".to_string(), vec!["container".to_string()]);
    if engine.filters_events() {
        let actions = ACTIONS.iter().map(|s| s.to_string()).collect();
        f.insert("event".to_string(), actions);
    }
    EventsOptions {
        since: Some(since_arg(since_nanos)),
        until: None,
        filters: Some(f),
    }
}

/// What the followers need from one event: its action, the container's id, the signal of a
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

/// What the follower does after a look, an event or a poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    /// Go on following the stream.
    Follow,
    /// Subscribe again at once (the filter must change), without a word of disconnection.
    Resubscribe,
    /// Something failed: say so, back off, reconnect.
    Reconnect,
    /// The receiver is gone.
    Quit,
}

/// What differs between the followers. A subject holds the client and the receiver's sender.
pub(super) trait Subject {
    fn docker(&self) -> &Docker;
    /// Tells the receiver Docker cannot be reached; false when the receiver is gone.
    async fn disconnected(&self, why: String) -> bool;
    /// The event subscription for `engine`, replaying from `since_nanos`.
    fn options(&self, engine: Engine, since_nanos: i64) -> EventsOptions;
    /// The look after each (re)subscription, sent on.
    async fn look(&mut self) -> Result<Flow, DockerError>;
    /// One event (`facts` read from `ev`).
    async fn event(&mut self, engine: Engine, ev: &EventMessage, facts: Facts) -> Flow;
    /// Podman: time to read the state again.
    async fn poll(&mut self) -> Flow;
}

/// Runs `subject` until its receiver is dropped. `host` names the socket in logs.
pub(super) async fn follow(host: String, mut subject: impl Subject) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut log = RetryLog::new("reaching docker");
    // Replay from one second back on the first subscription: covers clock skew between the look
    // and the stream's start; duplicate events only cause a harmless second look.
    let mut since = now_nanos().saturating_sub(1_000_000_000);
    loop {
        let connected = async {
            let engine = identify(subject.docker(), &host).await?;
            let stream = subject
                .docker()
                .events(Some(subject.options(engine, since)));
            let flow = subject.look().await?;
            log.succeeded();
            backoff.reset();
            if flow != Flow::Follow {
                return Ok(flow);
            }
            Ok::<Flow, DockerError>(subscribed(engine, stream, &mut subject, &mut since).await)
        };
        let why = match connected.await {
            Ok(Flow::Quit) => return,
            Ok(Flow::Resubscribe) => continue,
            Ok(Flow::Follow | Flow::Reconnect) => {
                crate::telemetry::docker_reconnect();
                "event stream ended".to_string()
            }
            Err(e) => {
                log.failed(&e);
                e.to_string()
            }
        };
        if !subject.disconnected(why).await {
            return;
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// What woke the follower.
enum Step {
    Event(EventMessage),
    /// Podman: time to read the state again.
    Poll,
    Ended(&'static str, Option<String>),
}

/// Follows one subscription until it ends or the subject says otherwise; `since` keeps up with
/// the events seen, for the replay after a reconnect.
async fn subscribed(
    engine: Engine,
    mut stream: impl Stream<Item = Result<EventMessage, bollard::errors::Error>> + Unpin,
    subject: &mut impl Subject,
    since: &mut i64,
) -> Flow {
    loop {
        let step = tokio::select! {
            ev = stream.next() => match ev {
                Some(Ok(ev)) => Step::Event(ev),
                Some(Err(e)) => Step::Ended("docker event stream failed", Some(e.to_string())),
                None => Step::Ended("docker event stream ended (daemon restart?)", None),
            },
            _ = tokio::time::sleep(PODMAN_POLL), if engine.polls_state() => Step::Poll,
        };
        let flow = match step {
            Step::Ended(why, error) => {
                warn!(error = error.as_deref(), "{why}; reconnecting");
                return Flow::Reconnect;
            }
            Step::Poll => subject.poll().await,
            Step::Event(ev) => {
                let facts = Facts::of(&ev);
                *since = (*since).max(facts.at_nanos);
                subject.event(engine, &ev, facts).await
            }
        };
        if flow != Flow::Follow {
            return flow;
        }
    }
}
