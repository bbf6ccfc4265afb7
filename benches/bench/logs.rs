//! Where the time of a cycle goes, from the agent's own log lines (text format, RFC 3339 UTC
//! timestamps with microseconds, same host clock as Docker's `timeNano`): each step as
//! milliseconds after the cycle's origin (Docker's `start` event, or the stop request).

use serde::Serialize;

use super::cycle::{DeregSample, RegSample};

pub struct Line {
    pub ns: i64,
    pub text: String,
}

pub fn parse(log: &str) -> Vec<Line> {
    log.lines()
        .filter_map(|l| {
            let (ts, rest) = l.split_once(' ')?;
            let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
            Some(Line {
                ns: t.timestamp_nanos_opt()?,
                text: rest.to_string(),
            })
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct Breakdown {
    /// (step, ms after the origin); None when the line was not found.
    pub steps: Vec<(String, Option<f64>)>,
}

/// The first line at or after `from` and before `to` containing `needle`.
fn find<'a>(log: &'a [Line], from: i64, to: i64, needle: &str) -> Option<&'a Line> {
    log.iter()
        .find(|l| l.ns >= from && l.ns <= to && l.text.contains(needle))
}

fn field_u64(text: &str, name: &str) -> Option<u64> {
    let i = text.find(&format!("{name}="))? + name.len() + 1;
    text[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn ms(origin: i64, ns: i64) -> f64 {
    (ns - origin) as f64 / 1e6
}

/// Steps of one registration: the agent receives `start`, has inspected (state: waiting for the
/// first probe), sees its first failing probe, starts the passing probe, the probe passes, the
/// transaction is acknowledged, the watcher has all five keys.
pub fn registration(log: &[Line], s: &RegSample) -> Breakdown {
    let origin = s.start_event_ns;
    // Lines may be stamped a hair before Docker's own event time; allow 1 ms.
    let from = origin - 1_000_000;
    let to = s.last_put_ns + 50_000_000;
    let at = |needle: &str| find(log, from, to, needle).map(|l| ms(origin, l.ns));
    let pass = find(log, from, to, "health check passed");
    let probe_start = pass.map(|l| {
        let elapsed = field_u64(&l.text, "elapsed_ms").unwrap_or(0) as f64;
        ms(origin, l.ns) - elapsed
    });
    Breakdown {
        steps: vec![
            (
                "agent got the start event".into(),
                at("docker event action=start"),
            ),
            (
                "agent inspected (waiting for first probe)".into(),
                at("state=waiting for the first passing health probe"),
            ),
            (
                "first failing probe reported".into(),
                at("state=health check failing"),
            ),
            (
                "passing probe started (log time - elapsed_ms)".into(),
                probe_start,
            ),
            ("probe passed".into(), pass.map(|l| ms(origin, l.ns))),
            (
                "etcd txn acknowledged (\"registered\")".into(),
                at(": registered key="),
            ),
            ("watcher saw the last PUT".into(), Some(s.latency_ms)),
        ],
    }
}

/// Steps of one deregistration after the stop request: Docker's `kill` event, the agent receives
/// it, decides (state: being stopped), the delete is acknowledged, the watcher sees the DELETE.
pub fn deregistration(log: &[Line], s: &DeregSample) -> Breakdown {
    let origin = s.stop_request_ns;
    let to = origin + (s.latency_ms.max(0.0) * 1e6) as i64 + 50_000_000;
    let at = |needle: &str| find(log, origin, to, needle).map(|l| ms(origin, l.ns));
    Breakdown {
        steps: vec![
            ("docker kill event (SIGTERM sent)".into(), s.kill_ms),
            (
                "agent got the kill event".into(),
                at("docker event action=kill"),
            ),
            (
                "agent decided (state: being stopped)".into(),
                at("state=container is being stopped"),
            ),
            (
                "etcd txn acknowledged (\"deregistered\")".into(),
                at("deregistered key="),
            ),
            ("watcher saw the DELETE".into(), Some(s.latency_ms)),
        ],
    }
}
