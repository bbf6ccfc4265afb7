//! The registry's data model, shared by `run`, `check` and `lbsync`: the instance record, where an
//! agent's keys live (`Layout`; how a record is encoded is `codec`), the pure plan that turns
//! "what etcd holds" into the puts and deletes that make it "what we want", and the ownership
//! record that keeps two agents from fighting over one prefix. `node`: which addresses may be a
//! load balancer node at all.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

pub mod codec;
pub mod key;
pub mod node;
pub mod template;
pub use codec::{FIELDS, IPV6_FIELDS};
pub use template::Template;

/// How an agent lays out its record in etcd (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// One key per field under the prefix (the 2014 layout).
    Keys,
    /// One key, the prefix itself, holding a JSON object of the same fields.
    Json,
}

impl KeyFormat {
    /// The spellings `--format` accepts, in the order of the variants.
    pub const NAMES: [&'static str; 2] = ["keys", "json"];
}

impl std::str::FromStr for KeyFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "keys" => Ok(KeyFormat::Keys),
            "json" => Ok(KeyFormat::Json),
            _ => Err(format!(
                "unknown key format {s:?}: expected one of {}",
                KeyFormat::NAMES.join(", ")
            )),
        }
    }
}

/// A text value of the record (`--unit`, `sidekick.unit`, `--host`) as it will be written: trimmed,
/// and refused when it holds a control character (a newline, an ANSI escape), as keys are
/// ([`key::canonical`]), so nothing written to etcd can forge a line in a reader's log or
/// terminal. The reason does not repeat the input: callers prefix it with the flag or label.
pub fn text_value(raw: &str) -> Result<String, String> {
    let v = raw.trim();
    if v.chars().any(char::is_control) {
        return Err("must not contain control characters (newline, escape, ...)".into());
    }
    Ok(v.to_string())
}

/// What one agent announces about its container: the addresses of each family it has (an IPv6
/// address only ever in an `_ipv6_` field), one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub unit: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ipv4_addr: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ipv4_addr: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_ipv6_addr: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_ipv6_addr: Option<IpAddr>,
    pub port: u16,
}

impl Record {
    /// Each field it holds, by name, in [`FIELDS`] then [`IPV6_FIELDS`] order.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let ip = |name, v: Option<IpAddr>| v.map(|v| (name, v.to_string()));
        [
            Some(("unit", self.unit.clone())),
            Some(("host", self.host.clone())),
            ip("public_ipv4_addr", self.public_ipv4_addr),
            ip("private_ipv4_addr", self.private_ipv4_addr),
            Some(("port", self.port.to_string())),
            ip("public_ipv6_addr", self.public_ipv6_addr),
            ip("private_ipv6_addr", self.private_ipv6_addr),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// Where an agent's keys live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The `--key` prefix without a trailing slash, e.g. `/services/web/web01`.
    pub prefix: String,
    pub format: KeyFormat,
    /// `--value-template`: instead of `format`, one key, the prefix, holding this text.
    pub template: Option<Template>,
}

/// A key's value and the lease it is bound to (0: none).
pub type Actual = BTreeMap<String, (String, i64)>;

impl Layout {
    /// The layout of `--key prefix`; the key is made canonical ([`key::canonical`]) and may not
    /// point into sidekick's own tree. The error names the flag and the value.
    pub fn new(prefix: &str, format: KeyFormat) -> Result<Layout, String> {
        let p = key::canonical_outside_reserved(prefix)
            .map_err(|why| format!("--key {prefix:?}: {why}"))?;
        Ok(Layout {
            prefix: p,
            format,
            template: None,
        })
    }

    /// The same layout writing one key from `template` (see [`template`]).
    pub fn with_template(self, template: Option<Template>) -> Layout {
        Layout { template, ..self }
    }

    pub fn field_key(&self, field: &str) -> String {
        format!("{}/{field}", self.prefix)
    }

    /// Every key an agent on this prefix may own, in either format (so a format switch cleans up).
    pub fn managed_keys(&self) -> Vec<String> {
        let mut keys = vec![self.prefix.clone()];
        keys.extend(FIELDS.iter().chain(&IPV6_FIELDS).map(|f| self.field_key(f)));
        keys
    }

    /// The keys and values that announce `record` (see [`codec::render`]).
    pub fn render(&self, record: &Record) -> BTreeMap<String, String> {
        codec::render(self, record)
    }

    /// The key that records which agent owns this prefix: `/sidekick/owners` + the canonical
    /// prefix, so two different prefixes never share an owner key.
    pub fn owner_key(&self) -> String {
        format!("/{}/owners{}", key::RESERVED_ROOT, self.prefix)
    }
}

/// The writes that turn `actual` into `desired` under `lease`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPlan {
    pub puts: Vec<(String, String)>,
    pub deletes: Vec<String>,
}

impl KeyPlan {
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.deletes.is_empty()
    }
}

/// A key is written when it is missing, holds another value, or is bound to another lease (a
/// keepalive never rewrites a key); a managed key that is not wanted is deleted.
pub fn plan_keys(desired: &BTreeMap<String, String>, actual: &Actual, lease: i64) -> KeyPlan {
    let puts = desired
        .iter()
        .filter(|(k, v)| {
            actual
                .get(*k)
                .is_none_or(|(av, al)| av != *v || *al != lease)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let deletes = actual
        .keys()
        .filter(|k| !desired.contains_key(*k))
        .cloned()
        .collect();
    KeyPlan { puts, deletes }
}

/// Who holds a prefix: stored at [`Layout::owner_key`], bound to the holder's lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Random per process: tells this agent's own older lease from someone else's.
    pub agent: String,
    pub host: String,
    pub container: String,
    pub pid: u32,
    /// When the agent started (ms since the epoch): an older agent never takes over from a newer.
    pub started_ms: u64,
}

/// What to do about an owner key held under another lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handover {
    /// Ours (an older lease of this process) or left behind by a dead agent of the same unit:
    /// take it over.
    TakeOver,
    /// Someone else's, alive or unknown: wait for it to go.
    Wait,
}

/// Pure rule: the same agent may take over, and so may a newer agent of the same host and
/// container whose predecessor's process is gone (the unit was restarted after a SIGKILL).
/// Anything else waits for the holder's lease to end, so two misconfigured agents never flap.
pub fn handover(me: &Owner, holder: Option<&Owner>, holder_alive: bool) -> Handover {
    match holder {
        Some(h) if h.agent == me.agent => Handover::TakeOver,
        Some(h)
            if h.host == me.host
                && h.container == me.container
                && h.started_ms <= me.started_ms
                && !holder_alive =>
        {
            Handover::TakeOver
        }
        _ => Handover::Wait,
    }
}

#[cfg(test)]
mod tests;
