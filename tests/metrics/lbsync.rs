//! `sidekick lbsync` with `--metrics-addr` against the clb-emulator: the leader gauge moves to
//! the standby when the leader dies, the API request counters grow with the calls, the node
//! gauges follow the registry, and a standby tells systemd it is ready.

use clb_emulator::{BackgroundEmulator, Config, Emulator, User};
use testkit::agent::AgentProcess;
use testkit::etcd::Etcd;
use testkit::instances::{self, Instance};

use super::notify::NotifySocket;
use super::*;

const API_KEY: &str = "metrics-test-api-key-5c1e";

struct Rig {
    etcd: Etcd,
    emu: BackgroundEmulator,
    lb: u64,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new() -> Rig {
        let config = Config {
            pending_update: Duration::from_millis(50),
            users: vec![User::new("demo", API_KEY, None, "123456")],
            ..Config::default()
        };
        let emu = Emulator::new(config)
            .start_background()
            .expect("start the emulator");
        let lb = emu.api.create_load_balancer("metrics-lb");
        let dir = tempfile::tempdir().expect("temp dir");
        let key = dir.path().join("api-key");
        std::fs::write(&key, API_KEY).expect("write the key");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        Rig {
            etcd: Etcd::start(),
            emu,
            lb,
            dir,
        }
    }

    fn spawn(&self, metrics: &str, env: &[(&str, &str)]) -> AgentProcess {
        let key = self.dir.path().join("api-key").display().to_string();
        let mut args: Vec<String> = [
            "lbsync",
            "--backend",
            "rackspace",
            "--lb-name",
            "metrics-lb",
            "--username",
            "demo",
            "--region",
            "ORD",
            "--resync-interval",
            "2s",
            "--election-ttl",
            "3s",
            "--api-key-file",
            &key,
            "--identity-url",
            &self.emu.identity_url,
            "--metrics-addr",
            metrics,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(self.etcd.sidekick_args());
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        AgentProcess::spawn(&argv, env)
    }

    /// One instance's keys, as `sidekick run` writes them.
    fn register(&self, name: &str, ip: &str, port: u16) {
        let addr = std::net::SocketAddr::new(ip.parse().expect("a test address"), port);
        let one = Instance::new("/services/web/", name, addr, "core01");
        instances::register(&self.etcd.access(), vec![one], 1);
    }

    fn node_count(&self) -> usize {
        self.emu.api.nodes(self.lb).len()
    }
}

#[test]
fn the_leader_gauge_moves_on_failover_and_api_requests_are_counted() {
    let rig = Rig::new();
    rig.register("m1", "10.1.0.1", 18001);
    rig.register("m2", "10.1.0.2", 18002);
    let (addr_a, port_a) = metrics_addr();
    let (addr_b, port_b) = metrics_addr();
    let notify_b = NotifySocket::bind();
    let mut a = rig.spawn(&addr_a, &[]);
    let s = wait_value(port_a, "sidekick_lbsync_leader", "a leads", &a, |v| {
        v == 1.0
    });
    promtool_check_metrics(&s, &a);
    let b = rig.spawn(&addr_b, &[("NOTIFY_SOCKET", notify_b.path())]);
    wait_value(port_b, "sidekick_lbsync_leader", "b stands by", &b, |v| {
        v == 0.0
    });
    notify_b.wait_for("READY=1", "a standby is ready", &b);

    let s = wait_value(
        port_a,
        "sidekick_lbsync_nodes{state=\"actual\"}",
        "both nodes in the load balancer",
        &a,
        |v| v == 2.0,
    );
    assert_eq!(rig.node_count(), 2);
    assert_eq!(
        value(&s, "sidekick_lbsync_nodes{state=\"desired\"}"),
        Some(2.0),
        "{s}"
    );
    let gets = value(
        &s,
        "sidekick_lbsync_api_requests_total{code=\"200\",method=\"GET\"}",
    )
    .unwrap_or(0.0);
    assert!(gets >= 1.0, "{}", a.context(&s));
    let posts = value(
        &s,
        "sidekick_lbsync_api_requests_total{code=\"202\",method=\"POST\"}",
    )
    .unwrap_or(0.0);
    assert!(posts >= 1.0, "{}", a.context(&s));
    assert!(
        value(&s, "sidekick_lbsync_last_success_timestamp_seconds").is_some_and(|t| t > 1.0e9),
        "{s}"
    );

    // Another instance: one more add, and more requests counted.
    rig.register("m3", "10.1.0.3", 18003);
    wait_value(
        port_a,
        "sidekick_lbsync_api_requests_total{code=\"202\",method=\"POST\"}",
        "the add is counted",
        &a,
        |v| v > posts,
    );

    a.sigkill();
    let s = wait_value(port_b, "sidekick_lbsync_leader", "b takes over", &b, |v| {
        v == 1.0
    });
    promtool_check_metrics(&s, &b);
    rig.register("m4", "10.1.0.4", 18004);
    wait_value(
        port_b,
        "sidekick_lbsync_nodes{state=\"actual\"}",
        "b adds the fourth node",
        &b,
        |v| v == 4.0,
    );
}
