//! Rackspace Identity v2.0, the pure parts: the `POST /tokens` body, reading the token, its expiry
//! and tenant out of the `access` reply, choosing the Cloud Load Balancers endpoint for a region
//! from the service catalog, and when a token is due for refresh.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::credentials::{Credentials, Secret};
use super::error::Error;

/// The catalog type of Cloud Load Balancers.
pub const LB_SERVICE_TYPE: &str = "rax:load-balancer";
/// The catalog name of the public Cloud Load Balancers service, preferred when several services
/// share its type (e.g. `cloudLoadBalancerControl`).
pub const LB_SERVICE_NAME: &str = "cloudLoadBalancers";

/// Refresh no earlier than this before expiry (the docs' "last hour").
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(3600);

/// An auth token; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(String);

impl Token {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// What a successful authentication gives us.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub token: Token,
    pub expires: DateTime<Utc>,
    pub tenant_id: Option<String>,
    /// The region's Cloud Load Balancers `publicURL`, without a trailing slash.
    pub endpoint: String,
    /// The region the endpoint belongs to, as the catalog spells it.
    pub region: String,
}

/// The JSON body of `POST /tokens` for these credentials.
pub(crate) fn request_body(creds: &Credentials) -> Value {
    match &creds.secret {
        Secret::ApiKey(key) => json!({"auth": {"RAX-KSKEY:apiKeyCredentials": {
            "username": creds.username, "apiKey": key}}}),
        Secret::Password(pw) => json!({"auth": {"passwordCredentials": {
            "username": creds.username, "password": pw}}}),
    }
}

/// Parses `expires`: ISO-8601 with or without millis, `Z` or an offset; no zone means UTC.
pub(crate) fn parse_expires(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// How long after issue a token with this total lifetime should be replaced: when less than
/// `min(1h, 10% of the lifetime)` remains.
pub(crate) fn refresh_after(lifetime: Duration) -> Duration {
    lifetime - (lifetime / 10).min(MAX_REFRESH_MARGIN)
}

/// One service of the catalog.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CatalogEntry {
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub service_type: String,
    #[serde(default)]
    pub endpoints: Vec<CatalogEndpoint>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct CatalogEndpoint {
    #[serde(rename = "publicURL", default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

/// Picks the Cloud Load Balancers endpoint of `region` (case-insensitive). An empty region falls
/// back to the user's default region, then to the only endpoint if there is exactly one.
/// Several services of type `rax:load-balancer`: the one named `cloudLoadBalancers` wins, whatever
/// the catalog order; the others only serve a region it lacks.
/// Returns `(publicURL without trailing slash, region as spelled in the catalog)`.
pub(crate) fn select_endpoint(
    catalog: &[CatalogEntry],
    region: &str,
    default_region: Option<&str>,
) -> Result<(String, String), Error> {
    let mut services: Vec<&CatalogEntry> = catalog
        .iter()
        .filter(|e| e.service_type == LB_SERVICE_TYPE)
        .collect();
    // Stable: the preferred name first, the rest in catalog order.
    services.sort_by_key(|e| !e.name.eq_ignore_ascii_case(LB_SERVICE_NAME));
    let endpoints: Vec<(&str, &str)> = services
        .iter()
        .flat_map(|e| &e.endpoints)
        .filter_map(|ep| {
            Some((
                ep.region.as_deref().unwrap_or(""),
                ep.public_url.as_deref()?,
            ))
        })
        .collect();
    if endpoints.is_empty() {
        return Err(Error::Config(format!(
            "the service catalog has no Cloud Load Balancers ({LB_SERVICE_TYPE}) endpoint; \
             is the account enabled for it?"
        )));
    }
    let mut regions: Vec<&str> = endpoints.iter().map(|(r, _)| *r).collect();
    regions.sort_unstable();
    regions.dedup();
    let wanted = match region.trim() {
        "" => default_region.unwrap_or(""),
        r => r,
    };
    let preferred = services
        .first()
        .filter(|e| e.name.eq_ignore_ascii_case(LB_SERVICE_NAME))
        .map_or(0, |e| e.endpoints.len());
    let chosen = if wanted.is_empty() && (endpoints.len() == 1 || preferred == 1) {
        endpoints.first()
    } else if wanted.is_empty() {
        return Err(Error::Config(format!(
            "no region given (--region or OS_REGION_NAME); available regions: {}",
            regions.join(", ")
        )));
    } else {
        endpoints
            .iter()
            .find(|(r, _)| r.eq_ignore_ascii_case(wanted))
    };
    match chosen {
        Some((r, url)) => Ok((url.trim_end_matches('/').to_string(), r.to_string())),
        None => Err(Error::Config(format!(
            "region {wanted:?} has no Cloud Load Balancers endpoint; available regions: {}",
            regions.join(", ")
        ))),
    }
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, key| v.get(key))?.as_str()
}

/// Reads a 200 reply of `POST /tokens`. Errors say which field is missing but never quote values
/// (the body holds the token).
pub(crate) fn parse_access(body: &[u8], region: &str) -> Result<Access, Error> {
    let decode = |what: &str| Error::Decode(format!("identity response: {what}"));
    let json: Value = serde_json::from_slice(body).map_err(|_| decode("not JSON"))?;
    let token = text(&json, &["access", "token", "id"])
        .filter(|t| !t.is_empty())
        .ok_or_else(|| decode("no access.token.id"))?;
    let expires_text = text(&json, &["access", "token", "expires"])
        .ok_or_else(|| decode("no access.token.expires"))?;
    let expires = parse_expires(expires_text).ok_or_else(|| {
        decode(&format!(
            "access.token.expires {expires_text:?} is not an ISO-8601 time"
        ))
    })?;
    let tenant_id = text(&json, &["access", "token", "tenant", "id"]).map(str::to_string);
    let catalog: Vec<CatalogEntry> = match json.get("access").and_then(|a| a.get("serviceCatalog"))
    {
        Some(c) => serde_json::from_value(c.clone())
            .map_err(|e| decode(&format!("bad access.serviceCatalog: {e}")))?,
        None => Vec::new(),
    };
    let default_region = text(&json, &["access", "user", "RAX-AUTH:defaultRegion"]);
    let (endpoint, region) = select_endpoint(&catalog, region, default_region)?;
    Ok(Access {
        token: Token(token.to_string()),
        expires,
        tenant_id,
        endpoint,
        region,
    })
}

#[cfg(test)]
mod tests;
