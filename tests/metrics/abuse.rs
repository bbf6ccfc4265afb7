//! The metrics port under abuse (issue 22): with 1 000 idle connections and 50 slowloris clients
//! held open against `--metrics-addr` (reopened whenever the agent closes them), `/healthz` and
//! `/metrics` still answer, for longer than the agent lets a silent connection live. The latency
//! and RSS targets are measured by `scripts/bench` (figure 9), not here.

use std::time::{Duration, Instant};

use testkit::abuse::Abuse;
use testkit::agent::AgentProcess;
use testkit::etcd::Etcd;

use super::*;

#[test]
fn healthz_answers_beside_1000_idle_and_50_slowloris_connections() {
    let etcd = Etcd::start();
    let (addr, port) = metrics_addr();
    let filter = format!(
        "sidekick-test.none={}",
        testkit::docker::unique_name("abuse")
    );
    let args =
        testkit::agent::host_args(&etcd.sidekick_args(), &filter, &["--metrics-addr", &addr]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut agent = AgentProcess::spawn(&argv, &[]);
    testkit::wait_until(SOON, "/healthz answers before the abuse", || {
        get(port, "/healthz").is_some_and(|(c, _)| c == 200)
    });

    let abuse = Abuse::start(port, 1000, 50);
    // Longer than a silent connection may live (5 s), so the clients reopen what was closed.
    let started = Instant::now();
    let mut asked = 0;
    while started.elapsed() < Duration::from_secs(8) {
        let t = Instant::now();
        let answer = get(port, "/healthz");
        assert_eq!(
            answer,
            Some((200, "ok\n".to_string())),
            "{}",
            agent.context(&format!(
                "/healthz #{asked} under abuse ({} reopened so far), after {:?}",
                abuse.reopened(),
                t.elapsed()
            ))
        );
        asked += 1;
        std::thread::sleep(Duration::from_millis(250));
    }
    let metrics = get(port, "/metrics");
    assert!(
        metrics
            .as_ref()
            .is_some_and(|(c, b)| *c == 200 && b.contains("sidekick_build_info")),
        "{}",
        agent.context(&format!("/metrics under abuse: {metrics:?}"))
    );
    assert!(
        abuse.reopened() > 0,
        "{}",
        agent.context("the agent never closed an abusive connection")
    );
    drop(abuse);
    assert!(agent.is_running(), "{}", agent.context("the agent exited"));
}

#[test]
fn a_metrics_port_in_use_is_one_line_naming_the_cause_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = testkit::agent::run_to_completion(
        &[
            "host",
            "--metrics-addr",
            &addr,
            "--etcd-endpoints",
            "http://127.0.0.1:1",
        ],
        &[],
        SOON,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().rfind(|l| l.starts_with("sidekick: "));
    assert!(
        last.is_some_and(|l| l.contains(&addr) && l.matches("in use").count() == 1),
        "{stderr}"
    );
}
