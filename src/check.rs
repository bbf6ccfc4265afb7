//! `sidekick check`: one look at everything `run` would look at (the container, its binding, one
//! probe, the keys it would write, what etcd holds now and who owns the prefix), printed for a
//! person or as one JSON object. Never writes. Exit 0 registrable, 1 not. Without `--key` the
//! configuration comes from the container's `sidekick.*` labels, as `host` reads them: one report
//! per service of the container.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::agent::decide::{decide, probe_target, Desired, HealthState, Reason};
use crate::config::{check_config_from_labels, AgentConfig, ConfigError, HostDefaults, Service};
use crate::docker::{self, ContainerView, Labelled};
use crate::health::{sha1_hex, Outcome, Probe, Prober};
use crate::registry::Owner;

/// The SHA1 of `"\n\nFAIL"`, the digest the 2014 tutorial documented by mistake.
pub const SEED_FAIL_SHA1: &str = "dbe72348d4e3aa87958f421e4a9592a82839f3d8";

#[derive(Debug, Serialize)]
pub struct Report {
    pub registrable: bool,
    pub reason: Reason,
    pub reason_text: String,
    /// What `run` would do to the keys now: `write` (`would_write`), `delete`, or `leave` them as
    /// they are (Docker unknown, health not settled).
    pub action: KeysAction,
    pub container: ContainerReport,
    pub probe: Option<ProbeReport>,
    pub would_write: BTreeMap<String, String>,
    pub etcd: EtcdReport,
    /// Hints for common mistakes (the FAIL-page digest).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeysAction {
    Write,
    Delete,
    Leave,
}

#[derive(Debug, Serialize)]
pub struct ContainerReport {
    pub reference: String,
    pub docker_error: Option<String>,
    pub state: Option<ContainerView>,
}

#[derive(Debug, Serialize)]
pub struct ProbeReport {
    pub mode: String,
    pub target: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Serialize)]
pub struct EtcdReport {
    pub endpoints: Vec<String>,
    pub error: Option<String>,
    /// Key → (value, lease id in hex; "0" when none).
    pub keys_now: BTreeMap<String, (String, String)>,
    pub owner: Option<Owner>,
}

/// `check --container NAME` without `--key`: what the container's labels say.
#[derive(Debug)]
pub enum FromLabels {
    /// The services `host` would manage from its labels (an error: exit 2), and a note listing
    /// the `sidekick.*` labels for the report.
    Found {
        services: Result<Vec<Service>, ConfigError>,
        note: String,
    },
    /// No such container: no labels to read (exit 1).
    Absent,
    /// Docker did not answer (exit 1).
    Unreachable(String),
}

/// Reads the container's labels and builds the configuration `host` would use for it.
pub async fn from_labels(defaults: &HostDefaults, resync: Duration, container: &str) -> FromLabels {
    let inspected = match docker::connect(&defaults.docker_host) {
        Ok(d) => docker::inspect_raw(&d, container).await,
        Err(e) => Err(e),
    };
    match inspected {
        Ok(Some(c)) => {
            let labelled = Labelled::from_inspect(&c);
            let shown: Vec<String> = labelled
                .labels
                .iter()
                .filter(|(k, _)| k.starts_with(crate::config::host::PREFIX))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            FromLabels::Found {
                services: check_config_from_labels(defaults, resync, &labelled),
                note: format!("configured by the container's labels: {}", shown.join(" ")),
            }
        }
        Ok(None) => FromLabels::Absent,
        Err(e) => FromLabels::Unreachable(e.to_string()),
    }
}

/// What a labelled `check` prints when there were no labels to read: the same verdict lines
/// (or JSON fields) as a full report.
pub fn render_without_labels(container: &str, what: &FromLabels, json: bool) -> String {
    let reason = match what {
        FromLabels::Unreachable(e) => Reason::DockerUnreachable { error: e.clone() },
        _ => Reason::ContainerAbsent {
            container: container.to_string(),
        },
    };
    if json {
        let v = serde_json::json!({
            "registrable": false,
            "reason": reason,
            "reason_text": reason.to_string(),
            "container": { "reference": container, "state": null },
        });
        return format!("{v:#}\n");
    }
    format!(
        "{:<12}{container}: {}\n{:<12}NOT registrable: {reason}\n{:<12}without --key, check reads the container's sidekick.* labels\n",
        "container",
        match what {
            FromLabels::Unreachable(e) => format!("docker unreachable: {e}"),
            _ => "no such container".to_string(),
        },
        "verdict",
        "note",
    )
}

