//! Unit tests of `pace`.

use super::*;

#[test]
fn bursts_up_to_the_allowance_then_spaces_by_the_sliding_second() {
    let t0 = Instant::now();
    let mut w = VecDeque::new();
    let waits: Vec<Duration> = (0..12).map(|_| book(&mut w, 9, 599, t0)).collect();
    assert!(waits[..9].iter().all(|d| d.is_zero()), "{waits:?}");
    assert_eq!(
        waits[9], SECOND,
        "the tenth waits until the first leaves the window"
    );
    assert_eq!(waits[10], SECOND);
    // Never more than 9 booked in any one-second window.
    let mut times: Vec<Instant> = w.iter().copied().collect();
    times.sort();
    for (i, t) in times.iter().enumerate() {
        assert!(times[i..].iter().take_while(|u| **u < *t + SECOND).count() <= 9);
    }
}

#[test]
fn spaced_requests_never_wait() {
    let t0 = Instant::now();
    let mut w = VecDeque::new();
    for i in 0..50u32 {
        assert!(book(&mut w, 9, 599, t0 + Duration::from_millis(150) * i).is_zero());
    }
}

#[test]
fn the_minute_allowance_holds_too() {
    let t0 = Instant::now();
    let mut w = VecDeque::new();
    let mut last = Duration::ZERO;
    for i in 0..5u32 {
        last = book(&mut w, 100, 4, t0 + Duration::from_millis(10) * i);
    }
    assert!(last >= Duration::from_secs(59), "{last:?}");
    assert!(allowance("PATCH").is_none());
    assert_eq!(allowance("DELETE"), Some((4, 299)));
}
