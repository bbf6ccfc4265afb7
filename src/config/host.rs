//! `host`'s configuration: the host-level flags ([`HostConfig`]) and, per container, an
//! [`AgentConfig`] built from its `sidekick.*` labels over those flags ([`container_config`],
//! pure). A label that does not parse is a [`LabelError`] naming the container, the label and
//! the value; it leaves that one container unmanaged. `check --container NAME` without `--key`
//! uses the same function.

use std::collections::BTreeMap;
use std::time::Duration;

use super::agent::{bounded, check_port_for_mode, ContainerParts, HostDefaults};
use super::{limits, AgentConfig, ConfigError, Env};
use crate::cli::HostArgs;
use crate::docker::{Labelled, PortSpec};
use crate::health::{Digest, HealthMode};
use crate::registry::{key, KeyFormat, Layout};

/// Every label sidekick reads starts with this; any other `sidekick.*` label is refused (a typo
/// such as `sidekick.health.digets` would otherwise drop the digest check silently).
pub const PREFIX: &str = "sidekick.";
pub const KEY: &str = "sidekick.key";
pub const PORT: &str = "sidekick.port";
pub const UNIT: &str = "sidekick.unit";
pub const FORMAT: &str = "sidekick.format";
pub const HEALTH_MODE: &str = "sidekick.health.mode";
pub const HEALTH_PATH: &str = "sidekick.health.path";
pub const HEALTH_DIGEST: &str = "sidekick.health.digest";
pub const HEALTH_INTERVAL: &str = "sidekick.health.interval";
pub const HEALTH_TIMEOUT: &str = "sidekick.health.timeout";
pub const HEALTH_RISE: &str = "sidekick.health.rise";
pub const HEALTH_FALL: &str = "sidekick.health.fall";

/// The labels `host` reads, as the contract names them.
pub const LABELS: [&str; 11] = [
    KEY,
    PORT,
    UNIT,
    FORMAT,
    HEALTH_MODE,
    HEALTH_PATH,
    HEALTH_DIGEST,
    HEALTH_INTERVAL,
    HEALTH_TIMEOUT,
    HEALTH_RISE,
    HEALTH_FALL,
];

/// The longest label value accepted (keys, unit names and paths are far shorter).
pub const MAX_LABEL_VALUE: usize = 4096;

/// Why one container's labels cannot be used. Shown once per container; the container stays
/// unmanaged until it is removed (labels cannot change without re-creating it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("container {container:?}: label {label}{}: {reason}", shown(.value))]
pub struct LabelError {
    pub container: String,
    pub label: String,
    /// The value as given (`None`: the label is missing).
    pub value: Option<String>,
    pub reason: String,
}

fn shown(value: &Option<String>) -> String {
    match value {
        None => String::new(),
        Some(v) if v.chars().count() > 80 => {
            format!("={:?}…", v.chars().take(80).collect::<String>())
        }
        Some(v) => format!("={v:?}"),
    }
}

/// `sidekick host`'s validated configuration.
#[derive(Debug, Clone)]
pub struct HostConfig {
    pub defaults: HostDefaults,
    pub resync: Duration,
    /// `--require-label`: (label, value) pairs a container must also carry.
    pub require: Vec<(String, Option<String>)>,
}

impl HostConfig {
    pub fn from_args(a: &HostArgs, env: Env) -> Result<HostConfig, ConfigError> {
        let invalid = |m: String| ConfigError::Invalid(m);
        let defaults = HostDefaults::from_args(&a.shared, env)?;
        bounded(
            limits::RESYNC_INTERVAL,
            limits::RESYNC_INTERVAL.flag,
            a.resync_interval,
        )
        .map_err(invalid)?;
        let require = a
            .require_label
            .iter()
            .map(|raw| {
                let (k, v) = match raw.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.to_string())),
                    None => (raw.trim(), None),
                };
                if k.is_empty() || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(invalid(format!(
                        "--require-label {raw:?}: expected LABEL or LABEL=VALUE"
                    )));
                }
                Ok((k.to_string(), v))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HostConfig {
            defaults,
            resync: a.resync_interval,
            require,
        })
    }

    /// Docker's `label` filter values: `sidekick.key` and every required label (all must match).
    pub fn label_filters(&self) -> Vec<String> {
        let mut f = vec![KEY.to_string()];
        f.extend(self.require.iter().map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.clone(),
        }));
        f
    }
}

