//! One key, one owner, with host mode in the mix: two containers of one host on one key, a `run`
//! agent and `host` on one key (the second waits, whichever it is), and two hosts' agents on one
//! etcd.

use std::time::Duration;

use crate::*;
use testkit::docker::Container;
use testkit::etcd::{Etcd, Watcher};

const KEY: &str = "/services/web/web01";

/// `sidekick run` for `container` on `key`.
fn run_args(etcd: &Etcd, container: &str, key: &str) -> Vec<String> {
    testkit::agent::run_args(&etcd.sidekick_args(), container, key, &["--ttl", "3s"])
}

/// Asserts for `d` that the keys stay registered on `port`.
fn stays(etcd: &Etcd, port: u16, d: Duration, agent: &testkit::agent::AgentProcess) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        let k = keys(&etcd.access(), KEY);
        assert_eq!(
            k.get(&format!("{KEY}/port")).map(|(v, _)| v.clone()),
            Some(port.to_string()),
            "{}",
            agent.context(&format!("keys changed: {k:?}"))
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn two_containers_of_one_host_on_one_key_take_turns() {
    let etcd = Etcd::start();
    let case = Case::new();
    let mut first = Container::run(case.web(KEY));
    let agent = spawn(&case.host_args(&etcd.sidekick_args(), &[]), &[]);
    wait_registered(&etcd.access(), KEY, first.host_port(80), &agent);
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let second = Container::run(case.web(KEY));
    wait_log(
        &agent,
        "another container on this host has an agent on this sidekick.key",
    );
    stays(&etcd, first.host_port(80), Duration::from_secs(1), &agent);
    assert!(
        watcher.events().is_empty(),
        "the waiting one wrote: {:?}",
        watcher.events()
    );
    first.rm_force();
    wait_registered(&etcd.access(), KEY, second.host_port(80), &agent);
}

#[test]
fn a_run_agent_on_a_key_host_manages_waits_until_host_lets_go() {
    let etcd = Etcd::start();
    let case = Case::new();
    let mut labelled = Container::run(case.web(KEY));
    let host = spawn(
        &case.host_args(&etcd.sidekick_args(), &["--ttl", "3s"]),
        &[],
    );
    wait_registered(&etcd.access(), KEY, labelled.host_port(80), &host);
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let other = Container::run(testkit::docker::ContainerOpts::web());
    let run = spawn(&run_args(&etcd, other.name(), KEY), &[]);
    wait_log(&run, "another sidekick owns this --key");
    stays(&etcd, labelled.host_port(80), Duration::from_secs(2), &run);
    assert!(
        watcher.events().is_empty(),
        "{}",
        run.context("the run agent changed the keys")
    );
    // The labelled container goes: host releases the key, the run agent takes over.
    labelled.rm_force();
    wait_registered(&etcd.access(), KEY, other.host_port(80), &run);
}

#[test]
fn host_waits_for_a_run_agent_that_holds_the_key() {
    let etcd = Etcd::start();
    let case = Case::new();
    let other = Container::run(testkit::docker::ContainerOpts::web());
    let mut run = spawn(&run_args(&etcd, other.name(), KEY), &[]);
    wait_registered(&etcd.access(), KEY, other.host_port(80), &run);
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let labelled = Container::run(case.web(KEY));
    let host = spawn(
        &case.host_args(&etcd.sidekick_args(), &["--ttl", "3s"]),
        &[],
    );
    wait_log(&host, "another sidekick owns this --key");
    stays(&etcd, other.host_port(80), Duration::from_secs(2), &host);
    assert!(
        watcher.events().is_empty(),
        "{}",
        host.context("host changed the keys")
    );
    run.sigterm();
    wait_registered(&etcd.access(), KEY, labelled.host_port(80), &host);
}

#[test]
fn two_hosts_agents_share_one_etcd_and_stop_independently() {
    let etcd = Etcd::start();
    let (a, b) = (Case::new(), Case::new());
    let web_a = Container::run(a.web("/services/web/a"));
    let web_b = Container::run(b.web("/services/web/b"));
    let mut args_a = a.host_args(&etcd.sidekick_args(), &[]);
    let mut args_b = b.host_args(&etcd.sidekick_args(), &[]);
    args_a[2] = "core-a".into();
    args_b[2] = "core-b".into();
    let mut host_a = spawn(&args_a, &[]);
    let host_b = spawn(&args_b, &[]);
    let ka = wait_registered(
        &etcd.access(),
        "/services/web/a",
        web_a.host_port(80),
        &host_a,
    );
    let kb = wait_registered(
        &etcd.access(),
        "/services/web/b",
        web_b.host_port(80),
        &host_b,
    );
    assert_eq!(ka["/services/web/a/host"].0, "core-a");
    assert_eq!(kb["/services/web/b/host"].0, "core-b");
    let watcher = Watcher::start(&etcd.endpoints(), "/services/web/b/");
    host_a.sigterm();
    assert!(host_a
        .wait_exit(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    assert!(keys(&etcd.access(), "/services/web/a").is_empty());
    stays_b(&etcd, web_b.host_port(80), &host_b);
    assert!(watcher.events().is_empty(), "host b's keys were touched");
}

fn stays_b(etcd: &Etcd, port: u16, agent: &testkit::agent::AgentProcess) {
    let k = keys(&etcd.access(), "/services/web/b");
    assert_eq!(k.len(), 5, "{}", agent.context(&format!("{k:?}")));
    assert_eq!(k["/services/web/b/port"].0, port.to_string());
}
