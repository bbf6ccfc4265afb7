//! One prefix, one owner: a restarted agent takes over from its SIGKILLed predecessor without two
//! leases' worth of keys, and a second agent wrongly pointed at the same key waits instead of
//! flapping the keys.

use std::time::Duration;

use crate::*;
use testkit::docker::{Container, ContainerOpts};
use testkit::docker_proxy::DockerProxy;
use testkit::etcd::{Etcd, Watcher};

/// Until all five keys stand on a lease other than `old_lease`.
fn wait_keys_off_lease(etcd: &Etcd, old_lease: i64, deadline: Duration) {
    testkit::wait_until(deadline, "keys on a new lease", || {
        let k = keys(&etcd.access(), KEY);
        k.len() == 5 && k.values().all(|(_, l)| *l != old_lease)
    });
}

#[test]
fn a_restarted_agent_takes_over_from_its_killed_predecessor_at_once() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let port = web.host_port(80);
    let args = run_args(&etcd.sidekick_args(), web.name(), KEY, &["--ttl", "10s"]);
    let mut old = spawn(&args, &[]);
    let before = wait_registered(&etcd.access(), KEY, port, &old);
    let old_lease = before.values().next().unwrap().1;
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    old.sigkill();
    // Like systemd's Restart=: the new agent starts once the old process is gone.
    assert!(old.wait_exit(Duration::from_secs(5)).is_some());
    let new = spawn(&args, &[]);

    // Well within the old lease's 10 s: all keys move to the new lease, the old lease is revoked.
    wait_keys_off_lease(&etcd, old_lease, Duration::from_secs(5));
    testkit::wait_until(Duration::from_secs(5), "old lease revoked", || {
        etcd.access().lease_ttl_blocking(old_lease).is_none()
    });
    assert!(
        watcher.deletes().is_empty(),
        "{}",
        new.context("the takeover must not drop the keys")
    );
    assert_stays_registered(&etcd.access(), KEY, port, Duration::from_secs(2), &new);
}

#[test]
fn a_restarted_agent_that_cannot_reach_docker_yet_leaves_the_keys_alone() {
    let etcd = Etcd::start();
    let proxy = DockerProxy::start();
    let web = Container::run(ContainerOpts::web());
    let port = web.host_port(80);
    let args = run_args(&etcd.sidekick_args(), web.name(), KEY, &["--ttl", "10s"]);
    let host = proxy.docker_host();
    let env = [("DOCKER_HOST", host.as_str())];
    let mut old = spawn(&args, &env);
    let before = wait_registered(&etcd.access(), KEY, port, &old);
    let old_lease = before.values().next().unwrap().1;
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    proxy.sever();
    old.sigkill();
    assert!(old.wait_exit(Duration::from_secs(5)).is_some());
    // The new agent knows nothing about the container yet: it must not treat that as "absent".
    let new = spawn(&args, &env);
    wait_log(&new, "lost docker");
    assert_stays_registered(&etcd.access(), KEY, port, Duration::from_secs(2), &new);
    assert!(
        watcher.deletes().is_empty(),
        "{}",
        new.context("an agent blind to docker dropped the keys")
    );
    assert!(new.logs().contains("docker has not answered yet"));
    proxy.restore();
    wait_keys_off_lease(&etcd, old_lease, Duration::from_secs(10));
}

#[test]
fn a_second_agent_on_the_same_key_waits_and_never_touches_the_keys() {
    let etcd = Etcd::start();
    let web1 = Container::run(ContainerOpts::web());
    let web2 = Container::run(ContainerOpts::web());
    let (p1, p2) = (web1.host_port(80), web2.host_port(80));
    let mut first = spawn(
        &run_args(&etcd.sidekick_args(), web1.name(), KEY, &["--ttl", "3s"]),
        &[],
    );
    wait_registered(&etcd.access(), KEY, p1, &first);
    let watcher = Watcher::start(&etcd.endpoints(), "/services/");
    let second = spawn(
        &run_args(&etcd.sidekick_args(), web2.name(), KEY, &["--ttl", "3s"]),
        &[],
    );
    wait_log(&second, "another sidekick owns this --key");
    assert_stays_registered(&etcd.access(), KEY, p1, Duration::from_secs(3), &second);
    assert!(
        watcher.events().is_empty(),
        "{}",
        second.context("the second agent changed the keys")
    );
    // When the first goes away cleanly, the second takes over.
    first.sigterm();
    wait_registered(&etcd.access(), KEY, p2, &second);
}

/// Removes one of the agent's keys so its next resync has something to write (the ownership guard
/// only decides writes).
fn drift(etcd: &Etcd) {
    let access = etcd.access();
    testkit::rt::block_on(async move {
        let mut c = access.client().await;
        c.delete(format!("{KEY}/port"), None)
            .await
            .expect("delete a key");
    });
}

#[test]
fn a_refused_write_names_another_agent_only_when_there_is_one() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let port = web.host_port(80);
    let args = run_args(
        &etcd.sidekick_args(),
        web.name(),
        KEY,
        &["--ttl", "10s", "--resync-interval", "1s"],
    );
    let agent = spawn(&args, &[]);
    wait_registered(&etcd.access(), KEY, port, &agent);
    let owner_key = format!("/{}/owners{KEY}", sidekick::registry::key::RESERVED_ROOT);

    // Nobody holds the owner key (as after the agent's lease expired): say so, claim it again.
    let (access, key) = (etcd.access(), owner_key.clone());
    testkit::rt::block_on(async move {
        let mut c = access.client().await;
        c.delete(key, None).await.expect("delete the owner key");
    });
    drift(&etcd);
    wait_log(&agent, "ownership record is gone");
    wait_registered(&etcd.access(), KEY, port, &agent);
    assert!(
        !agent.logs().contains("another agent"),
        "{}",
        agent.context("no other agent exists")
    );

    // Another agent's record under another lease: name it.
    let other = r#"{"agent":"x","host":"core99","container":"other","pid":1,"started_ms":1}"#;
    let (access, key) = (etcd.access(), owner_key);
    testkit::rt::block_on(async move {
        let mut c = access.client().await;
        let lease = c.lease_grant(30, None).await.expect("grant a lease").id();
        let put = etcd_client::PutOptions::new().with_lease(lease);
        c.put(key, other, Some(put))
            .await
            .expect("put another agent's record");
    });
    drift(&etcd);
    wait_log(&agent, "lost ownership of the key to another agent");
    let named = agent
        .logs()
        .lines()
        .any(|l| l.contains("lost ownership") && l.contains("core99"));
    assert!(named, "{}", agent.context("the holder is named"));
}
