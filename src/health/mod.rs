//! Health probes: the HTTP GET (status, optional SHA1 of the whole body) and the TCP connect, each
//! under one hard deadline; the expected-digest type; and the rise/fall damper in `damper`.

mod damper;

pub use damper::{Damper, Transition};

use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use sha1::{Digest as _, Sha1};

/// The largest body a probe reads; a larger or endless body fails the probe.
pub const MAX_BODY: usize = 1 << 20;

/// The path probed (`run`) or re-checked (`lbsync`) when none is given: the 2014 app's page.
pub const DEFAULT_HEALTH_PATH: &str = "/health.php";

/// An expected SHA1: exactly 40 hex characters, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest(String);

impl Digest {
    /// Accepts lower- or upper-case 40-hex SHA1 digests.
    pub fn parse(s: &str) -> Result<Digest, String> {
        let t = s.trim();
        if t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "{s:?} is not a SHA1 digest: expected 40 hex characters, got {}",
                t.len()
            ));
        }
        Ok(Digest(t.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the agent decides that a container is healthy (`--health-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthMode {
    /// GET the health path; with a digest the body's SHA1 must match, else any 2xx passes.
    Http,
    /// Connect to the published port.
    Tcp,
    /// Use the container's own HEALTHCHECK status.
    Docker,
    /// Register while the container runs.
    None,
}

impl HealthMode {
    /// The spellings `--health-mode` accepts, in the order of the variants.
    pub const NAMES: [&'static str; 4] = ["http", "tcp", "docker", "none"];
    const ALL: [HealthMode; 4] = [
        HealthMode::Http,
        HealthMode::Tcp,
        HealthMode::Docker,
        HealthMode::None,
    ];

    pub fn as_str(self) -> &'static str {
        HealthMode::NAMES[self as usize]
    }
}

impl fmt::Display for HealthMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for HealthMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        match HealthMode::NAMES.iter().position(|n| *n == name) {
            Some(i) => Ok(HealthMode::ALL[i]),
            None => Err(format!(
                "unknown health mode {s:?}: expected one of {}",
                HealthMode::NAMES.join(", ")
            )),
        }
    }
}

/// The lower-case hex SHA1 of `body`.
pub fn sha1_hex(body: &[u8]) -> String {
    hex::encode(Sha1::digest(body))
}

/// What to probe and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Http {
        addr: SocketAddr,
        path: String,
        digest: Option<Digest>,
    },
    Tcp {
        addr: SocketAddr,
    },
}

impl Probe {
    pub fn addr(&self) -> SocketAddr {
        match self {
            Probe::Http { addr, .. } | Probe::Tcp { addr } => *addr,
        }
    }

    /// `http://IP:PORT/path` (IPv6 in brackets) for an HTTP probe.
    pub fn url(&self) -> Option<String> {
        match self {
            Probe::Http { addr, path, .. } => Some(format!("http://{addr}{}", origin_form(path))),
            Probe::Tcp { .. } => None,
        }
    }
}

/// The result of one probe, with everything a person needs to see why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub pass: bool,
    /// HTTP status code, when a response arrived.
    pub status: Option<u16>,
    /// SHA1 of the whole body, when a body was read.
    pub observed_sha1: Option<String>,
    pub expected_sha1: Option<String>,
    pub body_bytes: Option<usize>,
    /// Why the probe failed (absent on success).
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

impl Outcome {
    fn failed(error: impl Into<String>, started: Instant) -> Outcome {
        Outcome {
            pass: false,
            status: None,
            observed_sha1: None,
            expected_sha1: None,
            body_bytes: None,
            error: Some(error.into()),
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }
}

/// Runs probes. Each HTTP probe is one fresh connection and one request on it (hyper's
/// connection-level HTTP/1 client, driven in place): no pool, so a stale pooled connection can
/// never fail (or pass) a probe on the container's behalf, and no spawned connection task, DNS
/// resolver or connection-info lookups per probe (`host` runs one probe per container and
/// interval; see docs/benchmarks.md figure 6 for what a probe costs).
#[derive(Clone)]
pub struct Prober {
    timeout: Duration,
}

impl Prober {
    pub fn new(timeout: Duration) -> Prober {
        Prober { timeout }
    }

    /// One probe under one hard deadline covering connect, request and the whole body.
    pub async fn probe(&self, probe: &Probe) -> Outcome {
        let started = Instant::now();
        let answer = tokio::time::timeout(self.timeout, async {
            match probe {
                Probe::Tcp { addr } => tokio::net::TcpStream::connect(addr)
                    .await
                    .map(|_| None)
                    .map_err(|e| e.to_string()),
                Probe::Http { addr, path, .. } => fetch(*addr, path).await.map(Some),
            }
        })
        .await;
        let (what, late, digest) = match probe {
            Probe::Tcp { addr } => (format!("connect {addr}"), "no answer", None),
            Probe::Http { digest, .. } => {
                let url = probe.url().unwrap_or_default();
                (format!("GET {url}"), "no complete answer", digest.as_ref())
            }
        };
        let error = match answer {
            Ok(Ok(Some((status, body)))) => return judge(status, &body, digest, started),
            Ok(Ok(None)) => {
                return Outcome {
                    pass: true,
                    error: None,
                    ..Outcome::failed("", started)
                }
            }
            Ok(Err(e)) => e,
            Err(_) => format!("{late} within {}", crate::duration::format(self.timeout)),
        };
        Outcome {
            expected_sha1: digest.map(Digest::to_string),
            ..Outcome::failed(format!("{what}: {error}"), started)
        }
    }
}

/// `GET path` on a new connection to `addr`: the status and the whole body (at most
/// [`MAX_BODY`]). The caller bounds it in time.
async fn fetch(addr: SocketAddr, path: &str) -> Result<(u16, Bytes), String> {
    let request = http::Request::get(origin_form(path))
        .header(http::header::HOST, host_header(addr))
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("bad request: {e}"))?;
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| describe(&e))?;
    let exchange = async move {
        let resp = sender
            .send_request(request)
            .await
            .map_err(|e| describe(&e))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    format!("body larger than {MAX_BODY} bytes")
                } else {
                    format!("reading body: {e}")
                }
            })?
            .to_bytes();
        Ok((status, body))
    };
    // The connection is driven here, beside the exchange, rather than by a spawned task.
    tokio::pin!(conn, exchange);
    tokio::select! {
        r = &mut exchange => r,
        c = &mut conn => match c {
            // The server closed after answering: what it sent is in the exchange.
            Ok(()) => exchange.await,
            Err(e) => Err(describe(&e)),
        },
    }
}