/// `Some(error)` when internal mode names a network Docker says it does not have (exit 2);
/// `source` is the flag or label that named it.
pub async fn missing_network(cfg: &AgentConfig, source: &'static str) -> Option<String> {
    let name = cfg.network.as_deref()?;
    let d = docker::connect(&cfg.docker_host).ok()?;
    docker::require_network(&d, source, name)
        .await
        .err()
        .map(|e| e.to_string())
}

/// Gathers the report. Failures to reach Docker or etcd are part of the report, not errors.
pub async fn gather(cfg: &AgentConfig) -> Report {
    let (view, docker_error) = match docker::connect(&cfg.docker_host) {
        Ok(d) => match docker::inspect(&d, &cfg.container, cfg.port).await {
            Ok(v) => (v, None),
            Err(e) => (None, Some(e.to_string())),
        },
        Err(e) => (None, Some(e.to_string())),
    };
    let mut health = HealthState::default();
    let mut probe = None;
    if let Some(p) = probe_target(cfg, view.as_ref(), None) {
        let outcome = Prober::new(cfg.health.timeout).probe(&p).await;
        health = HealthState {
            healthy: outcome.pass,
            last_error: outcome.error.clone(),
            probed: true,
            passes: u32::from(outcome.pass),
        };
        let (mode, target) = match &p {
            Probe::Http { .. } => ("http", p.url().unwrap_or_default()),
            Probe::Tcp { addr } => ("tcp", addr.to_string()),
        };
        probe = Some(ProbeReport {
            mode: mode.into(),
            target,
            outcome,
        });
    }
    let (record, reason) = match (&docker_error, &view) {
        // `run` in this state has not heard from Docker and leaves the keys alone: say so.
        (Some(e), None) => (None, Reason::DockerUnreachable { error: e.clone() }),
        _ => decide(cfg, view.as_ref(), None, &health),
    };
    let would_write = record
        .as_ref()
        .map(|r| cfg.layout.render(r))
        .unwrap_or_default();
    let action = match Desired::from_decision(record.clone(), &reason) {
        Desired::Present(_) => KeysAction::Write,
        Desired::Absent => KeysAction::Delete,
        Desired::Undecided => KeysAction::Leave,
    };
    let mut notes = Vec::new();
    if cfg
        .health
        .digest
        .as_ref()
        .is_some_and(|d| d.as_str() == SEED_FAIL_SHA1)
    {
        notes.push(format!(
            "--health-digest {SEED_FAIL_SHA1} is the SHA1 of \"\\n\\nFAIL\", the 2014 tutorial's documented value; a passing health.php (\"\\n\\nPASS\") hashes to {}",
            sha1_hex(b"\n\nPASS")
        ));
    }
    Report {
        registrable: record.is_some(),
        reason_text: reason.to_string(),
        reason,
        action,
        container: ContainerReport {
            reference: cfg.container.clone(),
            docker_error,
            state: view,
        },
        probe,
        would_write,
        etcd: etcd_now(cfg).await,
        notes,
    }
}

async fn etcd_now(cfg: &AgentConfig) -> EtcdReport {
    let mut r = EtcdReport {
        endpoints: cfg.etcd.endpoints.clone(),
        error: None,
        keys_now: BTreeMap::new(),
        owner: None,
    };
    let fetch = async {
        let client = cfg.etcd.connect().await?;
        let actual = crate::agent::writer::read_actual(&client, &cfg.layout).await?;
        let owner = crate::etcd::timed(client.clone().get(cfg.layout.owner_key(), None)).await?;
        Ok::<_, crate::etcd::EtcdError>((actual, owner))
    };
    match tokio::time::timeout(Duration::from_secs(6), fetch).await {
        Ok(Ok((actual, owner))) => {
            r.keys_now = actual
                .into_iter()
                .map(|(k, (v, l))| (k, (v, format!("{l:x}"))))
                .collect();
            r.owner = owner
                .kvs()
                .first()
                .and_then(|kv| serde_json::from_slice(kv.value()).ok());
        }
        Ok(Err(e)) => r.error = Some(e.to_string()),
        Err(_) => r.error = Some("no answer within 6s".into()),
    }
    r
}

