//! Which engine serves the socket (the Docker Engine or Podman's Docker-compatible API), read
//! from `/version` on each (re)connect, and the rules that differ between them: which events the
//! daemon may filter for us, which we must filter ourselves, and whether a stop must be watched
//! for by polling (Podman 4.3 sends no event when `podman stop` signals the container: its `stop`
//! event comes after the SIGKILL, next to `die`; the only early sign is the state `stopping`. Its
//! API service also reads events from a file it tails, so they arrive up to a few hundred ms late).

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::SystemVersion;
use bollard::Docker;
use tracing::{info, warn};

use super::DockerError;

/// How often the followed containers' state is read on Podman, to see `stopping` before the death.
pub const PODMAN_POLL: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Docker => "Docker Engine",
            Engine::Podman => "Podman",
        })
    }
}

impl Engine {
    /// Podman lists itself among `/version`'s Components as "Podman Engine"; Docker as "Engine".
    pub fn of(v: &SystemVersion) -> Engine {
        let podman = v
            .components
            .iter()
            .flatten()
            .any(|c| c.name.to_ascii_lowercase().contains("podman"));
        if podman {
            Engine::Podman
        } else {
            Engine::Docker
        }
    }

    /// Whether the daemon's `event` and key-only `label` event filters can be trusted. Podman's
    /// cannot: `event=die` matches nothing (podman#16857) and `label=KEY` matches no event.
    pub fn filters_events(self) -> bool {
        self == Engine::Docker
    }

    /// Whether a stop is seen only by reading the state, and a start sooner by reading it (see the
    /// module's first lines).
    pub fn polls_state(self) -> bool {
        self == Engine::Podman
    }
}

/// A word for the log when the socket's name says one engine and the other answers. Podman
/// behind `docker.sock` is ordinary (the `podman-docker` package links it), so only a socket
/// named for Podman that Docker answers is a likely mistake; both still work.
pub fn mismatch(host: &str, engine: Engine) -> Option<String> {
    let name = host.rsplit('/').next().unwrap_or(host).to_ascii_lowercase();
    match engine {
        Engine::Docker if name.contains("podman") => Some(format!(
            "{host} is named like a Podman socket but the Docker Engine answers on it"
        )),
        Engine::Podman if name.contains("docker") => Some(format!(
            "{host} is named like a Docker socket but Podman answers on it (podman-docker?); \
             following Podman's rules"
        )),
        _ => None,
    }
}

/// Events that can change what the agents announce.
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

/// Whether an event's action can change what the agents announce. Docker's health event is
/// `health_status: healthy`, Podman's a bare `health_status` with the status elsewhere.
pub fn relevant_action(action: &str) -> bool {
    ACTIONS.contains(&action) || action.starts_with("health_status")
}

/// Whether an event's attributes carry every label filter (`KEY` or `KEY=VALUE`), as the daemon
/// would match them.
pub fn labels_match(attributes: Option<&HashMap<String, String>>, filters: &[String]) -> bool {
    filters.iter().all(|f| {
        let (key, value) = match f.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (f.as_str(), None),
        };
        match attributes.and_then(|a| a.get(key)) {
            Some(v) => value.is_none_or(|want| want == v),
            None => false,
        }
    })
}

/// Asks the daemon which engine it is; logs it, and a mismatch with the socket's name, once per
/// connection.
pub async fn identify(docker: &Docker, host: &str) -> Result<Engine, DockerError> {
    let v = super::request(docker.version()).await?;
    let engine = Engine::of(&v);
    let version = v.version.as_deref().unwrap_or("unknown");
    info!(engine = %engine, version, socket = host, "container engine");
    if let Some(why) = mismatch(host, engine) {
        warn!(socket = host, engine = %engine, "{why}");
    }
    Ok(engine)
}

#[cfg(test)]
mod tests;
