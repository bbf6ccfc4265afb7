//! Which address and port `run` and `check` announce: each address family with its own
//! binding's port (`-p 80` and `-P` on dual-stack Docker publish `0.0.0.0:N` and `[::]:M`),
//! internal mode on a user-defined Docker network (dual-stack, created and removed by the test),
//! host networking, and IPv6 addresses only ever in the `_ipv6_` keys.

use std::process::Command;
use std::time::Duration;

use crate::*;
use testkit::agent::run_to_completion;
use testkit::docker::{unique_name, Container, ContainerOpts, Network};
use testkit::etcd::Etcd;

/// The host port Docker published for 80/tcp on `host_ip` (`0.0.0.0`, `[::]`), from `docker port`.
fn port_on(c: &Container, host_ip: &str) -> Option<u16> {
    let out = Command::new("docker")
        .args(["port", c.id(), "80/tcp"])
        .output()
        .expect("docker port");
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let addr = l.trim();
        let port = addr.strip_prefix(host_ip)?.strip_prefix(':')?;
        port.parse().ok()
    })
}

/// Two containers published on all interfaces after one published on IPv4 only: Docker's IPv4
/// and IPv6 port allocators drift apart, so the second one's `[::]` port is often the first
/// one's `0.0.0.0` port. The keys must carry the second one's own IPv4 port (its health probe
/// would otherwise pass against the first container).
fn all_interfaces_case(publish: fn(ContainerOpts) -> ContainerOpts) {
    let etcd = Etcd::start();
    let first = Container::run(ContainerOpts::web().publish("0.0.0.0::80"));
    let second = Container::run(publish(ContainerOpts::web()));
    let own = port_on(&second, "0.0.0.0").expect("published on 0.0.0.0");
    let v6 = port_on(&second, "[::]");
    eprintln!(
        "first 0.0.0.0:{:?}; second 0.0.0.0:{own} [::]:{v6:?}",
        port_on(&first, "0.0.0.0")
    );
    second.wait_http_ready(SOON);
    let agent = spawn(
        &run_args(
            &etcd.sidekick_args(),
            second.name(),
            KEY,
            &["--public-ip", "127.0.0.1", "--health-interval", "200ms"],
        ),
        &[],
    );
    let k = wait_registered(&etcd.access(), KEY, own, &agent);
    assert_eq!(k[&format!("{KEY}/public_ipv4_addr")].0, "127.0.0.1");
    assert_stays_registered(&etcd.access(), KEY, own, Duration::from_millis(600), &agent);
}

#[test]
fn dash_p_80_announces_the_ipv4_bindings_own_port() {
    all_interfaces_case(|o| o.publish("80"));
}

#[test]
fn dash_capital_p_announces_the_ipv4_bindings_own_port() {
    all_interfaces_case(|o| o.no_publish().arg("-P"));
}

