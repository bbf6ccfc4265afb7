//! The client's error type and the pure classification of Cloud Load Balancers and Identity error
//! responses (status code, route, content type and body shape) into it. No variant ever carries a
//! token, key or password, and no message carries a raw non-JSON body: an HTML error page (a proxy's,
//! a server without the route) becomes its content type and at most one short sanitised line.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::retry_after::parse_retry_after;
use super::sanitize::{describe_non_json, one_line, MAX_MESSAGE};

/// Everything a Rackspace call can fail with.
///
/// `is_transient()` means "the same request may succeed later with no change by the caller":
/// retry it with backoff. Other errors need the caller to re-read state, fix its input, or give up.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// 422: the load balancer is not ACTIVE (`PENDING_UPDATE`, `BUILD`, `ERROR`, ...).
    #[error("load balancer is not accepting changes (status {}): {message}", lb_status.as_deref().unwrap_or("not ACTIVE"))]
    Immutable {
        lb_status: Option<String>,
        message: String,
    },
    /// 404 with a JSON (or empty) body on the load balancer's own URL, 410, or 422 mentioning
    /// PENDING_DELETE / deleted.
    #[error("load balancer is gone: {message}")]
    LbGone { message: String },
    /// 404 anywhere but on the load balancer's own URL (or with a non-JSON page there): the route
    /// or resource does not exist on this server. Says nothing about the load balancer.
    #[error("HTTP 404 from {path}: {message}")]
    NotFound { path: String, message: String },
    /// 422: one of the nodes (address+port) already exists; the whole batch was rejected.
    #[error("duplicate nodes: {message}")]
    Duplicate { message: String },
    /// 413 with a flat body: the load balancer's node limit would be exceeded.
    #[error("node limit reached: {message}")]
    NodeLimit { message: String },
    /// 413 with a wrapped `overLimit` body (or 429): API rate limit.
    #[error("rate limited by the API{}", match retry_after { Some(d) => format!(", retry after {:.1}s", d.as_secs_f64()), None => String::new() })]
    RateLimited { retry_after: Option<Duration> },
    /// The API refused the token twice, even right after re-authenticating.
    #[error("the load balancer API rejected the token even after re-authenticating")]
    Unauthorized,
    /// Identity refused the credentials (401/403/400): not transient. `revoked` is false when they
    /// never worked in this process (a configuration error: lbsync exits 2) and true when they had
    /// worked and kept being refused through the client's bounded retries (lbsync exits 1).
    #[error("{}", credentials_text(*status, message, *revoked))]
    CredentialsRejected {
        status: u16,
        message: String,
        revoked: bool,
    },
    /// 404 on a node.
    #[error("node not found: {message}")]
    NodeNotFound { message: String },
    /// 400 on a bulk delete naming ids that are not on the load balancer.
    #[error("node ids {} are not part of the load balancer", join_ids(ids))]
    NotPartOfLb { ids: Vec<u64> },
    /// Any other 400.
    #[error("bad request: {message}")]
    BadRequest { message: String },
    /// 5xx.
    #[error("server error HTTP {status}: {message}")]
    Server { status: u16, message: String },
    /// Connection failure or the request deadline passed.
    #[error("request failed: {0}")]
    Transport(String),
    /// A success response whose body could not be read.
    #[error("could not decode {0}")]
    Decode(String),
    /// Bad configuration or a catalog without what we need (e.g. the region).
    #[error("{0}")]
    Config(String),
    /// `resolve`: no load balancer has that name.
    #[error("no load balancer is named {name:?}; check --lb-name (or pass --lb-id)")]
    NoSuchLb { name: String },
    /// `resolve`: several load balancers share that name.
    #[error("{} load balancers are named {name:?} (ids {}); pass --lb-id to pick one", ids.len(), join_ids(ids))]
    AmbiguousLb { name: String, ids: Vec<u64> },
    /// `delete_nodes` was asked for more ids than the batch limit it was given.
    #[error("asked to delete {count} nodes in one call but the batch limit is {limit}")]
    TooManyIds { count: usize, limit: u32 },
    /// A status this client does not classify.
    #[error("unexpected HTTP {status}: {message}")]
    Unexpected { status: u16, message: String },
}

