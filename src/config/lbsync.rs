//! lbsync's validated configuration, from `LbsyncArgs` plus the environment fallbacks the 2014
//! tools used (`LB_NAME`, `OS_USERNAME`, `OS_API_KEY`, `OS_PASSWORD`, `OS_REGION_NAME`,
//! `OS_REGION`, `OS_AUTH_URL`). Secrets come from files or the environment, never from etcd.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::{etcd_config, first_env, read_secret_file, ConfigError, Env};
use crate::cli::limits;
use crate::cli::{BackendKind, LbsyncArgs};
use crate::etcd::EtcdConfig;
use crate::health::{Digest, DEFAULT_HEALTH_PATH};
use crate::nginx::NginxConfig;
use crate::rackspace::{ClientConfig, Credentials, DEFAULT_IDENTITY_URL};
use crate::registry::key;
use crate::registry::node::{refusal, AddressRules};

/// `--health-path`/`--health-digest`: the probe an instance must pass before lbsync adds it (as
/// the 2014 lbhelper did; instances already served are not probed again).
#[derive(Debug, Clone)]
pub struct AdmissionProbe {
    pub path: String,
    pub digest: Option<Digest>,
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct RackspaceTarget {
    pub client: ClientConfig,
    pub lb_name: Option<String>,
    pub lb_id: Option<u64>,
}

#[derive(Debug, Clone)]
pub enum BackendConfig {
    Rackspace(RackspaceTarget),
    Nginx(NginxConfig),
}

#[derive(Debug, Clone)]
pub struct LbsyncConfig {
    pub etcd: EtcdConfig,
    /// Always ends with '/'.
    pub prefix: String,
    /// `--address-family`: which address of an instance makes its node.
    pub address_family: crate::registry::codec::AddressFamily,
    pub backend: BackendConfig,
    pub statics: BTreeSet<SocketAddr>,
    pub allow_empty: bool,
    pub admission_probe: Option<AdmissionProbe>,
    pub resync: Duration,
    /// `--debounce` was given: deprecated and ignored (lbsync warns once at start).
    pub debounce_given: bool,
    /// `--drain-period`: Rackspace nodes go DRAINING this long before deletion (zero: off).
    pub drain_period: Duration,
    /// `--allow-loopback`: the Rackspace backend accepts loopback addresses.
    pub allow_loopback: bool,
    pub election_key: String,
    /// What this instance reconciles into (`rackspace/<lb>`, `nginx/<upstream>`): written in the
    /// election key so instances that share a key but not a target refuse to run.
    pub target: String,
    /// `--election-ttl`: the leadership lease.
    pub ttl: Duration,
    pub dry_run: bool,
}

fn invalid(m: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(m.into())
}

fn rackspace(a: &LbsyncArgs, env: Env) -> Result<RackspaceTarget, ConfigError> {
    let lb_name = a.lb_name.clone().or_else(|| first_env(env, &["LB_NAME"]));
    if lb_name.is_none() && a.lb_id.is_none() {
        return Err(invalid(
            "--backend rackspace needs --lb-name (or $LB_NAME) or --lb-id",
        ));
    }
    let username = a
        .username
        .clone()
        .or_else(|| first_env(env, &["OS_USERNAME"]))
        .ok_or_else(|| invalid("--backend rackspace needs --username (or $OS_USERNAME)"))?;
    let credentials = if let Some(p) = &a.api_key_file {
        Credentials::api_key(username, read_secret_file("--api-key-file", p)?)
    } else if let Some(k) = first_env(env, &["OS_API_KEY"]) {
        Credentials::api_key(username, k.trim())
    } else if let Some(p) = &a.password_file {
        Credentials::password(username, read_secret_file("--password-file", p)?)
    } else if let Some(p) = first_env(env, &["OS_PASSWORD"]) {
        Credentials::password(username, p)
    } else {
        return Err(invalid("--backend rackspace needs --api-key-file (or $OS_API_KEY) or --password-file (or $OS_PASSWORD)"));
    };
    let (source, raw) = match (&a.identity_url, first_env(env, &["OS_AUTH_URL"])) {
        (Some(u), _) => ("--identity-url", u.clone()),
        (None, Some(u)) => ("$OS_AUTH_URL", u),
        (None, None) => ("default", DEFAULT_IDENTITY_URL.to_string()),
    };
    let identity_url = raw.trim().trim_end_matches('/').to_string();
    let host = identity_url
        .strip_prefix("https://")
        .or_else(|| identity_url.strip_prefix("http://"));
    if host.is_none_or(|h| h.is_empty() || h.starts_with('/')) {
        return Err(invalid(format!("{source} {raw:?}: must be an http(s) URL")));
    }
    let region = a
        .region
        .clone()
        .or_else(|| first_env(env, &["OS_REGION_NAME", "OS_REGION"]))
        .unwrap_or_default();
    Ok(RackspaceTarget {
        client: ClientConfig::new(identity_url, region.trim(), credentials),
        lb_name,
        lb_id: a.lb_id,
    })
}

/// The Rackspace backend's own flags among those given: `--backend nginx` refuses them rather
/// than ignore them. (`$LB_NAME` and the `OS_*` variables are shared environment, not flags.)
fn rackspace_only_given(a: &LbsyncArgs) -> Vec<&'static str> {
    [
        ("--lb-name", a.lb_name.is_some()),
        ("--lb-id", a.lb_id.is_some()),
        ("--region", a.region.is_some()),
        ("--username", a.username.is_some()),
        ("--api-key-file", a.api_key_file.is_some()),
        ("--password-file", a.password_file.is_some()),
        ("--identity-url", a.identity_url.is_some()),
        ("--drain-period", a.drain_period.is_some()),
        ("--allow-loopback", a.allow_loopback),
    ]
    .into_iter()
    .filter_map(|(flag, given)| given.then_some(flag))
    .collect()
}