/// The human-readable form.
pub fn render_text(cfg: &AgentConfig, r: &Report) -> String {
    let mut out = String::new();
    let mut line = |label: &str, text: String| out.push_str(&format!("{label:<12}{text}\n"));
    match (&r.container.state, &r.container.docker_error) {
        (Some(v), _) => {
            let health = v
                .health
                .as_deref()
                .map(|h| format!(", docker health {h}"))
                .unwrap_or_default();
            line(
                "container",
                format!(
                    "{} (id {}, {}{health})",
                    v.name,
                    &v.id[..v.id.len().min(12)],
                    v.status
                ),
            );
            match (&cfg.network, &v.bindings) {
                (Some(name), _) => line(
                    "network",
                    match v.networks.get(name) {
                        Some(n) => format!(
                            "{name}: {} (internal mode: container port {})",
                            [n.ipv4, n.ipv6]
                                .iter()
                                .flatten()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", "),
                            cfg.port
                        ),
                        None => format!(
                            "{name}: not attached (on: {})",
                            v.networks.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    },
                ),
                (None, _) if v.host_network => line(
                    "binding",
                    format!(
                        "host network: container port {} on this host's addresses",
                        cfg.port
                    ),
                ),
                (None, Ok(bs)) => line(
                    "binding",
                    format!(
                        "{} -> {}",
                        cfg.port,
                        bs.iter()
                            .map(|b| SocketAddr::new(b.host_ip, b.host_port).to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                (None, Err(e)) => line("binding", format!("none: {e}")),
            }
        }
        (None, Some(e)) => line(
            "container",
            format!("{}: docker unreachable: {e}", r.container.reference),
        ),
        (None, None) => line(
            "container",
            format!("{}: no such container", r.container.reference),
        ),
    }
    match &r.probe {
        Some(p) => {
            let status = p
                .outcome
                .status
                .map(|s| format!("status {s}"))
                .unwrap_or_else(|| "no response".into());
            line(
                "probe",
                format!(
                    "{} {} -> {status} in {} ms",
                    p.mode, p.target, p.outcome.elapsed_ms
                ),
            );
            if let Some(obs) = &p.outcome.observed_sha1 {
                line(
                    "body sha1",
                    format!("{obs} ({} bytes)", p.outcome.body_bytes.unwrap_or(0)),
                );
            }
            if let Some(exp) = &p.outcome.expected_sha1 {
                let verdict = if p.outcome.observed_sha1.as_deref() == Some(exp.as_str()) {
                    "match"
                } else {
                    "MISMATCH"
                };
                line("expected", format!("{exp} {verdict}"));
            }
            if let Some(e) = &p.outcome.error {
                line("probe error", e.clone());
            }
        }
        None => line(
            "probe",
            format!("{:?} mode: no active probe now", cfg.health.mode).to_lowercase(),
        ),
    }
    let verdict = if r.registrable {
        "registrable"
    } else {
        "NOT registrable"
    };
    line("verdict", format!("{verdict}: {}", r.reason_text));
    match r.action {
        KeysAction::Delete => line("would write", "nothing (keys would be deleted)".into()),
        KeysAction::Leave => line(
            "would write",
            "nothing now (run leaves the keys in etcd as they are)".into(),
        ),
        KeysAction::Write => {}
    }
    for (k, v) in &r.would_write {
        line("would write", format!("{k} = {v}"));
    }
    match &r.etcd.error {
        Some(e) => line("etcd", format!("{}: {e}", r.etcd.endpoints.join(","))),
        None if r.etcd.keys_now.is_empty() => line("etcd now", "no keys".into()),
        None => {
            for (k, (v, lease)) in &r.etcd.keys_now {
                line("etcd now", format!("{k} = {v} (lease {lease})"));
            }
        }
    }
    if let Some(o) = &r.etcd.owner {
        line(
            "owner",
            format!(
                "agent on host {} for container {} (pid {})",
                o.host, o.container, o.pid
            ),
        );
    }
    for n in &r.notes {
        line("note", n.clone());
    }
    out
}
