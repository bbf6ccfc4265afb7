//! Host mode under faults: SIGTERM, SIGKILL, the Docker event stream cut (with changes during the
//! cut), an etcd outage longer than the TTL.

use std::time::{Duration, Instant};

use crate::*;
use testkit::docker_proxy::DockerProxy;
use testkit::etcd::{Etcd, Watcher};

fn keys_of(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("/services/web/w{i}")).collect()
}

#[test]
fn sigterm_removes_every_key_at_once_and_exits_0() {
    let etcd = Etcd::start();
    let case = Case::new();
    let names = keys_of(5);
    let web = run_all(names.iter().map(|k| case.web(k)).collect());
    let mut agent = spawn(&case.host_args(&etcd.sidekick_args(), &[]), &[]);
    for (k, c) in names.iter().zip(&web) {
        wait_registered(&etcd.access(), k, c.host_port(80), &agent);
    }
    let t = Instant::now();
    agent.sigterm();
    let status = agent
        .wait_exit(Duration::from_secs(5))
        .expect("exits after SIGTERM");
    assert!(
        status.success(),
        "{}",
        agent.context(&format!("exit status {status:?}"))
    );
    assert!(
        etcd.access().get_prefix_blocking("/").is_empty(),
        "keys and owner records gone by the time it exited ({:?}): {:?}",
        t.elapsed(),
        etcd.access().get_prefix_blocking("/")
    );
}

#[test]
fn after_sigkill_every_key_expires_within_the_ttl() {
    let etcd = Etcd::start();
    let case = Case::new();
    let names = keys_of(3);
    let web = run_all(names.iter().map(|k| case.web(k)).collect());
    let mut agent = spawn(
        &case.host_args(&etcd.sidekick_args(), &["--ttl", "3s"]),
        &[],
    );
    for (k, c) in names.iter().zip(&web) {
        wait_registered(&etcd.access(), k, c.host_port(80), &agent);
    }
    agent.sigkill();
    let t = Instant::now();
    assert_eq!(
        etcd.access().get_prefix_blocking("/services/").len(),
        15,
        "still there right after the kill"
    );
    for k in &names {
        wait_gone(
            &etcd.access(),
            k,
            Duration::from_millis(4500).saturating_sub(t.elapsed()),
            &agent,
            "TTL 3s after SIGKILL",
        );
    }
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "gone only through expiry, after {:?}",
        t.elapsed()
    );
}

#[test]
fn a_cut_docker_stream_is_caught_up_by_a_full_relist() {
    let etcd = Etcd::start();
    let case = Case::new();
    let proxy = DockerProxy::start();
    let mut web = run_all(keys_of(3).iter().map(|k| case.web(k)).collect());
    let agent = spawn(
        &case.host_args(&etcd.sidekick_args(), &["--health-interval", "300ms"]),
        &[("DOCKER_HOST", &proxy.docker_host())],
    );
    for (k, c) in keys_of(3).iter().zip(&web) {
        wait_registered(&etcd.access(), k, c.host_port(80), &agent);
    }
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    proxy.sever();
    wait_log(&agent, "reconnecting");
    // During the cut: w1 is removed (its probes fail: keys go), a new labelled container comes.
    web[1].rm_force();
    wait_gone(
        &etcd.access(),
        "/services/web/w1",
        SOON,
        &agent,
        "probes fail during the cut",
    );
    let new = testkit::docker::Container::run(case.web("/services/web/new"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        keys(&etcd.access(), "/services/web/new").is_empty(),
        "nothing registered blind while docker is cut off"
    );
    proxy.restore();
    wait_registered(
        &etcd.access(),
        "/services/web/new",
        new.host_port(80),
        &agent,
    );
    // The removed container's agent is gone too: its owner record is released.
    testkit::wait_until(SOON, "w1's owner record released", || {
        etcd.access()
            .get_prefix_blocking("/sidekick/owners/services/web/w1")
            .is_empty()
    });
    assert!(
        proxy.connections_refused() > 0,
        "the agent really tried to reconnect"
    );
    let others: Vec<_> = watcher
        .deletes()
        .into_iter()
        .filter(|e| !e.key.starts_with("/services/web/w1/"))
        .collect();
    assert!(
        others.is_empty(),
        "{}",
        agent.context(&format!("w0/w2 touched: {others:?}"))
    );
}

#[test]
fn an_etcd_outage_longer_than_the_ttl_heals_for_every_container() {
    let mut etcd = Etcd::start();
    let case = Case::new();
    let names = keys_of(3);
    let web = run_all(names.iter().map(|k| case.web(k)).collect());
    let agent = spawn(
        &case.host_args(&etcd.sidekick_args(), &["--ttl", "3s"]),
        &[],
    );
    for (k, c) in names.iter().zip(&web) {
        wait_registered(&etcd.access(), k, c.host_port(80), &agent);
    }
    etcd.stop();
    std::thread::sleep(Duration::from_secs(6));
    etcd.resume();
    for (k, c) in names.iter().zip(&web) {
        wait_registered(&etcd.access(), k, c.host_port(80), &agent);
    }
    // And they stay (three TTLs).
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(9) {
        for k in &names {
            if let Ok(got) = etcd.access().try_get_prefix_blocking(&format!("{k}/")) {
                assert_eq!(
                    got.len(),
                    5,
                    "{}",
                    agent.context(&format!("{k} lapsed: {got:?}"))
                );
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
