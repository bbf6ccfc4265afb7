//! The agent under faults: its own death, etcd leader loss and full outage, a severed Docker
//! socket with a restart during the cut, a Docker socket that appears only after the agent
//! started, and TLS + auth.

use std::time::{Duration, Instant};

use crate::*;
use testkit::docker::{Container, ContainerOpts};
use testkit::docker_proxy::DockerProxy;
use testkit::etcd::{Etcd, EtcdCluster, EtcdOptions, Watcher};

#[test]
fn sigterm_revokes_the_lease_at_once_and_exits_0() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let mut agent = spawn(&run_args(&etcd.sidekick_args(), web.name(), KEY, &[]), &[]);
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
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
        keys(&etcd.access(), KEY).is_empty(),
        "keys gone by the time it exited ({:?})",
        t.elapsed()
    );
    assert!(
        etcd.access()
            .get_prefix_blocking("/sidekick/owners/")
            .is_empty(),
        "ownership released too"
    );
}

#[test]
fn after_sigkill_the_keys_expire_within_the_ttl() {
    let etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let mut agent = spawn(
        &run_args(&etcd.sidekick_args(), web.name(), KEY, &["--ttl", "3s"]),
        &[],
    );
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
    agent.sigkill();
    let t = Instant::now();
    assert_eq!(
        keys(&etcd.access(), KEY).len(),
        5,
        "still there right after the kill"
    );
    wait_gone(
        &etcd.access(),
        KEY,
        Duration::from_secs(3) + Duration::from_millis(1500),
        &agent,
        "TTL 3s after SIGKILL",
    );
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "gone only through expiry, after {:?}",
        t.elapsed()
    );
}

#[test]
fn killing_the_etcd_leader_never_drops_the_keys() {
    let mut cluster = EtcdCluster::start(3);
    let web = Container::run(ContainerOpts::web());
    let port = web.host_port(80);
    let agent = spawn(
        &run_args(&cluster.sidekick_args(), web.name(), KEY, &["--ttl", "4s"]),
        &[],
    );
    wait_registered(&cluster.access(), KEY, port, &agent);
    let leader = cluster.leader_index();
    let watcher = Watcher::start(&cluster.endpoints_except(leader), "/services/");
    cluster.kill(leader);
    // Three TTLs through a leader election: the lease must be kept alive by the survivors.
    let survivors = cluster
        .access()
        .with_endpoints(&cluster.endpoints_except(leader));
    assert_stays_registered(&survivors, KEY, port, Duration::from_secs(12), &agent);
    assert!(
        watcher.deletes().is_empty(),
        "{}",
        agent.context(&format!("a watcher saw DELETEs: {:?}", watcher.deletes()))
    );
}

#[test]
fn a_full_etcd_outage_longer_than_the_ttl_heals() {
    let mut etcd = Etcd::start();
    let web = Container::run(ContainerOpts::web());
    let port = web.host_port(80);
    let agent = spawn(
        &run_args(&etcd.sidekick_args(), web.name(), KEY, &["--ttl", "3s"]),
        &[],
    );
    wait_registered(&etcd.access(), KEY, port, &agent);
    etcd.stop();
    std::thread::sleep(Duration::from_secs(6));
    etcd.resume();
    wait_registered(&etcd.access(), KEY, port, &agent);
    // And they stay: the agent re-opened its keepalive (or re-granted and rewrote).
    assert_stays_registered(&etcd.access(), KEY, port, Duration::from_secs(8), &agent);
    assert!(
        agent.logs().contains("keepalive"),
        "{}",
        agent.context("no keepalive recovery logged")
    );
}

#[test]
fn a_severed_docker_socket_with_a_restart_during_the_cut_is_caught_up() {
    let etcd = Etcd::start();
    let proxy = DockerProxy::start();
    let web = Container::run(ContainerOpts::web());
    let args = run_args(
        &etcd.sidekick_args(),
        web.name(),
        KEY,
        &["--health-interval", "300ms"],
    );
    let agent = spawn(&args, &[("DOCKER_HOST", &proxy.docker_host())]);
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
    proxy.sever();
    // Said whether the cut met the event stream ("...; reconnecting", then this) or the
    // re-subscription by container id that follows the first registration.
    wait_log(&agent, "lost docker");
    // During the cut the container stops (probes fail: keys go) and comes back on a new port.
    web.stop();
    wait_gone(
        &etcd.access(),
        KEY,
        SOON,
        &agent,
        "probes fail while docker is unreachable",
    );
    web.start();
    let new_port = web.host_port(80);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        keys(&etcd.access(), KEY).is_empty(),
        "nothing registered blind while docker is cut off"
    );
    proxy.restore();
    wait_registered(&etcd.access(), KEY, new_port, &agent);
    assert!(
        proxy.connections_refused() > 0,
        "the agent really tried to reconnect"
    );
}

#[test]
fn a_docker_socket_that_appears_after_the_agent_started_is_waited_for() {
    let etcd = Etcd::start();
    let proxy = DockerProxy::start();
    let web = Container::run(ContainerOpts::web());
    let dir = tempfile::tempdir().unwrap();
    let late = dir.path().join("docker.sock");
    let host = format!("unix://{}", late.display());
    let mut agent = spawn(
        &run_args(&etcd.sidekick_args(), web.name(), KEY, &[]),
        &[("DOCKER_HOST", &host)],
    );
    wait_log(&agent, "waiting for the docker socket");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        agent.is_running(),
        "{}",
        agent.context("exited instead of waiting for Docker (a boot where it starts first)")
    );
    assert!(keys(&etcd.access(), KEY).is_empty());
    std::os::unix::fs::symlink(proxy.socket_path(), &late).unwrap();
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
    agent.sigterm();
    assert!(agent
        .wait_exit(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
}

#[test]
fn a_sigterm_while_waiting_for_the_docker_socket_exits_0() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let host = format!("unix://{}", dir.path().join("docker.sock").display());
    let mut agent = spawn(
        &run_args(&etcd.sidekick_args(), "web", KEY, &[]),
        &[("DOCKER_HOST", &host)],
    );
    wait_log(&agent, "waiting for the docker socket");
    agent.sigterm();
    let status = agent.wait_exit(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "{}",
        agent.context(&format!("exit status {status:?}"))
    );
}

#[test]
fn works_against_etcd_with_tls_client_certificates_and_a_password() {
    let etcd = Etcd::start_with(EtcdOptions::new().tls().auth("root", "s3cret-pw"));
    let web = Container::run(ContainerOpts::web());
    let mut agent = spawn(&run_args(&etcd.sidekick_args(), web.name(), KEY, &[]), &[]);
    wait_registered(&etcd.access(), KEY, web.host_port(80), &agent);
    assert!(
        !agent.logs().contains("s3cret-pw"),
        "the password never reaches the logs"
    );
    agent.sigterm();
    assert!(agent
        .wait_exit(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    assert!(keys(&etcd.access(), KEY).is_empty());
}
