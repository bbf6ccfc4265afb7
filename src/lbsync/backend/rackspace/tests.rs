use super::*;

#[test]
fn the_pending_hint_follows_the_window_and_never_collapses_to_zero() {
    let ms = Duration::from_millis;
    // No window (PENDING 0): stays zero.
    assert_eq!(next_hint(Duration::ZERO, None), Duration::ZERO);
    // Seen PENDING up to 290 ms: wait that long next time.
    assert_eq!(next_hint(Duration::ZERO, Some(ms(290))), ms(290));
    // The hinted first look found it ACTIVE: shave the hint, keep most of it.
    assert_eq!(next_hint(ms(320), None), ms(240));
    // A window that shrank from 10 s to 300 ms is re-learned in about a dozen mutations.
    let mut h = MAX_HINT;
    let mut n = 0;
    while h > ms(300) {
        h = next_hint(h, None);
        n += 1;
    }
    assert!(n <= 13, "{n}");
    assert_eq!(next_hint(ms(20_000), Some(ms(20_000))), MAX_HINT);
}
