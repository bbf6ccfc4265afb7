use std::time::Duration;

use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    let mut v = vec!["sidekick", "lbsync"];
    v.extend_from_slice(args);
    Cli::try_parse_from(v)
}

fn build(args: &[&str], env: &[(&str, &str)]) -> Result<LbsyncConfig, ConfigError> {
    let cli = parse(args).expect("clap accepts");
    let Command::Lbsync(a) = cli.command else {
        panic!("not lbsync")
    };
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    LbsyncConfig::from_args(&a, &move |k| {
        env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    })
}

const NGINX: [&str; 6] = [
    "--backend",
    "nginx",
    "--upstream-file",
    "/tmp/sidekick-config-test.conf",
    "--upstream-name",
    "web",
];

fn nginx(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = NGINX.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn defaults_are_written_once() {
    let c = build(&NGINX, &[]).unwrap();
    let BackendConfig::Nginx(n) = &c.backend else {
        panic!("nginx")
    };
    assert_eq!(
        n,
        &NginxConfig::new("/tmp/sidekick-config-test.conf", "web")
    );
    assert_eq!(c.ttl, limits::ELECTION_TTL.default_value());
    assert_eq!(c.prefix, "/services/web/");
    assert_eq!(c.election_key, "/sidekick/lbsync/nginx/web");
    let c = build(
        &[
            "--backend",
            "rackspace",
            "--lb-name",
            "lb",
            "--username",
            "u",
        ],
        &[("OS_API_KEY", "k")],
    )
    .unwrap();
    let BackendConfig::Rackspace(t) = &c.backend else {
        panic!("rackspace")
    };
    assert_eq!(t.client.identity_url, DEFAULT_IDENTITY_URL);
}

#[test]
fn the_election_lease_has_its_own_flag_and_keeps_the_old_spellings() {
    let ttl = |args: &[&'static str], env: &[(&str, &str)]| build(&nginx(args), env).map(|c| c.ttl);
    assert_eq!(
        ttl(&["--election-ttl", "20s"], &[]).unwrap(),
        Duration::from_secs(20)
    );
    assert_eq!(ttl(&["--ttl", "7s"], &[]).unwrap(), Duration::from_secs(7));
    assert_eq!(
        ttl(&[], &[("SIDEKICK_TTL", "4s")]).unwrap(),
        Duration::from_secs(4)
    );
    assert_eq!(
        ttl(&["--election-ttl", "2500ms"], &[]).unwrap(),
        Duration::from_secs(3)
    );
    let e = ttl(&[], &[("SIDEKICK_TTL", "9999999999s")])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("$SIDEKICK_TTL") && e.contains("9999999999s"),
        "{e}"
    );
    let e = parse(&nginx(&["--election-ttl", "9999999999s"]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--election-ttl") && e.contains("9999999999s"),
        "{e}"
    );
}

#[test]
fn bad_values_are_refused_naming_flag_and_value() {
    let bad = |args: &[&str], needle: &str| {
        let e = build(args, &[]).unwrap_err().to_string();
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
    };
    bad(
        &[
            "--backend",
            "nginx",
            "--upstream-file",
            "/tmp/x",
            "--upstream-name",
            "bad name",
        ],
        "--upstream-name \"bad name\"",
    );
    bad(&nginx(&["--check-cmd", " "]), "--check-cmd");
    bad(
        &nginx(&["--prefix", "services/web/"]),
        "--prefix \"services/web/\"",
    );
    bad(&nginx(&["--prefix", "/services/../web/"]), "\"..\" segment");
    bad(&nginx(&["--prefix", "/sidekick/"]), "sidekick's own");
    bad(
        &nginx(&["--election-key", "lock"]),
        "--election-key \"lock\"",
    );
    bad(
        &nginx(&["--election-key", "/services/web/lock"]),
        "inside --prefix /services/web/",
    );
    for (flag, value) in [
        ("--health-timeout", "0s"),
        ("--debounce", "18446744073709551615s"),
        ("--resync-interval", "18446744073709551615s"),
    ] {
        let e = parse(&nginx(&[flag, value])).unwrap_err().to_string();
        assert!(e.contains(flag) && e.contains(value), "{e}");
    }
    let e = build(
        &[
            "--backend",
            "rackspace",
            "--lb-name",
            "lb",
            "--username",
            "u",
            "--api-key-file",
            "/dev/zero",
        ],
        &[],
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("--api-key-file /dev/zero") && e.contains("character device"),
        "{e}"
    );
}

#[test]
fn prefixes_are_canonical() {
    for (raw, want) in [
        ("/services/web", "/services/web/"),
        ("/services/web/", "/services/web/"),
    ] {
        assert_eq!(build(&nginx(&["--prefix", raw]), &[]).unwrap().prefix, want);
    }
}

const RACKSPACE: [&str; 6] = ["--backend", "rackspace", "--lb-id", "42", "--username", "u"];
const API_KEY: [(&str, &str); 1] = [("OS_API_KEY", "k")];

fn rackspace(extra: &[&'static str]) -> Vec<&'static str> {
    let mut v = RACKSPACE.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn drain_period_loopback_and_the_deprecated_debounce() {
    let c = build(&rackspace(&[]), &API_KEY).unwrap();
    assert_eq!(c.drain_period, Duration::ZERO, "draining is off by default");
    assert!(!c.allow_loopback && !c.debounce_given);
    let c = build(
        &rackspace(&[
            "--drain-period",
            "10s",
            "--allow-loopback",
            "--debounce",
            "50ms",
        ]),
        &API_KEY,
    )
    .unwrap();
    assert_eq!(c.drain_period, Duration::from_secs(10));
    assert!(c.allow_loopback && c.debounce_given);
    assert!(
        parse(&rackspace(&["--drain-period", "2h"])).is_err(),
        "above 1h"
    );
    assert!(
        parse(&nginx(&["--debounce", "11s"])).is_err(),
        "still range-checked"
    );
}

#[test]
fn rackspace_only_flags_are_refused_with_nginx() {
    for flag in [
        &["--drain-period", "10s"][..],
        &["--drain-period", "0s"],
        &["--allow-loopback"],
        &["--lb-name", "web"],
        &["--username", "u"],
        &["--lb-id", "42"],
        &["--region", "ORD"],
        &["--identity-url", "http://127.0.0.1:1"],
    ] {
        let e = build(&nginx(flag), &[]).unwrap_err().to_string();
        assert!(
            e.contains(flag[0]) && e.contains("--backend rackspace"),
            "{flag:?}: {e}"
        );
    }
    let e = build(&nginx(&["--lb-name", "web", "--allow-loopback"]), &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--lb-name, --allow-loopback"), "{e}");
    // The 2014 environment is shared with other tools: not a flag, not refused.
    assert!(build(&nginx(&[]), &[("LB_NAME", "web"), ("OS_USERNAME", "u")]).is_ok());
}

#[test]
fn static_nodes_follow_the_instances_address_rules() {
    for (node, why) in [
        ("1.2.3.4:0", "port 0"),
        ("0.0.0.0:80", "unspecified"),
        ("224.0.0.1:80", "multicast"),
        ("[ff02::1]:80", "multicast"),
        ("169.254.1.1:80", "link-local"),
        ("255.255.255.255:80", "broadcast"),
    ] {
        for (args, env) in [
            (nginx(&["--static-node", node]), &[][..]),
            (rackspace(&["--static-node", node]), &API_KEY[..]),
        ] {
            let e = build(&args, env).unwrap_err().to_string();
            assert!(
                e.contains("--static-node") && e.contains(why),
                "{node}: {e}"
            );
        }
    }
    // Loopback: nginx on this host may proxy to it, as for instances; Rackspace only with
    // --allow-loopback.
    assert!(build(&nginx(&["--static-node", "127.0.0.1:80"]), &[]).is_ok());
    let e = build(&rackspace(&["--static-node", "127.0.0.1:80"]), &API_KEY)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("127.0.0.1:80") && e.contains("--allow-loopback"),
        "{e}"
    );
    let c = build(
        &rackspace(&["--static-node", "127.0.0.1:80", "--allow-loopback"]),
        &API_KEY,
    )
    .unwrap();
    assert_eq!(c.statics.len(), 1);
    assert!(build(&rackspace(&["--static-node", "1.1.1.1:80"]), &API_KEY).is_ok());
}
