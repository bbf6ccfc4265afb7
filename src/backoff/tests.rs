use super::*;

#[test]
fn retry_log_warns_first_then_throttles_and_resets_on_success() {
    let mut r = RetryLog::new("reaching etcd");
    assert!(r.failed(&"refused"));
    assert!(!r.failed(&"refused"), "throttled");
    assert_eq!(r.failures(), 2);
    assert!(r.succeeded(), "the first recovery is said");
    assert_eq!(r.failures(), 0);
    assert!(!r.succeeded(), "nothing to recover from");
}

#[test]
fn a_flapping_operation_logs_one_pair_per_period_not_per_failure() {
    let mut r = RetryLog::new("reaching etcd");
    let mut lines = 0;
    for _ in 0..20 {
        lines += usize::from(r.failed(&"refused"));
        lines += usize::from(r.succeeded());
    }
    assert_eq!(
        lines, 2,
        "one WARN and one INFO for 20 flaps within a period"
    );
    assert_eq!(r.unreported_failures, 19);
    assert_eq!(r.unreported_recoveries, 19);
}

#[test]
fn grows_to_the_cap_with_jitter_and_resets() {
    let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let mut last_upper = Duration::ZERO;
    for i in 0..10 {
        let d = b.next_delay();
        let upper = (Duration::from_millis(100) * 2u32.pow(i.min(4))).min(Duration::from_secs(1));
        assert!(
            d <= upper && d >= upper / 2,
            "attempt {i}: {d:?} not in [{:?}, {upper:?}]",
            upper / 2
        );
        last_upper = upper;
    }
    assert_eq!(last_upper, Duration::from_secs(1));
    assert_eq!(b.attempts(), 10);
    b.reset();
    assert!(b.next_delay() <= Duration::from_millis(100));
}

#[tokio::test(start_paused = true)]
async fn retry_until_stopped_retries_transient_errors_and_returns_final_ones_at_once() {
    let backoff = || Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let mut calls = 0;
    let got = retry_until_stopped(
        "test",
        backoff(),
        std::future::pending(),
        || {
            calls += 1;
            std::future::ready(if calls < 3 {
                Err("transient")
            } else {
                Ok(calls)
            })
        },
        |_| false,
    )
    .await;
    assert_eq!(got, Ok(Some(3)));

    let mut calls = 0;
    let got: Result<Option<()>, &str> = retry_until_stopped(
        "test",
        backoff(),
        std::future::pending(),
        || {
            calls += 1;
            std::future::ready(Err("bad config"))
        },
        |e| *e == "bad config",
    )
    .await;
    assert_eq!((got, calls), (Err("bad config"), 1));

    let got: Result<Option<()>, &str> = retry_until_stopped(
        "test",
        backoff(),
        tokio::time::sleep(Duration::from_secs(3)),
        || std::future::ready(Err("down")),
        |_| false,
    )
    .await;
    assert_eq!(got, Ok(None), "stop ends the wait");
}
