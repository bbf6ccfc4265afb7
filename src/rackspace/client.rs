//! The HTTP side of the client: configuration, the reqwest client (rustls with the ring provider),
//! the cached token (one refresh at a time, refreshed before expiry), and sending one Cloud Load
//! Balancers request with "401 → re-authenticate once → retry once". The calls live in `clb.rs`.
//!
//! Rejected credentials (Identity answering 401, 403 or 400):
//! - at the first authentication of this client: [`Error::CredentialsRejected`] with
//!   `revoked: false` at once, after that one Identity request (lbsync exits 2: a person must fix
//!   the credentials; systemd's `RestartPreventExitStatus=2` stops the restart loop);
//! - after credentials had worked (a refresh, or the re-authentication after a CLB 401): a few
//!   retries spread over about a minute ([`CredentialsRetry`]: 4 retries with the project's
//!   jittered backoff from 6 s to 24 s, so at most 5 Identity requests), then the same error with
//!   `revoked: true` (lbsync exits 1; a restart tries again).
//!
//! Identity is never hammered: after any failed Identity request the next one waits a growing,
//! jittered delay (1 s up to 30 s), however often callers ask.

use std::error::Error as _;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::{HeaderName, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::Method;
use serde_json::Value;
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use super::credentials::Credentials;
use super::error::{classify, Error, Reply};

mod session;

use crate::backoff::Backoff;
pub use session::CredentialsRetry;
use session::{IdentityGate, Session};

/// Rackspace's public Identity v2.0 endpoint.
pub const DEFAULT_IDENTITY_URL: &str = "https://identity.api.rackspacecloud.com/v2.0";
/// Whole-request deadline (connect, send, read the body).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and as whom to talk to Rackspace.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Identity v2.0 base URL; tokens are requested from `{identity_url}/tokens`.
    pub identity_url: String,
    /// Catalog region (case-insensitive), e.g. `ORD`. Empty: the user's default region.
    pub region: String,
    pub credentials: Credentials,
    /// Deadline for each whole HTTP request.
    pub request_timeout: Duration,
    /// Retries when Identity refuses credentials that had worked (see the module doc).
    pub credentials_retry: CredentialsRetry,
}

impl ClientConfig {
    /// A config with the default request timeout.
    pub fn new(
        identity_url: impl Into<String>,
        region: impl Into<String>,
        credentials: Credentials,
    ) -> Self {
        ClientConfig {
            identity_url: identity_url.into(),
            region: region.into(),
            credentials,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            credentials_retry: CredentialsRetry::default(),
        }
    }
}

struct Inner {
    http: reqwest::Client,
    tokens_url: String,
    region: String,
    credentials: Credentials,
    session: Mutex<Option<Session>>,
    /// Identity accepted the credentials at least once.
    worked: AtomicBool,
    credentials_retry: CredentialsRetry,
    /// Spacing of Identity requests after failures.
    identity_gate: std::sync::Mutex<IdentityGate>,
    pacer: super::pace::Pacer,
}

/// Rackspace Identity + Cloud Load Balancers client. Cheap to clone; clones share the token and
/// the pacing budget.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("tokens_url", &self.inner.tokens_url)
            .field("region", &self.inner.region)
            .field("username", &self.inner.credentials.username)
            .finish_non_exhaustive()
    }
}

