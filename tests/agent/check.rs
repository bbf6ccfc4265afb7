//! `sidekick check`: exit codes 0/1/2 and the report a person reads.

use std::time::Duration;

use crate::*;
use testkit::agent::run_to_completion;
use testkit::docker::{unique_name, Container, ContainerOpts};
use testkit::engine::Engine;
use testkit::etcd::Etcd;

testkit::engine_tests!(check_reports_registrable_containers_with_exit_0_and_never_writes);

fn check(etcd_args: &[String], container: &str, extra: &[&str]) -> (i32, String, String) {
    let mut args: Vec<String> = [
        "check",
        "--container",
        container,
        "--container-port",
        "80/tcp",
        "--key",
        KEY,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(etcd_args.iter().cloned());
    args.extend(extra.iter().map(|s| s.to_string()));
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_to_completion(&argv, &[], Duration::from_secs(20));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_reports_registrable_containers_with_exit_0_and_never_writes(engine: &Engine) {
    let etcd = Etcd::start();
    let web = engine.run(ContainerOpts::web());
    web.wait_http_ready(SOON); // check probes once: let the server listen first
    let (code, out, err) = check(
        &engine.with_args(etcd.sidekick_args()),
        web.name(),
        &["--health-digest", PASS_SHA1],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict     registrable"), "{out}");
    assert!(
        out.contains(&format!("{KEY}/port = {}", web.host_port(80))),
        "{out}"
    );
    assert!(out.contains(&format!("{PASS_SHA1} match")), "{out}");
    assert!(
        etcd.access().get_prefix_blocking("/").is_empty(),
        "check never writes"
    );
}

/// Podman publishes `-p 80` with an empty HostIp (Docker: `0.0.0.0` and `::`): all interfaces,
/// announced on the host's address.
#[test]
fn a_podman_binding_with_an_empty_host_ip_is_all_interfaces() {
    let Some(engine) = Engine::podman() else {
        return;
    };
    let etcd = Etcd::start();
    let web = engine.run(ContainerOpts::web().publish("80"));
    let ports = web.inspect("{{json .NetworkSettings.Ports}}");
    assert!(
        ports.contains(r#""HostIp":"""#),
        "podman 4.3 reports an empty HostIp for -p 80: {ports}"
    );
    let port = web.host_port(80);
    // The probe goes to the default-route address; the server may still be starting.
    let mut last = (0, String::new(), String::new());
    testkit::wait::poll_until(SOON, || {
        last = check(&engine.with_args(etcd.sidekick_args()), web.name(), &[]);
        last.0 == 0
    });
    let (code, out, err) = last;
    assert!(
        out.contains(&format!("80/tcp -> 0.0.0.0:{port}")),
        "an empty HostIp reads as all interfaces: {out}{err}"
    );
    assert!(out.contains(&format!("{KEY}/port = {port}")), "{out}");
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn check_shows_the_observed_digest_next_to_the_expected_one_and_exits_1() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    web.wait_http_ready(SOON); // check probes once: let the server listen first
    let (code, out, _) = check(
        &etcd.sidekick_args(),
        web.name(),
        &["--health-digest", &FAIL_SHA1.to_uppercase()],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains(&format!("body sha1   {PASS_SHA1}")), "{out}");
    assert!(
        out.contains(&format!("expected    {FAIL_SHA1} MISMATCH")),
        "{out}"
    );
    assert!(
        out.contains("2014 tutorial"),
        "the FAIL-page pitfall is explained: {out}"
    );
    let (code, json, _) = check(
        &etcd.sidekick_args(),
        web.name(),
        &["--health-digest", FAIL_SHA1, "--json"],
    );
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).expect("--json prints one JSON object");
    assert_eq!(v["registrable"], false);
    assert_eq!(v["probe"]["observed_sha1"], PASS_SHA1);
    assert_eq!(v["probe"]["expected_sha1"], FAIL_SHA1);
    assert_eq!(v["probe"]["status"], 200);
}

#[test]
fn check_exit_1_for_absent_or_unpublished_containers() {
    let etcd = Etcd::start();
    let (code, out, _) = check(&etcd.sidekick_args(), &unique_name("absent"), &[]);
    assert_eq!(code, 1);
    assert!(out.contains("no such container"), "{out}");
    let hidden = Container::run(ContainerOpts::web().no_publish());
    let (code, out, _) = check(&etcd.sidekick_args(), hidden.name(), &[]);
    assert_eq!(code, 1);
    assert!(out.contains("80/tcp is not published"), "{out}");
}

#[test]
fn check_counts_the_status_code_too() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    web.wait_http_ready(SOON); // check probes once: let the server listen first
    let (code, out, _) = check(
        &etcd.sidekick_args(),
        web.name(),
        &["--health-path", "/missing.php"],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("status 404 is not 2xx"), "{out}");
}

#[test]
fn check_shows_what_etcd_holds_now() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    web.wait_http_ready(SOON); // check probes once: let the server listen first
    let agent = spawn(&run_args(&etcd.sidekick_args(), web.name(), KEY, &[]), &[]);
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
    let (code, out, _) = check(&etcd.sidekick_args(), web.name(), &[]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("etcd now    {KEY}/host = core01 (lease")),
        "{out}"
    );
    assert!(out.contains("owner       agent on host core01"), "{out}");
}

#[test]
fn bad_usage_exits_2_naming_what_is_wrong() {
    let cases: [(&[&str], &str); 5] = [
        (&["--health-digest", "abc123"], "--health-digest"),
        (
            &["--etcd-endpoints", "http://host:notaport"],
            "host:notaport",
        ),
        (&["--ttl", "fast"], "--ttl"),
        (&["--public-ip", "300.1.1.1"], "--public-ip"),
        (&["--health-mode", "magic"], "--health-mode"),
    ];
    for (extra, needle) in cases {
        let (code, out, err) = check(&[], "web01", extra);
        assert_eq!(code, 2, "{extra:?}: {out}{err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
    let argv = ["run", "--container", "x", "--container-port", "80/tcp"];
    let out = run_to_completion(&argv, &[], Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(2), "missing --key");
}