impl Error {
    /// A short, stable label for logs and tests: the variant's name in snake_case
    /// (`LbGone` → `lb_gone`).
    pub fn metric_label(&self) -> String {
        let debug = format!("{self:?}");
        let name = debug.split(|c: char| !c.is_ascii_alphanumeric()).next();
        let mut label = String::new();
        for c in name.unwrap_or_default().chars() {
            if c.is_ascii_uppercase() && !label.is_empty() {
                label.push('_');
            }
            label.push(c.to_ascii_lowercase());
        }
        label
    }

    /// True when retrying the same request later (with backoff) may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Immutable { .. }
                | Error::RateLimited { .. }
                | Error::Server { .. }
                | Error::Transport(_)
        )
    }

    /// True when Identity refused the credentials (see [`Error::CredentialsRejected`]): retrying
    /// will not help; a person must fix them.
    pub fn is_rejected_credentials(&self) -> bool {
        matches!(self, Error::CredentialsRejected { .. })
    }

    /// How long the API asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }
}

fn credentials_text(status: u16, message: &str, revoked: bool) -> String {
    if revoked {
        format!(
            "Rackspace Identity now rejects the credentials that worked before (HTTP {status}, \
             still refused after retrying for about a minute): {message}; were they revoked or rotated?"
        )
    } else {
        format!(
            "Rackspace Identity rejected the credentials (HTTP {status}): {message}; check \
             --username and --api-key-file / --password-file (OS_USERNAME, OS_API_KEY, OS_PASSWORD)"
        )
    }
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// What a fault body says: its message(s) and whether it was wrapped in a named key.
struct Fault {
    message: String,
    /// Every message text (top-level `message` and `validationErrors.messages`).
    texts: Vec<String>,
    /// The wrapping key, e.g. `overLimit` in `{"overLimit":{...}}`.
    wrapper: Option<String>,
    /// The body was JSON (an empty body is not).
    json: bool,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

fn parse_fault(content_type: Option<&str>, body: &[u8]) -> Fault {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Fault {
                message: String::new(),
                texts: vec![],
                wrapper: None,
                json: false,
            };
        }
        return Fault {
            message: describe_non_json(content_type, body),
            texts: vec![],
            wrapper: None,
            json: false,
        };
    };
    let (obj, wrapper) = match json.as_object() {
        Some(map) if !map.contains_key("message") && map.len() == 1 => match map.iter().next() {
            Some((key, inner)) if inner.is_object() => (inner, Some(key.clone())),
            _ => (&json, None),
        },
        _ => (&json, None),
    };
    let top = strings(obj.get("message"));
    let validation = strings(obj.get("validationErrors").and_then(|v| v.get("messages")));
    let message = if validation.is_empty() {
        top.join("; ")
    } else {
        validation.join("; ")
    };
    Fault {
        message: one_line(&message, 2 * MAX_MESSAGE),
        texts: top.into_iter().chain(validation).collect(),
        wrapper,
        json: true,
    }
}

/// Parses `Node ids 100,200 are not a part of your loadbalancer`.
fn not_part_ids(text: &str) -> Option<Vec<u64>> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("node ids ")? + "node ids ".len();
    let end = lower.find(" are not a part")?;
    let ids: Result<Vec<u64>, _> = text
        .get(start..end)?
        .split(',')
        .map(|s| s.trim().parse::<u64>())
        .collect();
    ids.ok().filter(|v| !v.is_empty())
}

