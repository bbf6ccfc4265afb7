//! Property tests: arbitrary strings for every value-taking flag (through clap and config, as
//! `main` runs them) and arbitrary keys and values for the registry parser. Nothing panics, and a
//! refusal names the input.

use std::collections::BTreeMap;

use clap::Parser;
use proptest::prelude::*;
use sidekick::cli::limits;
use sidekick::cli::{Cli, Command};
use sidekick::config::{container_config, AgentConfig, HostConfig, LbsyncConfig};
use sidekick::docker::{Labelled, PortSpec};
use sidekick::registry::codec;

const AGENT: [&str; 6] = [
    "--container",
    "web01",
    "--container-port",
    "80/tcp",
    "--key",
    "/services/web/web01",
];

/// Every value-taking flag, with the other flags it needs so that the value alone decides.
fn flags() -> Vec<(&'static str, Vec<&'static str>, &'static str)> {
    let agent_flags = [
        "--container",
        "--key",
        "--unit",
        "--host",
        "--public-ip",
        "--private-ip",
        "--health-path",
        "--health-digest",
        "--health-mode",
        "--health-interval",
        "--health-timeout",
        "--rise",
        "--fall",
        "--ttl",
        "--format",
        "--value-template",
        "--docker-host",
        "--etcd-endpoints",
        "--etcd-cacert",
        "--etcd-password-file",
    ];
    let mut v = Vec::new();
    for mode in ["run", "check"] {
        for f in agent_flags {
            let mut base = vec![mode];
            base.extend(AGENT.iter().filter(|a| {
                // The flag under test replaces its default.
                !(matches!(f, "--container" | "--key") && **a == f)
            }));
            // Remove the value that followed a dropped flag.
            let base = drop_orphans(base);
            let extra: &[&str] = match f {
                "--etcd-password-file" => &["--etcd-user", "root"],
                _ => &[],
            };
            let mut b = base.clone();
            b.extend_from_slice(extra);
            v.push((mode, b, f));
        }
    }
    for f in agent_flags.iter().copied().filter(|f| {
        !matches!(
            *f,
            "--container" | "--key" | "--unit" | "--format" | "--value-template"
        )
    }) {
        let base = match f {
            "--etcd-password-file" => vec!["host", "--etcd-user", "root"],
            _ => vec!["host"],
        };
        v.push(("host", base, f));
    }
    v.push(("host", vec!["host"], "--resync-interval"));
    v.push(("host", vec!["host"], "--require-label"));
    let port_base = vec![
        "run",
        "--container",
        "x",
        "--key",
        "/k",
        "--health-mode",
        "none",
    ];
    v.push(("run", port_base, "--container-port"));
    v.push((
        "run",
        [vec!["run"], AGENT.to_vec()].concat(),
        "--resync-interval",
    ));
    let nginx = vec![
        "lbsync",
        "--backend",
        "nginx",
        "--upstream-file",
        "/tmp/sidekick-props-upstream.conf",
    ];
    let with_name = [nginx.clone(), vec!["--upstream-name", "web"]].concat();
    v.push(("lbsync", nginx.clone(), "--upstream-name"));
    for f in [
        "--prefix",
        "--election-key",
        "--health-path",
        "--health-digest",
        "--health-timeout",
        "--resync-interval",
        "--debounce",
        "--election-ttl",
        "--ttl",
        "--static-node",
        "--check-cmd",
        "--reload-cmd",
        "--etcd-endpoints",
    ] {
        v.push(("lbsync", with_name.clone(), f));
    }
    let rs = vec![
        "lbsync",
        "--backend",
        "rackspace",
        "--lb-name",
        "lb",
        "--username",
        "u",
    ];
    for f in [
        "--api-key-file",
        "--password-file",
        "--identity-url",
        "--lb-id",
    ] {
        let mut b = rs.clone();
        if f != "--password-file" {
            // A valid secret, so the value under test alone decides (the API key file wins).
            b.extend(["--password-file", password_file()]);
        }
        v.push(("lbsync", b, f));
    }
    v
}

/// A valid password file for the flags that need one.
fn password_file() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("sidekick-props-{}.pw", std::process::id()));
        std::fs::write(&path, "pw\n").expect("write the password file");
        path.display().to_string()
    })
}

