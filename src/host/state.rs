//! `host`'s pure bookkeeping: which labelled containers exist, which one has an agent, which key
//! each agent holds, and when to look at a container again. Every input (a Docker event, the
//! answer to an inspect, an agent that finished) goes through [`Supervisor::step`], which
//! returns the [`Action`]s to carry out; `host` does the I/O.
//!
//! - One look (inspect) at a time per container: events that arrive meanwhile fold into one more
//!   look after it, so a burst of events costs at most two inspects per container.
//! - A container's configuration is read from its labels once, at the first look (labels cannot
//!   change without re-creating the container, which gives it a new id).
//! - One agent per key on this host: a container whose key another container of this host holds
//!   waits until that one is removed (as a second `run` agent on one key waits), so two
//!   containers of one process never write one key.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::agent::decide::Kill;
use crate::config::{AgentConfig, LabelError};
use crate::docker::follow::DockerUpdate;
use crate::docker::follow_all::HostEvent;
use crate::docker::ContainerView;

/// How long a failed inspect waits before the next try (a reconnect re-lists sooner).
pub const INSPECT_RETRY: Duration = Duration::from_secs(1);

/// What one inspect found.
#[derive(Debug, Clone)]
pub struct Found {
    pub name: String,
    /// From the labels: `Ok(None)` when the container has no `sidekick.key`.
    pub config: Result<Option<Box<AgentConfig>>, LabelError>,
    /// Docker's view for the configuration's port (`None` without a configuration).
    pub view: Option<ContainerView>,
}

/// The answer to one inspect: `Ok(None)` when the container no longer exists, `Err` when Docker
/// did not answer.
pub type Inspection = Result<Option<Box<Found>>, String>;

#[derive(Debug, Clone)]
pub enum Input {
    Docker(HostEvent),
    /// The answer to [`Action::Inspect`].
    Inspected {
        id: String,
        found: Inspection,
    },
    /// The agent of this container has stopped (after [`Action::Finish`]).
    Finished {
        id: String,
    },
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Inspect this container after `after`; the answer comes back as [`Input::Inspected`].
    Inspect { id: String, after: Duration },
    /// Start this container's agent, feeding it `first`.
    Start {
        id: String,
        config: Box<AgentConfig>,
        first: Vec<DockerUpdate>,
    },
    /// Pass `update` to the container's agent.
    Send { id: String, update: DockerUpdate },
    /// The container is gone: close its agent's updates so it releases its keys and stops;
    /// [`Input::Finished`] follows.
    Finish { id: String },
    /// Its labels do not parse: say so, once; it stays unmanaged.
    Unmanaged { id: String, error: LabelError },
    /// Another container of this host (`holder`) has an agent on `key`: say so, once; this one
    /// starts when that one finishes.
    Waiting {
        id: String,
        name: String,
        key: String,
        holder: String,
    },
}

#[derive(Debug, Clone)]
enum Phase {
    /// Not inspected successfully yet.
    New,
    /// Not sidekick's: no `sidekick.key`, or labels that do not parse.
    Ignored,
    /// Configured, its key held by another container's agent.
    Waiting {
        config: Box<AgentConfig>,
        view: Option<ContainerView>,
    },
    /// Its agent runs, holding `key`.
    Managed { key: String },
    /// Its agent was told to finish; it still holds `key` until it has.
    Finishing { key: String },
}

#[derive(Debug, Clone)]
struct Slot {
    name: String,
    phase: Phase,
    /// An inspect is under way (or scheduled).
    looking: bool,
    /// Something happened during that inspect: look once more after it.
    again: bool,
    /// A `kill` seen before the agent started, handed to it at start.
    kill: Option<Kill>,
    /// Order of first sight: the longest-waiting container gets a freed key.
    seq: u64,
}

