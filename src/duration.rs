//! The human durations every flag accepts: `500ms`, `5s`, `2m`, `1h`, `1m30s` (humantime's grammar:
//! also `1.5s`, `2 min`, `1d`). A bare number is refused: the unit is never guessed. Also the
//! non-panicking deadline arithmetic the long-running loops use ([`after`]).

use std::time::Duration;

/// Why a duration string was refused; the message names the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (use e.g. 500ms, 5s, 2m, 1h)")]
pub struct DurationError {
    input: String,
    reason: String,
}

/// Parses a duration with a unit. humantime does the work (the guide: a kept crate over a
/// hand-written parser); this wrapper refuses what humantime would take but the contract does
/// not: a bare number (humantime reads `0` as zero seconds).
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let err = |reason: &str| DurationError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if !s.chars().any(|c| c.is_alphabetic()) {
        return Err(err("missing unit"));
    }
    humantime::parse_duration(s).map_err(|e| err(&e.to_string()))
}

/// Formats a duration the way [`parse`] reads it back (used in logs, reports and `--help`).
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    // Whole hours stay hours (`24h`, not humantime's `1day`).
    if d.subsec_nanos() == 0 && d.as_secs() % 3600 == 0 {
        return format!("{}h", d.as_secs() / 3600);
    }
    humantime::format_duration(d).to_string().replace(' ', "")
}

/// `now + d`, saturating at a far-away instant instead of panicking on overflow. Every deadline
/// the loops compute from a configured duration goes through here.
pub fn after(now: tokio::time::Instant, d: Duration) -> tokio::time::Instant {
    /// About 30 years, as tokio's own "far future"; `now + FAR` cannot overflow on any platform.
    const FAR: Duration = Duration::from_secs(86_400 * 365 * 30);
    now.checked_add(d.min(FAR)).unwrap_or(now)
}

#[cfg(test)]
mod tests;
