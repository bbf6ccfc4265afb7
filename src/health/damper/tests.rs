use super::*;

#[test]
fn default_rise_1_fall_2() {
    let mut d = Damper::new(1, 2);
    assert!(!d.healthy());
    assert_eq!(d.record(true), Transition::Rose);
    assert_eq!(d.record(false), Transition::Steady, "one failure is damped");
    assert!(d.healthy());
    assert_eq!(d.record(true), Transition::Steady);
    assert_eq!(d.record(false), Transition::Steady);
    assert_eq!(d.record(false), Transition::Fell);
    assert!(!d.healthy());
}

#[test]
fn rise_needs_consecutive_passes() {
    let mut d = Damper::new(3, 1);
    assert_eq!(d.record(true), Transition::Steady);
    assert_eq!(d.record(true), Transition::Steady);
    assert_eq!(
        d.record(false),
        Transition::Steady,
        "a failure restarts the count"
    );
    assert_eq!(d.record(true), Transition::Steady);
    assert_eq!(d.record(true), Transition::Steady);
    assert_eq!(d.record(true), Transition::Rose);
    assert_eq!(d.record(false), Transition::Fell, "fall 1 drops at once");
}

#[test]
fn flapping_never_changes_state_with_fall_2() {
    let mut d = Damper::new(1, 2);
    d.record(true);
    for i in 0..100 {
        assert_eq!(d.record(i % 2 == 0), Transition::Steady);
    }
    assert!(d.healthy());
}

#[test]
fn passes_count_the_current_run() {
    let mut d = Damper::new(3, 1);
    d.record(false);
    d.record(true);
    d.record(true);
    assert_eq!((d.passes(), d.healthy()), (2, false));
    d.record(false);
    assert_eq!(d.passes(), 0);
}

#[test]
fn reset_forgets() {
    let mut d = Damper::new(1, 2);
    d.record(true);
    d.reset();
    assert!(!d.healthy());
}
