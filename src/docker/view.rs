//! Pure reading of Docker's answers: the `--container-port` spec, the container port's published
//! bindings (deduplicated, each with its own address family), the container's networks and
//! network mode, its state as the agent needs it, and the signal rule that decides whether a
//! `kill` event means "stopping". Choosing the address to announce is `address`'s job.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use bollard::models::{ContainerInspectResponse, HealthStatusEnum, PortBinding, PortMap};
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

/// Docker's spelling of each [`Proto`], in the order of the variants.
const PROTOS: [(Proto, &str); 3] = [
    (Proto::Tcp, "tcp"),
    (Proto::Udp, "udp"),
    (Proto::Sctp, "sctp"),
];

impl PortSpec {
    pub fn parse(s: &str) -> Result<PortSpec, String> {
        let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
        let Some(&(proto, _)) = PROTOS.iter().find(|(_, n)| proto.eq_ignore_ascii_case(n)) else {
            return Err(format!(
                "{s:?}: protocol must be tcp, udp or sctp (e.g. 80/tcp)"
            ));
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
        write!(f, "{}/{}", self.port, PROTOS[self.proto as usize].1)
    }
}

/// One published binding of the container port. `host_ip` is `0.0.0.0` or `::` for "every address
/// of that family" (an empty HostIp, as Podman sends, reads as `0.0.0.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Binding {
    pub host_ip: IpAddr,
    pub host_port: u16,
}

/// Why the container port has no usable binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum BindingError {
    #[error("container port {0} is not published (published: {1})")]
    NotPublished(String, String),
}

/// Every usable binding of `spec`, deduplicated, a specific HostIp before "all interfaces", then
/// IPv4 before IPv6, then the lowest port. Which one is announced for which address family is
/// decided in [`super::address`], never here.
pub fn bindings(ports: Option<&PortMap>, spec: PortSpec) -> Result<Vec<Binding>, BindingError> {
    let key = spec.to_string();
    let mut found: Vec<Binding> = ports
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
            let host_ip = match b.host_ip.as_deref().map(str::trim) {
                None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                Some(ip) => ip.parse().ok()?,
            };
            Some(Binding { host_ip, host_port })
        })
        .collect();
    found.sort_by_key(|b| {
        (
            b.host_ip.is_unspecified(),
            b.host_ip.is_ipv6(),
            b.host_port,
            b.host_ip,
        )
    });
    found.dedup();
    if !found.is_empty() {
        return Ok(found);
    }
    let mut published: Vec<&str> = published(ports).collect();
    published.sort();
    let published = if published.is_empty() {
        "none".to_string()
    } else {
        published.join(", ")
    };
    Err(BindingError::NotPublished(key, published))
}

/// The container ports `ports` binds on the host (those with at least one binding).
pub(super) fn published(ports: Option<&PortMap>) -> impl Iterator<Item = &str> {
    let bound =
        |(_, b): &(&String, &Option<Vec<PortBinding>>)| b.as_ref().is_some_and(|v| !v.is_empty());
    ports
        .into_iter()
        .flatten()
        .filter(bound)
        .map(|(k, _)| k.as_str())
}

/// A Docker network name as `--network` or `sidekick.network` gives it: Docker's own rule,
/// `[a-zA-Z0-9][a-zA-Z0-9_.-]*`. Whether it exists is Docker's answer, not this.
pub fn network_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(name.to_string())
    } else {
        Err(format!(
            "{raw:?}: not a Docker network name (letters, digits, '_', '.', '-'; e.g. backend)"
        ))
    }
}

/// The container's addresses on one Docker network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NetAddrs {
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
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
    /// The container port's published bindings; in JSON a list, or `{"error": "..."}`.
    #[serde(serialize_with = "bindings_json")]
    pub bindings: Result<Vec<Binding>, BindingError>,
    /// Started with `--net=host`: no published ports, the host's own addresses.
    pub host_network: bool,
    /// The Docker networks it is attached to, by name, with its addresses there.
    pub networks: BTreeMap<String, NetAddrs>,
}

fn bindings_json<S: serde::Serializer>(
    b: &Result<Vec<Binding>, BindingError>,
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
            name: container_name(c),
            status,
            running: state.and_then(|s| s.running).unwrap_or(false),
            paused: state.and_then(|s| s.paused).unwrap_or(false),
            restarting: state.and_then(|s| s.restarting).unwrap_or(false),
            started_at_nanos,
            stop_signal,
            health,
            bindings: bindings(
                c.network_settings.as_ref().and_then(|n| n.ports.as_ref()),
                spec,
            ),
            host_network: c
                .host_config
                .as_ref()
                .and_then(|h| h.network_mode.as_deref())
                == Some("host"),
            networks: c
                .network_settings
                .as_ref()
                .and_then(|n| n.networks.as_ref())
                .into_iter()
                .flatten()
                .map(|(name, e)| {
                    let ip = |s: Option<&String>| s.and_then(|s| s.trim().parse::<IpAddr>().ok());
                    let addrs = NetAddrs {
                        ipv4: ip(e.ip_address.as_ref()).filter(IpAddr::is_ipv4),
                        ipv6: ip(e.global_ipv6_address.as_ref()).filter(IpAddr::is_ipv6),
                    };
                    (name.clone(), addrs)
                })
                .collect(),
        }
    }
}

/// The container's name without Docker's leading slash (empty when it has none).
pub(super) fn container_name(c: &ContainerInspectResponse) -> String {
    c.name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string()
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
