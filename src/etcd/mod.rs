//! etcd: the connection settings (endpoints, TLS, user/password; validated by `config`), the
//! endpoint pool built from them (`pool`: one client per member, calls on a member that
//! answers), errors that name the operation and the key, and the startup permission check
//! (`access`). Lease upkeep lives in `lease`.

pub mod access;
pub mod lease;
pub mod pool;

pub use pool::{Member, Pool};

use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:2379";

/// Deadline of one unary etcd request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("invalid etcd endpoint {endpoint:?}: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("etcd: {0}")]
    Client(#[from] etcd_client::Error),
    #[error("etcd: request timed out after {0:?}")]
    Timeout(Duration),
    /// etcd refused an operation for the user's role.
    #[error("permission denied {op} {key} (etcd user {user:?}); the role needs {needs}")]
    Denied {
        op: &'static str,
        key: String,
        user: String,
        needs: String,
    },
    /// etcd refused the user and password.
    #[error("etcd refused the credentials of user {user:?}: {message}")]
    AuthFailed { user: String, message: String },
    #[error("no etcd member answered: {0}")]
    Unreachable(String),
}

/// etcd's own words for a refused permission or credentials (its gRPC status messages).
fn is_permission_denied(e: &etcd_client::Error) -> bool {
    e.to_string().contains("permission denied")
}

fn is_auth_failure(e: &etcd_client::Error) -> bool {
    let s = e.to_string();
    s.contains("authentication failed") || s.contains("user name is empty")
}

impl EtcdError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            EtcdError::BadEndpoint { .. } => "config",
            EtcdError::Client(_) => "client",
            EtcdError::Timeout(_) => "timeout",
            EtcdError::Denied { .. } | EtcdError::AuthFailed { .. } => "denied",
            EtcdError::Unreachable(_) => "unreachable",
        }
    }

    /// Names the operation and the key of a failed call: a permission error becomes
    /// [`EtcdError::Denied`] saying what the role needs; others are returned as they are.
    pub fn named(self, op: &'static str, key: &str, needs: &str, user: Option<&str>) -> EtcdError {
        match self {
            EtcdError::Client(e) if is_permission_denied(&e) => EtcdError::Denied {
                op,
                key: key.to_string(),
                user: user.unwrap_or("(none)").to_string(),
                needs: needs.to_string(),
            },
            other => other,
        }
    }

    /// True for errors of configuration the user must fix (exit 2), false for transient ones.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            EtcdError::BadEndpoint { .. } | EtcdError::Denied { .. } | EtcdError::AuthFailed { .. }
        )
    }

    /// True when the error says the member could not serve the call (down, partitioned, slow),
    /// so the call should move to another member.
    pub fn is_member_fault(&self) -> bool {
        match self {
            EtcdError::Timeout(_) | EtcdError::Unreachable(_) => true,
            EtcdError::Client(e) => !is_permission_denied(e),
            _ => false,
        }
    }
}

