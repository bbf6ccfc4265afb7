use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};
use crate::docker::Proto;

fn env_none(_: &str) -> Option<String> {
    None
}

fn host_config(args: &[&str]) -> Result<HostConfig, ConfigError> {
    let mut v = vec!["sidekick", "host", "--host", "core01"];
    v.extend_from_slice(args);
    let cli = Cli::try_parse_from(v).expect("clap accepts");
    let Command::Host(h) = cli.command else {
        panic!("not host")
    };
    HostConfig::from_args(&h, &env_none)
}

fn defaults() -> HostDefaults {
    host_config(&["--health-digest", &"a".repeat(40), "--rise", "3"])
        .unwrap()
        .defaults
}

fn tcp(port: u16) -> PortSpec {
    PortSpec {
        port,
        proto: Proto::Tcp,
    }
}

fn container(labels: &[(&str, &str)], published: &[u16]) -> Labelled {
    Labelled {
        id: "0123456789abcdef".into(),
        name: "web-01".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        published_tcp: published.iter().map(|p| tcp(*p)).collect(),
    }
}

fn config(labels: &[(&str, &str)], published: &[u16]) -> Result<Option<AgentConfig>, LabelError> {
    container_config(
        &defaults(),
        Duration::from_secs(30),
        &container(labels, published),
        MAIN,
    )
}

fn error(labels: &[(&str, &str)], published: &[u16]) -> LabelError {
    config(labels, published).expect_err("labels refused")
}

#[test]
fn only_the_key_label_is_needed_and_the_rest_defaults_to_the_host_flags() {
    let c = config(&[("sidekick.key", "/services/web/web01/")], &[80])
        .unwrap()
        .expect("managed");
    assert_eq!(c.layout.prefix, "/services/web/web01");
    assert_eq!(c.layout.format, KeyFormat::Keys);
    assert!(c.layout.template.is_none());
    assert_eq!(c.port, tcp(80), "the only published TCP port");
    assert_eq!(c.unit, None, "the container name, decided per run");
    assert_eq!(c.container, "web-01");
    assert_eq!(c.host, "core01");
    assert_eq!(c.health.mode, HealthMode::Http);
    assert_eq!(c.health.path, "/health.php");
    assert_eq!(
        c.health.digest.as_ref().map(Digest::as_str),
        Some("a".repeat(40).as_str())
    );
    assert_eq!((c.health.rise, c.health.fall), (3, 2));
    assert_eq!(c.ttl, Duration::from_secs(15));
    assert_eq!(c.resync, Duration::from_secs(30));
}

#[test]
fn every_label_overrides_its_flag() {
    let digest = "19D549807218F4FC3F2129757445F977E4B81408";
    let c = config(
        &[
            ("sidekick.key", "/services/db/db"),
            ("sidekick.port", "3306"),
            ("sidekick.unit", " mondb.service "),
            ("sidekick.format", "JSON"),
            ("sidekick.health.mode", "tcp"),
            ("sidekick.health.path", "/ping"),
            ("sidekick.health.digest", digest),
            ("sidekick.health.interval", "500ms"),
            ("sidekick.health.timeout", "1s"),
            ("sidekick.health.rise", "2"),
            ("sidekick.health.fall", "5"),
            // Not sidekick's: ignored.
            ("com.docker.compose.service", "db"),
            ("sidekick-test.pid", "1"),
        ],
        &[80, 3306],
    )
    .unwrap()
    .unwrap();
    assert_eq!(c.port, tcp(3306));
    assert_eq!(c.unit.as_deref(), Some("mondb.service"));
    assert_eq!(c.layout.format, KeyFormat::Json);
    assert_eq!(c.health.mode, HealthMode::Tcp);
    assert_eq!(c.health.path, "/ping");
    assert_eq!(c.health.digest.unwrap().as_str(), digest.to_lowercase());
    assert_eq!(c.health.interval, Duration::from_millis(500));
    assert_eq!(c.health.timeout, Duration::from_secs(1));
    assert_eq!((c.health.rise, c.health.fall), (2, 5));
}

#[test]
fn a_container_without_the_key_label_is_not_managed() {
    assert!(config(&[], &[80]).unwrap().is_none());
    assert!(config(&[("sidekick-demo", "1")], &[80]).unwrap().is_none());
    let e = check_config_from_labels(&defaults(), Duration::from_secs(30), &container(&[], &[80]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"web-01\"") && e.contains("sidekick.key"),
        "{e}"
    );
}

