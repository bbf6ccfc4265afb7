//! The agent's validated configuration (`run` and `check`), from `AgentArgs` plus the environment
//! fallbacks (`COREOS_*`, `ETCDCTL_ENDPOINTS`, `DOCKER_HOST`), read through an injected lookup so
//! tests can drive them. Every error names the flag.

use std::net::IpAddr;
use std::time::Duration;

use super::{etcd_config, limits, ConfigError, Env};
use crate::cli::AgentArgs;
use crate::docker::{PortSpec, Proto};
use crate::etcd::EtcdConfig;
use crate::health::{Digest, HealthMode};
use crate::registry::{Layout, Template};

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

impl AgentConfig {
    pub fn from_args(
        a: &AgentArgs,
        resync: Duration,
        env: Env,
    ) -> Result<AgentConfig, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        let etcd = etcd_config(&a.etcd, env)?;
        let container = a.container.trim().trim_start_matches('/').to_string();
        if container.is_empty() {
            return Err(invalid(format!(
                "--container {:?}: must name a container",
                a.container
            )));
        }
        let template = a
            .value_template
            .as_deref()
            .map(|t| Template::parse(t).map_err(|why| invalid(format!("--value-template {why}"))))
            .transpose()?;
        let layout = Layout::new(&a.key, a.format)
            .map_err(invalid)?
            .with_template(template);
        if a.container_port.proto != Proto::Tcp
            && matches!(a.health_mode, HealthMode::Http | HealthMode::Tcp)
        {
            return Err(invalid(format!(
                "--container-port {}: --health-mode {:?} needs a tcp port; use --health-mode docker or none",
                a.container_port, a.health_mode
            )));
        }
        // Bounds again, for callers that did not come through `cli`'s parsers.
        for (flag, d) in [
            (limits::TTL, a.ttl),
            (limits::HEALTH_INTERVAL, a.health_interval),
            (limits::HEALTH_TIMEOUT, a.health_timeout),
            (limits::RESYNC_INTERVAL, resync),
        ] {
            flag.check(d).map_err(|why| {
                invalid(format!(
                    "{} {}: {why}",
                    flag.flag,
                    crate::duration::format(d)
                ))
            })?;
        }
        // etcd leases have whole-second TTLs: round up.
        let ttl = Duration::from_secs(
            a.ttl
                .as_secs()
                .saturating_add(u64::from(a.ttl.subsec_nanos() > 0)),
        );
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
            Some(h) if !h.trim().is_empty() => h.trim().to_string(),
            Some(h) => return Err(invalid(format!("--host {h:?}: must not be empty"))),
            None => crate::netinfo::hostname().unwrap_or_else(|| "localhost".into()),
        };
        let docker_host = docker_host(a.docker_host.as_deref(), env)?;
        Ok(AgentConfig {
            etcd,
            docker_host,
            container,
            port: a.container_port,
            layout,
            unit: a.unit.clone().filter(|u| !u.trim().is_empty()),
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
            ttl,
            resync,
        })
    }
}

#[cfg(test)]
mod tests;