/// The request target: the path, with a leading slash added when missing.
fn origin_form(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    }
}

/// `Host:` as an HTTP client sends it for `http://addr/`: the port only when it is not 80.
fn host_header(addr: SocketAddr) -> String {
    match (addr, addr.port()) {
        (SocketAddr::V4(a), 80) => a.ip().to_string(),
        (SocketAddr::V6(a), 80) => format!("[{}]", a.ip()),
        (a, _) => a.to_string(),
    }
}

/// hyper's error Display is terse ("connection closed before message completed" without its
/// cause); include the source chain.
fn describe(e: &hyper::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Pure verdict on a response: 2xx required; with a digest the whole body must hash to it.
pub fn judge(status: u16, body: &[u8], digest: Option<&Digest>, started: Instant) -> Outcome {
    let observed = sha1_hex(body);
    let ok_status = (200..300).contains(&status);
    let digest_ok = digest.is_none_or(|d| d.as_str() == observed);
    let error = if !ok_status {
        Some(format!("status {status} is not 2xx"))
    } else if !digest_ok {
        Some(format!(
            "body SHA1 {observed} does not match the expected {}",
            digest.map(|d| d.as_str()).unwrap_or_default()
        ))
    } else {
        None
    };
    Outcome {
        pass: error.is_none(),
        status: Some(status),
        observed_sha1: Some(observed),
        expected_sha1: digest.map(|d| d.to_string()),
        body_bytes: Some(body.len()),
        error,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

#[cfg(test)]
mod tests;