/// A reqwest error and its causes in one line (a cause its text already quotes is not repeated).
fn chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn transport(e: reqwest::Error) -> Error {
    let mut text = chain(&e);
    if e.is_timeout() && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    Error::Transport(text)
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Client {
    /// Builds the client; no request is sent until the first call (or `authenticate`).
    pub fn new(config: ClientConfig) -> Result<Client, Error> {
        let base = config.identity_url.trim().trim_end_matches('/');
        let tokens_url = format!("{base}/tokens");
        let parsed = reqwest::Url::parse(&tokens_url)
            .map_err(|e| Error::Config(format!("invalid identity URL {base:?}: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if is_loopback(&parsed) => {}
            "http" => {
                warn!(url = %base, "identity URL is not https; credentials travel in clear text")
            }
            other => {
                return Err(Error::Config(format!(
                    "invalid identity URL {base:?}: scheme {other:?} is not http or https"
                )))
            }
        }
        if config.credentials.username.trim().is_empty() {
            return Err(Error::Config(
                "Rackspace username is empty (--username / OS_USERNAME)".into(),
            ));
        }
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .tls_backend_rustls()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout)
            .user_agent(concat!("sidekick/", env!("CARGO_PKG_VERSION")))
            .build()
            // reqwest says only "builder error"; the cause is in its source chain, and in
            // practice it is a missing CA bundle (rustls loads the system's roots).
            .map_err(|e| {
                Error::Config(format!(
                    "cannot build the HTTP client: {} (is a CA bundle installed? HTTPS to \
                     Rackspace needs the system's root certificates, e.g. \
                     /etc/ssl/certs/ca-certificates.crt from the Debian package ca-certificates)",
                    chain(&e)
                ))
            })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                tokens_url,
                region: config.region,
                credentials: config.credentials,
                session: Mutex::new(None),
                worked: AtomicBool::new(false),
                credentials_retry: config.credentials_retry,
                identity_gate: std::sync::Mutex::new(IdentityGate {
                    backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
                    not_before: None,
                }),
                pacer: super::pace::Pacer::default(),
            }),
        })
    }

    /// Sends one Cloud Load Balancers request (`path` is appended to the region's publicURL) and
    /// returns the body of a 2xx reply. A 401 triggers one re-authentication and one retry.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Bytes, Error> {
        // Pace first, then pick the token: a paced request never leaves with a token that
        // expired while it waited.
        self.pace(&method).await;
        let session = self.session(None).await?;
        if let Some(bytes) = self.send(&session, &method, path, query, body).await? {
            return Ok(bytes);
        }
        info!(method = %method, path, "token rejected; re-authenticating once");
        self.pace(&method).await;
        let session = self.session(Some(&session.token)).await?;
        match self.send(&session, &method, path, query, body).await? {
            Some(bytes) => Ok(bytes),
            None => Err(Error::Unauthorized),
        }
    }

    /// Waits until `method` may be sent under the documented rate limits.
    async fn pace(&self, method: &Method) {
        let wait = self.inner.pacer.reserve(method.as_str());
        if !wait.is_zero() {
            debug!(method = %method, wait_ms = wait.as_millis() as u64, "pacing under the API rate limit");
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: `Ok(None)` on 401, the classified error on any other failure.
    async fn send(
        &self,
        session: &Session,
        method: &Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Option<Bytes>, Error> {
        let inner = &self.inner;
        let url = format!("{}{path}", session.endpoint);
        let mut builder = inner
            .http
            .request(method.clone(), &url)
            .header("X-Auth-Token", session.token.as_str())
            .header(ACCEPT, "application/json");
        if !query.is_empty() {
            builder = builder.query(query);
        }
        if let Some(b) = body {
            builder = builder.json(b);
        }
        let request = builder
            .build()
            .map_err(|e| Error::Config(format!("invalid request URL {url:?}: {e}")))?;
        let query_text = request.url().query().unwrap_or("").to_string();
        let started = Instant::now();
        let response = inner.http.execute(request).await.map_err(transport);
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                crate::telemetry::lbsync_api_request(method.as_str(), None);
                debug!(method = %method, path, query = %query_text, error = %e, "rackspace request failed");
                return Err(e);
            }
        };
        crate::telemetry::lbsync_api_request(method.as_str(), Some(response.status().as_u16()));
        let received = Received::read(response).await?;
        debug!(
            method = %method,
            path,
            query = %query_text,
            status = received.status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "rackspace request"
        );
        match received.status {
            200..=299 => Ok(Some(received.body)),
            401 => Ok(None),
            _ => {
                let reply = received.reply(path);
                let e = classify(reply, SystemTime::now());
                if let Some(wait) = e.retry_after() {
                    inner.pacer.hold(method.as_str(), wait);
                }
                Err(e)
            }
        }
    }
}

/// A reply read whole: its status, the two headers the classifier reads, and its body.
pub(super) struct Received {
    pub(super) status: u16,
    retry_after: Option<String>,
    content_type: Option<String>,
    pub(super) body: Bytes,
}

impl Received {
    pub(super) async fn read(response: reqwest::Response) -> Result<Received, Error> {
        let header = |name: HeaderName| {
            let value = response.headers().get(name)?;
            value.to_str().ok().map(str::to_string)
        };
        Ok(Received {
            status: response.status().as_u16(),
            retry_after: header(RETRY_AFTER),
            content_type: header(CONTENT_TYPE),
            body: response.bytes().await.map_err(transport)?,
        })
    }

    /// The reply as the classifier sees it, for a request to `path`.
    pub(super) fn reply<'a>(&'a self, path: &'a str) -> Reply<'a> {
        Reply {
            status: self.status,
            path,
            content_type: self.content_type.as_deref(),
            retry_after: self.retry_after.as_deref(),
            body: &self.body,
        }
    }
}
