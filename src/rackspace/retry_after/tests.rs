//! Unit tests of `retry_after`.

use super::*;

fn now() -> SystemTime {
    // 2015-06-13T22:30:00Z
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_434_234_600)
}

#[test]
fn header_seconds() {
    assert_eq!(
        parse_retry_after(Some("54"), b"", now()),
        Some(Duration::from_secs(54))
    );
    assert_eq!(
        parse_retry_after(Some(" 0 "), b"", now()),
        Some(Duration::ZERO)
    );
    assert_eq!(
        parse_retry_after(Some("1.5"), b"", now()),
        Some(Duration::from_millis(1500))
    );
}

#[test]
fn header_http_date() {
    let h = "Sat, 13 Jun 2015 22:30:10 GMT";
    assert_eq!(
        parse_retry_after(Some(h), b"", now()),
        Some(Duration::from_secs(10))
    );
    let past = "Sat, 13 Jun 2015 22:00:00 GMT";
    assert_eq!(
        parse_retry_after(Some(past), b"", now()),
        Some(Duration::ZERO)
    );
}

#[test]
fn header_wins_over_body() {
    let body = br#"{"overLimit":{"code":413,"retryAfter":"2015-06-13T22:30:10Z"}}"#;
    assert_eq!(
        parse_retry_after(Some("3"), body, now()),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn garbage_header_falls_back_to_body() {
    let body = br#"{"overLimit":{"code":413,"retryAfter":"2015-06-13T22:30:10Z"}}"#;
    assert_eq!(
        parse_retry_after(Some("soon"), body, now()),
        Some(Duration::from_secs(10))
    );
    assert_eq!(parse_retry_after(Some("-5"), b"", now()), None);
}

#[test]
fn body_retry_after_iso() {
    let body = br#"{"overLimit":{"code":413,"message":"OverLimit Retry...","details":"Error Details...","retryAfter":"2015-06-13T22:30:10Z"}}"#;
    assert_eq!(
        parse_retry_after(None, body, now()),
        Some(Duration::from_secs(10))
    );
}

#[test]
fn body_retry_at_with_millis_and_offset() {
    let body = br#"{"overLimit":{"retryAt":"2015-06-13T20:30:12.500-02:00"}}"#;
    assert_eq!(
        parse_retry_after(None, body, now()),
        Some(Duration::from_millis(12_500))
    );
}

#[test]
fn body_retry_after_seconds_string_and_number() {
    let body = br#"{"overLimit":{"retryAfter":"54"}}"#;
    assert_eq!(
        parse_retry_after(None, body, now()),
        Some(Duration::from_secs(54))
    );
    let body = br#"{"retryAfter":7}"#;
    assert_eq!(
        parse_retry_after(None, body, now()),
        Some(Duration::from_secs(7))
    );
}

#[test]
fn body_time_without_zone_is_utc() {
    let body = br#"{"overLimit":{"retryAt":"2015-06-13T22:30:05"}}"#;
    assert_eq!(
        parse_retry_after(None, body, now()),
        Some(Duration::from_secs(5))
    );
}

#[test]
fn nothing_usable() {
    assert_eq!(parse_retry_after(None, b"", now()), None);
    assert_eq!(parse_retry_after(None, b"not json", now()), None);
    assert_eq!(
        parse_retry_after(None, br#"{"overLimit":{"code":413}}"#, now()),
        None
    );
    assert_eq!(
        parse_retry_after(None, br#"{"retryAfter":"later"}"#, now()),
        None
    );
    assert_eq!(parse_retry_after(None, br#"[1,2]"#, now()), None);
}
