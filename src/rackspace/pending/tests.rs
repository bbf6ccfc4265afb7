//! Unit tests of `pending`.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn nothing_in_flight_means_look_now() {
    let w = PendingWindows::default();
    assert_eq!(w.suggested_delay(7, Instant::now()), Duration::ZERO);
}

#[test]
fn the_window_is_learned_and_then_slept_through() {
    let t0 = Instant::now();
    let mut w = PendingWindows::default();
    w.mutated(7, t0);
    // Nothing learned yet: short looks that grow with the time since the mutation.
    assert_eq!(w.suggested_delay(7, t0), MIN_POLL);
    w.observed(7, false, t0 + ms(100));
    assert_eq!(w.suggested_delay(7, t0 + ms(600)), ms(300));
    w.observed(7, false, t0 + ms(900));
    w.observed(7, true, t0 + ms(1000));
    assert_eq!(w.learned(), Some(ms(1000)));
    assert_eq!(w.suggested_delay(7, t0 + ms(1000)), Duration::ZERO);

    // The next mutation: one sleep to the end of the window.
    let t1 = t0 + ms(5000);
    w.mutated(7, t1);
    assert_eq!(w.suggested_delay(7, t1), ms(1000));
    assert_eq!(w.suggested_delay(7, t1 + ms(400)), ms(600));
    assert_eq!(w.suggested_delay(7, t1 + ms(1001)), Duration::ZERO);
    // Still pending at its end: a short step...
    w.observed(7, false, t1 + ms(1001));
    assert_eq!(w.suggested_delay(7, t1 + ms(1001)), STEP);
    w.observed(7, false, t1 + ms(1013));
    assert_eq!(w.suggested_delay(7, t1 + ms(1013)), STEP);
    // ...then half the time past the end (the window got longer), at most 10 s.
    w.observed(7, false, t1 + ms(1100));
    assert_eq!(w.suggested_delay(7, t1 + ms(1100)), ms(50));
    w.observed(7, false, t1 + ms(1200));
    assert_eq!(w.suggested_delay(7, t1 + ms(1200)), ms(100));
    assert_eq!(w.suggested_delay(7, t1 + ms(60_000)), MAX_POLL_DELAY);
    w.observed(7, true, t1 + ms(1800));
    assert_eq!(w.learned(), Some(ms(1800)));
}

#[test]
fn a_pending_look_before_the_expected_end_waits_for_it() {
    let t0 = Instant::now();
    let mut w = PendingWindows::default();
    w.mutated(1, t0);
    w.observed(1, true, t0 + ms(300));
    w.mutated(1, t0 + ms(1000));
    // A caller that looked early (e.g. a re-plan) is sent to the expected end, not stepped.
    w.observed(1, false, t0 + ms(1100));
    assert_eq!(w.suggested_delay(1, t0 + ms(1100)), ms(200));
}

#[test]
fn first_looks_already_active_shrink_the_estimate_by_growing_steps() {
    let t0 = Instant::now();
    let mut w = PendingWindows::default();
    w.mutated(1, t0);
    w.observed(1, true, t0 + ms(800));
    assert_eq!(w.learned(), Some(ms(800)));
    let mut t = t0;
    for want in [795, 785, 765, 725, 645] {
        t += ms(2000);
        w.mutated(1, t);
        w.observed(1, true, t + ms(801));
        assert_eq!(w.learned(), Some(ms(want)));
    }
    // A look that finds it still pending, then ACTIVE one step later, learns that tightly and
    // starts the shrinking over.
    t += ms(2000);
    w.mutated(1, t);
    w.observed(1, false, t + ms(645));
    w.observed(1, true, t + ms(657));
    assert_eq!(w.learned(), Some(ms(657)));
    t += ms(2000);
    w.mutated(1, t);
    w.observed(1, true, t + ms(658));
    assert_eq!(w.learned(), Some(ms(652)));
}

#[test]
fn a_steady_window_is_hit_within_a_step() {
    // The window really lasts 300 ms; a caller that follows the suggestions sees ACTIVE at most
    // one step after its end, and spends at most two looks per window.
    let t0 = Instant::now();
    let mut w = PendingWindows::default();
    let mut worst = Duration::ZERO;
    for k in 0..50u64 {
        let m = t0 + Duration::from_secs(2 * k);
        w.mutated(1, m);
        let mut now = m;
        let mut looks = 0;
        loop {
            now += w.suggested_delay(1, now).max(ms(1));
            looks += 1;
            let active = now >= m + ms(300);
            w.observed(1, active, now);
            if active {
                break;
            }
            assert!(looks < 30);
        }
        if k > 0 {
            assert!(looks <= 2, "window {k}: {looks} looks");
            worst = worst.max(now - (m + ms(300)));
        }
    }
    assert!(worst <= STEP, "{worst:?}");
}

#[test]
fn other_load_balancers_and_caps() {
    let t0 = Instant::now();
    let mut w = PendingWindows::default();
    w.mutated(1, t0);
    assert_eq!(w.suggested_delay(2, t0), Duration::ZERO);
    w.observed(2, true, t0 + ms(5));
    assert_eq!(w.learned(), None);
    w.observed(1, false, t0 + Duration::from_secs(100));
    w.observed(1, true, t0 + Duration::from_secs(200));
    assert_eq!(w.learned(), Some(MAX_WINDOW));
    w.mutated(1, t0);
    assert!(w.suggested_delay(1, t0 + Duration::from_secs(500)) <= MAX_POLL_DELAY);
}
