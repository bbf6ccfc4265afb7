//! An idle `sidekick run` and an idle `sidekick lbsync` cause no raft proposals: etcd's raft
//! index does not move while nothing changes (keepalives, watches and reads are not proposals).
//! The 60 s figure is in `scripts/bench` (figure "idle raft proposals").

use std::time::Duration;

use crate::*;
use testkit::docker::{Container, ContainerOpts};
use testkit::etcd::{raft_index, Etcd};

#[test]
fn an_idle_agent_and_an_idle_lbsync_make_no_raft_proposals() {
    let etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let web = Container::run(ContainerOpts::web());
    let port = web.host_port(80);
    let etcd_args = etcd.sidekick_args();
    // Short TTLs and resync: many keepalives and re-reads in the window, still no writes.
    let agent = spawn(&run_args(
        &etcd_args,
        web.name(),
        KEY,
        &["--ttl", "3s", "--resync-interval", "2s"],
    ));
    let lbsync = spawn(&lbsync_args(
        dir.path(),
        &etcd_args,
        &["--ttl", "3s", "--resync-interval", "2s"],
    ));
    wait_registered(&etcd.access(), KEY, &agent, SOON);
    wait_log(&lbsync, "elected leader", SOON);
    wait_upstream(dir.path(), &format!(":{port}"), &lbsync, SOON);
    // Let the first probes pass and settle.
    std::thread::sleep(Duration::from_secs(2));
    let before = raft_index(&etcd.access());
    std::thread::sleep(Duration::from_secs(10));
    let after = raft_index(&etcd.access());
    assert_eq!(
        after - before,
        0,
        "{}\n{}",
        agent.context("raft proposals while idle"),
        lbsync.context("")
    );
}
