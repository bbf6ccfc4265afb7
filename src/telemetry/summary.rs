//! Pure: what systemd is told. [`Summary`] gathers the few facts the seams report, decides when
//! the mode's first decision counts as applied (`READY=1`) and renders the one-line `STATUS=`.
//! Also the bounded reason label of a failed probe.

use std::collections::BTreeMap;

use crate::health::Outcome;

use super::Mode;

/// What the seams reported so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub mode: Mode,
    /// Each key and whether its entries are in etcd.
    pub registered: BTreeMap<String, bool>,
    /// `run`: why the container is (not) registrable, as the agent last logged it.
    pub reason: Option<String>,
    /// `host`: Docker listed the containers; and every one of that listing has been looked at.
    pub host_listed: bool,
    pub host_pass_done: bool,
    /// `lbsync`: "leader", "standby (leader: X)" or "campaigning".
    pub role: Option<String>,
    pub desired: Option<usize>,
    pub actual: Option<usize>,
    /// `lbsync`: passes done, and whether the last one converged.
    pub passes: u64,
    pub last_pass_ok: bool,
}

impl Summary {
    pub fn new(mode: Mode) -> Summary {
        Summary {
            mode,
            registered: BTreeMap::new(),
            reason: None,
            host_listed: false,
            host_pass_done: false,
            role: None,
            desired: None,
            actual: None,
            passes: 0,
            last_pass_ok: false,
        }
    }

    /// Whether the first decision is applied: `run` wrote (or deliberately removed) its keys;
    /// `host` looked at every container it found at start; `lbsync` finished a pass or stands by.
    pub fn ready(&self) -> bool {
        match self.mode {
            Mode::Run => !self.registered.is_empty(),
            Mode::Host => self.host_pass_done,
            Mode::Lbsync => {
                self.passes > 0
                    || self
                        .role
                        .as_deref()
                        .is_some_and(|r| r.starts_with("standby"))
            }
        }
    }

    /// One line for `systemctl status`.
    pub fn line(&self) -> String {
        match self.mode {
            Mode::Run => {
                let (key, on) = match self.registered.iter().next() {
                    Some((k, on)) => (k.as_str(), *on),
                    None => ("", false),
                };
                let state = if on { "registered" } else { "not registered" };
                match &self.reason {
                    Some(r) if !key.is_empty() => format!("{key} {state}: {r}"),
                    Some(r) => format!("starting: {r}"),
                    None if !key.is_empty() => format!("{key} {state}"),
                    None => "starting".to_string(),
                }
            }
            Mode::Host => {
                let on = self.registered.values().filter(|v| **v).count();
                let managed = self.registered.len();
                if self.host_pass_done {
                    format!("{on} of {managed} keys registered")
                } else {
                    "starting: listing the labelled containers".to_string()
                }
            }
            Mode::Lbsync => {
                let role = self.role.as_deref().unwrap_or("campaigning");
                let nodes = match (self.desired, self.actual) {
                    (Some(d), Some(a)) => format!("; {d} desired, {a} in the load balancer"),
                    (Some(d), None) => format!("; {d} desired"),
                    _ => String::new(),
                };
                let last = match (self.passes, self.last_pass_ok) {
                    (0, _) => "",
                    (_, true) => "; converged",
                    (_, false) => "; last pass did not converge",
                };
                format!("{role}{nodes}{last}")
            }
        }
    }
}

/// The reason label of a failed probe: one of `status`, `digest`, `timeout`, `connect`, `error`.
pub fn probe_failure_reason(o: &Outcome) -> &'static str {
    let error = o.error.as_deref().unwrap_or("");
    if o.status.is_some() {
        return if error.starts_with("status") {
            "status"
        } else {
            "digest"
        };
    }
    if error.contains("no answer within") || error.contains("no complete answer") {
        "timeout"
    } else if error.contains("onnect") || error.contains("refused") {
        "connect"
    } else {
        "error"
    }
}

#[cfg(test)]
mod tests;
