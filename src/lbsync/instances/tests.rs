use super::*;

const P: &str = "/services/web/";

fn reg(allow_loopback: bool) -> InstanceMap {
    InstanceMap::new(
        P,
        codec::DEFAULT_ADDRESS_FIELD,
        AddressRules {
            allow_loopback,
            ipv4_only: false,
        },
    )
}

fn fields(name: &str, ip: &str, port: &str) -> Vec<(String, String)> {
    vec![
        (format!("{P}{name}/public_ipv4_addr"), ip.to_string()),
        (format!("{P}{name}/port"), port.to_string()),
        (format!("{P}{name}/unit"), "u".to_string()),
    ]
}

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A key written in a watch response of its own.
fn put(r: &mut InstanceMap, key: String, value: String) {
    r.stage_put(key, value);
    r.settle();
}

/// A key deleted in a watch response of its own.
fn delete(r: &mut InstanceMap, key: &str) {
    r.stage_delete(key);
    r.settle();
}

/// Every key skipped now, and why.
fn skipped(r: &InstanceMap) -> Vec<Skipped> {
    r.groups
        .values()
        .flat_map(|g| g.skipped.iter().cloned())
        .collect()
}

#[test]
fn events_update_only_the_instance_they_touch() {
    let mut r = reg(false);
    let mut kvs = fields("a", "10.0.0.1", "80");
    kvs.extend(fields("b", "10.0.0.2", "81"));
    r.reset(kvs);
    assert_eq!(r.desired(), [a("10.0.0.1:80"), a("10.0.0.2:81")].into());
    assert_eq!(r.instances(), 2);
    put(&mut r, format!("{P}a/port"), "90".into());
    assert!(r.desired().contains(&a("10.0.0.1:90")));
    delete(&mut r, &format!("{P}b/port"));
    assert_eq!(
        r.desired(),
        [a("10.0.0.1:90")].into(),
        "b is incomplete now"
    );
    assert_eq!(skipped(&r).len(), 1);
    for (k, _) in fields("b", "", "") {
        delete(&mut r, &k);
    }
    assert!(skipped(&r).is_empty(), "b is gone altogether");
    put(&mut r, "/elsewhere/x".into(), "1".into());
    assert_eq!(r.instances(), 1);
}

#[test]
fn refused_addresses_are_skipped_naming_the_address_key() {
    let mut r = reg(false);
    let mut kvs = fields("zero", "0.0.0.0", "80");
    kvs.extend(fields("bcast", "255.255.255.255", "80"));
    kvs.extend(fields("lo", "127.0.0.1", "80"));
    kvs.push((
        format!("{P}js"),
        r#"{"public_ipv4_addr":"169.254.0.9","port":80}"#.into(),
    ));
    kvs.extend(fields("ok", "10.0.0.1", "80"));
    r.reset(kvs);
    assert_eq!(r.desired(), [a("10.0.0.1:80")].into());
    let keys: BTreeSet<String> = skipped(&r).into_iter().map(|s| s.key).collect();
    assert_eq!(
        keys,
        [
            format!("{P}zero/public_ipv4_addr"),
            format!("{P}bcast/public_ipv4_addr"),
            format!("{P}lo/public_ipv4_addr"),
            format!("{P}js"),
        ]
        .into()
    );
    let mut r = reg(true);
    r.reset(fields("lo", "127.0.0.1", "80"));
    assert_eq!(r.desired(), [a("127.0.0.1:80")].into());
}

#[test]
fn a_bad_port_is_attributed_to_the_port_key() {
    let mut r = reg(false);
    r.reset(fields("a", "10.0.0.1", "99999"));
    let s = skipped(&r);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].key, format!("{P}a/port"));
}

#[test]
fn an_address_shared_by_two_instances_stays_until_both_are_gone() {
    let mut r = reg(false);
    let mut kvs = fields("a", "10.0.0.1", "80");
    kvs.extend(fields("b", "10.0.0.1", "80"));
    r.reset(kvs);
    assert_eq!((r.desired().len(), r.instances()), (1, 2));
    delete(&mut r, &format!("{P}a/port"));
    assert_eq!(r.desired(), [a("10.0.0.1:80")].into());
    put(&mut r, format!("{P}b/port"), "81".into());
    assert_eq!(r.desired(), [a("10.0.0.1:81")].into());
    assert_eq!(r.instances(), 1);
}

#[test]
fn a_transaction_is_judged_once_all_its_keys_are_in() {
    let mut r = InstanceMap::new(
        "/services/web/",
        &["public_ipv4_addr"],
        AddressRules::default(),
    );
    r.stage_put(
        "/services/web/w1/public_ipv4_addr".into(),
        "10.0.0.1".into(),
    );
    r.stage_put("/services/web/w1/port".into(), "80".into());
    r.settle();
    assert!(skipped(&r).is_empty(), "{:?}", skipped(&r));
    assert_eq!(r.instances(), 1);
    r.stage_delete("/services/web/w1/public_ipv4_addr");
    r.stage_delete("/services/web/w1/port");
    r.settle();
    assert!(skipped(&r).is_empty(), "{:?}", skipped(&r));
    assert_eq!(r.instances(), 0);
    assert!(r.desired().is_empty());
}
