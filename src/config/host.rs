//! `host`'s configuration: the host-level flags ([`HostConfig`]) and, per container, an
//! [`AgentConfig`] for each of its services, built from its `sidekick.*` labels over those flags
//! ([`container_services`], pure). The container-wide service is declared by `sidekick.key`; each
//! `sidekick.<name>.key` declares one more, whose `sidekick.<name>.*` labels fall back to the
//! container-wide `sidekick.*` ones, then to the flags. A label that does not parse is a
//! [`LabelError`] naming the container, the label and the value; it leaves that one service
//! unmanaged. `check --container NAME` without `--key` uses the same function.

use std::collections::BTreeMap;
use std::time::Duration;

use super::agent::{bounded, check_port_for_mode, ContainerParts, HostDefaults};
use super::{AgentConfig, ConfigError, Env};
use crate::cli::limits;
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
pub const NETWORK: &str = "sidekick.network";
pub const HEALTH_MODE: &str = "sidekick.health.mode";
pub const HEALTH_PATH: &str = "sidekick.health.path";
pub const HEALTH_DIGEST: &str = "sidekick.health.digest";
pub const HEALTH_INTERVAL: &str = "sidekick.health.interval";
pub const HEALTH_TIMEOUT: &str = "sidekick.health.timeout";
pub const HEALTH_RISE: &str = "sidekick.health.rise";
pub const HEALTH_FALL: &str = "sidekick.health.fall";

/// The labels `host` reads, as the contract names them.
pub const LABELS: [&str; 12] = [
    KEY,
    PORT,
    UNIT,
    FORMAT,
    NETWORK,
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

/// The container-wide service: the one `sidekick.key` declares.
pub const MAIN: &str = "";

/// One service of a container, as its labels declare it.
#[derive(Debug, Clone)]
pub struct Service {
    /// [`MAIN`] for the container-wide service, else the `<name>` of `sidekick.<name>.key`.
    pub name: String,
    pub config: Result<AgentConfig, LabelError>,
}

/// Every service of one container: the container-wide one first, then the named ones in name
/// order. `None`: it has no `sidekick.key` label and is not sidekick's to manage. Each service
/// succeeds or fails on its own; a service claiming a key an earlier one holds is refused.
pub fn container_services(
    d: &HostDefaults,
    resync: Duration,
    c: &Labelled,
) -> Option<Vec<Service>> {
    if !c.labels.contains_key(KEY) {
        return None;
    }
    let mut names = vec![MAIN.to_string()];
    names.extend(service_names(&c.labels));
    let mut out: Vec<Service> = Vec::with_capacity(names.len());
    for name in names {
        let config = container_config(d, resync, c, &name).and_then(|o| {
            o.ok_or_else(|| {
                Labels::new(c, &name).missing(KEY, "is not set: every service needs its own key")
            })
        });
        let config = config.and_then(|cfg| {
            let earlier = out.iter().find(|s| {
                s.config
                    .as_ref()
                    .is_ok_and(|e| e.layout.prefix == cfg.layout.prefix)
            });
            match earlier {
                None => Ok(cfg),
                Some(e) => {
                    let labels = Labels::new(c, &name);
                    Err(labels.bad(
                        &labels.own(KEY),
                        format!(
                            "the same key as {}: give each service its own key",
                            Labels::new(c, &e.name).own(KEY)
                        ),
                    ))
                }
            }
        });
        out.push(Service { name, config });
    }
    Some(out)
}

/// The `<name>`s of the `sidekick.<name>.*` labels, sorted, valid or not (an invalid one is
/// that service's error).
fn service_names(all: &BTreeMap<String, String>) -> Vec<String> {
    let mut names: Vec<String> = all
        .keys()
        .filter_map(|label| match classify(label)? {
            Scope::Service(name, _) => Some(name.to_string()),
            Scope::Container => None,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whose a `sidekick.*` label is.
enum Scope<'a> {
    /// A container-wide label, known or not.
    Container,
    /// `sidekick.<name>.<rest>`: service `name`'s form of `sidekick.<rest>` (known or not).
    Service(&'a str, &'a str),
}

/// `None` for a label that is not sidekick's. A name that begins a container-wide label
/// (`health`, of `sidekick.health.mode`) is not a service name: `sidekick.health.digets` stays a
/// misspelt container-wide label.
fn classify(label: &str) -> Option<Scope<'_>> {
    let rest = label.strip_prefix(PREFIX)?;
    if LABELS.contains(&label) {
        return Some(Scope::Container);
    }
    match rest.split_once('.') {
        Some((name, rest))
            if !name.is_empty()
                && !LABELS
                    .iter()
                    .any(|l| l[PREFIX.len()..].starts_with(&format!("{name}."))) =>
        {
            Some(Scope::Service(name, rest))
        }
        _ => Some(Scope::Container),
    }
}

/// Service `service`'s form of the container-wide `label`: `sidekick.web.port` for
/// `sidekick.port` and service `web`; the label itself for [`MAIN`].
pub fn service_label(service: &str, label: &str) -> String {
    match (service, label.strip_prefix(PREFIX)) {
        (MAIN, _) | (_, None) => label.to_string(),
        (name, Some(rest)) => format!("{PREFIX}{name}.{rest}"),
    }
}

fn valid_service_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// One service's configuration from its labels over the host's defaults. `Ok(None)`: the
/// service has no key label (`sidekick.key` for [`MAIN`], else `sidekick.<name>.key`).
pub fn container_config(
    d: &HostDefaults,
    resync: Duration,
    c: &Labelled,
    service: &str,
) -> Result<Option<AgentConfig>, LabelError> {
    let labels = Labels::new(c, service);
    labels.check_names_and_sizes()?;
    let Some(raw_key) = labels.get(KEY)? else {
        return Ok(None);
    };
    let prefix = key::canonical_outside_reserved(raw_key).map_err(|why| labels.bad_at(KEY, why))?;
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
        let (label, value) = match labels.lookup(HEALTH_MODE) {
            Some((label, v)) => (label, Some(v.to_string())),
            None => (
                labels.lookup(PORT).map_or(labels.own(PORT), |(l, _)| l),
                Some(port.to_string()),
            ),
        };
        LabelError {
            container: c.name.clone(),
            label,
            value,
            reason: why.replace("--health-mode", HEALTH_MODE),
        }
    })?;
    let unit = labels.parse(UNIT, crate::registry::text_value)?;
    let network = labels.parse(NETWORK, crate::docker::network_name)?;
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
        network,
    };
    Ok(Some(AgentConfig::from_parts(d, parts, resync)))
}

