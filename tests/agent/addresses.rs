//! Which address and port `run` and `check` announce: each address family with its own
//! binding's port (`-p 80` and `-P` on dual-stack Docker publish `0.0.0.0:N` and `[::]:M`).

use std::process::Command;
use std::time::Duration;

use crate::*;
use testkit::docker::{Container, ContainerOpts};
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
