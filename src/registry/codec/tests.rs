use super::*;

fn kvs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const P: &str = "/services/web/";

fn full(n: &str, ip: &str, port: &str) -> Vec<(String, String)> {
    vec![
        (format!("{P}{n}/unit"), format!("monweb@{n}.service")),
        (format!("{P}{n}/host"), "core01".into()),
        (format!("{P}{n}/public_ipv4_addr"), ip.into()),
        (format!("{P}{n}/private_ipv4_addr"), "10.0.0.1".into()),
        (format!("{P}{n}/port"), port.into()),
    ]
}

#[test]
fn complete_key_instances_and_json_instances_are_read() {
    let mut m: BTreeMap<String, String> =
        full("web01", "203.0.113.7", "18001").into_iter().collect();
    m.insert(
        format!("{P}db"),
        r#"{"host":"core02","public_ipv4_addr":"2001:db8::1","port":27017}"#.into(),
    );
    m.insert(
        format!("{P}cache"),
        r#"{"public_ipv4_addr":"10.1.1.1","port":"6379"}"#.into(),
    );
    let (inst, skipped) = parse(P, &m, DEFAULT_ADDRESS_FIELD);
    assert!(skipped.is_empty(), "{skipped:?}");
    assert_eq!(inst["web01"].addr, "203.0.113.7:18001".parse().unwrap());
    assert_eq!(inst["db"].addr, "[2001:db8::1]:27017".parse().unwrap());
    assert_eq!(inst["cache"].addr.port(), 6379);
    let (inst, _) = parse(P, &m, &["private_ipv4_addr"]);
    assert_eq!(
        inst["web01"].addr,
        "10.0.0.1:18001".parse().unwrap(),
        "the address field is selectable"
    );
}

#[test]
fn incomplete_and_garbage_instances_are_skipped_naming_the_key() {
    let mut m = kvs(&[
        ("/services/web/web02/unit", "x"),
        ("/services/web/web02/port", "18002"),
        ("/services/web/web03/public_ipv4_addr", "203.0.113.9"),
        ("/services/web/web04/public_ipv4_addr", "not-an-ip"),
        ("/services/web/web04/port", "18004"),
        ("/services/web/web05/public_ipv4_addr", "203.0.113.5"),
        ("/services/web/web05/port", "70000"),
        ("/services/web/web06/public_ipv4_addr", "203.0.113.6"),
        ("/services/web/web06/port", "0"),
        ("/services/web/junk", "{not json"),
        ("/services/web/a/b/c", "deep"),
        ("/services/web/", "self"),
        ("/services/other/x/port", "1"),
    ]);
    m.extend(full("web01", "203.0.113.7", "18001"));
    let (inst, skipped) = parse(P, &m, DEFAULT_ADDRESS_FIELD);
    assert_eq!(inst.keys().collect::<Vec<_>>(), vec!["web01"]);
    let by_key: BTreeMap<&str, &str> = skipped
        .iter()
        .map(|s| (s.key.as_str(), s.reason.as_str()))
        .collect();
    assert!(by_key["/services/web/web02/port"].contains("no public_ipv4_addr"));
    assert!(by_key["/services/web/web03/public_ipv4_addr"].contains("no port"));
    assert!(by_key["/services/web/web04/public_ipv4_addr"].contains("\"not-an-ip\""));
    // A bad port is reported against the port key, not the address key.
    assert!(by_key["/services/web/web05/port"].contains("70000"));
    assert!(by_key["/services/web/web06/port"].contains("\"0\""));
    assert!(by_key["/services/web/junk"].contains("JSON"));
    assert!(by_key.contains_key("/services/web/a/b/c"));
    assert!(by_key.contains_key("/services/web/"));
    assert_eq!(skipped.len(), 8);
}

#[test]
fn duplicates_collapse_in_the_address_set() {
    let mut m: BTreeMap<String, String> = full("a", "203.0.113.7", "80").into_iter().collect();
    m.extend(full("b", "203.0.113.7", "80"));
    let (inst, _) = parse(P, &m, DEFAULT_ADDRESS_FIELD);
    assert_eq!(inst.len(), 2);
    assert_eq!(addresses(&inst).len(), 1);
}

