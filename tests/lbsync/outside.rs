//! lbsync against what it meets outside the lab (issue 8): an etcd rebuilt empty, credentials
//! refused at start, unusable addresses in the registry, a registry far above the node limit,
//! node draining, and a prefix above gRPC's 4 MiB message limit (issue 14).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clb_emulator::Config;
use testkit::agent::AgentProcess;
use testkit::etcd::{Etcd, EtcdAccess};
use testkit::wait_until;

use crate::*;

/// `sidekick lbsync --backend nginx` writing into `dir` (check and reload always succeed: the
/// file is the backend here).
fn spawn_nginx(etcd: &Etcd, dir: &std::path::Path, extra: &[&str]) -> (AgentProcess, PathBuf) {
    let file = dir.join("upstream.conf");
    let mut flags = vec!["--election-ttl", "2s"];
    flags.extend_from_slice(extra);
    let args = testkit::agent::lbsync_nginx_args(&file, &etcd.sidekick_args(), &flags);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    (AgentProcess::spawn(&argv, &[]), file)
}

fn upstream(file: &std::path::Path) -> BTreeSet<SocketAddr> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    sidekick::nginx::parse("web", &text).servers
}

/// Registers `n` instances `i00000..` with addresses 10.X.Y.Z:8080, 25 instances per transaction.
fn register_many(etcd: &EtcdAccess, n: usize) -> BTreeSet<SocketAddr> {
    let items: Vec<(String, String)> = (0..n)
        .map(|i| {
            let addr = format!(
                "10.{}.{}.{}:8080",
                1 + i / 60000,
                (i / 240) % 250,
                i % 240 + 1
            );
            (format!("i{i:05}"), addr)
        })
        .collect();
    let all = items
        .iter()
        .map(|(name, addr)| {
            let addr = addr.parse().expect("a test address");
            testkit::instances::Instance::new("/services/web/", name, addr, "core01")
        })
        .collect();
    testkit::instances::register(etcd, all, 25);
    items.iter().map(|(_, a)| a.parse().unwrap()).collect()
}

#[test]
fn a_change_reaches_the_backend_within_a_second_after_etcd_is_rebuilt_empty() {
    let mut etcd = Etcd::start();
    let dir = tempfile::tempdir().unwrap();
    let (lbsync, file) = spawn_nginx(&etcd, dir.path(), &[]);
    let first: SocketAddr = "10.9.0.1:80".parse().unwrap();
    register(
        &etcd.access(),
        "/services/web/",
        &[("a".into(), first.to_string())],
    );
    let ok = testkit::wait::poll_until(CONVERGE, || upstream(&file).contains(&first));
    assert!(ok, "{}", lbsync.context("first instance never served"));
    // Push the revision well above what a fresh etcd will have.
    for i in 0..60 {
        etcd.access().put_blocking(&format!("/elsewhere/k{i}"), "x");
    }
    etcd.rebuild_empty();
    // Give the watch a moment to reconnect, as a real rebuild takes far longer than this.
    std::thread::sleep(Duration::from_millis(1500));
    let second: SocketAddr = "10.9.0.2:80".parse().unwrap();
    let t0 = Instant::now();
    register(
        &etcd.access(),
        "/services/web/",
        &[("b".into(), second.to_string())],
    );
    let ok = testkit::wait::poll_until(Duration::from_secs(10), || {
        upstream(&file).contains(&second)
    });
    let took = t0.elapsed();
    assert!(
        ok,
        "{}",
        lbsync.context("the change after the rebuild never arrived")
    );
    assert!(
        took < Duration::from_secs(1),
        "{}",
        lbsync.context(&format!("the change after the rebuild took {took:?}"))
    );
}

#[test]
fn a_prefix_above_grpc_4_mib_is_read_in_pages_and_served_whole() {
    let etcd = Etcd::start();
    let want = register_many(&etcd.access(), 16_500);
    let dir = tempfile::tempdir().unwrap();
    let (lbsync, file) = spawn_nginx(&etcd, dir.path(), &[]);
    let ok = testkit::wait::poll_until(Duration::from_secs(60), || upstream(&file) == want);
    assert!(
        ok,
        "{}",
        lbsync.context(&format!(
            "upstream holds {} of {}",
            upstream(&file).len(),
            want.len()
        ))
    );
    // The info line stays bounded however many servers changed.
    let longest = lbsync
        .logs()
        .lines()
        .filter(|l| l.contains("nginx upstream updated"))
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(
        longest < 2000,
        "{}",
        lbsync.context(&format!("a {longest}-byte log line"))
    );
}