/// Missing, malformed, huge and other-implementation values: each is one error naming the
/// container, the label and (when there is one) the value.
#[test]
fn bad_labels_are_refused_naming_the_container_the_label_and_the_value() {
    let key = ("sidekick.key", "/services/web/web01");
    // (labels, published TCP ports, the label as shown, the reason)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<u16>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("sidekick.key", "services/web")],
            vec![80],
            "sidekick.key=\"services/web\"",
            "must start with '/'",
        ),
        (
            vec![("sidekick.key", "/sidekick/owners/x")],
            vec![80],
            "sidekick.key",
            "/sidekick/",
        ),
        (
            vec![("sidekick.key", "/a//b")],
            vec![80],
            "sidekick.key",
            "empty segment",
        ),
        (
            vec![("sidekick.key", " ")],
            vec![80],
            "sidekick.key=\" \"",
            "empty",
        ),
        (
            vec![key, ("sidekick.port", "http")],
            vec![80],
            "sidekick.port=\"http\"",
            "port must be a number",
        ),
        (
            vec![key, ("sidekick.port", "70000/tcp")],
            vec![80],
            "sidekick.port",
            "1 to 65535",
        ),
        (vec![key], vec![], "sidekick.port:", "publishes no TCP port"),
        (
            vec![key],
            vec![80, 443],
            "sidekick.port:",
            "several TCP ports (80/tcp, 443/tcp)",
        ),
        (
            vec![key, ("sidekick.port", "53/udp")],
            vec![80],
            "sidekick.port=\"53/udp\"",
            "needs a tcp port",
        ),
        (
            vec![
                key,
                ("sidekick.port", "53/udp"),
                ("sidekick.health.mode", "tcp"),
            ],
            vec![80],
            "sidekick.health.mode=\"tcp\"",
            "sidekick.health.mode tcp needs a tcp port",
        ),
        (
            vec![key, ("sidekick.health.mode", "grpc")],
            vec![80],
            "sidekick.health.mode=\"grpc\"",
            "expected one of http, tcp, docker, none",
        ),
        (
            vec![key, ("sidekick.health.digest", "dbe7234")],
            vec![80],
            "sidekick.health.digest=\"dbe7234\"",
            "40 hex",
        ),
        (
            vec![key, ("sidekick.health.path", "health.php")],
            vec![80],
            "sidekick.health.path",
            "must start with '/'",
        ),
        (
            vec![key, ("sidekick.health.interval", "5")],
            vec![80],
            "sidekick.health.interval=\"5\"",
            "",
        ),
        (
            vec![key, ("sidekick.health.interval", "10ms")],
            vec![80],
            "sidekick.health.interval",
            "below the minimum",
        ),
        (
            vec![key, ("sidekick.health.timeout", "18446744073709551615s")],
            vec![80],
            "sidekick.health.timeout",
            "",
        ),
        (
            vec![key, ("sidekick.health.rise", "0")],
            vec![80],
            "sidekick.health.rise=\"0\"",
            "1 to 100",
        ),
        (
            vec![key, ("sidekick.health.fall", "-1")],
            vec![80],
            "sidekick.health.fall",
            "1 to 100",
        ),
        (
            vec![key, ("sidekick.format", "yaml")],
            vec![80],
            "sidekick.format=\"yaml\"",
            "keys, json",
        ),
        (
            vec![key, ("sidekick.unit", "")],
            vec![80],
            "sidekick.unit",
            "empty",
        ),
        (
            vec![key, ("sidekick.unit", "web\nINFO forged line")],
            vec![80],
            "sidekick.unit=\"web\\nINFO forged line\"",
            "control characters",
        ),
        (
            vec![key, ("sidekick.unit", "web\u{1b}[31mred")],
            vec![80],
            "sidekick.unit",
            "control characters",
        ),
        (
            vec![key, ("sidekick.health.digets", "x")],
            vec![80],
            "sidekick.health.digets",
            "unknown sidekick label",
        ),
        (
            vec![key, ("sidekick.value-template", "{port}")],
            vec![80],
            "sidekick.value-template",
            "unknown sidekick label",
        ),
    ];
    for (labels, published, label, why) in cases {
        let e = error(&labels, &published).to_string();
        assert!(e.starts_with("container \"web-01\": label "), "{e}");
        assert!(e.contains(label), "{e:?} lacks {label:?}");
        assert!(e.contains(why), "{e:?} lacks {why:?}");
    }
}

