//! The registration life cycle against one etcd member and real containers. The core cases run
//! on each engine (`NAME::docker`, `NAME::podman`: see `testkit::engine`).

use std::time::Duration;

use crate::*;
use testkit::docker::{Container, ContainerOpts};
use testkit::engine::Engine;
use testkit::etcd::{Etcd, Watcher};
use testkit::{free_port, wait_until};

/// `sidekick run` on `engine` for `web` under [`KEY`], with the suite's defaults and `extra`.
fn spawn_on(engine: &Engine, etcd: &Etcd, web: &Container, extra: &[&str]) -> AgentProcess {
    spawn(
        &run_args(
            &engine.with_args(etcd.sidekick_args()),
            web.name(),
            KEY,
            extra,
        ),
        &[],
    )
}

testkit::engine_tests!(
    registers_exactly_the_five_keys_on_one_lease_owned_by_the_agent,
    a_failing_health_body_removes_the_keys_and_a_passing_one_restores_them,
    stop_removes_the_keys_before_the_container_dies,
    docker_health_mode_follows_the_containers_healthcheck,
);

fn registers_exactly_the_five_keys_on_one_lease_owned_by_the_agent(engine: &Engine) {
    let etcd = Etcd::start();
    let web = engine.run(ContainerOpts::web());
    let agent = spawn_on(engine, &etcd, &web, &[]);
    let port = web.host_port(80);
    let k = wait_registered(&etcd.access(), KEY, port, &agent);
    let values: Vec<(&str, &str)> = FIELDS
        .iter()
        .map(|f| (*f, k[&format!("{KEY}/{f}")].0.as_str()))
        .collect();
    let port_s = port.to_string();
    assert_eq!(
        values,
        vec![
            ("unit", "monweb@01.service"),
            ("host", "core01"),
            ("public_ipv4_addr", "127.0.0.1"),
            ("private_ipv4_addr", "127.0.0.1"),
            ("port", port_s.as_str())
        ]
    );
    let leases: std::collections::BTreeSet<i64> = k.values().map(|(_, l)| *l).collect();
    assert_eq!(leases.len(), 1, "one lease for all keys: {k:?}");
    let lease = *leases.iter().next().unwrap();
    assert_ne!(lease, 0);
    let ttl = etcd
        .access()
        .lease_ttl_blocking(lease)
        .expect("lease alive");
    assert!(ttl > 0 && ttl <= 15, "default TTL 15s, got {ttl}");
    // Nothing else under the prefix; ownership is recorded outside it, on the same lease.
    assert_eq!(etcd.access().get_prefix_blocking(KEY).len(), 5);
    let owner = etcd.access().get_prefix_blocking("/sidekick/owners/");
    assert_eq!(
        owner.values().map(|(_, l)| *l).collect::<Vec<_>>(),
        vec![lease]
    );
}

#[test]
fn a_keepalive_never_rewrites_a_key() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let agent = spawn(
        &run_args(
            &etcd.sidekick_args(),
            web.name(),
            KEY,
            &["--ttl", "3s", "--health-interval", "200ms"],
        ),
        &[],
    );
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
    // The watch stream may deliver the registration a moment after etcd answers the read.
    let first = watcher.wait_for(|e| e.is_put() && e.key.ends_with("/port"), SOON);
    assert!(
        first.is_some(),
        "{}",
        agent.context("the watcher saw no PUT")
    );
    assert_eq!(watcher.puts().len(), 5);
    // Three TTLs of keepalives and fifteen passing probes later: still the same five writes.
    std::thread::sleep(Duration::from_secs(9));
    assert_eq!(
        watcher.puts().len(),
        5,
        "{}",
        agent.context("keys were rewritten")
    );
    assert!(watcher.deletes().is_empty());
}

fn a_failing_health_body_removes_the_keys_and_a_passing_one_restores_them(engine: &Engine) {
    let etcd = Etcd::start();
    let web = engine.run(ContainerOpts::web());
    let agent = spawn_on(
        engine,
        &etcd,
        &web,
        &["--health-digest", PASS_SHA1, "--health-interval", "200ms"],
    );
    let port = web.host_port(80);
    wait_registered(&etcd.access(), KEY, port, &agent);
    web.set_health_body(b"\n\nFAIL");
    wait_gone(&etcd.access(), KEY, SOON, &agent, "FAIL body");
    web.set_health_body(b"\n\nPASS");
    wait_registered(&etcd.access(), KEY, port, &agent);
}

/// `docker stop` / `podman stop`: Docker's `kill` event, Podman's `stopping` state.
fn stop_removes_the_keys_before_the_container_dies(engine: &Engine) {
    let etcd = Etcd::start();
    let web = engine.run(ContainerOpts::web().ignore_sigterm().stop_timeout(4));
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let agent = spawn_on(engine, &etcd, &web, &[]);
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
    let (cli, name) = (engine.cli(), web.name().to_string());
    let stopper = std::thread::spawn(move || {
        testkit::docker::cli_with(cli, &["stop", "-t", "4", &name], None, SOON * 2)
    });
    let last_delete = watcher.wait_for(|e| e.is_delete() && e.key.ends_with("/port"), SOON);
    assert!(
        last_delete.is_some(),
        "{}",
        agent.context(&format!("no DELETE after {cli} stop"))
    );
    assert!(
        web.is_alive(),
        "keys must go while the container is still shutting down (it ignores SIGTERM for 4 s)"
    );
    assert_eq!(watcher.deletes().len(), 5);
    let _ = stopper.join();
    assert!(keys(&etcd.access(), KEY).is_empty());
}

