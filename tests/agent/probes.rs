//! Probe drills: a health endpoint slower than the deadline and one that streams an endless body.
//! Both must fail the probe within its bounds, and neither may grow the agent.

use std::time::{Duration, Instant};

use crate::*;
use testkit::agent::run_to_completion;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::Etcd;

fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_health_endpoint_slower_than_the_deadline_fails_at_the_deadline() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    web.wait_http_ready(SOON); // check probes once: let the server listen first
    let extra = [
        "--health-path",
        "/cgi-bin/slow",
        "--health-timeout",
        "500ms",
        "--health-interval",
        "1s",
    ];
    let agent = spawn(
        &run_args(&etcd.sidekick_args(), web.name(), KEY, &extra),
        &[],
    );
    wait_log(&agent, "no complete answer within 500ms");
    assert!(
        keys(&etcd.access(), KEY).is_empty(),
        "{}",
        agent.context("registered a slow endpoint")
    );
    // check gives up at the deadline too, well before the endpoint's 3 s answer.
    let mut args: Vec<&str> = vec![
        "check",
        "--container",
        web.name(),
        "--container-port",
        "80/tcp",
        "--key",
        KEY,
    ];
    args.extend(extra);
    let etcd_args = etcd.sidekick_args();
    args.extend(etcd_args.iter().map(String::as_str));
    let t = Instant::now();
    let out = run_to_completion(&args, &[], Duration::from_secs(20));
    let took = t.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("no complete answer within 500ms"),
        "{stdout}"
    );
    assert!(
        took < Duration::from_millis(2900),
        "check waited for the slow endpoint: {took:?}"
    );
}

#[test]
fn an_endless_body_is_cut_at_one_mebibyte_and_the_agent_stays_small() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    web.wait_http_ready(SOON); // check probes once: let the server listen first
    let extra = [
        "--health-path",
        "/cgi-bin/endless",
        "--health-timeout",
        "5s",
        "--health-interval",
        "300ms",
    ];
    let agent = spawn(
        &run_args(&etcd.sidekick_args(), web.name(), KEY, &extra),
        &[],
    );
    wait_log(&agent, "body larger than 1048576 bytes");
    // Keep it probing the endless body for a while and watch its memory.
    let mut peak = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        peak = peak.max(vm_rss_kb(agent.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        peak > 0 && peak < 32 * 1024,
        "{}",
        agent.context(&format!("RSS peaked at {peak} kB"))
    );
    assert!(agent.logs().matches("body larger than").count() >= 1);
    assert!(
        keys(&etcd.access(), KEY).is_empty(),
        "an endless body never passes"
    );
}
