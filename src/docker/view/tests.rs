use std::collections::HashMap;

use super::*;

fn pb(ip: &str, port: &str) -> PortBinding {
    PortBinding {
        host_ip: Some(ip.into()),
        host_port: Some(port.into()),
    }
}

fn map(entries: &[(&str, Option<Vec<PortBinding>>)]) -> HashMap<String, Option<Vec<PortBinding>>> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

const TCP80: PortSpec = PortSpec {
    port: 80,
    proto: Proto::Tcp,
};

#[test]
fn port_spec_parses_and_rejects() {
    assert_eq!(PortSpec::parse("80/tcp"), Ok(TCP80));
    assert_eq!(PortSpec::parse("80"), Ok(TCP80));
    assert_eq!(PortSpec::parse("53/UDP").unwrap().proto, Proto::Udp);
    for bad in ["0/tcp", "65536/tcp", "http", "80/tcpx", "/tcp", "-1"] {
        let e = PortSpec::parse(bad).unwrap_err();
        assert!(e.contains(&format!("{bad:?}")), "{e}");
    }
    assert_eq!(TCP80.to_string(), "80/tcp");
}

fn b(ip: &str, port: u16) -> Binding {
    Binding {
        host_ip: ip.parse().unwrap(),
        host_port: port,
    }
}

#[test]
fn every_binding_keeps_its_own_family_and_port_specific_first() {
    let m = map(&[(
        "80/tcp",
        Some(vec![
            pb("::", "32769"),
            pb("0.0.0.0", "32768"),
            pb("0.0.0.0", "32768"),
            pb("", "32770"),
            pb("::1", "18003"),
            pb("127.0.0.1", "18004"),
        ]),
    )]);
    assert_eq!(
        bindings(Some(&m), TCP80),
        Ok(vec![
            b("127.0.0.1", 18004),
            b("::1", 18003),
            b("0.0.0.0", 32768),
            b("0.0.0.0", 32770),
            b("::", 32769),
        ]),
        "duplicates collapse; an empty HostIp (Podman) reads as 0.0.0.0"
    );
}

#[test]
fn unpublished_or_unparsable_ports_are_reported_with_what_is_published() {
    let m = map(&[("80/tcp", None), ("443/tcp", Some(vec![pb("", "8443")]))]);
    let e = bindings(Some(&m), TCP80).unwrap_err();
    assert_eq!(
        e.to_string(),
        "container port 80/tcp is not published (published: 443/tcp)"
    );
    let m = map(&[("80/tcp", Some(vec![pb("0.0.0.0", ""), pb("0.0.0.0", "x")]))]);
    assert!(bindings(Some(&m), TCP80).is_err());
    assert!(bindings(None, TCP80)
        .unwrap_err()
        .to_string()
        .contains("published: none"));
}

#[test]
fn signals_parse_by_name_or_number() {
    assert_eq!(parse_signal("SIGTERM"), Some(15));
    assert_eq!(parse_signal("term"), Some(15));
    assert_eq!(parse_signal("9"), Some(9));
    assert_eq!(parse_signal("SIGQUIT"), Some(3));
    assert_eq!(parse_signal("SIGBOGUS"), None);
    assert_eq!(parse_signal("0"), None);
}

#[test]
fn only_the_stop_signal_or_sigkill_means_stopping() {
    assert!(kill_means_stopping("15", libc::SIGTERM));
    assert!(kill_means_stopping("9", libc::SIGTERM));
    assert!(kill_means_stopping("3", libc::SIGQUIT));
    assert!(
        !kill_means_stopping("15", libc::SIGQUIT),
        "TERM is not this container's stop signal"
    );
    assert!(!kill_means_stopping("1", libc::SIGTERM), "SIGHUP reload");
    assert!(!kill_means_stopping("10", libc::SIGTERM), "SIGUSR1 reload");
    assert!(!kill_means_stopping("garbage", libc::SIGTERM));
}

#[test]
fn view_from_inspect_reads_state_signal_health_and_binding() {
    let json = serde_json::json!({
        "Id": "abc123",
        "Name": "/web01",
        "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false,
                  "StartedAt": "2026-11-22T03:07:00.123456789Z", "Health": {"Status": "healthy"}},
        "Config": {"StopSignal": "SIGQUIT"},
        "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18001"}]}}
    });
    let c: ContainerInspectResponse = serde_json::from_value(json).unwrap();
    let v = ContainerView::from_inspect(&c, TCP80);
    assert_eq!(v.name, "web01");
    assert!(v.running);
    assert_eq!(v.stop_signal, libc::SIGQUIT);
    assert_eq!(v.health.as_deref(), Some("healthy"));
    assert_eq!(v.bindings.unwrap(), vec![b("127.0.0.1", 18001)]);
    assert!(!v.host_network);
    assert_eq!(v.started_at_nanos % 1_000_000_000, 123_456_789);
}

#[test]
fn the_bindings_serialise_as_a_list_or_an_error() {
    let mut v = ContainerView {
        id: "x".into(),
        name: "web01".into(),
        status: "running".into(),
        running: true,
        paused: false,
        restarting: false,
        started_at_nanos: 0,
        stop_signal: 15,
        health: None,
        bindings: Ok(vec![b("127.0.0.1", 18001)]),
        host_network: false,
        networks: BTreeMap::new(),
    };
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(
        j["bindings"],
        serde_json::json!([{"host_ip": "127.0.0.1", "host_port": 18001}])
    );
    v.bindings = Err(BindingError::NotPublished("80/tcp".into(), "none".into()));
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(
        j["bindings"]["error"],
        "container port 80/tcp is not published (published: none)"
    );
}