#[test]
fn credentials_rejected_at_start_exit_2_within_seconds() {
    let rig = Rig::new(Config::default());
    std::fs::write(rig.dir.path().join("api-key"), "not-the-key\n").unwrap();
    let mut lbsync = rig.spawn(&[]);
    let status = lbsync.wait_exit(Duration::from_secs(10));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{}",
        lbsync.context("exit status after a 401 at start")
    );
    assert!(
        lbsync.logs().contains("rejected the credentials"),
        "{}",
        lbsync.logs()
    );
    // The last word says the cause once (issue 22: Identity's 401 was printed twice).
    let logs = lbsync.logs();
    let last = logs.lines().rfind(|l| l.starts_with("sidekick: "));
    assert!(
        last.is_some_and(|l| l.matches("rejected the credentials").count() == 1),
        "{logs}"
    );
}

#[test]
fn unusable_addresses_never_reach_either_backend_and_each_key_is_named() {
    let rig = Rig::new(Config::default());
    let bad = [
        ("zero", "0.0.0.0:80"),
        ("bcast", "255.255.255.255:80"),
        ("lo6", "[::1]:80"),
        ("lo", "127.0.0.1:80"),
        ("linklocal", "169.254.10.10:80"),
        ("mcast", "224.0.0.5:80"),
    ];
    let mut items: Vec<(String, String)> = bad
        .iter()
        .map(|(n, a)| (n.to_string(), a.to_string()))
        .collect();
    items.push(("good".into(), "10.0.0.7:80".into()));
    register(&rig.etcd.access(), "/services/web/", &items);
    let lbsync = rig.spawn(&[]);
    let want: BTreeSet<String> = ["10.0.0.7:80".to_string()].into();
    rig.wait_nodes(&want, CONVERGE, &lbsync);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        rig.nodes(),
        want,
        "{}",
        lbsync.context("only the usable address")
    );
    let logs = lbsync.logs();
    for (name, _) in bad {
        let key = format!("/services/web/{name}/public_ipv4_addr");
        assert_eq!(
            logs.matches(&key).count(),
            1,
            "{}",
            lbsync.context(&format!("one warning naming {key}"))
        );
    }
    // nginx refuses the same, except loopback (nginx on this host may proxy to it).
    let dir = tempfile::tempdir().unwrap();
    let (nginx, file) = spawn_nginx(&rig.etcd, dir.path(), &[]);
    let served: BTreeSet<SocketAddr> = ["10.0.0.7:80", "127.0.0.1:80", "[::1]:80"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let ok = testkit::wait::poll_until(CONVERGE, || upstream(&file) == served);
    assert!(
        ok,
        "{}",
        nginx.context(&format!("upstream {:?}", upstream(&file)))
    );
}

#[test]
fn three_hundred_instances_over_the_node_limit_log_a_few_short_lines() {
    let rig = Rig::new(Config::default());
    register_many(&rig.etcd.access(), 300);
    let lbsync = rig.spawn(&[]);
    let ok = testkit::wait::poll_until(CONVERGE, || rig.nodes().len() == 25);
    assert!(ok, "{}", lbsync.context("the LB filled up to its limit"));
    std::thread::sleep(Duration::from_secs(5)); // two resyncs
    let logs = lbsync.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("node limit")).collect();
    assert!(
        lines.len() <= 3,
        "{}",
        lbsync.context(&format!("{} node-limit lines", lines.len()))
    );
    assert!(
        lines.iter().all(|l| l.len() < 1500),
        "{}",
        lbsync.context("short lines")
    );
    assert!(
        logs.len() < 20_000,
        "{}",
        lbsync.context("the whole log stays small")
    );
}

