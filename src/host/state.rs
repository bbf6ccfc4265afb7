//! `host`'s pure bookkeeping: which labelled containers exist, which of their services has an
//! agent, which key each agent holds, and when to look at a container again. Every event (a
//! Docker event, the answer to an inspect, an agent that finished) goes through
//! [`Supervisor::step`], which returns the [`Action`]s to carry out; `host` does the I/O.
//!
//! - One look (inspect) at a time per container: events that arrive meanwhile fold into one more
//!   look after it, so a burst of events costs at most two inspects per container.
//! - A container's services are read from its labels once, at the first look (labels cannot
//!   change without re-creating the container, which gives it a new id). Each service has its own
//!   agent; Docker's news of the container goes to every one of them.
//! - One agent per key on this host: a service whose key another container's service holds
//!   waits until that one is removed (as a second `run` agent on one key waits), so two
//!   containers of one process never write one key.

use std::collections::BTreeMap;
use std::time::Duration;

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
    /// From the labels, container-wide service first; `None` when the container has no
    /// `sidekick.key`.
    pub services: Option<Vec<FoundService>>,
}

/// One service of an inspected container.
#[derive(Debug, Clone)]
pub struct FoundService {
    /// `config::host::MAIN` or the `<name>` of `sidekick.<name>.key`.
    pub service: String,
    pub config: Result<Box<AgentConfig>, LabelError>,
    /// Docker's view for the service's port (`None` without a configuration).
    pub view: Option<ContainerView>,
}

/// The answer to one inspect: `Ok(None)` when the container no longer exists, `Err` when Docker
/// did not answer.
pub type Inspection = Result<Option<Box<Found>>, String>;

/// One agent: a service of a container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId {
    pub container: String,
    pub service: String,
}

impl AgentId {
    fn of(container: &str, service: &str) -> AgentId {
        let (container, service) = (container.to_string(), service.to_string());
        AgentId { container, service }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Docker(HostEvent),
    /// The answer to [`Action::Inspect`].
    Inspected {
        id: String,
        found: Inspection,
    },
    /// This agent has stopped (after [`Action::Finish`] of its container).
    Finished {
        agent: AgentId,
    },
}

#[derive(Debug, Clone)]
pub enum Action {
    /// Inspect this container after `after`; the answer comes back as [`Event::Inspected`].
    Inspect { id: String, after: Duration },
    /// Start this service's agent, feeding it `first`.
    Start {
        agent: AgentId,
        config: Box<AgentConfig>,
        first: Vec<DockerUpdate>,
    },
    /// Pass `update` to the service's agent.
    Send {
        agent: AgentId,
        update: DockerUpdate,
    },
    /// The container is gone: close its agents' updates so they release their keys and stop;
    /// one [`Event::Finished`] per agent follows.
    Finish { id: String },
    /// A service's labels do not parse: say so, once; it stays unmanaged.
    Unmanaged { id: String, error: LabelError },
    /// Another container of this host (`holder`) has an agent on `key`: say so, once; this
    /// service starts when that one finishes.
    Waiting {
        agent: AgentId,
        name: String,
        key: String,
        holder: String,
    },
}

#[derive(Debug, Clone, Default)]
enum Phase {
    /// Not inspected successfully yet.
    #[default]
    New,
    /// Not sidekick's: no `sidekick.key`, or no service whose labels parse.
    Ignored,
    /// Its services that parse, by name; `gone` once Docker says it no longer exists (its
    /// agents were told to finish).
    Configured {
        services: BTreeMap<String, ServiceState>,
        gone: bool,
    },
}

#[derive(Debug, Clone)]
enum ServiceState {
    /// Its key held by another container's agent.
    Waiting {
        config: Box<AgentConfig>,
        view: Option<ContainerView>,
    },
    /// Its agent runs (or, once the container is gone, finishes), holding `key`.
    Managed { key: String },
}

#[derive(Debug, Clone, Default)]
struct Slot {
    name: String,
    phase: Phase,
    /// An inspect is under way (or scheduled).
    looking: bool,
    /// Something happened during that inspect: look once more after it.
    again: bool,
    /// A `kill` ([`DockerUpdate::Kill`]) seen before every service's agent started, handed to
    /// each at its start.
    kill: Option<DockerUpdate>,
    /// Order of first sight: the longest-waiting container gets a freed key.
    seq: u64,
}

/// The supervisor's state; see the module documentation.
#[derive(Debug, Default)]
pub struct Supervisor {
    slots: BTreeMap<String, Slot>,
    /// Key prefix → the agent that holds it.
    keys: BTreeMap<String, AgentId>,
    seq: u64,
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor::default()
    }

