//! Client for Rackspace Identity v2.0 and Cloud Load Balancers v1.0, as `sidekick lbsync` uses it.
//!
//! - `credentials`: username + API key or password (redacted in `Debug`), read from files.
//! - `auth`: the identity request/response, catalog region selection, token refresh timing.
//! - `client`: `Client` / `ClientConfig`, the token cache and the "401 → re-auth once" request path.
//! - `clb`: the load balancer and node calls.
//! - `model`: the JSON types; `error`: `Error` and the classification of error responses;
//!   `retry_after`: rate-limit wait parsing; `stats`: request counters; `pace`: staying under the
//!   documented rate limits.
//!
//! Tokens, API keys and passwords never appear in logs, `Debug` output or error messages.

mod auth;
mod clb;
mod client;
mod credentials;
mod error;
mod model;
mod pace;
mod retry_after;
mod stats;

pub use auth::LB_SERVICE_TYPE;
pub use client::{Client, ClientConfig, DEFAULT_IDENTITY_URL, DEFAULT_REQUEST_TIMEOUT};
pub use credentials::{Credentials, Secret};
pub use error::Error;
pub use model::{
    LbStatus, Limits, LoadBalancer, LoadBalancerSummary, NewNode, Node, NodeCondition, NodeStatus,
};
pub use retry_after::parse_retry_after;
pub use stats::CallStats;
