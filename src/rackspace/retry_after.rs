//! How long a rate-limited (413 `overLimit`) caller should wait: parsing of the `Retry-After` header
//! (seconds or HTTP-date) and of the body's `retryAfter` / `retryAt` fields (ISO-8601 time or seconds).
//! Pure: the current time is an argument.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

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
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
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
        Value::String(s) => parse_seconds(s.trim()).or_else(|| parse_iso(s.trim(), now)),
        _ => None,
    }
}

/// An ISO-8601 instant (`2015-06-13T22:30:10Z`, with millis or an offset; a bare time means UTC).
fn parse_iso(value: &str, now: SystemTime) -> Option<Duration> {
    let at: DateTime<Utc> = match DateTime::parse_from_rfc3339(value) {
        Ok(t) => t.with_timezone(&Utc),
        Err(_) => NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()?
            .and_utc(),
    };
    let at: SystemTime = at.into();
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests;
