use super::*;

fn outcome(status: Option<u16>, error: Option<&str>) -> Outcome {
    Outcome {
        pass: error.is_none(),
        status,
        observed_sha1: None,
        expected_sha1: None,
        body_bytes: None,
        error: error.map(str::to_string),
        elapsed_ms: 3,
    }
}

#[test]
fn run_is_ready_once_its_key_was_written_or_removed() {
    let mut s = Summary::new(Mode::Run);
    assert!(!s.ready());
    assert_eq!(s.line(), "starting");
    s.reason = Some("waiting for the first passing health probe".into());
    assert!(!s.ready());
    s.registered.insert("/services/web/w1".into(), false);
    assert!(s.ready(), "a deliberate absence is a decision");
    assert_eq!(
        s.line(),
        "/services/web/w1 not registered: waiting for the first passing health probe"
    );
    s.registered.insert("/services/web/w1".into(), true);
    s.reason = Some("running, published and healthy".into());
    assert_eq!(
        s.line(),
        "/services/web/w1 registered: running, published and healthy"
    );
}

#[test]
fn host_is_ready_after_its_first_full_look() {
    let mut s = Summary::new(Mode::Host);
    assert!(!s.ready());
    s.host_pass_done = true;
    s.registered.insert("/a".into(), true);
    s.registered.insert("/b".into(), false);
    assert!(s.ready());
    assert_eq!(s.line(), "1 of 2 keys registered");
}

#[test]
fn lbsync_is_ready_after_a_pass_or_as_standby() {
    let mut s = Summary::new(Mode::Lbsync);
    assert!(!s.ready());
    assert_eq!(s.line(), "campaigning");
    s.role = Some("standby (leader: h/1)".into());
    assert!(s.ready());
    let mut l = Summary::new(Mode::Lbsync);
    l.role = Some("leader".into());
    l.desired = Some(3);
    assert!(!l.ready());
    l.actual = Some(2);
    l.passes = 1;
    assert!(l.ready());
    assert_eq!(
        l.line(),
        "leader; 3 desired, 2 in the load balancer; last pass did not converge"
    );
    l.last_pass_ok = true;
    assert!(l.line().ends_with("; converged"));
}

#[test]
fn probe_failures_have_a_bounded_reason() {
    let r = |s, e| probe_failure_reason(&outcome(s, Some(e)));
    assert_eq!(r(Some(503), "status 503 is not 2xx"), "status");
    assert_eq!(
        r(Some(200), "body SHA1 x does not match the expected y"),
        "digest"
    );
    assert_eq!(
        r(None, "GET http://a/: no complete answer within 2s"),
        "timeout"
    );
    assert_eq!(
        r(None, "connect 1.2.3.4:80: no answer within 2s"),
        "timeout"
    );
    assert_eq!(
        r(
            None,
            "connect 1.2.3.4:80: Connection refused (os error 111)"
        ),
        "connect"
    );
    assert_eq!(
        r(
            None,
            "GET http://a/: client error (Connect): tcp connect error"
        ),
        "connect"
    );
    assert_eq!(r(None, "GET http://a/: reading body: oops"), "error");
}
