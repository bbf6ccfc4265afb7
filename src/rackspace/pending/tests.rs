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

    // The next mutation: one sleep to just past the window.
    let t1 = t0 + ms(5000);
    w.mutated(7, t1);
    assert_eq!(w.suggested_delay(7, t1), ms(1000) + MARGIN);
    assert_eq!(w.suggested_delay(7, t1 + ms(400)), ms(600) + MARGIN);
    // Still pending past it: back to growing looks.
    w.observed(7, false, t1 + ms(1020));
    assert_eq!(w.suggested_delay(7, t1 + ms(1020)), ms(510));
}

#[test]
fn a_first_look_already_active_shrinks_the_estimate() {
    let t0 = Instant::now();
    let mut w = PendingWindows::default();
    w.mutated(1, t0);
    w.observed(1, true, t0 + ms(800));
    assert_eq!(w.learned(), Some(ms(800)));
    w.mutated(1, t0 + ms(2000));
    w.observed(1, true, t0 + ms(2820));
    assert_eq!(w.learned(), Some(ms(600)));
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