#[test]
fn a_reload_signal_does_not_deregister() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let agent = spawn(&run_args(&etcd.sidekick_args(), web.name(), KEY, &[]), &[]);
    let port = web.host_port(80);
    wait_registered(&etcd.access(), KEY, port, &agent);
    web.kill("HUP");
    web.kill("USR1");
    wait_log(&agent, "container state");
    assert_stays_registered(&etcd.access(), KEY, port, Duration::from_secs(2), &agent);
    assert!(
        watcher.deletes().is_empty(),
        "{}",
        agent.context("SIGHUP/SIGUSR1 deregistered")
    );
}

#[test]
fn a_container_recreated_on_another_port_updates_only_the_port_key() {
    let etcd = Etcd::start();
    let name = testkit::docker::unique_name("recreate");
    let mut first = Container::run(ContainerOpts::web().name(&name));
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let agent = spawn(&run_args(&etcd.sidekick_args(), &name, KEY, &[]), &[]);
    wait_registered(&etcd.access(), KEY, first.host_port(80), &agent);
    first.rm_force();
    wait_gone(&etcd.access(), KEY, SOON, &agent, "container removed");
    let port = free_port();
    let second = Container::run(
        ContainerOpts::web()
            .name(&name)
            .publish(&format!("127.0.0.1:{port}:80")),
    );
    wait_registered(&etcd.access(), KEY, port, &agent);
    drop(second);
    // A plain `docker restart` re-reads the (possibly new) published port too.
    let third = Container::run(ContainerOpts::web().name(&name));
    wait_registered(&etcd.access(), KEY, third.host_port(80), &agent);
    third.restart();
    wait_registered(&etcd.access(), KEY, third.host_port(80), &agent);
    assert!(watcher
        .events()
        .iter()
        .all(|e| !e.key.contains("/services/web/web01/")
            || FIELDS.iter().any(|f| e.key.ends_with(f))));
}

#[test]
fn docker_rm_f_removes_the_keys() {
    let etcd = Etcd::start();
    let mut web = Container::run(ContainerOpts::web());
    let agent = spawn(&run_args(&etcd.sidekick_args(), web.name(), KEY, &[]), &[]);
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
    web.rm_force();
    wait_gone(&etcd.access(), KEY, SOON, &agent, "docker rm -f");
}

#[test]
fn an_agent_started_before_its_container_waits_for_it() {
    let etcd = Etcd::start();
    let name = testkit::docker::unique_name("later");
    let agent = spawn(&run_args(&etcd.sidekick_args(), &name, KEY, &[]), &[]);
    wait_log(&agent, "does not exist");
    assert!(keys(&etcd.access(), KEY).is_empty());
    let web = Container::run(ContainerOpts::web().name(&name));
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
}

#[test]
fn json_format_writes_one_key_with_the_same_fields_and_tcp_mode_needs_no_http() {
    let etcd = Etcd::start();
    let db = Container::run(ContainerOpts::web().tcp_only(80));
    let args = run_args(
        &etcd.sidekick_args(),
        db.name(),
        "/services/db/db",
        &["--format", "json", "--health-mode", "tcp"],
    );
    let agent = spawn(&args, &[]);
    let port = db.host_port(80);
    wait_until(SOON, "the json key", || {
        etcd.access().get_prefix_blocking("/services/db/db").len() == 1
    });
    let all = etcd.access().get_prefix_blocking("/services/db/db");
    let v: serde_json::Value = serde_json::from_str(&all["/services/db/db"].0).unwrap();
    assert_eq!(v["port"], port, "{}", agent.context("json"));
    assert_eq!(v["unit"], "monweb@01.service");
    assert_eq!(v["public_ipv4_addr"], "127.0.0.1");
    db.stop();
    wait_until(SOON, "json key gone", || {
        etcd.access()
            .get_prefix_blocking("/services/db/db")
            .is_empty()
    });
}

/// The container's own HEALTHCHECK (Podman: run by hand where no systemd timer runs it).
fn docker_health_mode_follows_the_containers_healthcheck(engine: &Engine) {
    let etcd = Etcd::start();
    let web = engine.run(ContainerOpts::web().web_healthcheck(Duration::from_secs(1)));
    let agent = spawn_on(engine, &etcd, &web, &["--health-mode", "docker"]);
    let _timer = engine.health_timer(&web, Duration::from_millis(500));
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
    web.exec_ok(&["/bin/busybox", "rm", "/www/health.php"]);
    wait_gone(
        &etcd.access(),
        KEY,
        Duration::from_secs(20),
        &agent,
        "docker reports unhealthy",
    );
}

/// Podman's API is a service of its own: when it restarts under the running container, the keys
/// stay, and the agent follows the container again afterwards.
#[test]
fn a_podman_api_service_restart_keeps_the_keys() {
    let Some(mut engine) = Engine::podman() else {
        return;
    };
    let etcd = Etcd::start();
    let web = engine.run(ContainerOpts::web());
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let agent = spawn_on(&engine, &etcd, &web, &[]);
    let port = web.host_port(80);
    wait_registered(&etcd.access(), KEY, port, &agent);
    engine.restart_service(Duration::from_secs(2));
    assert_stays_registered(&etcd.access(), KEY, port, Duration::from_secs(3), &agent);
    assert!(
        watcher.deletes().is_empty(),
        "{}",
        agent.context("keys deleted while the API service restarted")
    );
    web.stop_with_timeout(2);
    wait_gone(
        &etcd.access(),
        KEY,
        SOON,
        &agent,
        "podman stop after the restart",
    );
}
