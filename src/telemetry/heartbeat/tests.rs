use super::*;

#[tokio::test(start_paused = true)]
async fn a_loop_is_stale_after_three_periods_plus_its_allowance() {
    let h = Heartbeat::new(Duration::from_secs(1));
    let quick = h.add("agent", Duration::ZERO);
    let slow = h.add("lbsync", Duration::from_secs(10));
    let t0 = Instant::now();
    assert_eq!(h.stale(t0 + Duration::from_secs(3)), None);
    let (name, age) = h.stale(t0 + Duration::from_millis(3100)).expect("stale");
    assert_eq!((name, age), ("agent", Duration::from_millis(3100)));
    h.beat(quick, t0 + Duration::from_secs(3));
    assert_eq!(h.stale(t0 + Duration::from_secs(6)), None);
    h.beat(quick, t0 + Duration::from_secs(13));
    assert_eq!(
        h.stale(t0 + Duration::from_secs(14)).map(|(n, _)| n),
        Some("lbsync")
    );
    h.remove(slow);
    assert_eq!(h.stale(t0 + Duration::from_secs(14)), None);
}

#[test]
fn the_period_fits_six_times_in_the_watchdog_timeout() {
    assert_eq!(period_for(None), DEFAULT_PERIOD);
    assert_eq!(
        period_for(Some(Duration::from_secs(30))),
        Duration::from_secs(5)
    );
    assert_eq!(
        period_for(Some(Duration::from_secs(2))),
        Duration::from_nanos(333_333_333)
    );
    assert_eq!(period_for(Some(Duration::from_secs(600))), DEFAULT_PERIOD);
    assert_eq!(
        period_for(Some(Duration::from_millis(1))),
        Duration::from_millis(50)
    );
}
