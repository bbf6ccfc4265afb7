use super::*;

#[test]
fn texts_match_the_reference() {
    let m = |f: Fault| f.body().unwrap()["message"].clone();
    assert_eq!(
        m(immutable_single(375263, "ERROR")),
        "Load Balancer '375263' has a status of 'ERROR' and is considered immutable."
    );
    assert_eq!(
        m(immutable_bulk("PENDING_DELETE")),
        "LoadBalancer is not ACTIVE"
    );
    assert_eq!(
        m(immutable_bulk("DELETED")),
        "The load balancer is deleted and considered immutable."
    );
    assert_eq!(
        m(Fault::NodeLimit(25)),
        "Nodes must not exceed 25 per load balancer."
    );
    assert_eq!(Fault::Unauthorized.body(), None);
    assert_eq!(
        Fault::Schema.body().unwrap(),
        json!({"message": ["JSON does not match the expected schema"]})
    );
}

#[test]
fn retry_after_rounds_up_to_whole_seconds() {
    let now = Utc::now();
    for (ms, secs) in [(1, 1), (999, 1), (1000, 1), (1001, 2), (59_500, 60)] {
        match rate_limited(std::time::Duration::from_millis(ms), now) {
            Fault::RateLimited {
                retry_after_secs, ..
            } => assert_eq!(retry_after_secs, secs, "{ms}ms"),
            other => panic!("{other:?}"),
        }
    }
}
