use super::*;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn set(addrs: &[&str]) -> BTreeSet<SocketAddr> {
    addrs.iter().map(|s| a(s)).collect()
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
fn the_plan_keeps_statics_out_and_guards_an_empty_registry() {
    let statics = set(&["1.1.1.1:80"]);
    let present = set(&["1.1.1.1:80", "10.0.0.1:80"]);
    let p = plan_nodes(
        set(&["10.0.0.2:80", "1.1.1.1:80"]),
        &present,
        &statics,
        false,
    );
    assert_eq!(p.want, set(&["10.0.0.2:80"]));
    assert!(!p.empty_guard);
    let p = plan_nodes(BTreeSet::new(), &present, &statics, false);
    assert!(p.empty_guard);
    assert_eq!(p.want, set(&["10.0.0.1:80"]), "keeps what is served");
    let p = plan_nodes(BTreeSet::new(), &present, &statics, true);
    assert!(!p.empty_guard && p.want.is_empty());
    let p = plan_nodes(BTreeSet::new(), &statics, &statics, false);
    assert!(!p.empty_guard, "only static nodes: nothing to guard");
}

#[test]
fn samples_are_capped_with_a_count_of_the_rest() {
    assert_eq!(sample(1..=3, 10), "1 2 3");
    assert_eq!(sample(1..=12, 2), "1 2 (+10 more)");
    assert_eq!(sample(Vec::<u8>::new(), 2), "");
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
