//! `sidekick check --container NAME` without `--key`: the container's labels say the rest, and the
//! report is the one `check` prints with flags.

use std::time::Duration;

use crate::*;
use testkit::agent::run_to_completion;
use testkit::docker::{unique_name, Container};
use testkit::etcd::Etcd;

fn check(args: &[&str]) -> (i32, String, String) {
    let mut argv = vec!["check"];
    argv.extend_from_slice(args);
    let out = run_to_completion(&argv, &[], Duration::from_secs(20));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_labelled_container_is_checked_from_its_labels() {
    let etcd = Etcd::start();
    let case = Case::new();
    let web = Container::run(
        case.web("/services/web/lab")
            .label("sidekick.health.digest", PASS_SHA1)
            .label("sidekick.unit", "monweb@09.service"),
    );
    web.wait_http_ready(SOON);
    let endpoints = etcd.endpoint_arg();
    let (code, out, err) = check(&[
        "--container",
        web.name(),
        "--etcd-endpoints",
        &endpoints,
        "--host",
        "core01",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("verdict     registrable"), "{out}");
    assert!(out.contains(&format!("{PASS_SHA1} match")), "{out}");
    let port = web.host_port(80);
    assert!(
        out.contains(&format!("/services/web/lab/port = {port}")),
        "{out}"
    );
    assert!(
        out.contains("/services/web/lab/unit = monweb@09.service"),
        "{out}"
    );
    assert!(
        out.contains("note        configured by the container's labels: sidekick.health.digest="),
        "{out}"
    );
    // The same container checked with the equivalent flags prints the same verdict and keys.
    let (code2, out2, _) = check(&[
        "--container",
        web.name(),
        "--container-port",
        "80/tcp",
        "--key",
        "/services/web/lab",
        "--unit",
        "monweb@09.service",
        "--health-digest",
        PASS_SHA1,
        "--etcd-endpoints",
        &endpoints,
        "--host",
        "core01",
    ]);
    assert_eq!(code2, 0);
    let would = |o: &str| -> Vec<String> {
        o.lines()
            .filter(|l| l.starts_with("would write") || l.starts_with("verdict"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(would(&out), would(&out2));
    assert!(
        etcd.access().get_prefix_blocking("/").is_empty(),
        "check never writes"
    );
}

#[test]
fn a_labelled_check_exits_2_on_bad_labels_and_1_when_there_is_nothing_to_read() {
    let case = Case::new();
    let bad = Container::run(
        case.web("/services/web/x")
            .label("sidekick.health.mode", "grpc"),
    );
    let (code, out, err) = check(&["--container", bad.name()]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "container \"{}\": label sidekick.health.mode=\"grpc\"",
            bad.name()
        )),
        "{err}"
    );
    let plain = Container::run(case.plain());
    let (code, _, err) = check(&["--container", plain.name()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no sidekick.key label"), "{err}");
    let (code, _, err) = check(&["--container", plain.name(), "--container-port", "80/tcp"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--container-port needs --key"), "{err}");
    let absent = unique_name("absent");
    let (code, out, err) = check(&["--container", &absent]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("no such container"), "{out}");
    let (code, out, _) = check(&["--container", &absent, "--json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["registrable"], false);
    assert_eq!(v["reason"]["reason"], "container_absent");
}

#[test]
fn a_labelled_check_reports_each_service_of_the_container() {
    let case = Case::new();
    let web = Container::run(
        case.web("/services/web/svc")
            .publish("127.0.0.1::81")
            .publish("127.0.0.1::80")
            .label("sidekick.port", "80")
            .label("sidekick.admin.key", "/services/admin/svc")
            .label("sidekick.admin.port", "81")
            .label("sidekick.admin.health.mode", "tcp"),
    );
    web.wait_http_ready(SOON);
    web.exec_ok(&["httpd", "-p", "81", "-h", "/www"]);
    let etcd = Etcd::start();
    let endpoints = etcd.endpoint_arg();
    let (code, out, err) = check(&[
        "--container",
        web.name(),
        "--host",
        "core01",
        "--etcd-endpoints",
        &endpoints,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let (main, admin) = (
        out.find("service     sidekick.key\n").expect("main"),
        out.find("service     sidekick.admin.key\n").expect("admin"),
    );
    assert!(main < admin, "{out}");
    let (main_part, admin_part) = (&out[main..admin], &out[admin..]);
    assert!(
        main_part.contains(&format!("/services/web/svc/port = {}", web.host_port(80))),
        "{out}"
    );
    assert!(
        admin_part.contains(&format!("/services/admin/svc/port = {}", web.host_port(81))),
        "{out}"
    );
    assert!(admin_part.contains("probe       tcp 127.0.0.1:"), "{out}");
    let (code, out, _) = check(&[
        "--container",
        web.name(),
        "--json",
        "--etcd-endpoints",
        &endpoints,
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["registrable"], true);
    let services: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(services, vec!["sidekick.key", "sidekick.admin.key"]);

    // A bad service: its error on stderr, exit 2, and the good service still reported.
    let bad = Container::run(
        case.web("/services/web/svc2")
            .label("sidekick.admin.key", "/services/web/svc2"),
    );
    bad.wait_http_ready(SOON);
    let (code, out, err) = check(&["--container", bad.name(), "--etcd-endpoints", &endpoints]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains(&format!(
            "container \"{}\": label sidekick.admin.key=\"/services/web/svc2\": the same key as sidekick.key",
            bad.name()
        )),
        "{err}"
    );
    assert!(out.contains("verdict     registrable"), "{out}");
}