/// `check --container NAME` without `--key`: the services `host` would manage from the
/// container's labels. A container without `sidekick.key` is an error here (there is nothing to
/// check); a service whose labels do not parse carries its error.
pub fn check_config_from_labels(
    d: &HostDefaults,
    resync: Duration,
    c: &Labelled,
) -> Result<Vec<Service>, ConfigError> {
    container_services(d, resync, c).ok_or_else(|| {
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

/// One service's view of its container's labels, with errors that name the container and the
/// label as written.
struct Labels<'a> {
    container: &'a str,
    all: &'a BTreeMap<String, String>,
    /// [`MAIN`] or the service's name.
    service: &'a str,
}

impl<'a> Labels<'a> {
    fn new(c: &'a Labelled, service: &'a str) -> Labels<'a> {
        Labels {
            container: &c.name,
            all: &c.labels,
            service,
        }
    }

    /// This service's own form of the container-wide `label`: `sidekick.web.port` for
    /// `sidekick.port`.
    fn own(&self, label: &str) -> String {
        service_label(self.service, label)
    }

    /// The label that sets `label` for this service, as written, and its value: the service's
    /// own, else the container-wide one. A service's key is its own only.
    fn lookup(&self, label: &str) -> Option<(String, &'a str)> {
        let own = self.own(label);
        if let Some(v) = self.all.get(&own) {
            return Some((own, v.as_str()));
        }
        if label == KEY {
            return None;
        }
        self.all.get(label).map(|v| (label.to_string(), v.as_str()))
    }

    fn bad(&self, label: &str, reason: impl Into<String>) -> LabelError {
        LabelError {
            container: self.container.to_string(),
            label: label.to_string(),
            value: self.all.get(label).cloned(),
            reason: reason.into(),
        }
    }

    /// An error about the label that sets `label` for this service.
    fn bad_at(&self, label: &str, reason: impl Into<String>) -> LabelError {
        let written = self.lookup(label).map_or(self.own(label), |(l, _)| l);
        self.bad(&written, reason)
    }

    /// `label` is not set for this service (neither its own form nor the container-wide one).
    fn missing(&self, label: &str, reason: impl Into<String>) -> LabelError {
        LabelError {
            value: None,
            ..self.bad(&self.own(label), reason)
        }
    }

    /// Unknown `sidekick.*` names, a bad service name and oversized values are refused before
    /// anything is read: the container-wide labels for every service, `sidekick.<name>.*` for
    /// service `name` only.
    fn check_names_and_sizes(&self) -> Result<(), LabelError> {
        for (name, value) in self.all.range(PREFIX.to_string()..) {
            let Some(scope) = classify(name) else {
                break;
            };
            match scope {
                Scope::Service(service, _) if service != self.service => continue,
                Scope::Service(service, _) if !valid_service_name(service) => {
                    return Err(self.bad(
                        name,
                        format!(
                            "service name {service:?} must be made of a-z, 0-9, _ and - (as in sidekick.admin.key)"
                        ),
                    ))
                }
                Scope::Service(_, rest) if !LABELS.contains(&format!("{PREFIX}{rest}").as_str()) => {
                    return Err(self.bad(
                        name,
                        format!(
                            "unknown sidekick label; a service's labels are sidekick.{}.<label> for each known label: {}",
                            self.service,
                            LABELS.join(", ")
                        ),
                    ))
                }
                Scope::Container if !LABELS.contains(&name.as_str()) => {
                    return Err(self.bad(
                        name,
                        format!(
                            "unknown sidekick label; known: {} (and sidekick.<name>.<label> for one more service)",
                            LABELS.join(", ")
                        ),
                    ))
                }
                _ => {}
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

    /// The value setting `label` for this service; an empty one is refused (remove the label to
    /// get the default).
    fn get(&self, label: &str) -> Result<Option<&'a str>, LabelError> {
        match self.lookup(label) {
            None => Ok(None),
            Some((written, v)) if v.trim().is_empty() => {
                Err(self.bad(&written, "is empty; remove the label to use the default"))
            }
            Some((_, v)) => Ok(Some(v)),
        }
    }

    fn parse<T>(
        &self,
        label: &str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, LabelError> {
        self.get(label)?
            .map(|v| f(v.trim()).map_err(|why| self.bad_at(label, why)))
            .transpose()
    }
}

#[cfg(test)]
mod tests;
