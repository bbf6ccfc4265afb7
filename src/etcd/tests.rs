use super::*;

#[test]
fn endpoints_are_normalised_or_refused_by_name() {
    assert_eq!(
        validate_endpoint("http://127.0.0.1:2379", false).unwrap(),
        "http://127.0.0.1:2379"
    );
    assert_eq!(
        validate_endpoint("127.0.0.1:2379", false).unwrap(),
        "http://127.0.0.1:2379"
    );
    assert_eq!(
        validate_endpoint("127.0.0.1:2379", true).unwrap(),
        "https://127.0.0.1:2379"
    );
    assert_eq!(
        validate_endpoint("https://[::1]:2379/", true).unwrap(),
        "https://[::1]:2379"
    );
    for bad in [
        "",
        "ftp://a:1",
        "http://",
        "http://host",
        "http://host:port",
        "http://a:1/x",
        "a:99999",
        "::::",
    ] {
        let e = validate_endpoint(bad, false).unwrap_err().to_string();
        assert!(e.contains(&format!("{bad:?}")), "{e}");
    }
    let e = validate_endpoint("http://127.0.0.1:2379", true)
        .unwrap_err()
        .to_string();
    assert!(e.contains("https"), "{e}");
}

#[test]
fn a_lease_lost_after_its_confirmation_ran_out_expired_unconfirmed() {
    use super::lease::expired_unconfirmed;
    use tokio::time::Instant;
    let ttl = Duration::from_secs(5);
    let t0 = Instant::now();
    let confirmed_until = t0 + ttl;
    assert_eq!(
        expired_unconfirmed(t0 + Duration::from_secs(16), confirmed_until, ttl),
        Some(Duration::from_secs(16)),
        "not renewed for 16 s: expired while etcd was unreachable"
    );
    assert_eq!(
        expired_unconfirmed(confirmed_until, confirmed_until, ttl),
        Some(ttl)
    );
    assert_eq!(
        expired_unconfirmed(t0 + Duration::from_secs(2), confirmed_until, ttl),
        None,
        "still confirmed: it was revoked, not left to expire"
    );
}
