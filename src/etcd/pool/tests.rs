use super::choose;

#[test]
fn stays_on_a_healthy_member_and_moves_to_the_next_healthy_one() {
    let t = true;
    let f = false;
    assert_eq!(choose(1, &[t, t, t], &[t, t, t]), 1, "sticky while healthy");
    assert_eq!(
        choose(0, &[f, t, t], &[t, t, t]),
        1,
        "the first endpoint down"
    );
    assert_eq!(
        choose(1, &[t, f, t], &[t, t, t]),
        2,
        "the next one after it, wrapping"
    );
    assert_eq!(choose(2, &[t, t, f], &[t, t, t]), 0, "wraps around");
    assert_eq!(
        choose(0, &[f, f, f], &[t, f, t]),
        2,
        "none known healthy: try the next member that has a client"
    );
    assert_eq!(choose(0, &[f, f, f], &[t, f, f]), 0, "nothing else to try");
    assert_eq!(choose(0, &[], &[]), 0);
}
