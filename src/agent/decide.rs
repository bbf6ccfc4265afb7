//! The agent's pure decisions: from what Docker says, the last `kill`, and the damped health
//! state, decide what to probe and what (if anything) to announce, and say why.

use std::fmt;

use serde::Serialize;

use crate::config::AgentConfig;
use crate::docker::address::{self, AddressError, Announce};
use crate::docker::{kill_means_stopping, ContainerView};
use crate::health::HealthMode;
use crate::health::Probe;
use crate::registry::Record;

/// The last `kill` event seen for the followed container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    pub container_id: String,
    pub signal: String,
    pub at_nanos: i64,
}

/// Why the agent does or does not announce the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    Registrable,
    ContainerAbsent {
        container: String,
    },
    NotRunning {
        status: String,
    },
    Paused,
    Stopping {
        signal: String,
    },
    NoBinding {
        detail: String,
    },
    NoPublicIp,
    /// Internal mode: not on the `--network`, or no address there.
    NoAddress {
        detail: String,
    },
    /// Not healthy yet, the last probe passed or none has finished: `passes` consecutive passes
    /// of the `rise` needed.
    HealthPending {
        passes: u32,
        rise: u32,
    },
    Unhealthy {
        detail: String,
    },
    NoHealthcheck,
    DockerHealth {
        status: String,
    },
    /// Docker has not answered since the agent started.
    DockerUnknown,
    /// `check` could not reach Docker: like [`Reason::DockerUnknown`], `run` would leave the
    /// keys as they are.
    DockerUnreachable {
        error: String,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Registrable => write!(f, "running, published and healthy"),
            Reason::ContainerAbsent { container } => write!(f, "container {container:?} does not exist"),
            Reason::NotRunning { status } => write!(f, "container is {status}"),
            Reason::Paused => write!(f, "container is paused"),
            Reason::Stopping { signal } => write!(f, "container is being stopped (kill signal {signal})"),
            Reason::NoBinding { detail } | Reason::NoAddress { detail } => write!(f, "{detail}"),
            Reason::NoPublicIp => write!(f, "no public IP: the binding is on all interfaces and this host has no default route; pass --public-ip"),
            Reason::HealthPending { passes: 0, .. } => write!(f, "waiting for the first passing health probe"),
            Reason::HealthPending { passes, rise } => write!(f, "health probe passed {passes} of {rise} times in a row (--rise {rise}); not healthy yet"),
            Reason::Unhealthy { detail } => write!(f, "health check failing: {detail}"),
            Reason::NoHealthcheck => write!(f, "--health-mode docker but the container has no HEALTHCHECK"),
            Reason::DockerHealth { status } => write!(f, "docker health status is {status}"),
            Reason::DockerUnknown => write!(f, "docker has not answered yet; the keys are left as they are"),
            Reason::DockerUnreachable { error } => write!(f, "docker unreachable ({error}); run leaves the keys as they are"),
        }
    }
}

/// What the agent wants under its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Desired {
    /// Not known yet (Docker has not answered, or the first probe of this run has not finished):
    /// leave the keys as they are, so a restarted agent never drops its healthy predecessor's
    /// keys before its own first probe.
    Undecided,
    /// No keys.
    Absent,
    /// Exactly these keys.
    Present(Record),
}

impl Desired {
    /// The writer's instruction for a decision: not knowing yet leaves the keys alone.
    pub fn from_decision(record: Option<Record>, reason: &Reason) -> Desired {
        match (record, reason) {
            (Some(r), _) => Desired::Present(r),
            (
                None,
                Reason::HealthPending { .. }
                | Reason::DockerUnknown
                | Reason::DockerUnreachable { .. },
            ) => Desired::Undecided,
            (None, _) => Desired::Absent,
        }
    }
}

/// Damped health of the current probe target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthState {
    pub healthy: bool,
    /// Error of the last probe that failed (shown when unhealthy).
    pub last_error: Option<String>,
    /// Whether any probe has completed for the current target.
    pub probed: bool,
    /// Consecutive passes so far (shown while fewer than `--rise`).
    pub passes: u32,
}

