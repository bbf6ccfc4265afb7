//! Host mode's life cycle against one etcd member and real labelled containers: per container,
//! exactly `run`'s keys and life cycle. The core cases run on each engine (`NAME::docker`,
//! `NAME::podman`: see `testkit::engine`).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::*;
use testkit::docker::Container;
use testkit::engine::Engine;
use testkit::etcd::{Etcd, Watcher};

testkit::engine_tests!(
    a_burst_of_labelled_containers_is_registered_each_with_run_keys,
    stop_of_one_among_many_removes_only_its_keys_before_it_dies,
);

fn a_burst_of_labelled_containers_is_registered_each_with_run_keys(engine: &Engine) {
    let etcd = Etcd::start();
    let case = Case::new();
    // Three already run when the agent starts, twelve start at once after it.
    let before = run_all_on(
        engine,
        (0..3)
            .map(|i| case.web(&format!("/services/web/b{i}")))
            .collect(),
    );
    let args = case.host_args(&engine.with_args(etcd.sidekick_args()), &[]);
    let agent = spawn(&args, &[]);
    wait_log(&agent, "managing container");
    let burst = run_all_on(
        engine,
        (0..12)
            .map(|i| case.web(&format!("/services/web/n{i:02}")))
            .collect(),
    );
    let all: Vec<(String, &Container)> = (0..3)
        .map(|i| format!("/services/web/b{i}"))
        .zip(before.iter())
        .chain(
            (0..12)
                .map(|i| format!("/services/web/n{i:02}"))
                .zip(burst.iter()),
        )
        .collect();
    for (key, c) in &all {
        let k = wait_registered(&etcd.access(), key, c.host_port(80), &agent);
        let values: Vec<(&str, &str)> = FIELDS
            .iter()
            .map(|f| (*f, k[&format!("{key}/{f}")].0.as_str()))
            .collect();
        let port = c.host_port(80).to_string();
        assert_eq!(
            values,
            vec![
                ("unit", c.name()),
                ("host", "core01"),
                ("public_ipv4_addr", "127.0.0.1"),
                ("private_ipv4_addr", "127.0.0.1"),
                ("port", port.as_str()),
            ],
            "{key}"
        );
        // One transaction under one lease per container, as `run` writes them. (Until the
        // shared-lease writer lands, each container has a lease of its own.)
        let leases: BTreeSet<i64> = k.values().map(|(_, l)| *l).collect();
        assert_eq!(leases.len(), 1, "{key}: {k:?}");
        let owner = etcd
            .access()
            .get_prefix_blocking(&format!("/sidekick/owners{key}"));
        let (json, lease) = owner.values().next().expect("an owner record");
        assert_eq!(Some(lease), leases.iter().next());
        let o: sidekick::registry::Owner = serde_json::from_str(json).unwrap();
        assert_eq!(
            (o.host.as_str(), o.container.as_str()),
            ("core01", c.name())
        );
        assert_eq!(o.pid, agent.pid());
    }
    // Each container has an owner identity of its own.
    let agents: BTreeSet<String> = etcd
        .access()
        .get_prefix_blocking("/sidekick/owners/")
        .values()
        .map(|(v, _)| {
            serde_json::from_str::<sidekick::registry::Owner>(v)
                .unwrap()
                .agent
        })
        .collect();
    assert_eq!(agents.len(), all.len());
    assert_eq!(
        etcd.access().get_prefix_blocking("/services/").len(),
        5 * all.len()
    );
}

