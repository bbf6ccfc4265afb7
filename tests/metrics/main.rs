//! Telemetry as operators meet it: the built binary with `--metrics-addr` against real etcd, the
//! real Docker Engine and the clb-emulator; every scrape is checked by Prometheus' own parser
//! (`promtool check metrics`), the README's alert rules by `promtool check rules`, and the
//! systemd notify protocol through a datagram socket bound as `NOTIFY_SOCKET`. This file holds
//! the helpers; the tests live in `tests/metrics/`.

mod abuse;
mod agent;
mod dashboard;
mod host;
mod lbsync;
mod notify;
mod rules;

use std::process::Command;
use std::time::Duration;

use testkit::agent::AgentProcess;
use testkit::process::output_with_deadline;

/// Upper bound for anything that should happen "at once".
pub const SOON: Duration = Duration::from_secs(10);

/// `--metrics-addr` on a free loopback port: (the flag's value, the port).
pub fn metrics_addr() -> (String, u16) {
    let port = testkit::free_port();
    (format!("127.0.0.1:{port}"), port)
}

/// GET `path` on the metrics port: (status, body).
pub fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let (code, body) = testkit::docker::http_get(port, path).ok()?;
    Some((code, String::from_utf8_lossy(&body).into_owned()))
}

/// Scrapes /metrics (waiting until it answers) and checks it with `promtool check metrics`.
pub fn scrape(port: u16, agent: &AgentProcess) -> String {
    let body = testkit::wait_for_value(SOON, "/metrics answers 200", || {
        match get(port, "/metrics") {
            Some((200, body)) => Some(body),
            _ => None,
        }
    });
    promtool_check_metrics(&body, agent);
    body
}

/// Runs `promtool check metrics` on `text`; panics with its complaint (parse errors and lint).
pub fn promtool_check_metrics(text: &str, agent: &AgentProcess) {
    let out = promtool(&["check", "metrics"], Some(text.as_bytes()));
    assert!(
        out.status.success(),
        "{}",
        agent.context(&format!(
            "promtool check metrics refused the scrape: {}{}\n--- scrape ---\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    );
}

/// Runs `promtool ARGS` with `input` on stdin, under a deadline.
pub fn promtool(args: &[&str], input: Option<&[u8]>) -> std::process::Output {
    let mut cmd = Command::new("promtool");
    cmd.args(args);
    output_with_deadline(&mut cmd, input, SOON)
        .unwrap_or_else(|e| panic!("promtool (Debian package prometheus): {e}"))
}

/// The value of the sample whose name and labels are exactly `series` (e.g.
/// `sidekick_registered{key="/a"}`), if the scrape has it.
pub fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// Waits until `series` has a value satisfying `ok`; returns the scrape.
pub fn wait_value(
    port: u16,
    series: &str,
    what: &str,
    agent: &AgentProcess,
    ok: impl Fn(f64) -> bool,
) -> String {
    let mut last = String::new();
    let found = testkit::wait::poll_until(SOON, || {
        last = get(port, "/metrics").map(|(_, b)| b).unwrap_or_default();
        value(&last, series).is_some_and(&ok)
    });
    assert!(
        found,
        "{}",
        agent.context(&format!("{series}: {what}; last scrape:\n{last}"))
    );
    last
}
