//! The error answers of the emulated APIs. Each [`Fault`] knows its status code, its exact body (texts
//! from the reference: OTTER, MIMIC, DOCS) and which [`Outcome`] counter it bumps in the statistics.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// A refused request, rendered exactly the way Rackspace renders it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fault {
    /// CLB 401: missing, unknown, expired or foreign token. DOCS: no body at all.
    Unauthorized,
    /// Identity 401, wrapped in `unauthorized`.
    IdentityUnauthorized(String),
    /// Identity 400, wrapped in `badRequest`.
    IdentityBadRequest(String),
    /// 400 for bad JSON or unknown fields: `message` is an array (MIMIC, verified).
    Schema,
    /// 400 `Validation Failure` with `validationErrors.messages`.
    Validation(Vec<String>),
    /// 400 with a flat message.
    BadRequest(String),
    /// 404 `Load balancer not found`.
    LbNotFound,
    /// 404 `Node not found`.
    NodeNotFound,
    /// 404 for a path that is not part of the API.
    NoSuchResource,
    /// 410 for node reads on a DELETED load balancer (MIMIC).
    Gone,
    /// 422 immutableEntity with the given text.
    Immutable(String),
    /// 422 duplicate address+port (OTTER).
    Duplicate,
    /// 413 flat body: more nodes than NODE_LIMIT.
    NodeLimit(usize),
    /// 413 flat body: more load balancers than LOADBALANCER_LIMIT.
    LbLimit(usize),
    /// 413 wrapped `overLimit` from the rate limiter, with `Retry-After`.
    RateLimited {
        retry_after_secs: u64,
        retry_at: DateTime<Utc>,
    },
    /// 500 or 503 injected by `fail_rate`.
    Injected(u16),
}

/// Which counter a response bumps; travels as a response extension to the statistics layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    AuthFailure,
    Unauthorized,
    RateLimited,
    NodeLimit,
    Immutable,
    Duplicate,
    Injected,
}

/// The single-node immutable text (DOCS, mimic #270, OTTER): used for every status but ACTIVE.
pub(crate) fn immutable_single(lb_id: u64, status: &str) -> Fault {
    Fault::Immutable(format!(
        "Load Balancer '{lb_id}' has a status of '{status}' and is considered immutable."
    ))
}

/// The bulk-delete immutable text (mimic #343, real API): differs from the single-node one.
pub(crate) fn immutable_bulk(status: &str) -> Fault {
    if status == "DELETED" {
        Fault::Immutable("The load balancer is deleted and considered immutable.".into())
    } else {
        Fault::Immutable("LoadBalancer is not ACTIVE".into())
    }
}

/// `Retry-After` header value and body timestamp for a rate-limit refusal `wait` from `now`.
pub(crate) fn rate_limited(wait: std::time::Duration, now: DateTime<Utc>) -> Fault {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let retry_at = now + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2000));
    Fault::RateLimited {
        retry_after_secs: secs,
        retry_at,
    }
}

fn flat(code: u16, message: &str) -> Value {
    json!({"message": message, "code": code})
}

fn validation(messages: &[String]) -> Value {
    json!({
        "validationErrors": {"messages": messages},
        "message": "Validation Failure",
        "code": 400,
        "details": "The object is not valid",
    })
}

impl Fault {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Fault::Unauthorized | Fault::IdentityUnauthorized(_) => 401,
            Fault::IdentityBadRequest(_)
            | Fault::Schema
            | Fault::Validation(_)
            | Fault::BadRequest(_) => 400,
            Fault::LbNotFound | Fault::NodeNotFound | Fault::NoSuchResource => 404,
            Fault::Gone => 410,
            Fault::Immutable(_) | Fault::Duplicate => 422,
            Fault::NodeLimit(_) | Fault::LbLimit(_) | Fault::RateLimited { .. } => 413,
            Fault::Injected(code) => *code,
        }
    }

    /// The JSON body, or `None` for the body-less CLB 401.
    pub(crate) fn body(&self) -> Option<Value> {
        let code = self.status();
        Some(match self {
            Fault::Unauthorized => return None,
            Fault::IdentityUnauthorized(m) => json!({"unauthorized": {"code": 401, "message": m}}),
            Fault::IdentityBadRequest(m) => json!({"badRequest": {"code": 400, "message": m}}),
            Fault::Schema => json!({"message": ["JSON does not match the expected schema"]}),
            Fault::Validation(messages) => validation(messages),
            Fault::BadRequest(m) => flat(code, m),
            Fault::LbNotFound => flat(code, "Load balancer not found"),
            Fault::NodeNotFound => flat(code, "Node not found"),
            Fault::NoSuchResource => flat(code, "Resource not found"),
            Fault::Gone => flat(code, "The loadbalancer is marked as deleted."),
            Fault::Immutable(m) => flat(code, m),
            Fault::Duplicate => flat(
                code,
                "Duplicate nodes detected. One or more nodes already configured on load balancer.",
            ),
            Fault::NodeLimit(limit) => flat(
                code,
                &format!("Nodes must not exceed {limit} per load balancer."),
            ),
            Fault::LbLimit(limit) => flat(
                code,
                &format!("Load balancer limit of {limit} reached for this account."),
            ),
            Fault::RateLimited { retry_at, .. } => json!({"overLimit": {
                "code": 413,
                "message": "OverLimit Retry...",
                "details": "Error Details...",
                "retryAfter": retry_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            }}),
            Fault::Injected(503) => flat(code, "Service Unavailable"),
            Fault::Injected(_) => flat(code, "Internal Server Error"),
        })
    }

    pub(crate) fn outcome(&self) -> Option<Outcome> {
        match self {
            Fault::Unauthorized => Some(Outcome::Unauthorized),
            Fault::IdentityUnauthorized(_) => Some(Outcome::AuthFailure),
            Fault::RateLimited { .. } => Some(Outcome::RateLimited),
            Fault::NodeLimit(_) => Some(Outcome::NodeLimit),
            Fault::Immutable(_) => Some(Outcome::Immutable),
            Fault::Duplicate => Some(Outcome::Duplicate),
            Fault::Injected(_) => Some(Outcome::Injected),
            _ => None,
        }
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = match self.body() {
            Some(body) => (status, axum::Json(body)).into_response(),
            None => status.into_response(),
        };
        if let Fault::RateLimited {
            retry_after_secs, ..
        } = &self
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        if let Some(outcome) = self.outcome() {
            resp.extensions_mut().insert(outcome);
        }
        resp
    }
}

/// The HTML page a web server answers for a path it does not serve.
pub(crate) const HTML_404: &str = "<!DOCTYPE html>\n<html><head>\n<title>404 Not Found</title>\n\
<style>body { font-family: sans-serif; margin: 2em; }</style>\n</head><body>\n\
<h1>Not Found</h1>\n<p>The requested URL was not found on this server.</p>\n<hr>\n\
<address>Apache Server at api Port 443</address>\n</body></html>\n";

/// A 404 with [`HTML_404`] as `text/html`.
pub(crate) fn html_404() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=iso-8859-1")],
        HTML_404,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
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
}
