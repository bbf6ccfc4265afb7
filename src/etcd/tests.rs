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
