use super::*;

#[test]
fn per_second_window_refuses_then_recovers() {
    let mut rl = RateLimiter::default();
    let t0 = Instant::now();
    for _ in 0..5 {
        assert_eq!(rl.check("t", "POST", t0), Ok(()));
    }
    let wait = rl
        .check("t", "POST", t0 + Duration::from_millis(200))
        .unwrap_err();
    assert_eq!(wait, Duration::from_millis(800));
    // Other methods and other accounts have their own allowance.
    assert_eq!(rl.check("t", "GET", t0), Ok(()));
    assert_eq!(rl.check("u", "POST", t0), Ok(()));
    assert_eq!(rl.check("t", "POST", t0 + SECOND), Ok(()));
    assert_eq!(rl.check("t", "HEAD", t0), Ok(()));
}

#[test]
fn per_minute_window() {
    let mut rl = RateLimiter::default();
    let t0 = Instant::now();
    // 300 POSTs spread at 5 per second fill the minute.
    for i in 0..300u64 {
        let t = t0 + Duration::from_millis(i * 200);
        assert_eq!(rl.check("t", "POST", t), Ok(()), "request {i}");
    }
    let t = t0 + Duration::from_secs(60) - Duration::from_millis(100);
    let wait = rl.check("t", "POST", t).unwrap_err();
    assert_eq!(wait, Duration::from_millis(100));
    assert_eq!(rl.check("t", "POST", t0 + Duration::from_secs(60)), Ok(()));
}
