//! `--metrics-addr`: where `/metrics` and `/healthz` listen. An IP literal with a port
//! (`127.0.0.1:9464`, `[::1]:9464`) or `localhost:PORT`; off when the flag is absent or empty.

use std::net::{Ipv4Addr, SocketAddr};

use super::ConfigError;

/// Validates `--metrics-addr` (`SIDEKICK_METRICS_ADDR`); `None` means metrics are off.
pub fn metrics_addr(raw: Option<&str>) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let bad = |why: &str| {
        ConfigError::Invalid(format!(
            "--metrics-addr {text:?}: {why} (expected HOST:PORT, e.g. 127.0.0.1:9464)"
        ))
    };
    let addr = match text.strip_prefix("localhost:") {
        Some(port) => port
            .parse::<u16>()
            .map(|p| SocketAddr::from((Ipv4Addr::LOCALHOST, p)))
            .map_err(|_| bad("invalid port"))?,
        None => text
            .parse::<SocketAddr>()
            .map_err(|_| bad("not an IP address and port"))?,
    };
    if addr.port() == 0 {
        return Err(bad("port 0 is not a fixed port"));
    }
    Ok(Some(addr))
}

#[cfg(test)]
mod tests;
