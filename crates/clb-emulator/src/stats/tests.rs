use super::*;

#[test]
fn route_kinds() {
    assert_eq!(route_kind("/v2.0/tokens"), "tokens");
    assert_eq!(route_kind("/v1.0/1/loadbalancers"), "loadbalancers");
    assert_eq!(
        route_kind("/v1.0/1/loadbalancers/absolutelimits"),
        "absolutelimits"
    );
    assert_eq!(route_kind("/v1.0/1/loadbalancers/7"), "loadbalancer");
    assert_eq!(route_kind("/v1.0/1/loadbalancers/7/nodes"), "nodes");
    assert_eq!(route_kind("/v1.0/1/loadbalancers/7/nodes/9"), "node");
    assert_eq!(
        route_kind("/v1.0/1/loadbalancers/7/healthmonitor"),
        "unmatched"
    );
    assert_eq!(route_kind("/"), "unmatched");
}

#[test]
fn recorder_counts_and_resets() {
    let mut r = Recorder::default();
    r.request("POST", "tokens", 401, Some(Outcome::AuthFailure));
    r.request("GET", "nodes", 200, None);
    r.request("GET", "nodes", 200, None);
    let s = r.snapshot();
    assert_eq!((s.auth_calls, s.auth_failures), (1, 1));
    assert_eq!(s.requests_for("GET", "nodes", 200), 2);
    assert_eq!(s.requests_to("POST", "tokens"), 1);
    assert_eq!(s.total_requests(), 3);
    assert_eq!(s.timeline.len(), 3);
    assert_eq!(s.peak_in_window("GET", 1000), 2);
    assert_eq!(s.times_of("POST", Some("tokens")).len(), 1);
    r.reset();
    assert_eq!(r.snapshot(), Stats::default());
}
