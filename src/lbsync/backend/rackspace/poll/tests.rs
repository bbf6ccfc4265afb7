//! Unit tests of `poll`.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn a_window_not_ours_is_polled_from_100_ms_growing_by_half() {
    let mut w = PendingWindow::default();
    w.ended(ms(300), None);
    assert_eq!(w.delay(false, Duration::ZERO, None), MIN_POLL);
    assert_eq!(w.delay(false, ms(600), Some(ms(600))), ms(300));
    assert_eq!(w.delay(false, ms(60_000), Some(ms(600))), MAX_POLL);
}

#[test]
fn the_window_is_learned_and_then_slept_through() {
    let mut w = PendingWindow::default();
    // Nothing learned yet: short looks that grow with the time since the mutation.
    assert_eq!(w.delay(true, Duration::ZERO, None), MIN_POLL);
    assert_eq!(w.delay(true, ms(600), Some(ms(100))), ms(300));
    w.ended(ms(1000), Some(ms(900)));
    assert_eq!(w.learned, Some(ms(1000)));

    // The next mutation: one sleep to the end of the window.
    assert_eq!(w.delay(true, Duration::ZERO, None), ms(1000));
    assert_eq!(w.delay(true, ms(400), None), ms(600));
    assert_eq!(w.delay(true, ms(1001), None), Duration::ZERO);
    // Still pending at its end: a short step...
    assert_eq!(w.delay(true, ms(1001), Some(ms(1001))), STEP);
    assert_eq!(w.delay(true, ms(1013), Some(ms(1013))), STEP);
    // ...then half the time past the end (the window got longer), at most 2 s.
    assert_eq!(w.delay(true, ms(1100), Some(ms(1100))), ms(50));
    assert_eq!(w.delay(true, ms(1200), Some(ms(1200))), ms(100));
    assert_eq!(w.delay(true, ms(60_000), Some(ms(1200))), MAX_POLL);
    w.ended(ms(1800), Some(ms(1200)));
    assert_eq!(w.learned, Some(ms(1800)));
}

#[test]
fn a_pending_look_before_the_expected_end_waits_for_it() {
    let mut w = PendingWindow::default();
    w.ended(ms(300), None);
    // A caller that looked early (e.g. a re-plan) is sent to the expected end, not stepped.
    assert_eq!(w.delay(true, ms(100), Some(ms(100))), ms(200));
}

#[test]
fn first_looks_already_active_shrink_the_estimate_by_growing_steps() {
    let mut w = PendingWindow::default();
    w.ended(ms(800), None);
    assert_eq!(w.learned, Some(ms(800)));
    for want in [795, 785, 765, 725, 645] {
        w.ended(ms(801), None);
        assert_eq!(w.learned, Some(ms(want)));
    }
    // A look that finds it still pending, then ACTIVE one step later, learns that tightly and
    // starts the shrinking over.
    w.ended(ms(657), Some(ms(645)));
    assert_eq!(w.learned, Some(ms(657)));
    w.ended(ms(658), None);
    assert_eq!(w.learned, Some(ms(652)));
}

#[test]
fn a_steady_window_is_hit_within_a_step() {
    // The window really lasts 300 ms; a wait that follows the delays sees ACTIVE at most one
    // step after its end, and spends at most two looks per window.
    let mut w = PendingWindow::default();
    let mut worst = Duration::ZERO;
    for k in 0..50 {
        let (mut now, mut pending_seen, mut looks) = (Duration::ZERO, None, 0);
        loop {
            now += w.delay(true, now, pending_seen).max(ms(1));
            looks += 1;
            if now >= ms(300) {
                w.ended(now, pending_seen);
                break;
            }
            pending_seen = Some(now);
            assert!(looks < 30);
        }
        if k > 0 {
            assert!(looks <= 2, "window {k}: {looks} looks");
            worst = worst.max(now - ms(300));
        }
    }
    assert!(worst <= STEP, "{worst:?}");
}

#[test]
fn a_long_window_is_polled_at_most_2_s_apart() {
    let mut w = PendingWindow::default();
    w.ended(Duration::from_secs(200), Some(Duration::from_secs(100)));
    assert_eq!(w.delay(true, Duration::ZERO, None), MAX_POLL);
    assert!(
        w.delay(
            true,
            Duration::from_secs(500),
            Some(Duration::from_secs(500))
        ) <= MAX_POLL
    );
}
