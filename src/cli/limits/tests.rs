use super::*;

#[test]
fn defaults_are_in_range() {
    for f in ALL {
        assert_eq!(f.parse(f.default), Ok(f.default_value()), "{}", f.flag);
    }
}

#[test]
fn the_reported_overflows_are_refused_naming_flag_and_value() {
    for f in ALL {
        for v in ["18446744073709551615s", "9999999999s", "25h"] {
            let e = f.parse(v).expect_err(v);
            assert!(e.contains(&format!("{v:?}")), "{e}");
        }
    }
    let e = TTL.parse("1s").unwrap_err();
    assert!(e.contains("below the minimum 2s"), "{e}");
    assert!(HEALTH_TIMEOUT.parse("0s").is_err());
    assert_eq!(DEBOUNCE.parse("0s"), Ok(Duration::ZERO));
    assert_eq!(TTL.parse("1h"), Ok(HOUR), "the maximum is included");
}

#[test]
fn every_lease_ttl_is_below_etcds_maximum() {
    // etcd's MaxLeaseTTL.
    let etcd_max = Duration::from_secs(9_000_000_000);
    assert!(TTL.max < etcd_max && ELECTION_TTL.max < etcd_max);
}

#[test]
fn help_shows_the_range() {
    assert_eq!(TTL.help("Lease TTL."), "Lease TTL. [range: 2s..=1h]");
    assert_eq!(DEBOUNCE.range(), "0s..=10s");
}
