//! How long a rate-limited (413 `overLimit`) caller should wait: parsing of the `Retry-After` header
//! (seconds or HTTP-date) and of the body's `retryAfter` / `retryAt` fields (ISO-8601 time or seconds).
//! Pure: the current time is an argument.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::auth::parse_expires;

/// Returns how long to wait before retrying, or `None` when neither the header nor the body says.
///
/// The header wins over the body. Times in the past give `Duration::ZERO`. Body fields are looked up
/// at the top level and inside a wrapping fault object (`{"overLimit":{"retryAfter":...}}`).
pub fn parse_retry_after(header: Option<&str>, body: &[u8], now: SystemTime) -> Option<Duration> {
    header
        .and_then(|h| parse_header(h, now))
        .or_else(|| parse_body(body, now))
}

fn parse_header(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Some(d) = parse_seconds(value) {
        return Some(d);
    }
    Some(until(httpdate::parse_http_date(value).ok()?, now))
}

/// The time from `now` to `at`, zero when it is past.
fn until(at: SystemTime, now: SystemTime) -> Duration {
    at.duration_since(now).unwrap_or(Duration::ZERO)
}

/// Whole or fractional non-negative seconds, e.g. `54` or `1.5`.
fn parse_seconds(value: &str) -> Option<Duration> {
    if value.is_empty() || !value.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let secs: f64 = value.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

fn parse_body(body: &[u8], now: SystemTime) -> Option<Duration> {
    let json: Value = serde_json::from_slice(body).ok()?;
    let candidates = std::iter::once(&json).chain(json.as_object()?.values());
    for obj in candidates {
        for key in ["retryAfter", "retryAt"] {
            if let Some(d) = obj.get(key).and_then(|v| parse_body_value(v, now)) {
                return Some(d);
            }
        }
    }
    None
}

fn parse_body_value(value: &Value, now: SystemTime) -> Option<Duration> {
    match value {
        Value::Number(n) => n.as_f64().and_then(|s| Duration::try_from_secs_f64(s).ok()),
        // An ISO-8601 instant, as Identity writes `expires`.
        Value::String(s) => {
            parse_seconds(s.trim()).or_else(|| Some(until(parse_expires(s)?.into(), now)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