/// The supervisor's state; see the module documentation.
#[derive(Debug, Default)]
pub struct Supervisor {
    slots: BTreeMap<String, Slot>,
    /// Key prefix → the id of the container whose agent holds it.
    keys: BTreeMap<String, String>,
    seq: u64,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// Containers with a running (or finishing) agent.
    pub fn managed(&self) -> usize {
        self.keys.len()
    }

    /// Every known container id (for tests and logs).
    pub fn known(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }

    pub fn step(&mut self, input: Input) -> Vec<Action> {
        let mut out = Vec::new();
        match input {
            Input::Docker(HostEvent::Listed(ids)) => {
                // Everything listed, and everything known: a container missing from the list
                // answers the inspect with "no such container".
                let mut all: Vec<String> = self.slots.keys().cloned().collect();
                all.extend(ids.iter().cloned());
                all.sort();
                all.dedup();
                for id in all {
                    match self.slots.get(&id).map(|s| &s.phase) {
                        Some(Phase::Finishing { .. }) => {}
                        Some(Phase::Ignored) if !ids.contains(&id) => {
                            self.slots.remove(&id);
                        }
                        Some(Phase::Ignored) => {}
                        _ => self.look(&id, Duration::ZERO, &mut out),
                    }
                }
            }
            Input::Docker(HostEvent::Changed { id, action }) => {
                match self.slots.get(&id).map(|s| &s.phase) {
                    Some(Phase::Ignored) if action == "destroy" => {
                        self.slots.remove(&id);
                    }
                    Some(Phase::Ignored | Phase::Finishing { .. }) => {}
                    _ => self.look(&id, Duration::ZERO, &mut out),
                }
            }
            Input::Docker(HostEvent::Kill {
                id,
                signal,
                at_nanos,
            }) => {
                let kill = Kill {
                    container_id: id.clone(),
                    signal,
                    at_nanos,
                };
                let seq = self.next_seq();
                let slot = self
                    .slots
                    .entry(id.clone())
                    .or_insert_with(|| Slot::new(seq));
                match slot.phase {
                    Phase::Managed { .. } => out.push(Action::Send {
                        id,
                        update: kill_update(kill),
                    }),
                    Phase::New | Phase::Waiting { .. } => slot.kill = Some(kill),
                    Phase::Ignored | Phase::Finishing { .. } => {}
                }
            }
            Input::Docker(HostEvent::Disconnected(why)) => {
                for (id, slot) in &self.slots {
                    if matches!(slot.phase, Phase::Managed { .. }) {
                        out.push(Action::Send {
                            id: id.clone(),
                            update: DockerUpdate::Disconnected(why.clone()),
                        });
                    }
                }
            }
            Input::Inspected { id, found } => self.inspected(id, found, &mut out),
            Input::Finished { id } => self.finished(&id, &mut out),
        }
        out
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Inspects `id` now, or once more after the inspect under way.
    fn look(&mut self, id: &str, after: Duration, out: &mut Vec<Action>) {
        let seq = self.next_seq();
        let slot = self
            .slots
            .entry(id.to_string())
            .or_insert_with(|| Slot::new(seq));
        if slot.looking {
            slot.again = true;
        } else {
            slot.looking = true;
            out.push(Action::Inspect {
                id: id.to_string(),
                after,
            });
        }
    }

    fn inspected(&mut self, id: String, found: Inspection, out: &mut Vec<Action>) {
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        slot.looking = false;
        let again = std::mem::take(&mut slot.again);
        let found = match found {
            Err(why) => {
                if matches!(slot.phase, Phase::Managed { .. }) {
                    out.push(Action::Send {
                        id: id.clone(),
                        update: DockerUpdate::Disconnected(why),
                    });
                }
                self.look(&id, INSPECT_RETRY, out);
                return;
            }
            Ok(None) => {
                match &slot.phase {
                    Phase::Managed { key } => {
                        let key = key.clone();
                        out.push(Action::Send {
                            id: id.clone(),
                            update: DockerUpdate::Snapshot(None),
                        });
                        out.push(Action::Finish { id: id.clone() });
                        slot.phase = Phase::Finishing { key };
                    }
                    Phase::Finishing { .. } => {}
                    Phase::New | Phase::Ignored | Phase::Waiting { .. } => {
                        self.slots.remove(&id);
                    }
                }
                return;
            }
            Ok(Some(found)) => *found,
        };
        slot.name = found.name.clone();
        match &mut slot.phase {
            Phase::New => match found.config {
                Err(error) => {
                    slot.phase = Phase::Ignored;
                    out.push(Action::Unmanaged {
                        id: id.clone(),
                        error,
                    });
                }
                Ok(None) => slot.phase = Phase::Ignored,
                Ok(Some(config)) => self.configured(&id, config, found.view, out),
            },
            Phase::Waiting { view, .. } => *view = found.view,
            Phase::Managed { .. } => out.push(Action::Send {
                id: id.clone(),
                update: DockerUpdate::Snapshot(found.view),
            }),
            Phase::Ignored | Phase::Finishing { .. } => {}
        }
        if again {
            self.look(&id, Duration::ZERO, out);
        }
    }

    /// A new container's configuration is known: start its agent, or wait for its key.
    fn configured(
        &mut self,
        id: &str,
        config: Box<AgentConfig>,
        view: Option<ContainerView>,
        out: &mut Vec<Action>,
    ) {
        let key = config.layout.prefix.clone();
        let holder = match self.keys.get(&key) {
            Some(holder) if holder != id => holder.clone(),
            _ => return self.start(id, config, view, out),
        };
        let holder = self
            .slots
            .get(&holder)
            .map(|h| h.name.clone())
            .unwrap_or(holder);
        if let Some(slot) = self.slots.get_mut(id) {
            out.push(Action::Waiting {
                id: id.to_string(),
                name: slot.name.clone(),
                key,
                holder,
            });
            slot.phase = Phase::Waiting { config, view };
        }
    }

    /// Claims the key and starts the agent.
    fn start(
        &mut self,
        id: &str,
        config: Box<AgentConfig>,
        view: Option<ContainerView>,
        out: &mut Vec<Action>,
    ) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        let key = config.layout.prefix.clone();
        self.keys.insert(key.clone(), id.to_string());
        let mut first = vec![DockerUpdate::Snapshot(view)];
        first.extend(slot.kill.take().map(kill_update));
        slot.phase = Phase::Managed { key };
        out.push(Action::Start {
            id: id.to_string(),
            config,
            first,
        });
    }