#[test]
fn a_huge_label_is_refused_and_shown_shortened() {
    let huge = format!("/{}", "k".repeat(MAX_LABEL_VALUE));
    let e = error(&[("sidekick.key", &huge)], &[80]);
    assert_eq!(e.label, "sidekick.key");
    assert!(e.reason.contains("more than the 4096"), "{e}");
    let shown = e.to_string();
    assert!(shown.len() < 400, "{} bytes", shown.len());
    // A huge value of a label that is not sidekick's is not our business.
    let other = "x".repeat(100_000);
    assert!(config(&[("sidekick.key", "/a"), ("note", &other)], &[80])
        .unwrap()
        .is_some());
}

#[test]
fn require_label_filters_and_their_errors() {
    let c = host_config(&[
        "--require-label",
        "team=web,canary",
        "--require-label",
        "x=",
    ])
    .unwrap();
    assert_eq!(
        c.label_filters(),
        vec!["sidekick.key", "team=web", "canary", "x="]
    );
    for bad in ["=web", " ", "a b=c"] {
        let e = host_config(&["--require-label", bad])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--require-label") && e.contains(&format!("{bad:?}")),
            "{e}"
        );
    }
    let e = host_config(&["--health-path", "x"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--health-path"), "{e}");
}

/// Every service of a container labelled `labels` publishing `published`, by the label that
/// declares it.
fn services(
    labels: &[(&str, &str)],
    published: &[u16],
) -> Vec<(String, Result<AgentConfig, LabelError>)> {
    container_services(
        &defaults(),
        Duration::from_secs(30),
        &container(labels, published),
    )
    .expect("has sidekick.key")
    .into_iter()
    .map(|s| (service_label(&s.name, KEY), s.config))
    .collect()
}

#[test]
fn each_service_label_overrides_the_container_wide_one_which_overrides_the_flag() {
    let got = services(
        &[
            ("sidekick.key", "/services/web/w1"),
            ("sidekick.port", "80"),
            ("sidekick.unit", "web.service"),
            ("sidekick.health.mode", "tcp"),
            ("sidekick.admin.key", "/services/admin/w1/"),
            ("sidekick.admin.port", "8080/tcp"),
            ("sidekick.admin.health.mode", "http"),
            ("sidekick.admin.health.path", "/ping"),
            ("sidekick.admin.format", "json"),
            ("sidekick.metrics_2.key", "/services/metrics/w1"),
            ("sidekick.metrics_2.health.rise", "4"),
        ],
        &[80, 8080, 9100],
    );
    let labels: Vec<&str> = got.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            "sidekick.key",
            "sidekick.admin.key",
            "sidekick.metrics_2.key"
        ]
    );
    // (key, port, unit, mode, path, rise, format) of each service, in order.
    let want = [
        (
            "/services/web/w1",
            80,
            "web.service",
            HealthMode::Tcp,
            "/health.php",
            3,
            KeyFormat::Keys,
        ),
        (
            "/services/admin/w1",
            8080,
            "web.service",
            HealthMode::Http,
            "/ping",
            3,
            KeyFormat::Json,
        ),
        (
            "/services/metrics/w1",
            80,
            "web.service",
            HealthMode::Tcp,
            "/health.php",
            4,
            KeyFormat::Keys,
        ),
    ];
    for ((label, c), w) in got.iter().zip(want) {
        let c = c.as_ref().unwrap_or_else(|e| panic!("{label}: {e}"));
        let have = (
            c.layout.prefix.as_str(),
            c.port.port,
            c.unit.as_deref().unwrap_or(""),
            c.health.mode,
            c.health.path.as_str(),
            c.health.rise,
            c.layout.format,
        );
        assert_eq!(have, w, "{label}");
        assert_eq!(c.container, "web-01");
    }
}

