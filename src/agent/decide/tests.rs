use std::time::Duration;

use super::*;
use crate::config::HealthConfig;
use crate::docker::{Binding, BindingError, PortSpec};
use crate::etcd::EtcdConfig;
use crate::registry::KeyFormat;
use crate::registry::Layout;

fn cfg(mode: HealthMode) -> AgentConfig {
    AgentConfig {
        etcd: EtcdConfig {
            endpoints: vec![],
            tls: None,
            auth: None,
        },
        docker_host: String::new(),
        container: "web01".into(),
        port: PortSpec::parse("80/tcp").unwrap(),
        layout: Layout::new("/services/web/web01", KeyFormat::Keys).unwrap(),
        unit: Some("monweb@01.service".into()),
        host: "core01".into(),
        public_ip: None,
        private_ip: None,
        default_route_ip: Some("192.0.2.10".parse().unwrap()),
        network: None,
        health: HealthConfig {
            mode,
            path: "/health.php".into(),
            digest: None,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            rise: 1,
            fall: 2,
        },
        ttl: Duration::from_secs(15),
        resync: Duration::from_secs(30),
    }
}

fn view(host_ip: Option<&str>) -> ContainerView {
    ContainerView {
        id: "abc".into(),
        name: "web01".into(),
        status: "running".into(),
        running: true,
        paused: false,
        restarting: false,
        started_at_nanos: 1_000,
        stop_signal: libc::SIGTERM,
        health: None,
        bindings: Ok(vec![Binding {
            host_ip: host_ip.unwrap_or("0.0.0.0").parse().unwrap(),
            host_port: 18001,
        }]),
        host_network: false,
        networks: Default::default(),
    }
}

fn healthy() -> HealthState {
    HealthState {
        healthy: true,
        last_error: None,
        probed: true,
        passes: 1,
    }
}

fn kill(signal: &str, at: i64) -> Kill {
    Kill {
        container_id: "abc".into(),
        signal: signal.into(),
        at_nanos: at,
    }
}

#[test]
fn healthy_running_published_container_is_announced_with_the_binding_ip() {
    let c = cfg(HealthMode::Http);
    let (r, why) = decide(&c, Some(&view(Some("127.0.0.1"))), None, &healthy());
    assert_eq!(why, Reason::Registrable);
    let r = r.unwrap();
    assert_eq!(r.public_ipv4_addr.unwrap().to_string(), "127.0.0.1");
    assert_eq!(
        r.private_ipv4_addr.unwrap().to_string(),
        "127.0.0.1",
        "private defaults to public"
    );
    assert_eq!(r.port, 18001);
    assert_eq!(r.unit, "monweb@01.service");
}

#[test]
fn public_ip_precedence_flag_then_binding_then_default_route() {
    let mut c = cfg(HealthMode::None);
    let v = view(None);
    assert_eq!(
        decide(&c, Some(&v), None, &healthy())
            .0
            .unwrap()
            .public_ipv4_addr
            .unwrap()
            .to_string(),
        "192.0.2.10"
    );
    let v4 = view(Some("127.0.0.1"));
    assert_eq!(
        decide(&c, Some(&v4), None, &healthy())
            .0
            .unwrap()
            .public_ipv4_addr
            .unwrap()
            .to_string(),
        "127.0.0.1"
    );
    c.public_ip = Some("203.0.113.7".parse().unwrap());
    c.private_ip = Some("10.0.0.7".parse().unwrap());
    let r = decide(&c, Some(&v4), None, &healthy()).0.unwrap();
    assert_eq!(
        (
            r.public_ipv4_addr.unwrap().to_string(),
            r.private_ipv4_addr.unwrap().to_string()
        ),
        ("203.0.113.7".into(), "10.0.0.7".into())
    );
    c.public_ip = None;
    c.default_route_ip = None;
    assert_eq!(decide(&c, Some(&v), None, &healthy()).1, Reason::NoPublicIp);
}

#[test]
fn unit_defaults_to_the_container_name() {
    let mut c = cfg(HealthMode::None);
    c.unit = None;
    assert_eq!(
        decide(&c, Some(&view(None)), None, &healthy())
            .0
            .unwrap()
            .unit,
        "web01"
    );
}

#[test]
fn stop_signal_or_sigkill_deregisters_but_a_reload_signal_does_not() {
    let c = cfg(HealthMode::Http);
    let v = view(None);
    assert_eq!(
        decide(&c, Some(&v), Some(&kill("15", 2_000)), &healthy()).1,
        Reason::Stopping {
            signal: "15".into()
        }
    );
    assert!(matches!(
        decide(&c, Some(&v), Some(&kill("9", 2_000)), &healthy()).1,
        Reason::Stopping { .. }
    ));
    assert_eq!(
        decide(&c, Some(&v), Some(&kill("1", 2_000)), &healthy()).1,
        Reason::Registrable,
        "SIGHUP"
    );
    assert_eq!(
        decide(&c, Some(&v), Some(&kill("10", 2_000)), &healthy()).1,
        Reason::Registrable,
        "SIGUSR1"
    );
    // A kill from before this run started (the container was restarted since) is stale.
    assert_eq!(
        decide(&c, Some(&v), Some(&kill("15", 500)), &healthy()).1,
        Reason::Registrable
    );
    // A kill for another container is not ours.
    let other = Kill {
        container_id: "zzz".into(),
        ..kill("15", 2_000)
    };
    assert_eq!(
        decide(&c, Some(&v), Some(&other), &healthy()).1,
        Reason::Registrable
    );
    assert!(
        probe_target(&c, Some(&v), Some(&kill("15", 2_000))).is_none(),
        "no probing while stopping"
    );
}

