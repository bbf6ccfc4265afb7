//! One test per row of the reference's error tables (rackspace-clb-api.md §2–§4).

use std::time::{Duration, SystemTime};

use super::*;
use crate::rackspace::sanitize::{describe_non_json, one_line};

fn now() -> SystemTime {
    // 2015-06-13T22:30:00Z
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_434_234_600)
}

/// A reply on the load balancer's own URL.
fn lb_reply<'a>(status: u16, retry_after: Option<&'a str>, body: &'a [u8]) -> Reply<'a> {
    Reply {
        status,
        path: "/loadbalancers/1",
        content_type: Some("application/json"),
        retry_after,
        body,
    }
}

fn clb(status: u16, body: &str) -> Error {
    classify(lb_reply(status, None, body.as_bytes()), now())
}

fn clb_ra(status: u16, retry_after: Option<&str>, body: &[u8]) -> Error {
    classify(lb_reply(status, retry_after, body), now())
}

/// A reply on another route, with a content type.
fn other(status: u16, path: &str, content_type: &str, body: &str) -> Error {
    let reply = Reply {
        status,
        path,
        content_type: Some(content_type),
        retry_after: None,
        body: body.as_bytes(),
    };
    classify(reply, now())
}

#[test]
fn immutable_pending_update_with_status() {
    let e = clb(
        422,
        r#"{"code":422,"message":"Load Balancer '123' has a status of 'PENDING_UPDATE' and is considered immutable."}"#,
    );
    assert_eq!(
        e,
        Error::Immutable {
            lb_status: Some("PENDING_UPDATE".into()),
            message:
                "Load Balancer '123' has a status of 'PENDING_UPDATE' and is considered immutable."
                    .into()
        }
    );
    assert!(e.is_transient());
    assert_eq!(e.metric_label(), "immutable");
}

#[test]
fn immutable_error_and_build() {
    let e = clb(
        422,
        r#"{"message":"Load Balancer '375263' has a status of 'ERROR' and is considered immutable.","code":422}"#,
    );
    assert!(matches!(e, Error::Immutable { lb_status: Some(ref s), .. } if s == "ERROR"));
    let e = clb(
        422,
        r#"{"message":"Load Balancer '1' has a status of 'BUILD' and is considered immutable.","code":422}"#,
    );
    assert!(matches!(e, Error::Immutable { lb_status: Some(ref s), .. } if s == "BUILD"));
}