    /// Agents running (or finishing).
    pub fn managed(&self) -> usize {
        self.keys.len()
    }

    /// Every known container id (for tests and logs).
    pub fn known(&self) -> impl Iterator<Item = &str> {
        self.slots.keys().map(String::as_str)
    }

    pub fn step(&mut self, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Docker(HostEvent::Listed(ids)) => {
                // Everything listed, and everything known: a container missing from the list
                // answers the inspect with "no such container".
                let mut all: Vec<String> = self.slots.keys().cloned().collect();
                all.extend(ids.iter().cloned());
                all.sort();
                all.dedup();
                for id in all {
                    self.news(&id, !ids.contains(&id), &mut out);
                }
            }
            Event::Docker(HostEvent::Changed { id, action }) => {
                self.news(&id, action == "destroy", &mut out);
            }
            Event::Docker(HostEvent::Kill {
                id,
                signal,
                at_nanos,
            }) => {
                let kill = DockerUpdate::Kill {
                    container_id: id.clone(),
                    signal,
                    at_nanos,
                };
                let slot = self.slot(&id);
                let unstarted = match &slot.phase {
                    Phase::New => true,
                    Phase::Configured { services, .. } => waiting(services),
                    Phase::Ignored => false,
                };
                if unstarted {
                    slot.kill = Some(kill.clone());
                }
                tell(&id, &slot.phase, &kill, &mut out);
            }
            Event::Docker(HostEvent::Disconnected(why)) => {
                let update = DockerUpdate::Disconnected(why);
                for (id, slot) in &self.slots {
                    tell(id, &slot.phase, &update, &mut out);
                }
            }
            Event::Inspected { id, found } => self.inspected(id, found, &mut out),
            Event::Finished { agent } => self.finished(&agent, &mut out),
        }
        out
    }

    /// Container `id`'s slot, new (and last in the order of first sight) if it was unknown.
    fn slot(&mut self, id: &str) -> &mut Slot {
        self.seq += 1;
        let seq = self.seq;
        self.slots.entry(id.to_string()).or_insert_with(|| Slot {
            seq,
            ..Slot::default()
        })
    }

    /// Container `id` may have changed: look at it, unless it is gone or not sidekick's (then
    /// forgotten if `vanished`).
    fn news(&mut self, id: &str, vanished: bool, out: &mut Vec<Action>) {
        match self.slots.get(id).map(|s| &s.phase) {
            Some(Phase::Configured { gone: true, .. }) => {}
            Some(Phase::Ignored) if vanished => {
                self.slots.remove(id);
            }
            Some(Phase::Ignored) => {}
            _ => self.look(id, Duration::ZERO, out),
        }
    }

    /// Inspects `id` now, or once more after the inspect under way.
    fn look(&mut self, id: &str, after: Duration, out: &mut Vec<Action>) {
        let slot = self.slot(id);
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
                tell(&id, &slot.phase, &DockerUpdate::Disconnected(why), out);
                self.look(&id, INSPECT_RETRY, out);
                return;
            }
            Ok(None) => return self.vanished(&id, out),
            Ok(Some(found)) => *found,
        };
        slot.name = found.name.clone();
        match &mut slot.phase {
            Phase::New => match found.services {
                None => slot.phase = Phase::Ignored,
                Some(list) => self.configured(&id, list, out),
            },
            Phase::Configured {
                services,
                gone: false,
            } => {
                for f in found.services.into_iter().flatten() {
                    match services.get_mut(&f.service) {
                        Some(ServiceState::Waiting { view, .. }) => *view = f.view,
                        Some(ServiceState::Managed { .. }) => out.push(Action::Send {
                            agent: AgentId::of(&id, &f.service),
                            update: DockerUpdate::Snapshot(f.view),
                        }),
                        None => {}
                    }
                }
            }
            Phase::Ignored | Phase::Configured { gone: true, .. } => {}
        }
        if again {
            self.look(&id, Duration::ZERO, out);
        }
    }

    /// Docker no longer has container `id`: its agents finish, the rest of it is forgotten.
    fn vanished(&mut self, id: &str, out: &mut Vec<Action>) {
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        tell(id, &slot.phase, &DockerUpdate::Snapshot(None), out);
        let forget = match &mut slot.phase {
            Phase::Configured {
                services,
                gone: gone @ false,
            } => {
                // Waiting services never started: they just go.
                services.retain(|_, s| matches!(s, ServiceState::Managed { .. }));
                *gone = true;
                if !services.is_empty() {
                    out.push(Action::Finish { id: id.to_string() });
                }
                services.is_empty()
            }
            Phase::Configured { gone: true, .. } => false,
            Phase::New | Phase::Ignored => true,
        };
        if forget {
            self.slots.remove(id);
        }
    }

    /// A new container's services are known: report the bad ones, start the others' agents or
    /// let them wait for their keys.
    fn configured(&mut self, id: &str, list: Vec<FoundService>, out: &mut Vec<Action>) {
        let mut services = BTreeMap::new();
        let mut keys = Vec::new();
        let mut errors: Vec<LabelError> = Vec::new();
        for f in list {
            match f.config {
                // A bad container-wide label is every service's error: said once.
                Err(error) if errors.contains(&error) => {}
                Err(error) => {
                    errors.push(error.clone());
                    out.push(Action::Unmanaged {
                        id: id.to_string(),
                        error,
                    });
                }
                Ok(config) => {
                    keys.push((f.service.clone(), config.layout.prefix.clone()));
                    services.insert(
                        f.service,
                        ServiceState::Waiting {
                            config,
                            view: f.view,
                        },
                    );
                }
            }
        }
        let Some(slot) = self.slots.get_mut(id) else {
            return;
        };
        if services.is_empty() {
            slot.phase = Phase::Ignored;
            return;
        }
        slot.phase = Phase::Configured {
            services,
            gone: false,
        };
        for (service, key) in keys {
            self.claim_or_wait(AgentId::of(id, &service), &key, out);
        }
    }

    /// Starts the waiting `agent` if `key` is free, else says who holds it.
    fn claim_or_wait(&mut self, agent: AgentId, key: &str, out: &mut Vec<Action>) {
        let holder = match self.keys.get(key) {
            Some(holder) if holder.container != agent.container => holder.container.clone(),
            _ => return self.start(agent, out),
        };
        let holder = self
            .slots
            .get(&holder)
            .map(|h| h.name.clone())
            .unwrap_or(holder);
        let name = self
            .slots
            .get(&agent.container)
            .map(|s| s.name.clone())
            .unwrap_or_default();
        out.push(Action::Waiting {
            agent,
            name,
            key: key.to_string(),
            holder,
        });
    }

    /// Claims the waiting service's key and starts its agent.
    fn start(&mut self, agent: AgentId, out: &mut Vec<Action>) {
        let Some(slot) = self.slots.get_mut(&agent.container) else {
            return;
        };
        let Phase::Configured { services, .. } = &mut slot.phase else {
            return;
        };
        let Some(ServiceState::Waiting { config, view }) = services.get(&agent.service).cloned()
        else {
            return;
        };
        let key = config.layout.prefix.clone();
        self.keys.insert(key.clone(), agent.clone());
        services.insert(agent.service.clone(), ServiceState::Managed { key });
        let mut first = vec![DockerUpdate::Snapshot(view)];
        first.extend(slot.kill.clone());
        if !waiting(services) {
            slot.kill = None;
        }
        out.push(Action::Start {
            agent,
            config,
            first,
        });
    }

    fn finished(&mut self, agent: &AgentId, out: &mut Vec<Action>) {
        let Some(slot) = self.slots.get_mut(&agent.container) else {
            return;
        };
        let Phase::Configured { services, .. } = &mut slot.phase else {
            return;
        };
        let Some(ServiceState::Managed { key }) = services.remove(&agent.service) else {
            return;
        };
        if services.is_empty() {
            self.slots.remove(&agent.container);
        }
        if self.keys.get(&key) != Some(agent) {
            return;
        }
        self.keys.remove(&key);
        // The longest-waiting container's service (the first by name) on the freed key.
        let next = self.slots.iter().filter_map(|(id, s)| {
            let Phase::Configured {
                services,
                gone: false,
            } = &s.phase
            else {
                return None;
            };
            let (service, _) = services.iter().find(|(_, svc)| {
                matches!(svc, ServiceState::Waiting { config, .. } if config.layout.prefix == key)
            })?;
            Some((s.seq, AgentId::of(id, service)))
        });
        if let Some((_, next)) = next.min() {
            self.start(next, out);
        }
    }
}

/// Passes `update` to every running agent of container `id` (none once it is gone).
fn tell(id: &str, phase: &Phase, update: &DockerUpdate, out: &mut Vec<Action>) {
    let Phase::Configured {
        services,
        gone: false,
    } = phase
    else {
        return;
    };
    for (service, s) in services {
        if matches!(s, ServiceState::Managed { .. }) {
            let update = update.clone();
            out.push(Action::Send {
                agent: AgentId::of(id, service),
                update,
            });
        }
    }
}

/// Whether a service of the container waits for its key (its agent has not started).
fn waiting(services: &BTreeMap<String, ServiceState>) -> bool {
    services
        .values()
        .any(|s| matches!(s, ServiceState::Waiting { .. }))
}

#[cfg(test)]
mod tests;
