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
    let (inst, _) = parse(P, &m, "private_ipv4_addr");
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
    assert!(by_key["/services/web/web05/public_ipv4_addr"].contains("70000"));
    assert!(by_key["/services/web/web06/public_ipv4_addr"].contains("\"0\""));
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
