use super::*;

#[test]
fn absent_or_empty_is_off() {
    assert_eq!(metrics_addr(None).unwrap(), None);
    assert_eq!(metrics_addr(Some("  ")).unwrap(), None);
}

#[test]
fn ip_and_port_and_localhost_are_accepted() {
    assert_eq!(
        metrics_addr(Some("127.0.0.1:9464")).unwrap(),
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(
        metrics_addr(Some("[::1]:9464")).unwrap(),
        Some("[::1]:9464".parse().unwrap())
    );
    assert_eq!(
        metrics_addr(Some("localhost:9464")).unwrap(),
        Some("127.0.0.1:9464".parse().unwrap())
    );
}

#[test]
fn bad_addresses_are_refused_by_name() {
    for bad in [
        "9464",
        "127.0.0.1",
        "127.0.0.1:99999",
        "host:80",
        "127.0.0.1:0",
        "localhost:x",
    ] {
        let e = metrics_addr(Some(bad)).unwrap_err().to_string();
        assert!(e.contains("--metrics-addr") && e.contains(bad), "{e}");
    }
}