/// A bad service is refused naming the container and the label as written; the container's
/// other services are unaffected.
#[test]
fn a_bad_service_is_refused_alone_naming_the_container_and_its_label() {
    let main = ("sidekick.key", "/services/web/w1");
    let ok = ("sidekick.ok.key", "/services/ok/w1");
    // (the bad service's labels, the label the error shows, the reason)
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("sidekick.Admin.key", "/a")],
            "sidekick.Admin.key=\"/a\"",
            "service name \"Admin\" must be made of a-z, 0-9, _ and -",
        ),
        (
            vec![("sidekick.ad.min.key", "/a")],
            "sidekick.ad.min.key",
            "unknown sidekick label; a service's labels are sidekick.ad.<label>",
        ),
        (
            vec![("sidekick.admin.key", "/a"), ("sidekick.admin.prot", "81")],
            "sidekick.admin.prot=\"81\"",
            "unknown sidekick label",
        ),
        (
            vec![("sidekick.admin.port", "81")],
            "sidekick.admin.key:",
            "is not set: every service needs its own key",
        ),
        (
            vec![("sidekick.admin.key", "/services/web/w1/")],
            "sidekick.admin.key=\"/services/web/w1/\"",
            "the same key as sidekick.key",
        ),
        (
            vec![
                ("sidekick.admin.key", "/a"),
                ("sidekick.admin.port", "http"),
            ],
            "sidekick.admin.port=\"http\"",
            "port must be a number",
        ),
        (
            vec![
                ("sidekick.admin.key", "/a"),
                ("sidekick.admin.health.mode", "grpc"),
            ],
            "sidekick.admin.health.mode=\"grpc\"",
            "expected one of",
        ),
        (
            vec![("sidekick.admin.key", "/a"), ("sidekick.admin.unit", " ")],
            "sidekick.admin.unit",
            "is empty",
        ),
        (
            vec![("sidekick.admin.key", "relative")],
            "sidekick.admin.key=\"relative\"",
            "must start with '/'",
        ),
        (
            vec![
                ("sidekick.admin.key", "/a"),
                ("sidekick.admin.port", "53/udp"),
                ("sidekick.admin.health.mode", "tcp"),
            ],
            "sidekick.admin.health.mode=\"tcp\"",
            "needs a tcp port",
        ),
    ];
    for (bad, label, why) in cases {
        let mut labels = vec![main, ok];
        labels.extend(bad);
        let got = services(&labels, &[80]);
        assert_eq!(got.len(), 3, "{got:?}");
        let errors: Vec<String> = got
            .iter()
            .filter_map(|(_, c)| c.as_ref().err().map(ToString::to_string))
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert!(e.starts_with("container \"web-01\": label "), "{e}");
        assert!(e.contains(label), "{e:?} lacks {label:?}");
        assert!(e.contains(why), "{e:?} lacks {why:?}");
        for (l, c) in &got {
            if [main.0, ok.0].contains(&l.as_str()) {
                assert!(c.is_ok(), "{l} unaffected: {c:?}");
            }
        }
    }
}

#[test]
fn a_bad_container_wide_label_fails_every_service_that_falls_back_to_it() {
    let got = services(
        &[
            ("sidekick.key", "/services/web/w1"),
            ("sidekick.health.mode", "grpc"),
            ("sidekick.admin.key", "/services/admin/w1"),
            ("sidekick.own.key", "/services/own/w1"),
            ("sidekick.own.health.mode", "tcp"),
        ],
        &[80],
    );
    let shown: Vec<(&str, Option<String>)> = got
        .iter()
        .map(|(l, c)| (l.as_str(), c.as_ref().err().map(|e| e.label.clone())))
        .collect();
    assert_eq!(
        shown,
        vec![
            ("sidekick.key", Some("sidekick.health.mode".into())),
            ("sidekick.admin.key", Some("sidekick.health.mode".into())),
            ("sidekick.own.key", None),
        ]
    );
    // A misspelt container-wide label is no service ("health" begins sidekick.health.mode).
    let got = services(
        &[("sidekick.key", "/a"), ("sidekick.health.digets", "x")],
        &[80],
    );
    assert_eq!(got.len(), 1);
    let e = got[0].1.as_ref().unwrap_err().to_string();
    assert!(
        e.contains("sidekick.health.digets") && e.contains("unknown sidekick label"),
        "{e}"
    );
    // Named services without sidekick.key: the container is not sidekick's.
    assert!(container_services(
        &defaults(),
        Duration::from_secs(30),
        &container(&[("sidekick.admin.key", "/a")], &[80])
    )
    .is_none());
}

/// Every label but the key, today's and any added later (`sidekick.network`), is read through
/// the one per-service lookup: a service's own form wins, else the container-wide one.
#[test]
fn every_label_has_a_per_service_form_that_falls_back_to_the_container_wide_one() {
    for label in LABELS.iter().filter(|l| **l != KEY) {
        let own = service_label("s", label);
        let main = ("sidekick.key", "/a");
        let s_key = ("sidekick.s.key", "/b");
        // Its own empty value is refused naming its own label; the main service is unaffected.
        let got = services(&[main, s_key, (own.as_str(), " ")], &[80]);
        assert!(got[0].1.is_ok(), "{label}: {:?}", got[0].1);
        let e = got[1].1.as_ref().expect_err(label);
        assert_eq!(
            (e.label.as_str(), e.reason.as_str()),
            (
                own.as_str(),
                "is empty; remove the label to use the default"
            )
        );
        // Without its own, the service reads the container-wide label.
        let got = services(&[main, s_key, (label, " ")], &[80]);
        for (service, c) in &got {
            assert_eq!(c.as_ref().expect_err(label).label, *label, "{service}");
        }
    }
}