#[test]
fn bulk_delete_not_active_is_immutable_without_status() {
    let e = clb(
        422,
        r#"{"message":"LoadBalancer is not ACTIVE","code":422}"#,
    );
    assert!(
        matches!(
            e,
            Error::Immutable {
                lb_status: None,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn pending_delete_and_deleted_mean_gone() {
    for body in [
        r#"{"message":"Load Balancer '9' has a status of 'PENDING_DELETE' and is considered immutable.","code":422}"#,
        r#"{"message":"Load Balancer '9' has a status of 'DELETED' and is considered immutable.","code":422}"#,
        r#"{"message":"The load balancer is deleted and considered immutable.","code":422}"#,
    ] {
        let e = clb(422, body);
        assert_eq!(e.metric_label(), "lb_gone", "{body}");
        assert!(!e.is_transient());
    }
}

#[test]
fn lb_404_and_410_mean_gone() {
    let e = clb(404, r#"{"message":"Load balancer not found","code":404}"#);
    assert_eq!(
        e,
        Error::LbGone {
            message: "Load balancer not found".into()
        }
    );
    let e = clb(
        410,
        r#"{"message":"The loadbalancer is marked as deleted.","code":410}"#,
    );
    assert_eq!(e.metric_label(), "lb_gone");
    assert_eq!(clb(404, "").metric_label(), "lb_gone");
}

#[test]
fn node_404_is_node_not_found() {
    let e = clb(404, r#"{"message":"Node not found","code":404}"#);
    assert_eq!(e.metric_label(), "node_not_found");
    let e = clb(
        404,
        r#"{"message":"Node with id #5 not found for loadbalancer #7","code":404}"#,
    );
    assert_eq!(e.metric_label(), "node_not_found");
}

#[test]
fn duplicate_422_and_mimic_413() {
    let body = r#"{"message":"Duplicate nodes detected. One or more nodes already configured on load balancer.","code":422}"#;
    assert_eq!(clb(422, body).metric_label(), "duplicate");
    assert_eq!(clb(413, body).metric_label(), "duplicate");
    assert!(!clb(422, body).is_transient());
}

#[test]
fn node_limit_413_flat_body() {
    let e = clb(
        413,
        r#"{"message":"Nodes must not exceed 25 per load balancer.","code":413}"#,
    );
    assert_eq!(
        e,
        Error::NodeLimit {
            message: "Nodes must not exceed 25 per load balancer.".into()
        }
    );
    assert!(!e.is_transient());
}

#[test]
fn rate_limit_413_wrapped_with_header() {
    let body = br#"{"overLimit":{"code":413,"message":"OverLimit Retry...","details":"Error Details...","retryAfter":"2015-06-13T22:30:10Z"}}"#;
    let e = clb_ra(413, Some("7"), body);
    assert_eq!(
        e,
        Error::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(e.is_transient());
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    let e = clb_ra(413, None, body);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(10)));
}

#[test]
fn rate_limit_without_any_hint() {
    let e = clb_ra(
        413,
        None,
        br#"{"overLimit":{"code":413,"message":"OverLimit Retry..."}}"#,
    );
    assert_eq!(e, Error::RateLimited { retry_after: None });
    assert_eq!(clb_ra(429, None, b"").metric_label(), "rate_limited");
    assert_eq!(clb_ra(413, Some("5"), b"").metric_label(), "rate_limited");
}

#[test]
fn not_part_of_lb_parses_ids() {
    let body = r#"{"validationErrors":{"messages":["Node ids 100,200 are not a part of your loadbalancer"]},"message":"Validation Failure","code":400,"details":"The object is not valid"}"#;
    assert_eq!(
        clb(400, body),
        Error::NotPartOfLb {
            ids: vec![100, 200]
        }
    );
    let one = r#"{"validationErrors":{"messages":["Node ids 7 are not a part of your loadbalancer"]},"message":"Validation Failure","code":400}"#;
    assert_eq!(clb(400, one), Error::NotPartOfLb { ids: vec![7] });
}

#[test]
fn bulk_delete_over_limit_is_bad_request_with_validation_text() {
    let body = r#"{"validationErrors":{"messages":["Request to delete 11 nodes exceeds the account limit BATCH_DELETE_LIMIT of 10 please attempt to delete fewer then 10 nodes"]},"message":"Validation Failure","code":400,"details":"The object is not valid"}"#;
    let e = clb(400, body);
    assert!(
        matches!(e, Error::BadRequest { ref message } if message.contains("BATCH_DELETE_LIMIT")),
        "{e:?}"
    );
}

#[test]
fn bad_request_message_string_or_array() {
    let e = clb(
        400,
        r#"{"message":"Must supply one or more id's to process this request.","code":400}"#,
    );
    assert_eq!(
        e,
        Error::BadRequest {
            message: "Must supply one or more id's to process this request.".into()
        }
    );
    let e = clb(
        400,
        r#"{"message":["JSON does not match the expected schema"]}"#,
    );
    assert_eq!(
        e,
        Error::BadRequest {
            message: "JSON does not match the expected schema".into()
        }
    );
    let e = clb(
        400,
        r#"{"validationErrors":{"messages":["Node ip field cannot be modified.","Port field cannot be modified."]},"message":"Validation Failure","code":400}"#,
    );
    assert_eq!(
        e,
        Error::BadRequest {
            message: "Node ip field cannot be modified.; Port field cannot be modified.".into()
        }
    );
}

#[test]
fn unauthorized_without_body() {
    assert_eq!(clb(401, ""), Error::Unauthorized);
}

#[test]
fn server_errors_are_transient() {
    for status in [500, 502, 503] {
        let e = clb(status, r#"{"message":"boom","code":500}"#);
        assert!(matches!(e, Error::Server { status: s, .. } if s == status));
        assert!(e.is_transient());
    }
    let e = clb(503, "<html>Service Unavailable</html>");
    assert!(
        matches!(e, Error::Server { ref message, .. } if message.contains("Service Unavailable"))
    );
}

#[test]
fn other_codes_are_unexpected() {
    let e = clb(422, r#"{"message":"something new","code":422}"#);
    assert_eq!(e.metric_label(), "unexpected");
    assert!(!e.is_transient());
    assert_eq!(clb(405, "").metric_label(), "unexpected");
}

/// An Identity reply to `POST {tokens_url}`.
fn identity(status: u16, content_type: Option<&str>, body: &[u8], tokens_url: &str) -> Error {
    let reply = Reply {
        status,
        path: tokens_url,
        content_type,
        retry_after: None,
        body,
    };
    classify_identity(reply, now())
}

#[test]
fn identity_faults() {
    let body = br#"{"unauthorized":{"code":401,"message":"Unable to authenticate user with credentials provided."}}"#;
    let e = identity(401, None, body, "http://x/v2.0/tokens");
    assert_eq!(
        e,
        Error::CredentialsRejected {
            status: 401,
            message: "Unable to authenticate user with credentials provided.".into(),
            revoked: false,
        }
    );
    assert!(e.is_rejected_credentials() && !e.is_transient());
    assert!(e.to_string().contains("--username"), "{e}");
    let e = identity(
        403,
        None,
        br#"{"forbidden":{"code":403,"message":"User disabled"}}"#,
        "u",
    );
    assert_eq!(e.metric_label(), "credentials_rejected");
    let e = identity(503, None, b"", "u");
    assert!(e.is_transient() && !e.is_rejected_credentials());
    let e = identity(404, None, b"", "http://x/tokens");
    assert!(e.to_string().contains("http://x/tokens"), "{e}");
    let e = identity(
        401,
        Some("text/html"),
        b"<html><head><title>401 Authorization Required</title></head><body>...</body></html>",
        "u",
    );
    let text = e.to_string();
    assert!(
        text.contains("401 Authorization Required") && !text.contains("<"),
        "{text}"
    );
    let revoked = Error::CredentialsRejected {
        status: 401,
        message: "no".into(),
        revoked: true,
    };
    assert!(revoked.to_string().contains("worked before"), "{revoked}");
}

const HTML_404: &str = "<!doctype html>\n<html><head><meta charset=utf-8>\n<title>404 Not Found</title>\n\
    <style>body{font-family:sans-serif}</style></head>\n<body><h1>Not Found</h1><p>The requested URL \
    /v1.0/1/loadbalancers/absolutelimits was not found on this server.</p><hr><address>Apache/2.4 \
    Server at api Port 443</address></body></html>\n";

#[test]
fn a_404_means_gone_only_on_the_load_balancers_own_url() {
    let json = r#"{"message":"Load balancer not found","code":404}"#;
    assert_eq!(clb(404, json).metric_label(), "lb_gone");
    let e = other(
        404,
        "/loadbalancers/absolutelimits",
        "application/json",
        json,
    );
    assert_eq!(e.metric_label(), "not_found", "{e:?}");
    let e = other(404, "/loadbalancers/7/nodes", "text/html", HTML_404);
    assert!(matches!(e, Error::NotFound { ref path, .. } if path == "/loadbalancers/7/nodes"));
    // An HTML page on the load balancer's URL is not the API saying it is gone.
    let e = classify(
        Reply {
            content_type: Some("text/html; charset=utf-8"),
            ..lb_reply(404, None, HTML_404.as_bytes())
        },
        now(),
    );
    assert_eq!(e.metric_label(), "not_found", "{e:?}");
}

#[test]
fn html_and_other_non_json_bodies_never_reach_a_message() {
    let e = other(
        404,
        "/loadbalancers/absolutelimits",
        "text/html; charset=utf-8",
        HTML_404,
    );
    let text = e.to_string();
    for bad in ["<", ">", "doctype", "Apache", "\n", "font-family"] {
        assert!(!text.contains(bad), "{bad:?} in {text}");
    }
    assert!(
        text.contains("text/html") && text.contains("404 Not Found"),
        "{text}"
    );
    assert!(text.len() < 250, "{text}");
    let long = format!("{}\nsecond line", "x".repeat(500));
    let e = other(502, "/loadbalancers/1", "text/plain", &long);
    let text = e.to_string();
    assert!(
        text.contains("text/plain") && !text.contains("second"),
        "{text}"
    );
    assert!(text.chars().count() < 200, "{text}");
    let e = other(
        500,
        "/loadbalancers/1",
        "text/html",
        "<html><body>\u{1b}[31m oops</body></html>",
    );
    assert!(!e.to_string().contains('\u{1b}'), "{e}");
    assert_eq!(
        other(501, "/x", "text/html", HTML_404).metric_label(),
        "unexpected"
    );
}

#[test]
fn one_line_collapses_and_cuts() {
    assert_eq!(one_line("  a\n\tb\r\n c ", 120), "a b c");
    assert_eq!(one_line("abcdef", 4), "abc…");
    assert_eq!(
        describe_non_json(None, b"   "),
        "empty no content type body"
    );
}

#[test]
fn display_is_readable() {
    let e = Error::AmbiguousLb {
        name: "web".into(),
        ids: vec![3, 9],
    };
    assert_eq!(
        e.to_string(),
        r#"2 load balancers are named "web" (ids 3,9); pass --lb-id to pick one"#
    );
    let e = Error::RateLimited {
        retry_after: Some(Duration::from_millis(1500)),
    };
    assert_eq!(e.to_string(), "rate limited by the API, retry after 1.5s");
}