/// Waits until the keys under KEY are exactly `want` (field -> value), on one lease.
fn wait_keys(etcd: &Etcd, want: &[(&str, String)], agent: &testkit::agent::AgentProcess) {
    let want: std::collections::BTreeMap<String, String> = want
        .iter()
        .map(|(f, v)| (format!("{KEY}/{f}"), v.clone()))
        .collect();
    let mut last = Default::default();
    let ok = testkit::wait::poll_until(SOON, || {
        last = keys(&etcd.access(), KEY);
        last.iter()
            .map(|(k, (v, _))| (k.clone(), v.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
            == want
    });
    assert!(
        ok,
        "{}",
        agent.context(&format!("want {want:?}, last {last:?}"))
    );
    let leases: std::collections::BTreeSet<i64> = last.values().map(|(_, l)| *l).collect();
    assert_eq!(leases.len(), 1, "one lease for every key: {last:?}");
}

fn agent_args(etcd: &Etcd, container: &str, port: &str, extra: &[&str]) -> Vec<String> {
    let mut args = run_args(
        &etcd.sidekick_args(),
        container,
        KEY,
        &["--health-interval", "200ms"],
    );
    let i = args.iter().position(|a| a == "--container-port").unwrap();
    args[i + 1] = port.into();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn sidekick_check(etcd: &Etcd, container: &str, extra: &[&str]) -> (i32, String) {
    let mut args = agent_args(etcd, container, "80/tcp", extra);
    args[0] = "check".into();
    let i = args.iter().position(|a| a == "--health-interval").unwrap();
    args.drain(i..i + 2);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_to_completion(&argv, &[], Duration::from_secs(20));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn internal_mode_announces_both_families_on_the_named_network_and_the_container_port() {
    let etcd = Etcd::start();
    let net = Network::dual_stack();
    let web = Container::run(
        ContainerOpts::web()
            .no_publish()
            .arg("--network")
            .arg(net.name()),
    );
    let v4 = web.inspect(&format!(
        "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
        net.name()
    ));
    let v6 = web.inspect(&format!(
        "{{{{(index .NetworkSettings.Networks \"{}\").GlobalIPv6Address}}}}",
        net.name()
    ));
    assert!(v4.trim().parse::<std::net::Ipv4Addr>().is_ok(), "{v4:?}");
    assert!(v6.trim().parse::<std::net::Ipv6Addr>().is_ok(), "{v6:?}");
    let (v4, v6) = (v4.trim().to_string(), v6.trim().to_string());
    let agent = spawn(
        &agent_args(&etcd, web.name(), "80/tcp", &["--network", net.name()]),
        &[],
    );
    wait_keys(
        &etcd,
        &[
            ("unit", "monweb@01.service".into()),
            ("host", "core01".into()),
            ("public_ipv4_addr", v4.clone()),
            ("private_ipv4_addr", v4.clone()),
            ("public_ipv6_addr", v6.clone()),
            ("private_ipv6_addr", v6.clone()),
            ("port", "80".into()),
        ],
        &agent,
    );
    // A container not on the network is not registrable, and check says where it is.
    let other = Container::run(ContainerOpts::web().no_publish());
    let (code, out) = sidekick_check(&etcd, other.name(), &["--network", net.name()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "not on Docker network \"{}\" (it is on: bridge)",
            net.name()
        )),
        "{out}"
    );
}

#[test]
fn a_network_docker_does_not_have_is_a_usage_error_naming_the_flag() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let missing = unique_name("nonet");
    let (code, out) = sidekick_check(&etcd, web.name(), &["--network", &missing]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("--network \"{missing}\": no such Docker network")),
        "{out}"
    );
    let args = agent_args(&etcd, web.name(), "80/tcp", &["--network", &missing]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_to_completion(&argv, &[], Duration::from_secs(20));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no such Docker network"), "{err}");
    assert!(keys(&etcd.access(), KEY).is_empty());
}

#[test]
fn a_host_network_container_is_announced_with_the_host_address_and_the_container_port() {
    let etcd = Etcd::start();
    let port = testkit::free_port();
    let web = Container::run(
        ContainerOpts::web()
            .no_publish()
            .env("WEB_PORT", &port.to_string())
            .arg("--net=host"),
    );
    let spec = format!("{port}/tcp");
    let agent = spawn(
        &agent_args(&etcd, web.name(), &spec, &["--public-ip", "127.0.0.1"]),
        &[],
    );
    let k = wait_registered(&etcd.access(), KEY, port, &agent);
    assert_eq!(k[&format!("{KEY}/public_ipv4_addr")].0, "127.0.0.1");
}

#[test]
fn a_container_published_on_ipv6_loopback_never_fills_an_ipv4_key() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web().publish("[::1]::80"));
    let port = port_on(&web, "[::1]").expect("published on [::1]");
    let agent = spawn(&agent_args(&etcd, web.name(), "80/tcp", &[]), &[]);
    wait_keys(
        &etcd,
        &[
            ("unit", "monweb@01.service".into()),
            ("host", "core01".into()),
            ("public_ipv6_addr", "::1".into()),
            ("private_ipv6_addr", "::1".into()),
            ("port", port.to_string()),
        ],
        &agent,
    );
}