#[test]
fn a_removed_instance_drains_first_and_one_that_comes_back_is_enabled_again() {
    let rig = Rig::new(Config::default());
    let want = addrs(0..3);
    register_all(&rig.etcd.access(), &want);
    let lbsync = rig.spawn(&["--drain-period", "3s"]);
    rig.wait_nodes(&want, CONVERGE, &lbsync);
    let condition = |addr: &str| {
        rig.emu
            .api
            .nodes(rig.lb)
            .into_iter()
            .find(|n| format!("{}:{}", n.address, n.port) == addr)
            .map(|n| n.condition)
    };
    let gone = want.iter().next().unwrap().clone();
    let back = want.iter().nth(1).unwrap().clone();
    delete_prefix(&rig.etcd.access(), "/services/web/i000/");
    delete_prefix(&rig.etcd.access(), "/services/web/i001/");
    let ok = testkit::wait::poll_until(Duration::from_secs(2), || {
        condition(&gone).as_deref() == Some("DRAINING")
            && condition(&back).as_deref() == Some("DRAINING")
    });
    assert!(
        ok,
        "{}",
        lbsync.context("both leaving nodes DRAINING, still on the LB")
    );
    register(
        &rig.etcd.access(),
        "/services/web/",
        &[("i001".into(), back.clone())],
    );
    let ok = testkit::wait::poll_until(Duration::from_secs(2), || {
        condition(&back).as_deref() == Some("ENABLED")
    });
    assert!(
        ok,
        "{}",
        lbsync.context("the instance that came back is ENABLED again")
    );
    let mut left = want.clone();
    left.remove(&gone);
    rig.wait_nodes(&left, Duration::from_secs(8), &lbsync);
}

#[test]
fn the_get_budget_holds_across_a_burst_of_changes_during_pending_windows() {
    let rig = Rig::new(Config {
        pending_update: Duration::from_millis(300),
        ..Config::default()
    });
    let lbsync = rig.spawn(&["--allow-empty"]);
    let done = std::sync::atomic::AtomicBool::new(false);
    let gets = || rig.emu.api.stats().requests_to("GET", "loadbalancer");
    let (peak, per_s) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut window: std::collections::VecDeque<(Instant, u64)> = Default::default();
            let (start, first) = (Instant::now(), gets());
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                let (t, n) = (Instant::now(), gets());
                window.push_back((t, n));
                while window
                    .front()
                    .is_some_and(|(t0, _)| t.duration_since(*t0) > Duration::from_secs(1))
                {
                    window.pop_front();
                }
                peak = peak.max(n - window.front().map(|w| w.1).unwrap_or(n));
            }
            (
                peak,
                (gets() - first) as f64 / start.elapsed().as_secs_f64(),
            )
        });
        // Twenty changes, one every 150 ms: always one arriving inside a PENDING window.
        let mut want = BTreeSet::new();
        for i in 0..20 {
            let a = format!("10.3.0.{}:80", i + 1);
            register(
                &rig.etcd.access(),
                "/services/web/",
                &[(format!("b{i}"), a.clone())],
            );
            want.insert(a);
            std::thread::sleep(Duration::from_millis(150));
        }
        rig.wait_nodes(&want, CONVERGE, &lbsync);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        sampler.join().unwrap()
    });
    assert!(
        peak <= 5 && per_s <= 3.0,
        "{}",
        lbsync.context(&format!(
            "{peak} GETs in the busiest second, {per_s:.1}/s on average"
        ))
    );
}