    fn finished(&mut self, id: &str, out: &mut Vec<Action>) {
        let Some(slot) = self.slots.remove(id) else {
            return;
        };
        let (Phase::Managed { key } | Phase::Finishing { key }) = slot.phase else {
            return;
        };
        if self.keys.get(&key).map(String::as_str) != Some(id) {
            return;
        }
        self.keys.remove(&key);
        let next = self
            .slots
            .iter()
            .filter(|(_, s)| {
                matches!(&s.phase, Phase::Waiting { config, .. } if config.layout.prefix == key)
            })
            .min_by_key(|(_, s)| s.seq)
            .map(|(id, _)| id.clone());
        let Some(next) = next else { return };
        let Some(Slot {
            phase: Phase::Waiting { config, view },
            ..
        }) = self.slots.get(&next).cloned()
        else {
            return;
        };
        self.start(&next, config, view, out);
    }
}

impl Slot {
    fn new(seq: u64) -> Slot {
        Slot {
            name: String::new(),
            phase: Phase::New,
            looking: false,
            again: false,
            kill: None,
            seq,
        }
    }
}

fn kill_update(k: Kill) -> DockerUpdate {
    DockerUpdate::Kill {
        container_id: k.container_id,
        signal: k.signal,
        at_nanos: k.at_nanos,
    }
}

#[cfg(test)]
mod tests;
