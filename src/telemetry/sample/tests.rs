use super::*;

#[test]
fn samples_are_capped_with_a_count_of_the_rest() {
    assert_eq!(sample(1..=3, 10), "1 2 3");
    assert_eq!(sample(1..=12, 2), "1 2 (+10 more)");
    assert_eq!(sample(Vec::<u8>::new(), 2), "");
}