#[test]
fn states_that_never_register() {
    let c = cfg(HealthMode::None);
    assert!(matches!(
        decide(&c, None, None, &healthy()).1,
        Reason::ContainerAbsent { .. }
    ));
    let mut v = view(None);
    v.running = false;
    v.status = "exited".into();
    assert_eq!(
        decide(&c, Some(&v), None, &healthy()).1,
        Reason::NotRunning {
            status: "exited".into()
        }
    );
    let mut v = view(None);
    v.paused = true;
    assert_eq!(decide(&c, Some(&v), None, &healthy()).1, Reason::Paused);
    let mut v = view(None);
    v.bindings = Err(BindingError::NotPublished("80/tcp".into(), "none".into()));
    assert!(matches!(
        decide(&c, Some(&v), None, &healthy()).1,
        Reason::NoBinding { .. }
    ));
    assert!(probe_target(&c, Some(&v), None).is_none());
}

#[test]
fn health_modes() {
    let v = view(Some("127.0.0.1"));
    let c = cfg(HealthMode::Http);
    assert_eq!(
        decide(&c, Some(&v), None, &HealthState::default()).1,
        Reason::HealthPending { passes: 0, rise: 1 }
    );
    let failing = HealthState {
        healthy: false,
        last_error: Some("status 500 is not 2xx".into()),
        probed: true,
        passes: 0,
    };
    assert_eq!(
        decide(&c, Some(&v), None, &failing).1,
        Reason::Unhealthy {
            detail: "status 500 is not 2xx".into()
        }
    );
    assert!(matches!(
        probe_target(&c, Some(&v), None),
        Some(Probe::Http { .. })
    ));
    assert!(matches!(
        probe_target(&cfg(HealthMode::Tcp), Some(&v), None),
        Some(Probe::Tcp { .. })
    ));

    let c = cfg(HealthMode::Docker);
    assert!(probe_target(&c, Some(&v), None).is_none());
    assert_eq!(
        decide(&c, Some(&v), None, &HealthState::default()).1,
        Reason::NoHealthcheck
    );
    let mut hv = v.clone();
    hv.health = Some("starting".into());
    assert_eq!(
        decide(&c, Some(&hv), None, &HealthState::default()).1,
        Reason::DockerHealth {
            status: "starting".into()
        }
    );
    hv.health = Some("healthy".into());
    assert_eq!(
        decide(&c, Some(&hv), None, &HealthState::default()).1,
        Reason::Registrable
    );

    assert_eq!(
        decide(
            &cfg(HealthMode::None),
            Some(&v),
            None,
            &HealthState::default()
        )
        .1,
        Reason::Registrable
    );
}

#[test]
fn only_not_knowing_yet_leaves_the_keys_alone() {
    let v = view(Some("127.0.0.1"));
    let c = cfg(HealthMode::Http);
    let (r, why) = decide(&c, Some(&v), None, &HealthState::default());
    assert_eq!(Desired::from_decision(r, &why), Desired::Undecided);
    let failing = HealthState {
        healthy: false,
        last_error: Some("connection refused".into()),
        probed: true,
        passes: 0,
    };
    let (r, why) = decide(&c, Some(&v), None, &failing);
    assert_eq!(Desired::from_decision(r, &why), Desired::Absent);
    let (r, why) = decide(&c, None, None, &healthy());
    assert_eq!(Desired::from_decision(r, &why), Desired::Absent);
    assert_eq!(
        Desired::from_decision(None, &Reason::DockerUnknown),
        Desired::Undecided
    );
    let (r, why) = decide(&c, Some(&v), None, &healthy());
    assert!(matches!(
        Desired::from_decision(r, &why),
        Desired::Present(_)
    ));
}

#[test]
fn a_partly_met_rise_says_n_of_rise() {
    let v = view(Some("127.0.0.1"));
    let mut c = cfg(HealthMode::Http);
    c.health.rise = 3;
    let first = decide(&c, Some(&v), None, &HealthState::default()).1;
    assert_eq!(
        first.to_string(),
        "waiting for the first passing health probe"
    );
    // Failures, then two passes of three: not "waiting for the first passing probe".
    let rising = HealthState {
        healthy: false,
        last_error: None,
        probed: true,
        passes: 2,
    };
    let (record, why) = decide(&c, Some(&v), None, &rising);
    assert_eq!(why, Reason::HealthPending { passes: 2, rise: 3 });
    assert!(why.to_string().contains("passed 2 of 3"), "{why}");
    assert_eq!(Desired::from_decision(record, &why), Desired::Undecided);
}

#[test]
fn docker_unreachable_leaves_the_keys_alone() {
    let why = Reason::DockerUnreachable {
        error: "connection refused".into(),
    };
    assert_eq!(Desired::from_decision(None, &why), Desired::Undecided);
    assert!(why.to_string().contains("leaves the keys"), "{why}");
}