#[test]
fn unlabelled_and_badly_labelled_containers_are_left_alone_with_one_error_each() {
    let etcd = Etcd::start();
    let case = Case::new();
    let good = Container::run(case.web("/services/web/good"));
    let _unlabelled = Container::run(case.plain());
    let bad: Vec<(Container, &str)> = vec![
        (
            Container::run(case.web("services/web/relative")),
            "label sidekick.key=\"services/web/relative\"",
        ),
        (
            Container::run(
                case.web("/services/web/mode")
                    .label("sidekick.health.mode", "grpc"),
            ),
            "label sidekick.health.mode=\"grpc\"",
        ),
        (
            Container::run(
                case.web("/services/web/digest")
                    .label("sidekick.health.digest", "dbe7234"),
            ),
            "label sidekick.health.digest=\"dbe7234\"",
        ),
        (
            Container::run(case.web("/services/web/noport").no_publish()),
            "label sidekick.port: is not set and the container publishes no TCP port",
        ),
    ];
    let agent = spawn(&case.host_args(&etcd.sidekick_args(), &[]), &[]);
    wait_registered(
        &etcd.access(),
        "/services/web/good",
        good.host_port(80),
        &agent,
    );
    for (c, label) in &bad {
        wait_log(&agent, &format!("container \"{}\": {label}", c.name()));
    }
    // Events of a badly labelled container do not repeat the error.
    bad[0].0.restart();
    good.restart();
    wait_registered(
        &etcd.access(),
        "/services/web/good",
        good.host_port(80),
        &agent,
    );
    for (c, _) in &bad {
        let n = log_lines(&agent, &[c.name(), "a sidekick label does not parse"]);
        assert_eq!(
            n,
            1,
            "{}",
            agent.context(&format!("{} errors for {}", n, c.name()))
        );
    }
    let all = etcd.access().get_prefix_blocking("/");
    assert!(
        all.keys().all(|k| k.contains("/services/web/good")),
        "only the good container is registered: {:?}",
        all.keys().collect::<Vec<_>>()
    );
    assert!(agent.logs().lines().all(|l| !l.contains("panicked")));
}

/// `docker stop` / `podman stop`: Docker's `kill` event, Podman's `stopping` state.
fn stop_of_one_among_many_removes_only_its_keys_before_it_dies(engine: &Engine) {
    let etcd = Etcd::start();
    let case = Case::new();
    let web = run_all_on(
        engine,
        (0..4)
            .map(|i| {
                case.web(&format!("/services/web/w{i}"))
                    .ignore_sigterm()
                    .stop_timeout(4)
            })
            .collect(),
    );
    let agent = spawn(
        &case.host_args(&engine.with_args(etcd.sidekick_args()), &[]),
        &[],
    );
    for (i, c) in web.iter().enumerate() {
        wait_registered(
            &etcd.access(),
            &format!("/services/web/w{i}"),
            c.host_port(80),
            &agent,
        );
    }
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let (cli, id) = (engine.cli(), web[1].id().to_string());
    let stopper = std::thread::spawn(move || {
        testkit::docker::cli_with(cli, &["stop", "-t", "4", &id], None, SOON * 2)
    });
    let last = watcher.wait_for(|e| e.is_delete() && e.key == "/services/web/w1/port", SOON);
    assert!(
        last.is_some(),
        "{}",
        agent.context(&format!("no DELETE after {cli} stop"))
    );
    assert!(
        web[1].is_alive(),
        "keys must go while the container is still shutting down (it ignores SIGTERM for 4 s)"
    );
    let _ = stopper.join();
    // `docker start` brings it back; `docker restart` of another re-registers that one.
    web[1].start();
    wait_registered(
        &etcd.access(),
        "/services/web/w1",
        web[1].host_port(80),
        &agent,
    );
    web[2].restart();
    wait_registered(
        &etcd.access(),
        "/services/web/w2",
        web[2].host_port(80),
        &agent,
    );
    let touched: BTreeSet<String> = watcher
        .events()
        .iter()
        .map(|e| e.key.rsplit_once('/').unwrap().0.to_string())
        .collect();
    assert_eq!(
        touched,
        BTreeSet::from([
            "/services/web/w1".to_string(),
            "/services/web/w2".to_string()
        ]),
        "{}",
        agent.context("containers that were left alone had their keys touched")
    );
    assert_eq!(
        watcher
            .deletes()
            .iter()
            .filter(|e| e.key.starts_with("/services/web/w1/"))
            .count(),
        5
    );
}

