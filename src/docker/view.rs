//! Pure reading of Docker's answers: the `--container-port` spec, the choice of one published
//! binding among Docker's duplicated `0.0.0.0`/`::` entries, the container's state as the agent
//! needs it, and the signal rule that decides whether a `kill` event means "stopping".

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use bollard::models::{ContainerInspectResponse, HealthStatusEnum, PortBinding};
use serde::Serialize;

/// `80/tcp`, `53/udp`; a bare `80` means tcp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub port: u16,
    pub proto: Proto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
    Sctp,
}

impl PortSpec {
    pub fn parse(s: &str) -> Result<PortSpec, String> {
        let (port, proto) = match s.split_once('/') {
            Some((p, proto)) => (p, proto),
            None => (s, "tcp"),
        };
        let proto = match proto.to_ascii_lowercase().as_str() {
            "tcp" => Proto::Tcp,
            "udp" => Proto::Udp,
            "sctp" => Proto::Sctp,
            _ => {
                return Err(format!(
                    "{s:?}: protocol must be tcp, udp or sctp (e.g. 80/tcp)"
                ))
            }
        };
        match port.parse::<u16>() {
            Ok(port) if port > 0 => Ok(PortSpec { port, proto }),
            _ => Err(format!(
                "{s:?}: port must be a number from 1 to 65535 (e.g. 80/tcp)"
            )),
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
        };
        write!(f, "{}/{}", self.port, proto)
    }
}

/// The published binding chosen for the container port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// The HostIp when it names one address; `None` for `0.0.0.0`, `::` or empty (all interfaces).
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
}

/// Why no binding could be chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum BindingError {
    #[error("container port {0} is not published (published: {1})")]
    NotPublished(String, String),
}

fn specific_ip(host_ip: Option<&str>) -> Option<IpAddr> {
    let ip: IpAddr = host_ip?.trim().parse().ok()?;
    (!ip.is_unspecified()).then_some(ip)
}

/// Chooses one binding: Docker lists `0.0.0.0` and `::` for one published port, so entries are
/// deduplicated; a specific HostIp wins over "all interfaces", IPv4 over IPv6, then the lowest port.
pub fn choose_binding(
    ports: Option<&HashMap<String, Option<Vec<PortBinding>>>>,
    spec: PortSpec,
) -> Result<Binding, BindingError> {
    let key = spec.to_string();
    let mut candidates: Vec<Binding> = ports
        .and_then(|m| m.get(&key))
        .and_then(|b| b.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|b| {
            let host_port = b
                .host_port
                .as_deref()?
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)?;
            Some(Binding {
                host_ip: specific_ip(b.host_ip.as_deref()),
                host_port,
            })
        })
        .collect();
    candidates.sort_by_key(|b| {
        (
            b.host_ip.is_none(),
            b.host_ip.map(|ip| ip.is_ipv6()),
            b.host_port,
            b.host_ip,
        )
    });
    candidates.dedup();
    candidates.into_iter().next().ok_or_else(|| {
        let mut published: Vec<String> = ports
            .into_iter()
            .flatten()
            .filter(|(_, b)| b.as_ref().is_some_and(|v| !v.is_empty()))
            .map(|(k, _)| k.clone())
            .collect();
        published.sort();
        let published = if published.is_empty() {
            "none".to_string()
        } else {
            published.join(", ")
        };
        BindingError::NotPublished(key, published)
    })
}

/// Docker's view of the container, reduced to what decisions need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerView {
    pub id: String,
    /// Without Docker's leading slash.
    pub name: String,
    /// Docker's status word: created, running, paused, restarting, removing, exited, dead.
    pub status: String,
    pub running: bool,
    pub paused: bool,
    pub restarting: bool,
    /// `State.StartedAt` in nanoseconds since the epoch (0 when unknown).
    pub started_at_nanos: i64,
    /// The signal number `docker stop` sends (Config.StopSignal, default SIGTERM).
    pub stop_signal: i32,
    /// Docker's HEALTHCHECK status: none, starting, healthy, unhealthy.
    pub health: Option<String>,
    /// In JSON: the binding's fields, or `{"error": "..."}`.
    #[serde(serialize_with = "binding_json")]
    pub binding: Result<Binding, BindingError>,
}

fn binding_json<S: serde::Serializer>(
    b: &Result<Binding, BindingError>,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    match b {
        Ok(b) => b.serialize(s),
        Err(e) => {
            let mut m = s.serialize_map(Some(1))?;
            m.serialize_entry("error", &e.to_string())?;
            m.end()
        }
    }
}

impl ContainerView {
    pub fn from_inspect(c: &ContainerInspectResponse, spec: PortSpec) -> ContainerView {
        let state = c.state.as_ref();
        let status = state
            .and_then(|s| s.status)
            .map(|s| s.to_string())
            .unwrap_or_else(|| "unknown".into());
        let started_at_nanos = state
            .and_then(|s| s.started_at.as_deref())
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .and_then(|t| t.timestamp_nanos_opt())
            .unwrap_or(0);
        let health = state
            .and_then(|s| s.health.as_ref())
            .and_then(|h| h.status)
            .and_then(|s| match s {
                HealthStatusEnum::EMPTY | HealthStatusEnum::NONE => None,
                other => Some(other.to_string()),
            });
        let stop_signal = c
            .config
            .as_ref()
            .and_then(|cfg| cfg.stop_signal.as_deref())
            .and_then(parse_signal)
            .unwrap_or(libc::SIGTERM);
        ContainerView {
            id: c.id.clone().unwrap_or_default(),
            name: c
                .name
                .as_deref()
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_string(),
            status,
            running: state.and_then(|s| s.running).unwrap_or(false),
            paused: state.and_then(|s| s.paused).unwrap_or(false),
            restarting: state.and_then(|s| s.restarting).unwrap_or(false),
            started_at_nanos,
            stop_signal,
            health,
            binding: choose_binding(
                c.network_settings.as_ref().and_then(|n| n.ports.as_ref()),
                spec,
            ),
        }
    }
}

/// `SIGTERM`, `TERM`, `15`, `sigquit` → the signal number.
pub fn parse_signal(s: &str) -> Option<i32> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return (n > 0 && n < 65).then_some(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ABRT" => libc::SIGABRT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "WINCH" => libc::SIGWINCH,
        "PWR" => libc::SIGPWR,
        "STOP" => libc::SIGSTOP,
        "CONT" => libc::SIGCONT,
        _ => return None,
    })
}

/// A `kill` event means the container is being stopped when it carries the container's stop
/// signal or SIGKILL; anything else (SIGHUP/SIGUSR1 reloads) leaves it registered.
pub fn kill_means_stopping(event_signal: &str, stop_signal: i32) -> bool {
    match parse_signal(event_signal) {
        Some(sig) => sig == stop_signal || sig == libc::SIGKILL,
        None => false,
    }
}

#[cfg(test)]
mod tests;
