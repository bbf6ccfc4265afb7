//! `sidekick run` with `--metrics-addr`: the scrape passes promtool, and the values follow the
//! container (registered 1 while healthy, 0 after `docker stop`; probes and the registration
//! latency counted); /healthz answers 200 while the loop turns.

use testkit::agent::AgentProcess;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::Etcd;

use super::*;

fn run_agent(etcd: &Etcd, container: &str, key: &str, addr: &str, extra: &[&str]) -> AgentProcess {
    let mut flags = vec!["--health-interval", "500ms", "--metrics-addr", addr];
    flags.extend_from_slice(extra);
    let args = testkit::agent::run_args(&etcd.sidekick_args(), container, key, &flags);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    AgentProcess::spawn(&argv, &[])
}

#[test]
fn registered_follows_the_container_and_every_scrape_passes_promtool() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let key = "/services/web/metrics01";
    let (addr, port) = metrics_addr();
    let agent = run_agent(&etcd, web.name(), key, &addr, &[]);
    let series = format!("sidekick_registered{{key=\"{key}\"}}");

    let s = wait_value(port, &series, "1 once registered", &agent, |v| v == 1.0);
    promtool_check_metrics(&s, &agent);
    assert_eq!(
        value(&s, "sidekick_build_info{version=\"0.1.0\"}"),
        Some(1.0),
        "{s}"
    );
    assert!(
        value(&s, "sidekick_probe_duration_seconds_count").is_some_and(|n| n >= 1.0),
        "{s}"
    );
    assert!(
        value(&s, "sidekick_registration_latency_seconds_count").is_some_and(|n| n >= 1.0),
        "{s}"
    );
    assert!(
        value(&s, "sidekick_etcd_requests_total").is_some_and(|n| n >= 2.0),
        "{s}"
    );
    assert_eq!(
        get(port, "/healthz"),
        Some((200, "ok\n".to_string())),
        "{}",
        agent.context("healthz")
    );

    web.stop();
    let s = wait_value(port, &series, "0 after docker stop", &agent, |v| v == 0.0);
    promtool_check_metrics(&s, &agent);
    let keys = etcd.access().get_prefix_blocking(&format!("{key}/"));
    assert!(keys.is_empty(), "{}", agent.context(&format!("{keys:?}")));

    web.start();
    let s = wait_value(port, &series, "1 again after docker start", &agent, |v| {
        v == 1.0
    });
    assert!(
        value(&s, "sidekick_registration_latency_seconds_count").is_some_and(|n| n >= 2.0),
        "{}",
        agent.context(&s)
    );
    assert_eq!(get(port, "/nothing").map(|(c, _)| c), Some(404));
}

#[test]
fn failed_probes_are_counted_by_reason() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    web.set_health_body(b"not the expected page\n");
    let key = "/services/web/metrics02";
    let (addr, port) = metrics_addr();
    let digest = "0".repeat(40);
    let agent = run_agent(&etcd, web.name(), key, &addr, &["--health-digest", &digest]);
    let s = wait_value(
        port,
        "sidekick_probe_failures_total{reason=\"digest\"}",
        "digest mismatches counted",
        &agent,
        |v| v >= 2.0,
    );
    promtool_check_metrics(&s, &agent);
    assert_eq!(
        value(&s, &format!("sidekick_registered{{key=\"{key}\"}}")),
        Some(0.0),
        "{}",
        agent.context(&s)
    );
}

#[test]
fn a_bad_metrics_address_is_a_usage_error() {
    let out = testkit::agent::run_to_completion(
        &[
            "run",
            "--container",
            "x",
            "--container-port",
            "80/tcp",
            "--key",
            "/services/web/x",
            "--metrics-addr",
            "127.0.0.1:notaport",
        ],
        &[],
        SOON,
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--metrics-addr") && err.contains("127.0.0.1:notaport"),
        "{err}"
    );
}
