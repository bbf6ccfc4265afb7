//! Convergence: batching, skipping garbage, static nodes, other load balancers, the node limit and
//! the empty-prefix guard.

use std::collections::BTreeSet;
use std::time::Duration;

use clb_emulator::Config;

use crate::*;
use testkit::wait_until;

fn count(s: &clb_emulator::Stats, method: &str, route: &str) -> u64 {
    s.requests_for(method, route, 202)
}

#[test]
fn a_dozen_instances_converge_in_one_post_and_removals_are_batched_by_ten() {
    let rig = Rig::new(Config::default());
    let want = addrs(0..12);
    register_all(&rig.etcd.access(), &want);
    let lbsync = rig.spawn(&[]);
    rig.wait_nodes(&want, CONVERGE, &lbsync);
    let s = rig.emu.api.stats();
    assert_eq!(
        count(&s, "POST", "nodes"),
        1,
        "{}",
        lbsync.context("one POST for all twelve")
    );
    // Remove eleven: one bulk DELETE of ten ids and one single DELETE.
    rig.emu.api.reset_stats();
    // Eleven instances leave at once (one transaction): no debounce, yet one pass sees them all.
    let names: Vec<String> = (1..12).map(|i| format!("/services/web/i{i:03}/")).collect();
    delete_prefixes(&rig.etcd.access(), &names);
    let keep: BTreeSet<String> = want.iter().take(1).cloned().collect();
    rig.wait_nodes(&keep, CONVERGE, &lbsync);
    let s = rig.emu.api.stats();
    assert_eq!(
        (count(&s, "DELETE", "nodes"), count(&s, "DELETE", "node")),
        (1, 1),
        "{}",
        lbsync.context("batched removals")
    );
    assert_eq!(s.duplicate + s.immutable, 0);
}

#[test]
fn incomplete_and_garbage_instances_are_skipped_with_one_warning_each() {
    let rig = Rig::new(Config::default());
    let want = addrs(0..3);
    register_all(&rig.etcd.access(), &want);
    let e = rig.etcd.access();
    e.put_blocking("/services/web/bad1/public_ipv4_addr", "not-an-ip");
    e.put_blocking("/services/web/bad1/port", "18001");
    e.put_blocking("/services/web/bad2/public_ipv4_addr", "10.9.9.9");
    e.put_blocking("/services/web/bad2/port", "70000");
    e.put_blocking("/services/web/half/unit", "monweb@half.service");
    e.put_blocking("/services/web/blob", "{not json");
    let lbsync = rig.spawn(&[]);
    rig.wait_nodes(&want, CONVERGE, &lbsync);
    // Several resyncs later: still running, still one warning per bad key.
    std::thread::sleep(Duration::from_millis(4500));
    let logs = lbsync.logs();
    for key in [
        "/services/web/bad1/public_ipv4_addr",
        // A bad port is reported against the port key.
        "/services/web/bad2/port",
        "/services/web/blob",
    ] {
        assert_eq!(
            logs.matches(&format!("key={key} ")).count(),
            1,
            "{}",
            lbsync.context(key)
        );
    }
    assert!(
        logs.contains("no public_ipv4_addr key"),
        "the incomplete one is named"
    );
    assert_eq!(rig.nodes(), want);
}

#[test]
fn static_nodes_and_other_load_balancers_are_never_touched_but_drift_is_repaired() {
    let rig = Rig::new(Config::default());
    let placeholder = rig.emu.api.add_node_direct(rig.lb, "1.1.1.1", 80);
    let other = rig.emu.api.create_load_balancer("other-lb");
    rig.emu.api.add_node_direct(other, "10.50.0.1", 80);
    let want = addrs(0..4);
    register_all(&rig.etcd.access(), &want);
    let lbsync = rig.spawn(&["--static-node", "1.1.1.1:80"]);
    let mut with_static = want.clone();
    with_static.insert("1.1.1.1:80".into());
    rig.wait_nodes(&with_static, CONVERGE, &lbsync);
    // Drift by hand: a stray node appears; the periodic resync removes it, leaving the static one.
    rig.emu.api.add_node_direct(rig.lb, "10.77.0.1", 8080);
    rig.wait_nodes(&with_static, Duration::from_secs(10), &lbsync);
    assert!(rig
        .emu
        .api
        .nodes(rig.lb)
        .iter()
        .any(|n| n.id == placeholder));
    assert_eq!(
        addresses(&rig.emu, other),
        BTreeSet::from(["10.50.0.1:80".to_string()])
    );
    assert!(rig
        .emu
        .api
        .stats()
        .mutations
        .iter()
        .all(|m| m.lb_id == rig.lb));
}

#[test]
fn reaching_the_node_limit_reports_once_and_does_not_hot_loop() {
    let rig = Rig::new(Config::default());
    let want = addrs(0..30);
    register_all(&rig.etcd.access(), &want);
    let lbsync = rig.spawn(&[]);
    wait_until(CONVERGE, "25 nodes", || rig.nodes().len() == 25);
    rig.emu.api.reset_stats();
    std::thread::sleep(Duration::from_secs(5));
    let s = rig.emu.api.stats();
    // Two or three resyncs at 2 s: a handful of reads, no writes, no 413s.
    assert!(
        s.total_requests() <= 8,
        "{}",
        lbsync.context(&format!(
            "{} requests in 5 s: {:?}",
            s.total_requests(),
            s.requests
        ))
    );
    assert_eq!(s.node_limit, 0);
    assert_eq!(
        lbsync
            .logs()
            .matches("do not fit under the load balancer's node limit")
            .count(),
        1,
        "{}",
        lbsync.context("reported once")
    );
    assert!(lbsync.logs().contains("count=5"), "names how many stay out");
}

#[test]
fn an_empty_prefix_keeps_the_nodes_unless_allowed() {
    let rig = Rig::new(Config::default());
    let want = addrs(0..3);
    register_all(&rig.etcd.access(), &want);
    let lbsync = rig.spawn(&[]);
    rig.wait_nodes(&want, CONVERGE, &lbsync);
    delete_prefix(&rig.etcd.access(), "/services/web/");
    wait_until(Duration::from_secs(10), "the guard's error", || {
        lbsync.logs().contains("registry prefix is empty")
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rig.nodes(), want, "{}", lbsync.context("guard"));
    assert!(
        lbsync.logs().matches("registry prefix is empty").count() >= 2,
        "logged again at each resync"
    );
    // A clean stop resigns, so the next instance leads at once instead of after the TTL.
    let mut lbsync = lbsync;
    lbsync.sigterm();
    assert!(
        lbsync.wait_exit(Duration::from_secs(5)).is_some(),
        "lbsync exits on SIGTERM"
    );
    let allowed = rig.spawn(&["--allow-empty"]);
    rig.wait_nodes(&BTreeSet::new(), CONVERGE, &allowed);
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let rig = Rig::new(Config::default());
    rig.emu.api.add_node_direct(rig.lb, "10.77.0.1", 8080);
    register_all(&rig.etcd.access(), &addrs(0..2));
    let args = rig.args(&["--dry-run"]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = testkit::agent::run_to_completion(&argv, &[], Duration::from_secs(20));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("add     10.0.0.1:18000") && stdout.contains("add     10.0.0.2:18001"),
        "{stdout}"
    );
    assert!(
        stdout.contains("remove  node") && stdout.contains("10.77.0.1:8080"),
        "{stdout}"
    );
    assert_eq!(rig.nodes(), BTreeSet::from(["10.77.0.1:8080".to_string()]));
    assert!(rig.emu.api.stats().mutations.is_empty());
}
