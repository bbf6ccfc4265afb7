//! Authentication for the client: the cached session (one refresh at a time, refreshed before
//! expiry), the policy for rejected credentials (see the parent module's doc) and the spacing of
//! Identity requests after failures.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::ACCEPT;
use tracing::{debug, info, warn};

use super::{transport, Client, Received};
use crate::backoff::Backoff;
use crate::rackspace::auth::{self, Token};
use crate::rackspace::error::{classify_identity, Error};

/// How often and how far apart Identity is asked again when it refuses credentials that had
/// worked before: `retries` more requests, delays from the project's jittered backoff between
/// `first` and `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialsRetry {
    pub retries: u32,
    pub first: Duration,
    pub cap: Duration,
}

impl Default for CredentialsRetry {
    /// 4 retries, 6 s doubling to 24 s with jitter: the last refusal comes 33–66 s after the
    /// first, after at most 5 Identity requests.
    fn default() -> Self {
        CredentialsRetry {
            retries: 4,
            first: Duration::from_secs(6),
            cap: Duration::from_secs(24),
        }
    }
}

/// A cached authentication.
#[derive(Clone)]
pub(super) struct Session {
    pub(super) token: Token,
    pub(super) endpoint: String,
    /// When to authenticate again; `None` when the token looked expired on arrival (clock skew):
    /// it is used until the API rejects it.
    refresh_at: Option<Instant>,
}

impl Session {
    fn due(&self, now: Instant) -> bool {
        self.refresh_at.is_some_and(|at| now >= at)
    }
}

/// When the next Identity request may go out, after failures.
#[derive(Debug)]
pub(super) struct IdentityGate {
    pub(super) backoff: Backoff,
    pub(super) not_before: Option<tokio::time::Instant>,
}

impl Client {
    /// Makes sure a valid token is cached: authenticates now unless one is. Useful at startup to
    /// fail early on bad credentials or an unknown region.
    pub async fn authenticate(&self) -> Result<(), Error> {
        self.session(None).await.map(|_| ())
    }

    /// The cached session, authenticating first when there is none, it is due for refresh, or it
    /// still holds `rejected` (the token the API just refused). One caller authenticates at a
    /// time; the others wait and reuse its result.
    pub(super) async fn session(&self, rejected: Option<&Token>) -> Result<Session, Error> {
        let mut guard = self.inner.session.lock().await;
        if let Some(s) = guard.as_ref() {
            let refused = rejected.is_some_and(|t| *t == s.token);
            if !refused && !s.due(Instant::now()) {
                return Ok(s.clone());
            }
        }
        let fresh = match self.authenticate_gated().await {
            Err(e) if e.is_rejected_credentials() && self.inner.worked.load(Ordering::Relaxed) => {
                self.retry_rejected(e).await?
            }
            other => other?,
        };
        self.inner.worked.store(true, Ordering::Relaxed);
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    /// Credentials that had worked were refused: ask again a few times, spread over about a
    /// minute, then give up with `revoked: true`.
    async fn retry_rejected(&self, first: Error) -> Result<Session, Error> {
        let policy = self.inner.credentials_retry;
        let mut backoff = Backoff::new(policy.first, policy.cap);
        let mut last = first;
        for attempt in 1..=policy.retries {
            let wait = backoff.next_delay();
            warn!(
                error = %last,
                attempt,
                of = policy.retries,
                retry_in_ms = wait.as_millis() as u64,
                "Rackspace Identity refuses the credentials that worked before; asking again"
            );
            tokio::time::sleep(wait).await;
            match self.authenticate_now().await {
                Ok(s) => {
                    info!(attempt, "Rackspace Identity accepts the credentials again");
                    return Ok(s);
                }
                Err(e) => last = e,
            }
        }
        Err(match last {
            Error::CredentialsRejected {
                status, message, ..
            } => Error::CredentialsRejected {
                status,
                message,
                revoked: true,
            },
            other => other,
        })
    }

    /// `authenticate_now`, but never sooner than the gate allows after a failed attempt.
    async fn authenticate_gated(&self) -> Result<Session, Error> {
        let not_before = self
            .inner
            .identity_gate
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .not_before;
        if let Some(at) = not_before {
            let now = tokio::time::Instant::now();
            if at > now {
                debug!(
                    wait_ms = (at - now).as_millis() as u64,
                    "spacing Identity requests after a failure"
                );
                tokio::time::sleep(at - now).await;
            }
        }
        let result = self.authenticate_now().await;
        let mut gate = self
            .inner
            .identity_gate
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match &result {
            Ok(_) => {
                gate.backoff.reset();
                gate.not_before = None;
            }
            Err(_) => {
                let delay = gate.backoff.next_delay();
                gate.not_before = Some(tokio::time::Instant::now() + delay);
            }
        }
        result
    }

    async fn authenticate_now(&self) -> Result<Session, Error> {
        let inner = &self.inner;
        let body = auth::request_body(&inner.credentials);
        let started = Instant::now();
        let request = inner
            .http
            .post(&inner.tokens_url)
            .header(ACCEPT, "application/json");
        let response = request.json(&body).send().await.map_err(transport)?;
        let received = Received::read(response).await?;
        debug!(
            url = %inner.tokens_url,
            status = received.status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "identity request"
        );
        if !(200..300).contains(&received.status) {
            let reply = received.reply(&inner.tokens_url);
            return Err(classify_identity(reply, SystemTime::now()));
        }
        let access = auth::parse_access(&received.body, &inner.region)?;
        let lifetime = (access.expires - chrono::Utc::now()).to_std().ok();
        let refresh_at = lifetime.map(|l| started + auth::refresh_after(l));
        match lifetime {
            Some(l) => info!(
                region = %access.region,
                tenant = access.tenant_id.as_deref().unwrap_or(""),
                expires = %access.expires.to_rfc3339(),
                refresh_in_s = auth::refresh_after(l).as_secs(),
                "authenticated with Rackspace Identity"
            ),
            None => warn!(
                expires = %access.expires.to_rfc3339(),
                "identity returned a token that is already expired by the local clock; \
                 using it until the API rejects it (check the clock)"
            ),
        }
        Ok(Session {
            token: access.token,
            endpoint: access.endpoint,
            refresh_at,
        })
    }
}