#[test]
fn render_then_parse_round_trips_in_both_formats() {
    use crate::registry::{KeyFormat, Layout, Record};
    for (ip, port) in [
        ("203.0.113.7", 18001),
        ("2001:db8::7", 1),
        ("10.0.0.7", 65535),
    ] {
        let record = Record {
            unit: "monweb@01.service".into(),
            host: "core01".into(),
            public_ipv4_addr: Some(ip.parse().unwrap()),
            private_ipv4_addr: Some("10.0.0.9".parse().unwrap()),
            public_ipv6_addr: None,
            private_ipv6_addr: None,
            port,
        };
        for format in [KeyFormat::Keys, KeyFormat::Json] {
            let layout = Layout::new("/services/web/web01", format).unwrap();
            let kvs = render(&layout, &record);
            if format == KeyFormat::Keys {
                let fields: Vec<&str> = kvs
                    .keys()
                    .map(|k| k.rsplit('/').next().unwrap_or_default())
                    .collect();
                let mut want = FIELDS.to_vec();
                want.sort_unstable();
                assert_eq!(fields, want);
            }
            let (inst, skipped) = parse(P, &kvs, DEFAULT_ADDRESS_FIELD);
            assert!(skipped.is_empty(), "{format:?}: {skipped:?}");
            assert_eq!(
                inst["web01"].addr,
                SocketAddr::new(record.public_ipv4_addr.unwrap(), port),
                "{format:?}"
            );
            let (inst, _) = parse(P, &kvs, &["private_ipv4_addr"]);
            assert_eq!(Some(inst["web01"].addr.ip()), record.private_ipv4_addr);
        }
    }
}

#[test]
fn ipv6_goes_to_ipv6_keys_and_the_address_family_picks_what_lbsync_reads() {
    use crate::registry::{KeyFormat, Layout, Record};
    let ip = |s: &str| Some(s.parse().unwrap());
    let dual = Record {
        unit: "u".into(),
        host: "h".into(),
        public_ipv4_addr: ip("203.0.113.7"),
        private_ipv4_addr: ip("10.0.0.7"),
        public_ipv6_addr: ip("2001:db8::7"),
        private_ipv6_addr: ip("fd00::7"),
        port: 80,
    };
    let v6_only = Record {
        public_ipv4_addr: None,
        private_ipv4_addr: None,
        ..dual.clone()
    };
    for format in [KeyFormat::Keys, KeyFormat::Json] {
        let layout = |n: &str| Layout::new(&format!("{P}{n}"), format).unwrap();
        let mut kvs = render(&layout("dual"), &dual);
        let v6_kvs = render(&layout("six"), &v6_only);
        assert!(
            v6_kvs
                .iter()
                .all(|(k, v)| !k.contains("ipv4") && !v.contains("ipv4")),
            "{format:?}: no _ipv4_ key or field for an IPv6-only record: {v6_kvs:?}"
        );
        if format == KeyFormat::Keys {
            assert_eq!(kvs.len(), 7, "{kvs:?}");
            assert_eq!(kvs[&format!("{P}dual/private_ipv6_addr")], "fd00::7");
        }
        kvs.extend(v6_kvs);
        let addrs = |fields: &[&str]| {
            let (inst, skipped) = parse(P, &kvs, fields);
            let got: Vec<String> = inst.values().map(|i| i.addr.to_string()).collect();
            (got, skipped.len())
        };
        use super::AddressFamily as F;
        assert_eq!(
            addrs(F::Ipv4.fields()),
            (vec!["203.0.113.7:80".to_string()], 1),
            "{format:?}: the IPv6-only instance is skipped in ipv4 mode"
        );
        assert_eq!(
            addrs(F::Ipv6.fields()),
            (
                vec!["[2001:db8::7]:80".into(), "[2001:db8::7]:80".into()],
                0
            )
        );
        assert_eq!(
            addrs(F::Any.fields()),
            (vec!["203.0.113.7:80".into(), "[2001:db8::7]:80".into()], 0),
            "{format:?}: any = IPv4 when present, else IPv6"
        );
    }
    assert_eq!(
        "IPv6".parse::<super::AddressFamily>(),
        Ok(super::AddressFamily::Ipv6)
    );
    let e = "ip4".parse::<super::AddressFamily>().unwrap_err();
    assert!(
        e.contains("\"ip4\"") && e.contains("ipv4, ipv6, any"),
        "{e}"
    );
}
