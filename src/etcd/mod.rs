//! etcd: the connection settings (endpoints, TLS, user/password; validated by `config`) and the
//! client built from them. Lease upkeep lives in `lease`.

pub mod lease;

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
}

impl EtcdError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            EtcdError::BadEndpoint { .. } => "config",
            EtcdError::Client(_) => "client",
            EtcdError::Timeout(_) => "timeout",
        }
    }

    /// True for errors of configuration the user must fix (exit 2), false for transient ones.
    pub fn is_config(&self) -> bool {
        self.metric_label() == "config"
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
    fn options(&self) -> ConnectOptions {
        let mut o = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(REQUEST_TIMEOUT)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3));
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

    /// Connects. Without auth nothing is sent yet; with auth a token is fetched, so this fails
    /// while etcd is unreachable (callers retry).
    pub async fn connect(&self) -> Result<Client, EtcdError> {
        match tokio::time::timeout(
            REQUEST_TIMEOUT,
            Client::connect(&self.endpoints, Some(self.options())),
        )
        .await
        {
            Ok(r) => Ok(r?),
            Err(_) => Err(EtcdError::Timeout(REQUEST_TIMEOUT)),
        }
    }
}

/// Connects, retrying with backoff (and a throttled log) until it works or `stop` resolves.
pub async fn connect_retrying(
    etcd: &EtcdConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Option<Client> {
    tokio::pin!(stop);
    let mut backoff =
        crate::backoff::Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    let mut log = crate::backoff::RetryLog::new("connecting to etcd");
    loop {
        match etcd.connect().await {
            Ok(c) => {
                log.succeeded();
                return Some(c);
            }
            Err(e) => {
                log.failed(&e);
                tokio::select! {
                    _ = tokio::time::sleep(backoff.next_delay()) => {}
                    _ = &mut stop => return None,
                }
            }
        }
    }
}

/// Runs one etcd call under [`REQUEST_TIMEOUT`].
pub async fn timed<T>(
    f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    crate::telemetry::etcd_counted(match tokio::time::timeout(REQUEST_TIMEOUT, f).await {
        Ok(r) => r.map_err(EtcdError::from),
        Err(_) => Err(EtcdError::Timeout(REQUEST_TIMEOUT)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalised_or_refused_by_name() {
        assert_eq!(
            validate_endpoint("http://127.0.0.1:2379", false).unwrap(),
            "http://127.0.0.1:2379"
        );
        assert_eq!(
            validate_endpoint("127.0.0.1:2379", false).unwrap(),
            "http://127.0.0.1:2379"
        );
        assert_eq!(
            validate_endpoint("127.0.0.1:2379", true).unwrap(),
            "https://127.0.0.1:2379"
        );
        assert_eq!(
            validate_endpoint("https://[::1]:2379/", true).unwrap(),
            "https://[::1]:2379"
        );
        for bad in [
            "",
            "ftp://a:1",
            "http://",
            "http://host",
            "http://host:port",
            "http://a:1/x",
            "a:99999",
            "::::",
        ] {
            let e = validate_endpoint(bad, false).unwrap_err().to_string();
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
        let e = validate_endpoint("http://127.0.0.1:2379", true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("https"), "{e}");
    }
}
