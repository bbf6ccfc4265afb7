use super::*;

/// An inspect answer as Docker's JSON has it.
fn inspect(v: serde_json::Value) -> ContainerInspectResponse {
    serde_json::from_value(v).expect("an inspect answer")
}

fn tcp(port: u16) -> PortSpec {
    PortSpec {
        port,
        proto: Proto::Tcp,
    }
}

#[test]
fn a_created_container_publishes_what_its_host_config_binds() {
    // `docker create -p 127.0.0.1::80 -p 53:53/udp --label sidekick.key=/s/a`: not running, so
    // NetworkSettings.Ports is empty; the binding is in HostConfig.
    let c = inspect(serde_json::json!({
        "Id": "abc", "Name": "/web-01",
        "Config": { "Labels": { "sidekick.key": "/s/a" }, "ExposedPorts": { "80/tcp": {}, "53/udp": {} } },
        "HostConfig": { "PortBindings": {
            "80/tcp": [{ "HostIp": "127.0.0.1", "HostPort": "" }],
            "53/udp": [{ "HostIp": "", "HostPort": "53" }] } },
        "NetworkSettings": { "Ports": {} }
    }));
    let l = Labelled::from_inspect(&c);
    assert_eq!(l.id, "abc");
    assert_eq!(l.name, "web-01");
    assert_eq!(
        l.labels.get("sidekick.key").map(String::as_str),
        Some("/s/a")
    );
    assert_eq!(l.published_tcp, vec![tcp(80)]);
}

#[test]
fn running_bindings_and_publish_all_count_once_each() {
    let c = inspect(serde_json::json!({
        "Id": "abc", "Name": "/x",
        "Config": { "ExposedPorts": { "443/tcp": {}, "80/tcp": {} } },
        "HostConfig": { "PublishAllPorts": true, "PortBindings": null },
        "NetworkSettings": { "Ports": {
            "80/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "32768" }, { "HostIp": "::", "HostPort": "32768" }],
            "443/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "32769" }],
            "9000/tcp": null } }
    }));
    assert_eq!(
        Labelled::from_inspect(&c).published_tcp,
        vec![tcp(80), tcp(443)]
    );
}

#[test]
fn exposed_but_unpublished_and_missing_sections_publish_nothing() {
    let c = inspect(serde_json::json!({
        "Id": "abc",
        "Config": { "ExposedPorts": { "80/tcp": {} } },
        "HostConfig": { "PortBindings": { "80/tcp": [] } },
        "NetworkSettings": { "Ports": { "80/tcp": null } }
    }));
    let l = Labelled::from_inspect(&c);
    assert!(l.published_tcp.is_empty());
    assert_eq!(l.name, "");
    assert!(l.labels.is_empty());
    let bare = inspect(serde_json::json!({}));
    assert_eq!(Labelled::from_inspect(&bare).published_tcp, vec![]);
}

#[test]
fn malformed_port_names_are_skipped() {
    let c = inspect(serde_json::json!({
        "HostConfig": { "PortBindings": {
            "http": [{ "HostPort": "80" }],
            "0/tcp": [{ "HostPort": "80" }],
            "8080/tcp": [{ "HostPort": "8080" }] } }
    }));
    assert_eq!(Labelled::from_inspect(&c).published_tcp, vec![tcp(8080)]);
}
