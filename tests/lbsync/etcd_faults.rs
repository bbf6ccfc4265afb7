//! lbsync through etcd faults: the etcd leader killed under it, and a full etcd outage longer than
//! its leadership TTL. It must keep (or regain) leadership and keep reconciling.

use std::time::Duration;

use clb_emulator::Config;

use crate::*;
use testkit::agent::AgentProcess;
use testkit::etcd::{Etcd, EtcdCluster};
use testkit::wait_until;

fn spawn_with(emu: &Emu, dir: &std::path::Path, etcd_args: &[String]) -> AgentProcess {
    let args = lbsync_args(emu, dir, etcd_args, &["--ttl", "3s"]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    AgentProcess::spawn(&argv, &[])
}

fn wait_nodes(
    emu: &Emu,
    lb: u64,
    want: &std::collections::BTreeSet<String>,
    d: Duration,
    p: &AgentProcess,
) {
    let ok = testkit::wait::poll_until(d, || addresses(emu, lb) == *want);
    assert!(
        ok,
        "{}",
        p.context(&format!(
            "LB nodes {:?} never became {want:?}",
            addresses(emu, lb)
        ))
    );
}

#[test]
fn lbsync_keeps_reconciling_when_the_etcd_leader_is_killed() {
    let mut cluster = EtcdCluster::start(3);
    let emu = start_emu(Config::default());
    let lb = emu.api.create_load_balancer(LB);
    let dir = key_dir();
    register_all(&cluster.access(), &addrs(0..3));
    let lbsync = spawn_with(&emu, dir.path(), &cluster.sidekick_args());
    wait_nodes(&emu, lb, &addrs(0..3), CONVERGE, &lbsync);
    let leader = cluster.leader_index();
    cluster.kill(leader);
    let survivors = cluster
        .access()
        .with_endpoints(&cluster.endpoints_except(leader));
    register_all(&survivors, &addrs(0..5));
    wait_nodes(&emu, lb, &addrs(0..5), Duration::from_secs(20), &lbsync);
    assert_eq!(emu.api.stats().duplicate, 0);
}

#[test]
fn lbsync_recovers_from_a_full_etcd_outage_longer_than_its_ttl() {
    let mut etcd = Etcd::start();
    let emu = start_emu(Config::default());
    let lb = emu.api.create_load_balancer(LB);
    let dir = key_dir();
    register_all(&etcd.access(), &addrs(0..3));
    let lbsync = spawn_with(&emu, dir.path(), &etcd.sidekick_args());
    wait_nodes(&emu, lb, &addrs(0..3), CONVERGE, &lbsync);
    etcd.stop();
    std::thread::sleep(Duration::from_secs(6));
    // Nothing is torn down while etcd is away: the LB keeps serving what it had.
    assert_eq!(addresses(&emu, lb), addrs(0..3));
    etcd.resume();
    register_all(&etcd.access(), &addrs(0..5));
    wait_nodes(&emu, lb, &addrs(0..5), Duration::from_secs(30), &lbsync);
    wait_until(Duration::from_secs(1), "still running", || {
        lbsync.logs().contains("elected leader")
    });
}
