//! The Repose-style rate limiter in front of `/v1.0/*`: per account and per HTTP method, a sliding
//! one-second and one-minute window with the DOCS defaults (GET 10/s 600/min, POST 5/s 300/min, PUT
//! 10/s 600/min, DELETE 5/s 300/min). Refused requests do not use up the allowance. Pure: the caller
//! passes the clock.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// Allowance for one method: requests per second and per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Allowance {
    pub per_second: usize,
    pub per_minute: usize,
}

/// DOCS defaults; `None` for methods the limiter does not cover.
pub(crate) fn default_allowance(method: &str) -> Option<Allowance> {
    let (per_second, per_minute) = match method {
        "GET" | "PUT" => (10, 600),
        "POST" | "DELETE" => (5, 300),
        _ => return None,
    };
    Some(Allowance {
        per_second,
        per_minute,
    })
}

/// Sliding windows keyed by (account, method).
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<(String, String), VecDeque<Instant>>,
}

impl RateLimiter {
    /// Admits the request (recording it) or says how long to wait before the next one would pass.
    pub(crate) fn check(
        &mut self,
        account: &str,
        method: &str,
        now: Instant,
    ) -> Result<(), Duration> {
        let Some(allow) = default_allowance(method) else {
            return Ok(());
        };
        let window = self
            .windows
            .entry((account.to_string(), method.to_string()))
            .or_default();
        while window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= MINUTE)
        {
            window.pop_front();
        }
        let in_last_second = window
            .iter()
            .rev()
            .take_while(|t| now.saturating_duration_since(**t) < SECOND)
            .count();
        let mut wait = Duration::ZERO;
        if in_last_second >= allow.per_second {
            // The oldest request of the last second must leave the window first.
            let oldest = window[window.len() - in_last_second];
            wait = wait.max(SECOND.saturating_sub(now.saturating_duration_since(oldest)));
        }
        if window.len() >= allow.per_minute {
            let oldest = window[window.len() - allow.per_minute];
            wait = wait.max(MINUTE.saturating_sub(now.saturating_duration_since(oldest)));
        }
        if wait > Duration::ZERO {
            return Err(wait);
        }
        window.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
