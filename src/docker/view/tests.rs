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

#[test]
fn docker_duplicate_v4_v6_entries_collapse_to_one() {
    let m = map(&[(
        "80/tcp",
        Some(vec![pb("0.0.0.0", "18001"), pb("::", "18001")]),
    )]);
    assert_eq!(
        choose_binding(Some(&m), TCP80),
        Ok(Binding {
            host_ip: None,
            host_port: 18001
        })
    );
}

#[test]
fn a_specific_host_ip_wins() {
    let m = map(&[(
        "80/tcp",
        Some(vec![
            pb("0.0.0.0", "18002"),
            pb("203.0.113.7", "18001"),
            pb("::", "18002"),
        ]),
    )]);
    assert_eq!(
        choose_binding(Some(&m), TCP80),
        Ok(Binding {
            host_ip: Some("203.0.113.7".parse().unwrap()),
            host_port: 18001
        })
    );
    let m = map(&[(
        "80/tcp",
        Some(vec![pb("::1", "18003"), pb("127.0.0.1", "18004")]),
    )]);
    assert_eq!(
        choose_binding(Some(&m), TCP80).unwrap().host_ip,
        Some("127.0.0.1".parse().unwrap()),
        "IPv4 first"
    );
}

#[test]
fn unpublished_or_unparsable_ports_are_reported_with_what_is_published() {
    let m = map(&[("80/tcp", None), ("443/tcp", Some(vec![pb("", "8443")]))]);
    let e = choose_binding(Some(&m), TCP80).unwrap_err();
    assert_eq!(
        e.to_string(),
        "container port 80/tcp is not published (published: 443/tcp)"
    );
    let m = map(&[("80/tcp", Some(vec![pb("0.0.0.0", ""), pb("0.0.0.0", "x")]))]);
    assert!(choose_binding(Some(&m), TCP80).is_err());
    assert!(choose_binding(None, TCP80)
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
    assert_eq!(v.binding.unwrap().host_port, 18001);
    assert_eq!(v.started_at_nanos % 1_000_000_000, 123_456_789);
}

#[test]
fn the_binding_serialises_flat_or_as_an_error() {
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
        binding: Ok(Binding {
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: 18001,
        }),
    };
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(
        j["binding"],
        serde_json::json!({"host_ip": "127.0.0.1", "host_port": 18001})
    );
    v.binding = Err(BindingError::NotPublished("80/tcp".into(), "none".into()));
    let j = serde_json::to_value(&v).unwrap();
    assert_eq!(
        j["binding"]["error"],
        "container port 80/tcp is not published (published: none)"
    );
}