#[test]
fn a_server_without_the_limits_route_with_html_404s_and_hyphenated_statuses_converges() {
    let rig = Rig::new(Config {
        pending_update: Duration::from_millis(200),
        faults: clb_emulator::Faults {
            no_limits_route: true,
            html_404: true,
            hyphenated_status: true,
            control_service_first: true,
            ..Default::default()
        },
        ..Config::default()
    });
    let want = addrs(0..30);
    register_all(&rig.etcd.access(), &want);
    let lbsync = rig.spawn(&[]);
    // The documented default node limit (25) applies: 25 of the 30 go in.
    let ok = testkit::wait::poll_until(CONVERGE, || rig.nodes().len() == 25);
    assert!(
        ok,
        "{}",
        lbsync.context(&format!("{} nodes", rig.nodes().len()))
    );
    delete_prefixes(
        &rig.etcd.access(),
        &(0..10)
            .map(|i| format!("/services/web/i{i:03}/"))
            .collect::<Vec<_>>(),
    );
    let ok = testkit::wait::poll_until(CONVERGE, || {
        rig.nodes().len() == 20 && rig.nodes().iter().all(|a| want.contains(a))
    });
    assert!(
        ok,
        "{}",
        lbsync.context("the remaining 20 fit and are served")
    );
    let logs = lbsync.logs();
    assert!(
        !logs.contains("<!doctype") && !logs.contains("<html"),
        "{}",
        lbsync.context("no HTML in the log")
    );
    assert!(
        !logs.contains("load balancer is gone"),
        "{}",
        lbsync.context("a missing route is not a gone LB")
    );
}

#[test]
fn a_second_lbsync_with_another_backend_on_the_same_election_key_refuses_to_run() {
    let rig = Rig::new(Config::default());
    let key = "/sidekick/shared/lbsync";
    let mut rackspace = rig.spawn(&["--election-key", key, "--election-ttl", "2s"]);
    rackspace.wait_for_log("elected leader", CONVERGE);
    let dir = tempfile::tempdir().unwrap();
    let (mut nginx, _file) = spawn_nginx(&rig.etcd, dir.path(), &["--election-key", key]);
    let status = nginx.wait_exit(Duration::from_secs(15));
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(2),
        "{}",
        nginx.context("the nginx lbsync must exit 2 (a configuration error)")
    );
    let logs = nginx.logs();
    assert!(
        logs.contains(&format!("--election-key {key} is held by lbsync"))
            && logs.contains("rackspace/web-lb")
            && logs.contains("nginx/web"),
        "one error naming the key, the holder's target and ours:\n{logs}"
    );
    assert!(
        rackspace.is_running(),
        "{}",
        rackspace.context("the leader keeps running")
    );
}

#[test]
fn the_address_family_picks_each_instances_address_and_rackspace_skips_ipv6_nodes() {
    let rig = Rig::new(Config::default());
    let etcd = rig.etcd.access();
    for (key, value) in [
        ("dual/public_ipv4_addr", "10.0.0.7"),
        ("dual/public_ipv6_addr", "2001:db8::7"),
        ("dual/port", "80"),
        ("six/public_ipv6_addr", "2001:db8::6"),
        ("six/port", "80"),
    ] {
        etcd.put_blocking(&format!("/services/web/{key}"), value);
    }
    let lbsync = rig.spawn(&["--address-family", "any"]);
    let want: BTreeSet<String> = ["10.0.0.7:80".to_string()].into();
    rig.wait_nodes(&want, CONVERGE, &lbsync);
    let six = "/services/web/six/public_ipv6_addr";
    wait_until(CONVERGE, "the IPv6 node's warning", || {
        lbsync.logs().contains(six)
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.nodes(), want);
    let logs = lbsync.logs();
    assert_eq!(
        logs.matches(six).count(),
        1,
        "{}",
        lbsync.context("one warning")
    );
    assert!(
        logs.contains("IPv4 nodes only"),
        "{}",
        lbsync.context("why")
    );

    let dir = tempfile::tempdir().unwrap();
    for (family, served) in [
        ("any", vec!["10.0.0.7:80", "[2001:db8::6]:80"]),
        ("ipv6", vec!["[2001:db8::7]:80", "[2001:db8::6]:80"]),
    ] {
        let election = format!("/sidekick/lbsync/test-{family}");
        let sub = dir.path().join(family);
        std::fs::create_dir(&sub).unwrap();
        let (nginx, file) = spawn_nginx(
            &rig.etcd,
            &sub,
            &["--address-family", family, "--election-key", &election],
        );
        let served: BTreeSet<SocketAddr> = served.iter().map(|a| a.parse().unwrap()).collect();
        let ok = testkit::wait::poll_until(CONVERGE, || upstream(&file) == served);
        assert!(
            ok,
            "{}",
            nginx.context(&format!("{family}: {:?}", upstream(&file)))
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains("server [2001:db8::6]:80;"), "{text}");
    }
}
