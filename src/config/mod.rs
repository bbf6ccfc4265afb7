//! Configuration: turns parsed command-line arguments (`cli`) plus the environment fallbacks into
//! validated configs for each mode, in two stages as ripgrep does (clap's `*Args` → these types).
//! This module is the only source of exit code 2: every [`ConfigError`] names the flag or the
//! variable and the value that is wrong. Domain modules never see clap types.
//!
//! - `agent`: `run` and `check` ([`AgentConfig`]), and the host-level part all three agent modes
//!   share ([`HostDefaults`]).
//! - `host`: `host` ([`HostConfig`]) and one container's [`AgentConfig`] from its labels.
//! - `lbsync`: `lbsync` ([`LbsyncConfig`]).
//! - `metrics`: `--metrics-addr` ([`metrics_addr`]).
//! - `files`: reading secret and TLS files (regular files only, size-limited), and the unit's
//!   environment file that must exist (`--require-env-file`).
//! - here: the error type, the environment lookup, and the etcd flags ([`etcd_config`]).

mod agent;
mod files;
pub mod host;
mod lbsync;
mod metrics;

pub use agent::{container_reference, AgentConfig, ContainerParts, HealthConfig, HostDefaults};
pub use files::{
    read_limited, read_secret_file, readable_by_others, require_env_file, MAX_PEM_FILE,
    MAX_SECRET_FILE,
};
pub use host::{
    check_config_from_labels, container_config, container_services, HostConfig, LabelError, Service,
};
pub use lbsync::{address_rules, AdmissionProbe, BackendConfig, LbsyncConfig, RackspaceTarget};
pub use metrics::metrics_addr;

use std::path::Path;

use crate::cli::EtcdArgs;
use crate::etcd::{validate_endpoint, EtcdConfig, EtcdError, Tls, DEFAULT_ENDPOINT};

/// A configuration the user must fix; `main` prints it and exits 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {flag} file {path}: {source}")]
    File {
        flag: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{flag} {}: {reason}", path.display())]
    BadFile {
        flag: &'static str,
        path: std::path::PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    #[error(transparent)]
    Label(#[from] LabelError),
}

/// How configuration reads the environment (`std::env::var` in `main`, a table in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The first of `names` that is set to something other than blanks.
pub(crate) fn first_env(env: Env, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))
}

fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    read_limited(flag, path, MAX_PEM_FILE)
}

/// The etcd connection settings from the common etcd flags; the endpoints fall back to
/// `$ETCDCTL_ENDPOINTS`, then to [`DEFAULT_ENDPOINT`]. TLS files and the password are read now, so a
/// bad path fails before anything connects.
pub fn etcd_config(args: &EtcdArgs, env: Env) -> Result<EtcdConfig, ConfigError> {
    let invalid = |m: &str| ConfigError::Invalid(m.to_string());
    let tls = if args.etcd_cacert.is_some() || args.etcd_cert.is_some() || args.etcd_key.is_some() {
        let ca = args
            .etcd_cacert
            .as_deref()
            .map(|p| read_file("--etcd-cacert", p))
            .transpose()?;
        let identity = match (&args.etcd_cert, &args.etcd_key) {
            (Some(c), Some(k)) => Some((read_file("--etcd-cert", c)?, read_file("--etcd-key", k)?)),
            (None, None) => None,
            _ => return Err(invalid("--etcd-cert and --etcd-key go together")),
        };
        Some(Tls { ca, identity })
    } else {
        None
    };
    let raw: Vec<String> = if !args.etcd_endpoints.is_empty() {
        args.etcd_endpoints.clone()
    } else if let Some(list) = first_env(env, &["ETCDCTL_ENDPOINTS"]) {
        list.split(',').map(str::to_string).collect()
    } else {
        vec![DEFAULT_ENDPOINT.to_string()]
    };
    let endpoints = raw
        .iter()
        .map(|e| validate_endpoint(e, tls.is_some()))
        .collect::<Result<Vec<_>, _>>()?;
    let auth = match (&args.etcd_user, &args.etcd_password_file) {
        (Some(u), Some(p)) => Some((u.clone(), read_secret_file("--etcd-password-file", p)?)),
        (None, None) => None,
        (Some(_), None) => return Err(invalid("--etcd-user needs --etcd-password-file")),
        (None, Some(_)) => return Err(invalid("--etcd-password-file needs --etcd-user")),
    };
    Ok(EtcdConfig {
        endpoints,
        tls,
        auth,
    })
}
