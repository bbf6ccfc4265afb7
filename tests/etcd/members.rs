//! A 3-member cluster with one member stopped: the work stays on the members that answer (the
//! first endpoint down at start, or the member in use stopped while running), and the log says
//! so once instead of a warning and a "recovered" for every call that went to the dead member.

use std::time::{Duration, Instant};

use crate::*;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::EtcdCluster;

/// How long the log is watched with a member down.
const WINDOW: Duration = Duration::from_secs(10);

#[test]
fn with_the_first_endpoint_down_at_start_the_work_goes_to_the_others_quietly() {
    let mut cluster = EtcdCluster::start(3);
    cluster.stop(0);
    let survivors = cluster
        .access()
        .with_endpoints(&cluster.endpoints_except(0));
    let dir = tempfile::tempdir().unwrap();
    let web = Container::run(ContainerOpts::web());
    let port = web.host_port(80);
    let etcd_args = cluster.sidekick_args();
    let agent = spawn(&run_args(&etcd_args, web.name(), KEY, &["--ttl", "3s"]));
    let lbsync = spawn(&lbsync_args(dir.path(), &etcd_args, &["--ttl", "3s"]));
    wait_registered(&survivors, KEY, &agent, SOON);
    wait_log(&lbsync, "elected leader", SOON);
    wait_upstream(dir.path(), &format!(":{port}"), &lbsync, SOON);
    let (a0, l0) = (agent.logs().lines().count(), lbsync.logs().lines().count());
    let start = Instant::now();
    register(&survivors, "web02", "10.9.8.7:8080");
    wait_upstream(dir.path(), "10.9.8.7:8080", &lbsync, WINDOW);
    std::thread::sleep(WINDOW.saturating_sub(start.elapsed()));
    let (a, l) = (refused_lines(&agent, a0), refused_lines(&lbsync, l0));
    eprintln!(
        "first endpoint down: {} agent and {} lbsync log lines mention a refused connection over {WINDOW:?}",
        a.len(),
        l.len()
    );
    assert!(a.is_empty(), "{}", agent.context(&format!("{a:#?}")));
    assert!(l.is_empty(), "{}", lbsync.context(&format!("{l:#?}")));
    assert_eq!(keys(&survivors, KEY).len(), 5);
}

#[test]
fn stopping_the_member_in_use_moves_the_work_and_says_so_once() {
    let mut cluster = EtcdCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let web = Container::run(ContainerOpts::web());
    let port = web.host_port(80);
    let etcd_args = cluster.sidekick_args();
    let agent = spawn(&run_args(&etcd_args, web.name(), KEY, &["--ttl", "3s"]));
    let lbsync = spawn(&lbsync_args(dir.path(), &etcd_args, &["--ttl", "3s"]));
    wait_registered(&cluster.access(), KEY, &agent, SOON);
    wait_log(&lbsync, "elected leader", SOON);
    wait_upstream(dir.path(), &format!(":{port}"), &lbsync, SOON);
    let (a0, l0) = (agent.logs().lines().count(), lbsync.logs().lines().count());
    // Both start on the first endpoint that answers: member 0.
    cluster.stop(0);
    let survivors = cluster
        .access()
        .with_endpoints(&cluster.endpoints_except(0));
    let start = Instant::now();
    register(&survivors, "web02", "10.9.8.7:8080");
    wait_upstream(dir.path(), "10.9.8.7:8080", &lbsync, WINDOW);
    std::thread::sleep(WINDOW.saturating_sub(start.elapsed()));
    let (a, l) = (refused_lines(&agent, a0), refused_lines(&lbsync, l0));
    eprintln!(
        "member in use stopped: {} agent and {} lbsync log lines mention a refused connection over {WINDOW:?}",
        a.len(),
        l.len()
    );
    assert!(a.len() <= 2, "{}", agent.context(&format!("{a:#?}")));
    assert!(l.len() <= 2, "{}", lbsync.context(&format!("{l:#?}")));
    assert_eq!(
        keys(&survivors, KEY).len(),
        5,
        "the keys outlived the member"
    );
}
