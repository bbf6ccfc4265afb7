use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut v = vec![
        "sidekick",
        "run",
        "--container",
        "web01",
        "--key",
        "/services/web/web01",
    ];
    if !args.contains(&"--container-port") {
        v.extend_from_slice(&["--container-port", "80/tcp"]);
    }
    v.extend_from_slice(args);
    Cli::try_parse_from(v)
}

fn build(args: &[&str], env: &[(&str, &str)]) -> Result<AgentConfig, ConfigError> {
    let cli = parse(args).expect("clap accepts");
    let Command::Run(r) = cli.command else {
        panic!("not run")
    };
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    AgentConfig::from_args(&r.agent, r.resync_interval, &move |k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
}

#[test]
fn defaults_follow_the_contract() {
    let c = build(&[], &[]).unwrap();
    assert_eq!(c.etcd.endpoints, vec!["http://127.0.0.1:2379"]);
    assert_eq!(c.health.path, "/health.php");
    assert_eq!(c.health.interval, Duration::from_secs(5));
    assert_eq!(c.health.timeout, Duration::from_secs(2));
    assert_eq!((c.health.rise, c.health.fall), (1, 2));
    assert_eq!(c.ttl, Duration::from_secs(15));
    assert_eq!(c.docker_host, "unix:///var/run/docker.sock");
    assert_eq!(c.layout.prefix, "/services/web/web01");
}

#[test]
fn environment_fallbacks() {
    let c = build(
        &[],
        &[
            ("ETCDCTL_ENDPOINTS", "http://10.0.0.1:2379,10.0.0.2:2379"),
            ("COREOS_PUBLIC_IPV4", "203.0.113.7"),
            ("COREOS_PRIVATE_IPV4", "10.0.0.7"),
            ("DOCKER_HOST", "unix:///tmp/d.sock"),
        ],
    )
    .unwrap();
    assert_eq!(
        c.etcd.endpoints,
        vec!["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
    );
    assert_eq!(c.public_ip, Some("203.0.113.7".parse().unwrap()));
    assert_eq!(c.private_ip, Some("10.0.0.7".parse().unwrap()));
    assert_eq!(c.docker_host, "unix:///tmp/d.sock");
    let c = build(
        &[
            "--public-ip",
            "198.51.100.1",
            "--etcd-endpoints",
            "http://127.0.0.1:1",
        ],
        &[("COREOS_PUBLIC_IPV4", "203.0.113.7")],
    )
    .unwrap();
    assert_eq!(
        c.public_ip,
        Some("198.51.100.1".parse().unwrap()),
        "the flag wins"
    );
    assert_eq!(c.etcd.endpoints, vec!["http://127.0.0.1:1"]);
}

#[test]
fn bad_input_is_refused_naming_the_flag() {
    let err = |args: &[&str]| parse(args).unwrap_err();
    assert!(err(&["--health-digest", "abc"])
        .to_string()
        .contains("40 hex"));
    assert!(err(&["--ttl", "5x"]).to_string().contains("--ttl"));
    assert!(err(&["--public-ip", "nope"])
        .to_string()
        .contains("--public-ip"));
    assert!(err(&["--rise", "0"]).to_string().contains("--rise"));
    for (flag, value) in [
        ("--ttl", "1s"),
        ("--ttl", "9999999999s"),
        ("--ttl", "18446744073709551615s"),
        ("--health-interval", "18446744073709551615s"),
        ("--health-timeout", "0s"),
        ("--resync-interval", "18446744073709551615s"),
    ] {
        let e = err(&[flag, value]).to_string();
        assert!(e.contains(flag) && e.contains(value), "{e}");
    }
    assert!(Cli::try_parse_from([
        "sidekick",
        "run",
        "--container",
        "x",
        "--container-port",
        "http",
        "--key",
        "/k"
    ])
    .is_err());
    let bad = |args: &[&str], env: &[(&str, &str)], needle: &str| {
        let e = build(args, env).unwrap_err().to_string();
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
    };
    bad(
        &["--etcd-endpoints", "http://host:port"],
        &[],
        "http://host:port",
    );
    bad(
        &["--docker-host", "ftp://x"],
        &[],
        "--docker-host \"ftp://x\"",
    );
    bad(&[], &[("DOCKER_HOST", "tcp://")], "$DOCKER_HOST \"tcp://\"");
    bad(&["--health-path", "health.php"], &[], "--health-path");
    bad(
        &[],
        &[("COREOS_PUBLIC_IPV4", "garbage")],
        "COREOS_PUBLIC_IPV4",
    );
    bad(
        &["--container-port", "53/udp"],
        &[],
        "--container-port 53/udp",
    );
    bad(&["--etcd-user", "root"], &[], "--etcd-password-file");
}

#[test]
fn udp_ports_are_fine_without_an_active_probe_and_ttl_rounds_up() {
    let c = build(
        &[
            "--container-port",
            "53/udp",
            "--health-mode",
            "none",
            "--ttl",
            "2500ms",
        ],
        &[],
    )
    .unwrap();
    assert_eq!(c.ttl, Duration::from_secs(3));
}

#[test]
fn a_value_template_writes_one_key() {
    let c = build(
        &["--value-template", r#"{"value": "{private_ipv4_addr}"}"#],
        &[],
    )
    .unwrap();
    assert_eq!(c.layout.prefix, "/services/web/web01");
    assert!(c.layout.template.is_some());
    let e = build(&["--value-template", "{privat_ip}"], &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--value-template \"{privat_ip}\"") && e.contains("unknown placeholder"),
        "{e}"
    );
    let e = parse(&["--value-template", "{port}", "--format", "json"]).unwrap_err();
    assert!(e.to_string().contains("--format"), "{e}");
}
