//! The agent's validated configuration (`run` and `check`), from `AgentArgs` plus the environment
//! fallbacks (`COREOS_*`, `ETCDCTL_ENDPOINTS`, `DOCKER_HOST`), read through an injected lookup so
//! tests can drive them. Every error names the flag. The host-level part ([`HostDefaults`]) is
//! built on its own so that `host` (and a labelled `check`) can combine it with labels.

use std::net::IpAddr;
use std::time::Duration;

use super::{etcd_config, ConfigError, Env};
use crate::cli::limits;
use crate::cli::{AgentArgs, HostLevelArgs};
use crate::docker::{PortSpec, Proto};
use crate::etcd::EtcdConfig;
use crate::health::{Digest, HealthMode};
use crate::registry::{KeyFormat, Layout, Template};

#[derive(Debug, Clone)]
pub struct HealthConfig {
    pub mode: HealthMode,
    pub path: String,
    pub digest: Option<Digest>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub etcd: EtcdConfig,
    pub docker_host: String,
    pub container: String,
    pub port: PortSpec,
    pub layout: Layout,
    /// `--unit`; `None`: the container's name.
    pub unit: Option<String>,
    pub host: String,
    /// `--public-ip` or `$COREOS_PUBLIC_IPV4`.
    pub public_ip: Option<IpAddr>,
    /// `--private-ip` or `$COREOS_PRIVATE_IPV4`; `None`: the public IP.
    pub private_ip: Option<IpAddr>,
    /// The default-route interface's address, the last fallback for the public IP.
    pub default_route_ip: Option<IpAddr>,
    /// `--network` / `sidekick.network`: internal mode on this Docker network.
    pub network: Option<String>,
    pub health: HealthConfig,
    pub ttl: Duration,
    pub resync: Duration,
}

fn env_ip(env: Env, name: &str) -> Result<Option<IpAddr>, ConfigError> {
    match env(name)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| ConfigError::Invalid(format!("${name}={v:?} is not an IP address"))),
    }
}

/// The Docker daemon address: `--docker-host`, else `$DOCKER_HOST`, else the default socket;
/// checked here (not when connecting) so a bad one is a usage error in `run` and `check` alike.
fn docker_host(flag: Option<&str>, env: Env) -> Result<String, ConfigError> {
    let (source, host) = match (flag, env("DOCKER_HOST").filter(|s| !s.trim().is_empty())) {
        (Some(h), _) => ("--docker-host", h.to_string()),
        (None, Some(h)) => ("$DOCKER_HOST", h),
        (None, None) => ("default", crate::docker::DEFAULT_HOST.to_string()),
    };
    crate::docker::check_host(&host)
        .map_err(|why| ConfigError::Invalid(format!("{source} {host:?}: {why}")))?;
    Ok(host)
}

/// What `run`, `check` and `host` share: etcd, Docker, what this host announces, the lease, and
/// the health check (for `host` and a labelled `check`, the defaults the labels override).
#[derive(Debug, Clone)]
pub struct HostDefaults {
    pub etcd: EtcdConfig,
    pub docker_host: String,
    pub host: String,
    pub public_ip: Option<IpAddr>,
    pub private_ip: Option<IpAddr>,
    pub default_route_ip: Option<IpAddr>,
    pub health: HealthConfig,
    pub ttl: Duration,
}

/// Checks `d` against `flag`'s bounds; the error names the flag (or the label) as `what`.
pub(crate) fn bounded(
    flag: limits::DurationFlag,
    what: &str,
    d: Duration,
) -> Result<Duration, String> {
    flag.check(d)
        .map_err(|why| format!("{what} {}: {why}", crate::duration::format(d)))
}

/// etcd leases have whole-second TTLs: round up.
fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0)))
}

impl HostDefaults {
    pub fn from_args(a: &HostLevelArgs, env: Env) -> Result<HostDefaults, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        let etcd = etcd_config(&a.etcd, env)?;
        // Bounds again, for callers that did not come through `cli`'s parsers.
        for (flag, d) in [
            (limits::TTL, a.ttl),
            (limits::HEALTH_INTERVAL, a.health_interval),
            (limits::HEALTH_TIMEOUT, a.health_timeout),
        ] {
            bounded(flag, flag.flag, d).map_err(invalid)?;
        }
        if !a.health_path.starts_with('/') {
            return Err(invalid(format!(
                "--health-path {:?}: must start with '/'",
                a.health_path
            )));
        }
        let public_ip = match a.public_ip {
            Some(ip) => Some(ip),
            None => env_ip(env, "COREOS_PUBLIC_IPV4")?,
        };
        let private_ip = match a.private_ip {
            Some(ip) => Some(ip),
            None => env_ip(env, "COREOS_PRIVATE_IPV4")?,
        };
        let host = match &a.host {
            Some(h) if !h.trim().is_empty() => crate::registry::text_value(h)
                .map_err(|why| invalid(format!("--host {h:?}: {why}")))?,
            Some(h) => return Err(invalid(format!("--host {h:?}: must not be empty"))),
            None => crate::netinfo::hostname().unwrap_or_else(|| "localhost".into()),
        };
        let docker_host = docker_host(a.docker_host.as_deref(), env)?;
        Ok(HostDefaults {
            etcd,
            docker_host,
            host,
            public_ip,
            private_ip,
            default_route_ip: if public_ip.is_none() {
                crate::netinfo::default_route_ip()
            } else {
                None
            },
            health: HealthConfig {
                mode: a.health_mode,
                path: a.health_path.clone(),
                digest: a.health_digest.clone(),
                interval: a.health_interval,
                timeout: a.health_timeout,
                rise: a.rise,
                fall: a.fall,
            },
            ttl: whole_seconds(a.ttl),
        })
    }
}

