//! lbsync under faults: a flaky API with short tokens and PENDING windows, expired tokens, leader
//! failover between two instances, and secrets kept out of the logs.

use std::collections::BTreeSet;
use std::time::Duration;

use clb_emulator::Config;

use crate::*;
use testkit::wait_until;

#[test]
fn converges_through_30_percent_5xx_2s_tokens_pending_windows_and_rate_limits() {
    let config = Config {
        fail_rate: 0.3,
        token_ttl: Duration::from_secs(2),
        pending_update: Duration::from_millis(200),
        rate_limits: true,
        seed: Some(7),
        ..Config::default()
    };
    let rig = Rig::new(config);
    let want = addrs(0..12);
    register_all(&rig.etcd.access(), &want);
    let lbsync = rig.spawn(&[]);
    rig.wait_nodes(&want, Duration::from_secs(60), &lbsync);
    // Outlive the token, then change the set under the same chaos: four leave, two arrive.
    std::thread::sleep(Duration::from_millis(2500));

    for i in 0..4 {
        delete_prefix(&rig.etcd.access(), &format!("/services/web/i{i:03}/"));
    }
    let extra = addrs(100..102);
    let items: Vec<(String, String)> = extra
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("x{i}"), a.clone()))
        .collect();
    register(&rig.etcd.access(), "/services/web/", &items);
    let mut next: BTreeSet<String> = want.iter().skip(4).cloned().collect();
    next.extend(extra);
    rig.wait_nodes(&next, Duration::from_secs(60), &lbsync);
    let s = rig.emu.api.stats();
    assert!(s.injected_faults > 0, "the chaos was real");
    assert!(s.auth_calls > 1, "tokens were renewed");
    assert_eq!(
        s.duplicate,
        0,
        "{}",
        lbsync.context("no duplicate-node 422s")
    );
    assert!(
        lbsync.logs().contains("retrying"),
        "transient errors are logged"
    );
}

#[test]
fn an_expired_token_is_renewed_and_the_change_still_lands() {
    let rig = Rig::new(Config::default());
    let want = addrs(0..2);
    register_all(&rig.etcd.access(), &want);
    let lbsync = rig.spawn(&[]);
    rig.wait_nodes(&want, CONVERGE, &lbsync);
    rig.emu.api.expire_tokens();
    let more = addrs(0..3);
    register_all(&rig.etcd.access(), &more);
    rig.wait_nodes(&more, CONVERGE, &lbsync);
    assert!(rig.emu.api.stats().unauthorized >= 1);
}

#[test]
fn a_standby_takes_over_when_the_leader_dies_with_no_duplicate_nodes() {
    let rig = Rig::new(Config {
        pending_update: Duration::from_millis(100),
        ..Config::default()
    });
    let want = addrs(0..10);
    register_all(&rig.etcd.access(), &want);
    let mut a = rig.spawn(&["--ttl", "3s"]);
    wait_until(CONVERGE, "a leads", || a.logs().contains("elected leader"));
    let b = rig.spawn(&["--ttl", "3s"]);
    wait_until(CONVERGE, "b stands by", || b.logs().contains("standing by"));
    rig.wait_nodes(&want, CONVERGE, &a);
    a.sigkill();
    let more = addrs(0..15);
    register_all(&rig.etcd.access(), &more);
    // Within about one TTL (3 s) plus a pass.
    rig.wait_nodes(&more, Duration::from_secs(10), &b);
    assert!(
        b.logs().contains("elected leader"),
        "{}",
        b.context("b took over")
    );
    let s = rig.emu.api.stats();
    assert_eq!(s.duplicate, 0, "{}", b.context("no duplicate-node 422s"));
    // A clean stop hands over at once: b resigns, a fresh c leads immediately.
    let mut b = b;
    b.sigterm();
    assert!(b
        .wait_exit(Duration::from_secs(5))
        .is_some_and(|s| s.success()));
    let c = rig.spawn(&["--ttl", "3s"]);
    wait_until(Duration::from_secs(3), "c leads at once", || {
        c.logs().contains("elected leader")
    });
}

#[test]
fn no_secret_reaches_the_logs_even_at_debug() {
    let rig = Rig::new(Config::default());
    register_all(&rig.etcd.access(), &addrs(0..2));
    let args = rig.args(&[]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut lbsync = testkit::agent::AgentProcess::spawn(&argv, &[("RUST_LOG", "debug")]);
    rig.wait_nodes(&addrs(0..2), CONVERGE, &lbsync);
    rig.emu.api.expire_tokens();
    register_all(&rig.etcd.access(), &addrs(0..3));
    rig.wait_nodes(&addrs(0..3), CONVERGE, &lbsync);
    lbsync.sigterm();
    let _ = lbsync.wait_exit(Duration::from_secs(5));
    let logs = lbsync.logs();
    assert!(logs.contains("DEBUG"), "debug logging was on");
    assert!(!logs.contains(API_KEY), "the API key leaked");
    assert!(!logs.contains("demo-password"));
    assert!(
        !logs.to_ascii_lowercase().contains("x-auth-token: "),
        "a token header leaked"
    );
}

#[test]
fn a_world_readable_key_file_is_warned_about() {
    let rig = Rig::new(Config::default());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        rig.dir.path().join("api-key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let lbsync = rig.spawn(&[]);
    wait_until(CONVERGE, "the permission warning", || {
        lbsync.logs().contains("readable by group or others")
    });
}
