use super::*;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn unusable_addresses_are_refused_and_loopback_only_when_not_allowed() {
    let strict = AddressRules::default();
    let loose = AddressRules {
        allow_loopback: true,
        ipv4_only: false,
    };
    for bad in [
        "0.0.0.0:80",
        "255.255.255.255:80",
        "224.0.0.1:80",
        "169.254.1.2:80",
        "[::]:80",
        "[ff02::1]:80",
        "[fe80::1]:80",
        "[::ffff:0.0.0.0]:80",
    ] {
        assert!(refusal(a(bad), loose).is_some(), "{bad}");
        assert!(refusal(a(bad), strict).is_some(), "{bad}");
    }
    for lo in ["127.0.0.1:80", "[::1]:80"] {
        assert!(refusal(a(lo), strict).unwrap().contains("--allow-loopback"));
        assert_eq!(refusal(a(lo), loose), None);
    }
    for good in ["10.0.0.1:80", "203.0.113.9:443", "[2001:db8::1]:80"] {
        assert_eq!(refusal(a(good), strict), None, "{good}");
    }
}

#[test]
fn an_ipv4_only_backend_refuses_ipv6_after_the_other_rules() {
    let rackspace = AddressRules {
        allow_loopback: true,
        ipv4_only: true,
    };
    assert!(refusal(a("[2001:db8::1]:80"), rackspace)
        .unwrap()
        .contains("IPv4 nodes only"));
    assert_eq!(refusal(a("10.0.0.1:80"), rackspace), None);
    assert_eq!(
        refusal(a("[::ffff:10.0.0.1]:80"), rackspace),
        None,
        "v4-mapped is IPv4"
    );
    assert!(refusal(a("[::1]:80"), AddressRules::default())
        .unwrap()
        .contains("loopback"));
}