/// One container's configuration from its labels over the host's defaults. `Ok(None)`: it has
/// no `sidekick.key` label and is not sidekick's to manage.
pub fn container_config(
    d: &HostDefaults,
    resync: Duration,
    c: &Labelled,
) -> Result<Option<AgentConfig>, LabelError> {
    let labels = Labels {
        container: &c.name,
        all: &c.labels,
    };
    labels.check_names_and_sizes()?;
    let Some(raw_key) = labels.get(KEY)? else {
        return Ok(None);
    };
    let prefix = key::canonical_outside_reserved(raw_key).map_err(|why| labels.bad(KEY, why))?;
    let format = labels
        .parse(FORMAT, |v| v.parse::<KeyFormat>())?
        .unwrap_or(KeyFormat::Keys);
    let port = match labels.parse(PORT, PortSpec::parse)? {
        Some(p) => p,
        None => default_port(c).map_err(|why| labels.missing(PORT, why))?,
    };
    let mut health = d.health.clone();
    if let Some(m) = labels.parse(HEALTH_MODE, |v| v.parse::<HealthMode>())? {
        health.mode = m;
    }
    if let Some(p) = labels.parse(HEALTH_PATH, |v| {
        if v.starts_with('/') && !v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            Ok(v.to_string())
        } else {
            Err("must start with '/' and hold no spaces, e.g. /health.php".to_string())
        }
    })? {
        health.path = p;
    }
    if let Some(digest) = labels.parse(HEALTH_DIGEST, Digest::parse)? {
        health.digest = Some(digest);
    }
    if let Some(i) = labels.parse(HEALTH_INTERVAL, |v| limits::HEALTH_INTERVAL.parse(v))? {
        health.interval = i;
    }
    if let Some(t) = labels.parse(HEALTH_TIMEOUT, |v| limits::HEALTH_TIMEOUT.parse(v))? {
        health.timeout = t;
    }
    if let Some(n) = labels.parse(HEALTH_RISE, count)? {
        health.rise = n;
    }
    if let Some(n) = labels.parse(HEALTH_FALL, count)? {
        health.fall = n;
    }
    check_port_for_mode(port, health.mode).map_err(|why| {
        let (label, value) = match labels.get(HEALTH_MODE).ok().flatten() {
            Some(v) => (HEALTH_MODE, Some(v.to_string())),
            None => (PORT, Some(port.to_string())),
        };
        LabelError {
            container: c.name.clone(),
            label: label.to_string(),
            value,
            reason: why.replace("--health-mode", HEALTH_MODE),
        }
    })?;
    let unit = labels.parse(UNIT, crate::registry::text_value)?;
    let parts = ContainerParts {
        container: c.name.clone(),
        port,
        layout: Layout {
            prefix,
            format,
            template: None,
        },
        unit,
        health,
    };
    Ok(Some(AgentConfig::from_parts(d, parts, resync)))
}

/// `check --container NAME` without `--key`: the configuration `host` would build from the
/// container's labels. A container without `sidekick.key` is an error here (there is nothing to
/// check), and so is any label that does not parse.
pub fn check_config_from_labels(
    d: &HostDefaults,
    resync: Duration,
    c: &Labelled,
) -> Result<AgentConfig, ConfigError> {
    container_config(d, resync, c)?.ok_or_else(|| {
        ConfigError::Invalid(format!(
            "container {:?} has no {KEY} label: label it (as for `sidekick host`) or pass --key and --container-port",
            c.name
        ))
    })
}

/// `sidekick.port`'s default: the container's only published TCP port.
fn default_port(c: &Labelled) -> Result<PortSpec, String> {
    match c.published_tcp.as_slice() {
        [one] => Ok(*one),
        [] => Err("is not set and the container publishes no TCP port; set it, e.g. sidekick.port=80/tcp".into()),
        several => Err(format!(
            "is not set and the container publishes several TCP ports ({}); set it to the one to announce",
            several.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn count(v: &str) -> Result<u32, String> {
    match v.trim().parse::<u32>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err("must be a whole number from 1 to 100".into()),
    }
}

/// One container's labels, with errors that name it.
struct Labels<'a> {
    container: &'a str,
    all: &'a BTreeMap<String, String>,
}

impl Labels<'_> {
    fn bad(&self, label: &str, reason: impl Into<String>) -> LabelError {
        LabelError {
            container: self.container.to_string(),
            label: label.to_string(),
            value: self.all.get(label).cloned(),
            reason: reason.into(),
        }
    }

    fn missing(&self, label: &str, reason: impl Into<String>) -> LabelError {
        LabelError {
            value: None,
            ..self.bad(label, reason)
        }
    }

    /// Unknown `sidekick.*` names and oversized values are refused before anything is read.
    fn check_names_and_sizes(&self) -> Result<(), LabelError> {
        for (name, value) in self.all.range(PREFIX.to_string()..) {
            if !name.starts_with(PREFIX) {
                break;
            }
            if !LABELS.contains(&name.as_str()) {
                return Err(self.bad(
                    name,
                    format!("unknown sidekick label; known: {}", LABELS.join(", ")),
                ));
            }
            if value.len() > MAX_LABEL_VALUE {
                return Err(self.bad(
                    name,
                    format!(
                        "{} bytes, more than the {MAX_LABEL_VALUE} accepted",
                        value.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The label's value; an empty one is refused (remove the label to get the default).
    fn get(&self, label: &str) -> Result<Option<&str>, LabelError> {
        match self.all.get(label).map(String::as_str) {
            None => Ok(None),
            Some(v) if v.trim().is_empty() => {
                Err(self.bad(label, "is empty; remove the label to use the default"))
            }
            Some(v) => Ok(Some(v)),
        }
    }

    fn parse<T>(
        &self,
        label: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, LabelError> {
        self.get(label)?
            .map(|v| f(v.trim()).map_err(|why| self.bad(label, why)))
            .transpose()
    }
}

#[cfg(test)]
mod tests;