/// `... has a status of 'ERROR' and ...` → `ERROR`.
fn quoted_status(text: &str) -> Option<String> {
    let rest = &text[text.find("status of '")? + "status of '".len()..];
    Some(rest[..rest.find('\'')?].to_string())
}

/// A non-2xx reply as the classifier sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reply<'a> {
    pub status: u16,
    /// The request path after the endpoint, e.g. `/loadbalancers/7/nodes`.
    pub path: &'a str,
    pub content_type: Option<&'a str>,
    pub retry_after: Option<&'a str>,
    pub body: &'a [u8],
}

/// Classifies a non-2xx Cloud Load Balancers response.
pub(crate) fn classify(reply: Reply<'_>, now: SystemTime) -> Error {
    let Reply {
        status,
        path,
        content_type,
        retry_after,
        body,
    } = reply;
    // Only on the load balancer's own URL (`/loadbalancers/{id}`) does a 404 mean it is gone.
    let lb_url = path
        .strip_prefix("/loadbalancers/")
        .is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    let fault = parse_fault(content_type, body);
    let any = |needle: &str| {
        let needle = needle.to_ascii_lowercase();
        fault
            .texts
            .iter()
            .any(|t| t.to_ascii_lowercase().contains(&needle))
    };
    let message = fault.message.clone();
    match status {
        401 => Error::Unauthorized,
        400 => match fault.texts.iter().find_map(|t| not_part_ids(t)) {
            Some(ids) => Error::NotPartOfLb { ids },
            None => Error::BadRequest { message },
        },
        404 if fault.json && any("node") => Error::NodeNotFound { message },
        404 if lb_url && (fault.json || body.iter().all(u8::is_ascii_whitespace)) => {
            Error::LbGone {
                message: if message.is_empty() {
                    "HTTP 404 on the load balancer".into()
                } else {
                    message
                },
            }
        }
        404 => Error::NotFound {
            path: path.to_string(),
            message: if message.is_empty() {
                "no body".into()
            } else {
                message
            },
        },
        410 => Error::LbGone { message },
        413 | 429 if fault.wrapper.as_deref() == Some("overLimit") || status == 429 => {
            Error::RateLimited {
                retry_after: parse_retry_after(retry_after, body, now),
            }
        }
        413 | 422 if any("duplicate") => Error::Duplicate { message },
        413 if any("exceed") || any("limit") => Error::NodeLimit { message },
        413 if retry_after.is_some() || fault.texts.is_empty() => Error::RateLimited {
            retry_after: parse_retry_after(retry_after, body, now),
        },
        422 if any("PENDING_DELETE") || any("PENDING-DELETE") || any("deleted") => {
            Error::LbGone { message }
        }
        422 if any("immutable") || any("is not ACTIVE") => Error::Immutable {
            lb_status: fault.texts.iter().find_map(|t| quoted_status(t)),
            message,
        },
        501 => Error::Unexpected { status, message },
        500..=599 => Error::Server { status, message },
        _ => Error::Unexpected { status, message },
    }
}

/// Classifies a non-2xx Identity response (`POST /tokens`; `reply.path` is the tokens URL). A
/// refusal comes back with `revoked: false`; the client decides whether the credentials had
/// worked before.
pub(crate) fn classify_identity(reply: Reply<'_>, now: SystemTime) -> Error {
    let Reply {
        status,
        path: tokens_url,
        content_type,
        retry_after,
        body,
    } = reply;
    let message = parse_fault(content_type, body).message;
    match status {
        400 | 401 | 403 => Error::CredentialsRejected {
            status,
            message,
            revoked: false,
        },
        404 => Error::Config(format!(
            "identity endpoint {tokens_url} returned 404; check --identity-url (it should end in /v2.0)"
        )),
        413 | 429 => Error::RateLimited {
            retry_after: parse_retry_after(retry_after, body, now),
        },
        500..=599 => Error::Server { status, message },
        _ => Error::Unexpected { status, message },
    }
}

#[cfg(test)]
mod tests;
