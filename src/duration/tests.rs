use super::*;

#[test]
fn parses_the_documented_forms() {
    assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse("5s"), Ok(Duration::from_secs(5)));
    assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
    assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse(" 0s "), Ok(Duration::ZERO));
}

#[test]
fn rejects_what_it_cannot_read_and_names_it() {
    for bad in [
        "",
        "5",
        "0",
        " 15 ",
        "s",
        "5x",
        "-5s",
        "99999999999999999999s",
        "18446744073709551615h",
    ] {
        let e = parse(bad).expect_err(bad);
        assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
    }
}

#[test]
fn format_round_trips() {
    for ms in [
        0, 1, 500, 1000, 15_000, 120_000, 90_000, 3_600_000, 86_400_000,
    ] {
        let d = Duration::from_millis(ms);
        assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
    }
    assert_eq!(format(Duration::from_secs(90)), "1m30s");
    assert_eq!(format(Duration::from_secs(86_400)), "24h");
}

#[test]
fn after_never_panics() {
    let now = tokio::time::Instant::now();
    assert_eq!(
        after(now, Duration::from_secs(5)),
        now + Duration::from_secs(5)
    );
    assert!(after(now, Duration::MAX) > now);
    assert!(after(now, Duration::from_secs(u64::MAX)) > now);
}