#[test]
fn a_label_change_by_recreation_moves_or_drops_the_keys() {
    let etcd = Etcd::start();
    let case = Case::new();
    let name = unique_name("relabel");
    let mut first = Container::run(case.web("/services/web/old").name(&name));
    let agent = spawn(&case.host_args(&etcd.sidekick_args(), &[]), &[]);
    wait_registered(
        &etcd.access(),
        "/services/web/old",
        first.host_port(80),
        &agent,
    );
    // Re-created under the same name with another key: the old key goes, the new one comes.
    first.rm_force();
    let mut second = Container::run(case.web("/services/web/new").name(&name));
    wait_registered(
        &etcd.access(),
        "/services/web/new",
        second.host_port(80),
        &agent,
    );
    wait_gone(
        &etcd.access(),
        "/services/web/old",
        SOON,
        &agent,
        "old key after re-creation",
    );
    // The same key, another port and unit: rewritten in place.
    second.rm_force();
    let mut third = Container::run(
        case.web("/services/web/new")
            .name(&name)
            .label("sidekick.unit", "monweb@07.service"),
    );
    let k = wait_registered(
        &etcd.access(),
        "/services/web/new",
        third.host_port(80),
        &agent,
    );
    assert_eq!(k["/services/web/new/unit"].0, "monweb@07.service");
    // Re-created without sidekick.key: nothing is registered any more.
    third.rm_force();
    let _fourth = Container::run(case.plain().name(&name));
    wait_gone(
        &etcd.access(),
        "/services/web/new",
        SOON,
        &agent,
        "label removed",
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        etcd.access().get_prefix_blocking("/").is_empty(),
        "{}",
        agent.context("nothing left in etcd, owner records included")
    );
}

#[test]
fn labels_override_the_host_health_flags_per_container() {
    let etcd = Etcd::start();
    let case = Case::new();
    // The host default demands the PASS digest; one container says FAIL is what it serves.
    let pass = Container::run(case.web("/services/web/pass"));
    let fail = Container::run(case.web("/services/web/fail"));
    fail.set_health_body(b"\n\nFAIL");
    let fail_sha1 = "dbe72348d4e3aa87958f421e4a9592a82839f3d8";
    let relabelled = Container::run(
        case.web("/services/web/own")
            .label("sidekick.health.digest", fail_sha1)
            .label("sidekick.health.path", "/health.php")
            .label("sidekick.format", "json"),
    );
    relabelled.set_health_body(b"\n\nFAIL");
    let agent = spawn(
        &case.host_args(
            &etcd.sidekick_args(),
            &["--health-digest", PASS_SHA1, "--health-interval", "300ms"],
        ),
        &[],
    );
    wait_registered(
        &etcd.access(),
        "/services/web/pass",
        pass.host_port(80),
        &agent,
    );
    testkit::wait_until(SOON, "the json key of the relabelled container", || {
        etcd.access().get_prefix_blocking("/services/web/own").len() == 1
    });
    let v: serde_json::Value = serde_json::from_str(
        &etcd.access().get_prefix_blocking("/services/web/own")["/services/web/own"].0,
    )
    .unwrap();
    assert_eq!(v["port"], relabelled.host_port(80));
    wait_log(
        &agent,
        "does not match the expected 19d549807218f4fc3f2129757445f977e4b81408",
    );
    assert!(keys(&etcd.access(), "/services/web/fail").is_empty());
}

#[test]
fn a_container_labelled_with_a_network_is_announced_with_its_address_there() {
    let etcd = Etcd::start();
    let case = Case::new();
    let net = testkit::docker::Network::dual_stack();
    let key = "/services/web/internal";
    let web = Container::run(
        case.web(key)
            .label("sidekick.network", net.name())
            .label("sidekick.port", "80/tcp")
            .no_publish()
            .arg("--network")
            .arg(net.name()),
    );
    let ip = web.inspect(&format!(
        "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
        net.name()
    ));
    let agent = spawn(&case.host_args(&etcd.sidekick_args(), &[]), &[]);
    let mut k = Default::default();
    let ok = testkit::wait::poll_until(SOON, || {
        k = keys(&etcd.access(), key);
        k.len() == 7 // the five and the two IPv6 keys: the network is dual-stack
    });
    assert!(ok, "{}", agent.context(&format!("{key}: {k:?}")));
    assert_eq!(k[&format!("{key}/public_ipv4_addr")].0, ip.trim());
    assert_eq!(k[&format!("{key}/port")].0, "80");
}
