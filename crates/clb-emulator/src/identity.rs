//! Identity v2.0: reading `POST /v2.0/tokens` bodies (API key or password), checking them against the
//! configured users, the token store (lifetime, expiry, tenant binding) and the `access` document with
//! its service catalog.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::fault::Fault;
use super::User;

/// Which credential a token request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    ApiKey(String),
    Password(String),
}

/// A parsed token request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuthRequest {
    pub username: String,
    pub credential: Credential,
    /// `tenantId` or `tenantName`, when given.
    pub tenant: Option<String>,
}

pub(crate) const BAD_CREDENTIALS: &str = "Unable to authenticate user with credentials provided.";

fn bad(message: &str) -> Fault {
    Fault::IdentityBadRequest(message.into())
}

fn string_field(obj: &Value, key: &str) -> Result<String, Fault> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            bad(&format!(
                "Invalid json request body: missing string field '{key}'"
            ))
        })
}

/// Reads `{"auth":{"RAX-KSKEY:apiKeyCredentials":{..}}}` or `{"auth":{"passwordCredentials":{..}}}`.
pub(crate) fn parse_request(body: &[u8]) -> Result<AuthRequest, Fault> {
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("Invalid json request body"))?;
    let auth = v
        .get("auth")
        .filter(|a| a.is_object())
        .ok_or_else(|| bad("Invalid json request body: missing 'auth'"))?;
    let tenant_id = auth.get("tenantId").and_then(Value::as_str);
    let tenant_name = auth.get("tenantName").and_then(Value::as_str);
    if tenant_id.is_some() && tenant_name.is_some() {
        return Err(bad(
            "Invalid request. Specify tenantId OR tenantName, not both.",
        ));
    }
    let tenant = tenant_id.or(tenant_name).map(str::to_string);
    let (username, credential) = if let Some(c) = auth.get("RAX-KSKEY:apiKeyCredentials") {
        (
            string_field(c, "username")?,
            Credential::ApiKey(string_field(c, "apiKey")?),
        )
    } else if let Some(c) = auth.get("passwordCredentials") {
        (
            string_field(c, "username")?,
            Credential::Password(string_field(c, "password")?),
        )
    } else {
        return Err(bad("Invalid json request body: no supported credentials"));
    };
    Ok(AuthRequest {
        username,
        credential,
        tenant,
    })
}

/// The configured user these credentials (and optional tenant) belong to.
pub(crate) fn authenticate<'a>(users: &'a [User], req: &AuthRequest) -> Result<&'a User, Fault> {
    let user = users
        .iter()
        .find(|u| {
            u.username == req.username
                && match &req.credential {
                    Credential::ApiKey(k) => *k == u.api_key,
                    Credential::Password(p) => u.password.as_deref() == Some(p.as_str()),
                }
        })
        .ok_or_else(|| Fault::IdentityUnauthorized(BAD_CREDENTIALS.into()))?;
    match &req.tenant {
        Some(t) if *t != user.tenant_id => Err(Fault::IdentityUnauthorized(format!(
            "Token doesn't belong to Tenant with Id/Name: '{t}'"
        ))),
        _ => Ok(user),
    }
}

#[derive(Debug, Clone)]
struct Token {
    tenant: String,
    user: String,
    valid_until: Instant,
}

/// Issued tokens. Each authentication issues a new one; earlier ones stay valid until they expire.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, Token>,
}

impl TokenStore {
    /// Issues a fresh token for `user` of `tenant`, valid for `ttl`.
    pub(crate) fn issue(
        &mut self,
        user: &str,
        tenant: &str,
        ttl: Duration,
        now: Instant,
        rng: &mut fastrand::Rng,
    ) -> String {
        self.tokens.retain(|_, t| t.valid_until > now);
        let id: String = (0..32)
            .map(|_| char::from_digit(rng.u32(0..16), 16).unwrap_or('0'))
            .collect();
        self.tokens.insert(
            id.clone(),
            Token {
                tenant: tenant.to_string(),
                user: user.to_string(),
                valid_until: now + ttl,
            },
        );
        id
    }

    /// The user `token` was issued to, when it exists, has not expired and belongs to `tenant`.
    pub(crate) fn accepts(&self, token: &str, tenant: &str, now: Instant) -> Option<&str> {
        self.tokens
            .get(token)
            .filter(|t| t.tenant == tenant && now < t.valid_until)
            .map(|t| t.user.as_str())
    }

    /// Every issued token becomes invalid.
    pub(crate) fn expire_all(&mut self) {
        self.tokens.clear();
    }
}

/// Everything the `access` document needs.
pub(crate) struct Access<'a> {
    pub token: &'a str,
    pub expires: DateTime<Utc>,
    pub user: &'a User,
    pub by_password: bool,
    /// `http://host:port` of this server.
    pub base_url: &'a str,
    pub region: &'a str,
    /// List `cloudLoadBalancerControl` (same type, an endpoint that answers 404) first.
    pub control_first: bool,
}

/// The second catalog region, so that region selection means something.
fn other_region(region: &str) -> &'static str {
    if region.eq_ignore_ascii_case("DFW") {
        "ORD"
    } else {
        "DFW"
    }
}

/// A stable numeric user id derived from the name (Identity ids are numeric strings).
fn user_id(username: &str) -> String {
    let n = username
        .bytes()
        .fold(17u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("{}", 100_000 + n % 900_000)
}

/// The 200 body of `POST /v2.0/tokens`.
pub(crate) fn access_json(a: &Access<'_>) -> Value {
    let tenant = &a.user.tenant_id;
    let clb_url = format!("{}/v1.0/{tenant}", a.base_url);
    let endpoint =
        |region: &str| json!({"publicURL": clb_url, "region": region, "tenantId": tenant});
    let mut catalog = vec![
        json!({
            "name": "cloudServersOpenStack",
            "type": "compute",
            "endpoints": [{
                "publicURL": format!("{}/v2/{tenant}", a.base_url),
                "region": a.region,
                "tenantId": tenant,
                "versionId": "2",
            }],
        }),
        json!({
            "name": "cloudLoadBalancers",
            "type": "rax:load-balancer",
            "endpoints": [endpoint(a.region), endpoint(other_region(a.region))],
        }),
    ];
    if a.control_first {
        let control_url = format!("{}/control/v1.0/{tenant}", a.base_url);
        let control =
            |region: &str| json!({"publicURL": control_url, "region": region, "tenantId": tenant});
        catalog.insert(
            0,
            json!({
                "name": "cloudLoadBalancerControl",
                "type": "rax:load-balancer",
                "endpoints": [control(a.region), control(other_region(a.region))],
            }),
        );
    }
    json!({"access": {
        "token": {
            "id": a.token,
            "expires": a.expires.to_rfc3339_opts(SecondsFormat::Millis, true),
            "tenant": {"id": tenant, "name": tenant},
            "RAX-AUTH:authenticatedBy": [if a.by_password { "PASSWORD" } else { "APIKEY" }],
        },
        "serviceCatalog": catalog,
        "user": {
            "id": user_id(&a.user.username),
            "name": a.user.username,
            "roles": [{"id": "3", "name": "identity:default", "description": "Default Role."}],
            "RAX-AUTH:defaultRegion": a.region,
        },
    }})
}

#[cfg(test)]
mod tests;
