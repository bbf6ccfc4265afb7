//! Unit tests of `pace`.

use super::*;

/// The most sends in any one-second window of `times` (sorted).
fn peak(times: &[Instant]) -> usize {
    times
        .iter()
        .enumerate()
        .map(|(i, t)| times[i..].iter().take_while(|u| **u < *t + SECOND).count())
        .max()
        .unwrap_or(0)
}

#[test]
fn non_get_methods_burst_up_to_the_allowance_then_space() {
    let t0 = Instant::now();
    let mut b = budget("PUT").expect("PUTs are paced");
    let waits: Vec<Duration> = (0..12).map(|_| b.book(t0)).collect();
    assert!(waits[..9].iter().all(|d| d.is_zero()), "{waits:?}");
    assert_eq!(waits[9], SECOND);
    let times: Vec<Instant> = waits.iter().map(|w| t0 + *w).collect();
    assert!(peak(&times) <= 9);
    assert_eq!(budget("DELETE").map(|b| b.burst), Some(4));
    assert_eq!(
        budget("GET").map(|b| b.interval),
        Some(SECOND / 3),
        "GETs have their own budget"
    );
}

#[test]
fn the_minute_allowance_holds_too() {
    let t0 = Instant::now();
    let mut b = Budget::new(Duration::ZERO, 4, Duration::from_secs(60));
    let mut last = Duration::ZERO;
    for i in 0..5u32 {
        last = b.book(t0 + Duration::from_millis(10) * i);
    }
    assert!(last >= Duration::from_secs(59), "{last:?}");
}

#[test]
fn an_idle_get_goes_out_at_once_and_a_burst_of_five_too() {
    let t0 = Instant::now();
    let mut b = budget("GET").expect("GETs are paced");
    let waits: Vec<Duration> = (0..5).map(|_| b.book(t0)).collect();
    assert!(waits.iter().all(|d| d.is_zero()), "{waits:?}");
    assert!(b.book(t0) >= SECOND, "the sixth waits for the window");
    // After a long idle spell the bucket is full again.
    let later = t0 + Duration::from_secs(60);
    assert!(b.book(later).is_zero());
}

#[test]
fn a_tight_poll_loop_is_held_to_3_per_second_and_5_in_any_second() {
    let t0 = Instant::now();
    let mut b = budget("GET").expect("GETs are paced");
    let mut now = t0;
    let mut sent = Vec::new();
    // A caller that asks again 1 ms after each send, for 20 s.
    while now < t0 + Duration::from_secs(20) {
        let wait = b.book(now);
        now += wait;
        sent.push(now);
        now += Duration::from_millis(1);
    }
    assert!(peak(&sent) <= 5, "peak {}", peak(&sent));
    // Sustained: the burst plus 3 per second.
    let n = sent.len();
    assert!(n <= 5 + 3 * 20 + 1, "{n} GETs in 20 s");
    assert!(n >= 3 * 20 - 1, "{n} GETs in 20 s: too slow");
    // Every 10 s stretch after the first burst holds 3/s.
    let tail: Vec<&Instant> = sent
        .iter()
        .filter(|t| **t >= t0 + Duration::from_secs(5) && **t < t0 + Duration::from_secs(15))
        .collect();
    assert!(tail.len() <= 31, "{} in 10 s", tail.len());
}

#[test]
fn gets_spaced_at_the_sustained_rate_never_wait() {
    let t0 = Instant::now();
    let mut b = budget("GET").expect("GETs are paced");
    for i in 0..100u32 {
        let at = t0 + Duration::from_millis(334) * i;
        assert!(b.book(at).is_zero(), "GET {i} waited");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_holds_that_method_only() {
    let p = Pacer::default();
    assert!(p.reserve("GET").is_zero());
    p.hold("GET", Duration::from_secs(7));
    let w = p.reserve("GET");
    assert!(
        w >= Duration::from_secs(7) && w < Duration::from_secs(8),
        "{w:?}"
    );
    assert!(p.reserve("POST").is_zero());
    tokio::time::advance(Duration::from_secs(8)).await;
    assert!(p.reserve("GET") < Duration::from_secs(1));
}