/// TLS material, read from files at startup so a bad path fails before anything runs.
#[derive(Clone)]
pub struct Tls {
    pub ca: Option<Vec<u8>>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

#[derive(Clone)]
pub struct EtcdConfig {
    pub endpoints: Vec<String>,
    pub tls: Option<Tls>,
    /// User and password; the password never appears in Debug output or logs.
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for EtcdConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdConfig")
            .field("endpoints", &self.endpoints)
            .field("tls", &self.tls.is_some())
            .field("user", &self.auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

/// Checks one endpoint: `http://host:port`, `https://host:port` or `host:port`.
pub fn validate_endpoint(endpoint: &str, tls: bool) -> Result<String, EtcdError> {
    let bad = |reason: &str| EtcdError::BadEndpoint {
        endpoint: endpoint.to_string(),
        reason: reason.to_string(),
    };
    let e = endpoint.trim();
    if e.is_empty() {
        return Err(bad("empty"));
    }
    let (scheme, rest) = match e.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, e),
    };
    match scheme.as_deref() {
        None | Some("http") | Some("https") => {}
        Some(_) => return Err(bad("scheme must be http or https")),
    }
    if scheme.as_deref() == Some("http") && tls {
        return Err(bad(
            "TLS flags were given but the endpoint uses http://; use https://",
        ));
    }
    let authority = rest.trim_end_matches('/');
    if authority.contains('/') || authority.contains('@') || authority.is_empty() {
        return Err(bad("expected scheme://host:port"));
    }
    let uri: http::Uri = format!("http://{authority}")
        .parse()
        .map_err(|_| bad("not a host:port"))?;
    let host = uri.host().unwrap_or_default();
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    if authority
        .rsplit_once(':')
        .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        || uri.port_u16() == Some(0)
    {
        return Err(bad("missing or invalid port"));
    }
    let scheme = scheme.unwrap_or_else(|| if tls { "https".into() } else { "http".into() });
    Ok(format!("{scheme}://{authority}"))
}

impl EtcdConfig {
    fn options(&self, connect_timeout: Duration) -> ConnectOptions {
        // `require_leader`: a member without a raft leader (a minority partition) refuses calls
        // and ends streams at once instead of holding them, so they move to another member.
        let mut o = ConnectOptions::new()
            .with_connect_timeout(connect_timeout)
            .with_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            .with_require_leader(true);
        if let Some(tls) = &self.tls {
            let mut t = TlsOptions::new();
            if let Some(ca) = &tls.ca {
                t = t.ca_certificate(Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &tls.identity {
                t = t.identity(Identity::from_pem(cert, key));
            }
            o = o.with_tls(t);
        }
        if let Some((user, password)) = &self.auth {
            o = o
                .with_user(user.clone(), password.clone())
                .with_auto_token_refresh(true);
        }
        o
    }

    /// A client of one member. Without auth nothing is sent yet; with auth a token is fetched,
    /// so this fails while the member is unreachable, and with [`EtcdError::AuthFailed`] when
    /// etcd refuses the user.
    pub async fn connect_one(
        &self,
        endpoint: &str,
        deadline: Duration,
    ) -> Result<Client, EtcdError> {
        let opts = self.options(deadline);
        match tokio::time::timeout(deadline, Client::connect([endpoint], Some(opts))).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) if is_auth_failure(&e) => Err(EtcdError::AuthFailed {
                user: self.user().unwrap_or_default().to_string(),
                message: e.to_string(),
            }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(EtcdError::Timeout(deadline)),
        }
    }

    /// One client balancing over every endpoint, for one-shot commands (`check`); the
    /// long-running modes use a [`Pool`].
    pub async fn connect(&self) -> Result<Client, EtcdError> {
        let opts = self.options(Duration::from_secs(2));
        match tokio::time::timeout(
            REQUEST_TIMEOUT,
            Client::connect(&self.endpoints, Some(opts)),
        )
        .await
        {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) if is_auth_failure(&e) => Err(EtcdError::AuthFailed {
                user: self.user().unwrap_or_default().to_string(),
                message: e.to_string(),
            }),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(EtcdError::Timeout(REQUEST_TIMEOUT)),
        }
    }

    pub fn user(&self) -> Option<&str> {
        self.auth.as_ref().map(|(u, _)| u.as_str())
    }
}

/// Connects the pool, retrying with backoff (and a throttled log) until a member answers or
/// `stop` resolves (`Ok(None)`). A configuration error (credentials refused) is returned at once.
pub async fn connect_retrying(
    etcd: &EtcdConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Option<Pool>, EtcdError> {
    crate::backoff::retry_until_stopped(
        "connecting to etcd",
        crate::backoff::Backoff::new(Duration::from_millis(200), Duration::from_secs(5)),
        stop,
        || Pool::connect(etcd),
        EtcdError::is_config,
    )
    .await
}

/// Runs one etcd call under `deadline`.
pub async fn timed_within<T>(
    deadline: Duration,
    f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(deadline, f).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(EtcdError::Timeout(deadline)),
    }
}

/// Runs one etcd call under [`REQUEST_TIMEOUT`].
pub async fn timed<T>(
    f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    let r = match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Ok(r) => r.map_err(EtcdError::from),
        Err(_) => Err(EtcdError::Timeout(REQUEST_TIMEOUT)),
    };
    crate::telemetry::etcd_request(r.as_ref().err().map(EtcdError::metric_label));
    r
}

#[cfg(test)]
mod tests;