/// The address rules of `backend`, for instances and static nodes alike: nginx on this host may
/// proxy to loopback; a Rackspace load balancer cannot reach it, so only `--allow-loopback`
/// (an emulator, a demo) lets it through.
pub fn address_rules(backend: &BackendConfig, allow_loopback: bool) -> AddressRules {
    match backend {
        BackendConfig::Rackspace(_) => AddressRules {
            allow_loopback,
            ipv4_only: true,
        },
        BackendConfig::Nginx(_) => AddressRules {
            allow_loopback: true,
            ipv4_only: false,
        },
    }
}

fn nginx(a: &LbsyncArgs) -> Result<NginxConfig, ConfigError> {
    let given = rackspace_only_given(a);
    if !given.is_empty() {
        return Err(invalid(format!(
            "{}: only for --backend rackspace; --backend nginx does not use {}",
            given.join(", "),
            if given.len() == 1 { "it" } else { "them" }
        )));
    }
    let upstream_file = a
        .upstream_file
        .clone()
        .ok_or_else(|| invalid("--backend nginx needs --upstream-file"))?;
    let upstream_name = a
        .upstream_name
        .clone()
        .ok_or_else(|| invalid("--backend nginx needs --upstream-name"))?;
    if !crate::nginx::valid_name(&upstream_name) {
        return Err(invalid(format!(
            "--upstream-name {upstream_name:?}: use only letters, digits, '_', '.' and '-'"
        )));
    }
    for (flag, cmd) in [
        ("--check-cmd", &a.check_cmd),
        ("--reload-cmd", &a.reload_cmd),
    ] {
        if cmd.trim().is_empty() {
            return Err(invalid(format!("{flag} {cmd:?}: must not be empty")));
        }
    }
    Ok(NginxConfig {
        check_cmd: a.check_cmd.clone(),
        reload_cmd: a.reload_cmd.clone(),
        ..NginxConfig::new(upstream_file, upstream_name)
    })
}

impl LbsyncConfig {
    pub fn from_args(a: &LbsyncArgs, env: Env) -> Result<LbsyncConfig, ConfigError> {
        let etcd = etcd_config(&a.etcd, env)?;
        let prefix = key::canonical_outside_reserved(&a.prefix)
            .map(|p| format!("{p}/"))
            .map_err(|why| invalid(format!("--prefix {:?}: {why}", a.prefix)))?;
        let (backend, lb_label) = match a.backend {
            BackendKind::Rackspace => {
                let t = rackspace(a, env)?;
                let label = t
                    .lb_id
                    .map(|i| i.to_string())
                    .or_else(|| t.lb_name.clone())
                    .unwrap_or_default();
                (BackendConfig::Rackspace(t), format!("rackspace/{label}"))
            }
            BackendKind::Nginx => {
                let n = nginx(a)?;
                let label = format!("nginx/{}", n.upstream_name);
                (BackendConfig::Nginx(n), label)
            }
        };
        let rules = address_rules(&backend, a.allow_loopback);
        for node in &a.static_node {
            if let Some(why) = refusal(*node, rules) {
                return Err(invalid(format!("--static-node {node}: {why}")));
            }
        }
        let admission_probe = match (&a.health_path, &a.health_digest) {
            (None, None) => None,
            (path, digest) => {
                let path = path.clone().unwrap_or_else(|| DEFAULT_HEALTH_PATH.into());
                if !path.starts_with('/') {
                    return Err(invalid(format!(
                        "--health-path {path:?}: must start with '/'"
                    )));
                }
                Some(AdmissionProbe {
                    path,
                    digest: digest.clone(),
                    timeout: a.health_timeout,
                })
            }
        };
        let election_key = match &a.election_key {
            Some(k) => {
                let bad = |why: String| invalid(format!("--election-key {k:?}: {why}"));
                let c = key::canonical(k).map_err(bad)?;
                if format!("{c}/").starts_with(&prefix) {
                    return Err(bad(format!("lies inside --prefix {prefix}")));
                }
                c
            }
            None => format!("/{}/lbsync/{lb_label}", key::RESERVED_ROOT),
        };
        let ttl = match (a.election_ttl, first_env(env, &["SIDEKICK_TTL"])) {
            (Some(d), _) => d,
            // The old spelling of the variable, from before --election-ttl had its own name.
            (None, Some(v)) => limits::ELECTION_TTL
                .parse(&v)
                .map_err(|e| invalid(format!("$SIDEKICK_TTL: {e}")))?,
            (None, None) => limits::ELECTION_TTL.default_value(),
        };
        Ok(LbsyncConfig {
            etcd,
            prefix,
            address_family: a.address_family,
            backend,
            statics: a.static_node.iter().copied().collect(),
            allow_empty: a.allow_empty,
            admission_probe,
            resync: a.resync_interval,
            debounce_given: a.debounce.is_some(),
            drain_period: a
                .drain_period
                .unwrap_or(limits::DRAIN_PERIOD.default_value()),
            allow_loopback: a.allow_loopback,
            election_key,
            target: lb_label,
            // etcd leases have whole-second TTLs: round up.
            ttl: Duration::from_secs(
                ttl.as_secs()
                    .saturating_add(u64::from(ttl.subsec_nanos() > 0)),
            ),
            dry_run: a.dry_run,
        })
    }
}

#[cfg(test)]
mod tests;
