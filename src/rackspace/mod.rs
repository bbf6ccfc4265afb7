//! Client for Rackspace Identity v2.0 and Cloud Load Balancers v1.0, as `sidekick lbsync` uses it.
//!
//! - `credentials`: username + API key or password (redacted in `Debug`), read from files.
//! - `auth`: the identity request/response, catalog service and region selection, token refresh
//!   timing.
//! - `client`: `Client` / `ClientConfig` and the "401 → re-auth once" request path;
//!   `client::session`: the token cache and the policy for rejected credentials.
//! - `clb`: the load balancer and node calls (node lists page by page, optional limits).
//! - `model`: the JSON types (statuses in any spelling); `error`: `Error` and the classification
//!   of error responses; `sanitize`: what a message may quote from a body.
//! - `retry_after`: rate-limit wait parsing; `pace`: the GET budget (3/s sustained, 5 in any
//!   second) and staying under the documented rate limits.
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
mod sanitize;

pub use auth::LB_SERVICE_TYPE;
pub use client::{
    Client, ClientConfig, CredentialsRetry, DEFAULT_IDENTITY_URL, DEFAULT_REQUEST_TIMEOUT,
};
pub use credentials::{Credentials, Secret};
pub use error::Error;
pub use model::{
    AccountLimits, LbStatus, Limits, LimitsSource, LoadBalancer, LoadBalancerSummary, NewNode,
    Node, NodeCondition, NodeStatus,
};
pub use retry_after::parse_retry_after;