/// Drops a value whose flag was filtered out (values never start with "--").
fn drop_orphans(args: Vec<&'static str>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for a in args {
        let prev_is_flag = out.last().is_some_and(|p| p.starts_with("--"));
        if a.starts_with("--") || prev_is_flag || out.is_empty() {
            out.push(a);
        }
    }
    out
}

/// What a user may type: anything, printable noise, and near-misses of each kind of value.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,24}",
        "[0-9]{1,25}(ns|us|ms|s|m|h|d|w|y|x|)",
        "-?[0-9]{0,5}(\\.[0-9]{0,3})?[a-z ]{0,3}",
        "/?([a-z.]{0,4}/{0,2}){0,4}",
        "(http|https|unix|tcp|ftp)://[a-z0-9.:/]{0,15}",
        "[0-9a-fA-F]{38,42}",
        "[0-9]{1,6}(/(tcp|udp|sctp|x))?",
        "\\{[a-z_]{0,20}\\}",
    ]
}

fn names_the_input(msg: &str, v: &str) -> bool {
    msg.contains(v) || msg.contains(&format!("{v:?}"))
}

/// Runs one flag value the way `main` does; `Err` is the refusal's message.
fn try_flag(mode: &str, base: &[&str], flag: &str, value: &str) -> Result<(), String> {
    let mut argv = vec!["sidekick".to_string()];
    argv.extend(base.iter().map(|s| s.to_string()));
    argv.push(format!("{flag}={value}"));
    let cli = Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
    let env = |_: &str| None;
    let result = match cli.command {
        Command::Run(a) => AgentConfig::from_args(&a.agent, a.resync_interval, &env).map(drop),
        Command::Check(a) => {
            AgentConfig::from_args(&a.agent, limits::RESYNC_INTERVAL.default_value(), &env)
                .map(drop)
        }
        Command::Host(a) => HostConfig::from_args(&a, &env).map(drop),
        Command::Lbsync(a) => LbsyncConfig::from_args(&a, &env).map(drop),
        Command::GenerateDocs { .. } => panic!("{mode}: generate-docs is not a mode"),
    };
    assert!(["run", "check", "host", "lbsync"].contains(&mode));
    result.map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 3000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_flag_refuses_bad_values_naming_them(i in 0usize..1000, v in value()) {
        let all = flags();
        let (mode, base, flag) = &all[i % all.len()];
        // Delimited flags split on ',': each part is a value of its own.
        let v = if matches!(*flag, "--etcd-endpoints" | "--static-node" | "--require-label") {
            v.replace(',', "_")
        } else {
            v
        };
        if let Err(msg) = try_flag(mode, base, flag, &v) {
            prop_assert!(names_the_input(&msg, &v), "{mode} {flag}={v:?}: {msg}");
        }
    }

    #[test]
    fn duration_flags_accept_exactly_their_range(v in value(), ms in 0u64..(48 * 3_600_000)) {
        for f in limits::ALL {
            match f.parse(&v) {
                Ok(d) => prop_assert!(f.min <= d && d <= f.max, "{} {v:?} -> {d:?}", f.flag),
                Err(e) => prop_assert!(names_the_input(&e, &v), "{e}"),
            }
            let d = std::time::Duration::from_millis(ms);
            let text = sidekick::duration::format(d);
            prop_assert_eq!(f.parse(&text).is_ok(), f.min <= d && d <= f.max, "{}", text);
        }
    }

    /// `host` and a labelled `check`: any value of any sidekick label is accepted or refused
    /// naming the container and that label, never a panic.
    #[test]
    fn labels_are_accepted_or_refused_naming_the_container_and_the_label(
        which in 0usize..sidekick::config::host::LABELS.len(),
        v in value(),
        published in proptest::collection::vec(1u16..=65535, 0..3),
    ) {
        let label = sidekick::config::host::LABELS[which];
        let mut labels = BTreeMap::from([("sidekick.key".to_string(), "/services/web/w".to_string())]);
        labels.insert(label.to_string(), v.clone());
        let c = Labelled {
            id: "0123456789ab".into(),
            name: "web-01".into(),
            labels,
            published_tcp: published.iter().map(|p| PortSpec::parse(&p.to_string()).unwrap()).collect(),
        };
        let cli = Cli::try_parse_from(["sidekick", "host", "--host", "h"]).unwrap();
        let Command::Host(h) = cli.command else { unreachable!() };
        let host = HostConfig::from_args(&h, &|_| None).unwrap();
        if let Err(e) = container_config(&host.defaults, host.resync, &c, sidekick::config::host::MAIN) {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("container \"web-01\": label sidekick."), "{msg}");
            prop_assert!(e.label == label || e.label == "sidekick.port", "{label}={v:?}: {msg}");
        }
    }

    /// A `sidekick.<name>.<label>` label, whatever the name and value, never changes the
    /// container-wide service; its own service is accepted or refused naming the container and
    /// a label of that service.
    #[test]
    fn a_service_label_touches_only_its_own_service(
        name in prop_oneof!["[a-z0-9_-]{1,8}", "[ -~]{0,6}"],
        which in 0usize..sidekick::config::host::LABELS.len(),
        v in value(),
    ) {
        let rest = &sidekick::config::host::LABELS[which]["sidekick.".len()..];
        let label = format!("sidekick.{name}.{rest}");
        let base = BTreeMap::from([("sidekick.key".to_string(), "/services/web/w".to_string())]);
        let mut labels = base.clone();
        labels.insert(label.clone(), v.clone());
        let c = |labels| Labelled {
            id: "0123456789ab".into(),
            name: "web-01".into(),
            labels,
            published_tcp: vec![PortSpec::parse("80").unwrap()],
        };
        let cli = Cli::try_parse_from(["sidekick", "host", "--host", "h"]).unwrap();
        let Command::Host(h) = cli.command else { unreachable!() };
        let host = HostConfig::from_args(&h, &|_| None).unwrap();
        let services = |labels| {
            sidekick::config::container_services(&host.defaults, host.resync, &c(labels)).unwrap()
        };
        let (with, without) = (services(labels), services(base));
        prop_assert!(without[0].config.is_ok());
        let container_wide = with.len() == 1;
        if !container_wide {
            prop_assert_eq!(
                format!("{:?}", with[0].config),
                format!("{:?}", without[0].config)
            );
            prop_assert_eq!(with.len(), 2);
            if let Err(e) = &with[1].config {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("container \"web-01\": label sidekick."), "{msg}");
                let own = format!("sidekick.{}.", with[1].name);
                prop_assert!(e.label.starts_with(&own), "{label}={v:?}: {msg}");
            }
        } else if let Err(e) = &with[0].config {
            // A name that cannot be a service's ("health", empty): a container-wide label.
            prop_assert_eq!(&e.label, &label);
        }
    }

    #[test]
    fn the_registry_parser_never_panics_and_names_what_it_skips(
        entries in proptest::collection::vec(
            (
                prop_oneof![
                    "/services/web/[a-z0-9]{1,3}/(unit|host|public_ipv4_addr|private_ipv4_addr|port|x)",
                    "/services/web/[a-z0-9/]{0,8}",
                    "/services/[ -~]{0,12}",
                    any::<String>(),
                ],
                prop_oneof![
                    any::<String>(),
                    "[0-9]{1,6}",
                    "([0-9]{1,3}\\.){3}[0-9]{1,3}",
                    "\\{\"public_ipv4_addr\": ?\"[0-9.:a-f]{0,15}\", ?\"port\": ?[0-9\"]{1,7}\\}",
                ],
            ),
            0..20,
        ),
    ) {
        let prefix = "/services/web/";
        let kvs: BTreeMap<String, String> = entries.into_iter().collect();
        let (instances, skipped) = codec::parse(prefix, &kvs, codec::DEFAULT_ADDRESS_FIELD);
        for s in &skipped {
            let named = kvs.contains_key(&s.key) || (s.key.starts_with(prefix) && s.key.ends_with('/'));
            prop_assert!(named, "skip names no key of the input: {s:?}");
            prop_assert!(!s.reason.is_empty());
        }
        for (name, inst) in &instances {
            let key = format!("{prefix}{name}");
            prop_assert!(
                kvs.contains_key(&key) || kvs.keys().any(|k| k.starts_with(&format!("{key}/"))),
                "{inst:?} from nothing"
            );
            prop_assert!(inst.addr.port() != 0);
        }
    }
}