/// The signal of a `kill` that stops the container's current run, if there was one.
pub fn stopping_signal(view: &ContainerView, kill: Option<&Kill>) -> Option<String> {
    let k = kill?;
    (k.container_id == view.id
        && k.at_nanos >= view.started_at_nanos
        && kill_means_stopping(&k.signal, view.stop_signal))
    .then(|| k.signal.clone())
}

/// Why the container cannot be announced regardless of health, or its addresses if it could.
fn addressable(
    cfg: &AgentConfig,
    view: Option<&ContainerView>,
    kill: Option<&Kill>,
) -> Result<Announce, Reason> {
    let Some(v) = view else {
        return Err(Reason::ContainerAbsent {
            container: cfg.container.clone(),
        });
    };
    if v.paused {
        return Err(Reason::Paused);
    }
    if !v.running || v.restarting {
        return Err(Reason::NotRunning {
            status: v.status.clone(),
        });
    }
    if let Some(signal) = stopping_signal(v, kill) {
        return Err(Reason::Stopping { signal });
    }
    address::select(&cfg.host_addrs(), cfg.network.as_deref(), cfg.port, v).map_err(|e| match e {
        AddressError::NoPublicIp => Reason::NoPublicIp,
        AddressError::Binding(e) => Reason::NoBinding {
            detail: e.to_string(),
        },
        e => Reason::NoAddress {
            detail: e.to_string(),
        },
    })
}

/// What to probe now: `None` when nothing should be probed (absent, stopping, no binding, or a
/// mode without an active probe).
pub fn probe_target(
    cfg: &AgentConfig,
    view: Option<&ContainerView>,
    kill: Option<&Kill>,
) -> Option<Probe> {
    let addr = addressable(cfg, view, kill).ok()?.probe;
    match cfg.health.mode {
        HealthMode::Http => Some(Probe::Http {
            addr,
            path: cfg.health.path.clone(),
            digest: cfg.health.digest.clone(),
        }),
        HealthMode::Tcp => Some(Probe::Tcp { addr }),
        HealthMode::Docker | HealthMode::None => None,
    }
}

/// The record to announce, or `None` with the reason.
pub fn decide(
    cfg: &AgentConfig,
    view: Option<&ContainerView>,
    kill: Option<&Kill>,
    health: &HealthState,
) -> (Option<Record>, Reason) {
    let announce = match addressable(cfg, view, kill) {
        Ok(a) => a,
        Err(reason) => return (None, reason),
    };
    let Some(v) = view else {
        return (
            None,
            Reason::ContainerAbsent {
                container: cfg.container.clone(),
            },
        );
    };
    let verdict = match cfg.health.mode {
        HealthMode::Http | HealthMode::Tcp if health.healthy => Ok(()),
        HealthMode::Http | HealthMode::Tcp => Err(match (&health.last_error, health.probed) {
            (Some(e), true) => Reason::Unhealthy { detail: e.clone() },
            _ => Reason::HealthPending {
                passes: health.passes,
                rise: cfg.health.rise,
            },
        }),
        HealthMode::Docker => match v.health.as_deref() {
            Some("healthy") => Ok(()),
            Some(s) => Err(Reason::DockerHealth {
                status: s.to_string(),
            }),
            None => Err(Reason::NoHealthcheck),
        },
        HealthMode::None => Ok(()),
    };
    if let Err(reason) = verdict {
        return (None, reason);
    }
    let record = Record {
        unit: cfg.unit.clone().unwrap_or_else(|| v.name.clone()),
        host: cfg.host.clone(),
        public_ipv4_addr: announce.ipv4.map(|p| p.public),
        private_ipv4_addr: announce.ipv4.map(|p| p.private),
        public_ipv6_addr: announce.ipv6.map(|p| p.public),
        private_ipv6_addr: announce.ipv6.map(|p| p.private),
        port: announce.port,
    };
    (Some(record), Reason::Registrable)
}

#[cfg(test)]
mod tests;