/// What one container needs beyond the host's defaults (from flags or from labels).
#[derive(Debug, Clone)]
pub struct ContainerParts {
    pub container: String,
    pub port: PortSpec,
    pub layout: Layout,
    pub unit: Option<String>,
    pub health: HealthConfig,
    pub network: Option<String>,
}

/// A port that is not TCP has nothing to GET or connect to: only `docker` and `none` health.
pub(crate) fn check_port_for_mode(port: PortSpec, mode: HealthMode) -> Result<(), String> {
    if port.proto != Proto::Tcp && matches!(mode, HealthMode::Http | HealthMode::Tcp) {
        return Err(format!(
            "--health-mode {} needs a tcp port; use --health-mode docker or none",
            mode.as_str()
        ));
    }
    Ok(())
}

impl AgentConfig {
    /// This host's addresses, as the address rule takes them.
    pub fn host_addrs(&self) -> crate::docker::address::HostAddrs {
        crate::docker::address::HostAddrs {
            public: self.public_ip,
            private: self.private_ip,
            default_route: self.default_route_ip,
        }
    }

    /// One container's configuration: the host's defaults with the container's own parts.
    pub fn from_parts(d: &HostDefaults, p: ContainerParts, resync: Duration) -> AgentConfig {
        AgentConfig {
            etcd: d.etcd.clone(),
            docker_host: d.docker_host.clone(),
            container: p.container,
            port: p.port,
            layout: p.layout,
            unit: p.unit,
            host: d.host.clone(),
            public_ip: d.public_ip,
            private_ip: d.private_ip,
            default_route_ip: d.default_route_ip,
            network: p.network,
            health: p.health,
            ttl: d.ttl,
            resync,
        }
    }

    pub fn from_args(
        a: &AgentArgs,
        resync: Duration,
        env: Env,
    ) -> Result<AgentConfig, ConfigError> {
        let defaults = HostDefaults::from_args(&a.shared, env)?;
        Self::from_args_with(a, &defaults, resync)
    }

    /// [`AgentConfig::from_args`] with the host-level part already built.
    pub fn from_args_with(
        a: &AgentArgs,
        defaults: &HostDefaults,
        resync: Duration,
    ) -> Result<AgentConfig, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        let container = container_reference(&a.container)?;
        let (Some(key), Some(port)) = (a.key.as_deref(), a.container_port) else {
            return Err(invalid(format!(
                "--key and --container-port are required{}",
                if a.key.is_some() {
                    ""
                } else {
                    " (only `check` may read them from the container's sidekick.* labels)"
                }
            )));
        };
        let template = a
            .value_template
            .as_deref()
            .map(|t| Template::parse(t).map_err(|why| invalid(format!("--value-template {why}"))))
            .transpose()?;
        let layout = Layout::new(key, a.format.unwrap_or(KeyFormat::Keys))
            .map_err(invalid)?
            .with_template(template);
        check_port_for_mode(port, defaults.health.mode)
            .map_err(|why| invalid(format!("--container-port {port}: {why}")))?;
        bounded(
            limits::RESYNC_INTERVAL,
            limits::RESYNC_INTERVAL.flag,
            resync,
        )
        .map_err(invalid)?;
        let parts = ContainerParts {
            container,
            port,
            layout,
            unit: match a.unit.as_deref().filter(|u| !u.trim().is_empty()) {
                Some(u) => Some(
                    crate::registry::text_value(u)
                        .map_err(|why| invalid(format!("--unit {u:?}: {why}")))?,
                ),
                None => None,
            },
            health: defaults.health.clone(),
            network: a
                .network
                .as_deref()
                .map(crate::docker::network_name)
                .transpose()
                .map_err(|why| invalid(format!("--network {why}")))?,
        };
        Ok(AgentConfig::from_parts(defaults, parts, resync))
    }
}

/// `--container` without Docker's leading `/`; refused when empty.
pub fn container_reference(raw: &str) -> Result<String, ConfigError> {
    let container = raw.trim().trim_start_matches('/').to_string();
    if container.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "--container {raw:?}: must name a container"
        )));
    }
    Ok(container)
}

#[cfg(test)]
mod tests;
