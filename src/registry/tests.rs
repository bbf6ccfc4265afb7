use super::*;

fn record() -> Record {
    Record {
        unit: "monweb@01.service".into(),
        host: "core01".into(),
        public_ipv4_addr: Some("203.0.113.7".parse().unwrap()),
        private_ipv4_addr: Some("10.0.0.7".parse().unwrap()),
        public_ipv6_addr: None,
        private_ipv6_addr: None,
        port: 18001,
    }
}

fn keys_layout() -> Layout {
    Layout::new("/services/web/web01", KeyFormat::Keys).unwrap()
}

#[test]
fn keys_format_writes_the_five_contract_keys() {
    let m = keys_layout().render(&record());
    let expected: BTreeMap<String, String> = [
        ("/services/web/web01/unit", "monweb@01.service"),
        ("/services/web/web01/host", "core01"),
        ("/services/web/web01/public_ipv4_addr", "203.0.113.7"),
        ("/services/web/web01/private_ipv4_addr", "10.0.0.7"),
        ("/services/web/web01/port", "18001"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(m, expected);
}

#[test]
fn json_format_writes_one_object_with_the_same_fields() {
    let l = Layout::new("/services/db/db/", KeyFormat::Json).unwrap();
    let m = l.render(&record());
    assert_eq!(m.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&m["/services/db/db"]).unwrap();
    assert_eq!(v["port"], 18001);
    assert_eq!(v["public_ipv4_addr"], "203.0.113.7");
    assert_eq!(v["unit"], "monweb@01.service");
}

#[test]
fn layout_validates_and_trims() {
    assert_eq!(keys_layout().prefix, "/services/web/web01");
    assert!(Layout::new("/", KeyFormat::Keys).is_err());
    assert!(Layout::new("", KeyFormat::Keys).is_err());
    assert!(Layout::new("/a b", KeyFormat::Keys)
        .unwrap_err()
        .contains("\"/a b\""));
    assert_eq!(
        keys_layout().owner_key(),
        "/sidekick/owners/services/web/web01"
    );
    assert_eq!(
        keys_layout().managed_keys().len(),
        8,
        "the prefix, the five fields and the two IPv6 fields"
    );
}

#[test]
fn plan_writes_only_what_changed_and_rebinds_foreign_leases() {
    let l = keys_layout();
    let want = l.render(&record());
    let mut actual: Actual = want
        .iter()
        .map(|(k, v)| (k.clone(), (v.clone(), 7)))
        .collect();
    assert!(
        plan_keys(&want, &actual, 7).is_empty(),
        "a keepalive never rewrites"
    );
    actual.insert(l.field_key("port"), ("18002".into(), 7));
    let p = plan_keys(&want, &actual, 7);
    assert_eq!(p.puts, vec![(l.field_key("port"), "18001".to_string())]);
    assert!(p.deletes.is_empty());
    let p = plan_keys(&want, &actual, 8);
    assert_eq!(p.puts.len(), 5, "all rebound to the new lease");
}

#[test]
fn plan_deletes_everything_when_nothing_is_wanted_and_cleans_the_other_format() {
    let l = keys_layout();
    let actual: Actual = l
        .render(&record())
        .into_iter()
        .map(|(k, v)| (k, (v, 7)))
        .collect();
    let p = plan_keys(&BTreeMap::new(), &actual, 7);
    assert_eq!(p.deletes.len(), 5);
    assert!(p.puts.is_empty());
    let mut actual = actual;
    actual.insert(l.prefix.clone(), ("{}".into(), 3));
    let p = plan_keys(&l.render(&record()), &actual, 7);
    assert_eq!(p.deletes, vec![l.prefix.clone()]);
}

#[test]
fn claim_rules() {
    let me = Owner {
        agent: "a1".into(),
        host: "core01".into(),
        container: "web01".into(),
        pid: 10,
        started_ms: 2_000,
    };
    let old_self = Owner {
        agent: "a1".into(),
        ..me.clone()
    };
    let dead_same_unit = Owner {
        agent: "a0".into(),
        pid: 9,
        started_ms: 1_000,
        ..me.clone()
    };
    let newer_same_unit = Owner {
        agent: "a2".into(),
        pid: 11,
        started_ms: 3_000,
        ..me.clone()
    };
    let other_container = Owner {
        agent: "b".into(),
        container: "web02".into(),
        ..me.clone()
    };
    let other_host = Owner {
        agent: "c".into(),
        host: "core02".into(),
        ..me.clone()
    };
    assert_eq!(handover(&me, Some(&old_self), true), Handover::TakeOver);
    assert_eq!(
        handover(&me, Some(&dead_same_unit), false),
        Handover::TakeOver
    );
    assert_eq!(
        handover(&me, Some(&dead_same_unit), true),
        Handover::Wait,
        "still running: a duplicate agent"
    );
    assert_eq!(
        handover(&me, Some(&newer_same_unit), false),
        Handover::Wait,
        "never take back from a newer agent"
    );
    assert_eq!(handover(&me, Some(&other_container), false), Handover::Wait);
    assert_eq!(handover(&me, Some(&other_host), false), Handover::Wait);
    assert_eq!(
        handover(&me, None, false),
        Handover::Wait,
        "unreadable owner: wait for its lease"
    );
}

#[test]
fn keys_are_canonical_or_refused_naming_the_value() {
    for (raw, want) in [
        ("/services/web/web01", "/services/web/web01"),
        ("/services/web/web01/", "/services/web/web01"),
        ("/web01", "/web01"),
        ("/a.b/..c/c..", "/a.b/..c/c.."),
    ] {
        assert_eq!(Layout::new(raw, KeyFormat::Keys).unwrap().prefix, want);
    }
    for (raw, why) in [
        ("web01", "must start with '/'"),
        ("services/web/web01", "must start with '/'"),
        ("/services/web/../web01", "\"..\" segment"),
        ("/services/./web01", "\".\" segment"),
        ("/services//web01", "empty segment"),
        ("//services/web01", "empty segment"),
        ("/services/web01//", "empty segment"),
        ("/", "below '/'"),
        ("", "empty"),
        ("/a\tb", "control"),
        ("/sidekick/owners/services/web/web01", "sidekick's own"),
        ("/sidekick", "sidekick's own"),
    ] {
        let e = Layout::new(raw, KeyFormat::Keys).unwrap_err();
        assert!(e.contains(why), "{raw:?}: {e}");
        assert!(e.contains(&format!("--key {raw:?}")), "{e}");
    }
}

#[test]
fn different_keys_never_share_an_owner_key() {
    // The lock-out of the issue: `web01` and `/web01` spelt the same owner key.
    let accepted: Vec<Layout> = [
        "/web01",
        "/services/web/web01",
        "/services/web/web01/",
        "/services/web",
    ]
    .iter()
    .filter_map(|k| Layout::new(k, KeyFormat::Keys).ok())
    .collect();
    for a in &accepted {
        for b in &accepted {
            assert_eq!(
                a.prefix == b.prefix,
                a.owner_key() == b.owner_key(),
                "{a:?} {b:?}"
            );
        }
        // An owner key is never one of the data keys another agent may write.
        assert!(Layout::new(&a.owner_key(), KeyFormat::Keys).is_err());
    }
    assert!(Layout::new("web01", KeyFormat::Keys).is_err());
    assert_eq!(
        Layout::new("/web01", KeyFormat::Keys).unwrap().owner_key(),
        "/sidekick/owners/web01"
    );
}
