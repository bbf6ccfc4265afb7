//! Rackspace credentials (username + API key or password). Secrets print as `<redacted>` in
//! `Debug` and are never put in errors or logs. Reading them from a file is `config`'s job
//! (`config::read_secret_file`, shared with `--etcd-password-file`).

use std::fmt;

/// The secret half of the credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// Sent as `RAX-KSKEY:apiKeyCredentials`.
    ApiKey(String),
    /// Sent as `passwordCredentials`.
    Password(String),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Secret::Password(_) => f.write_str("Password(<redacted>)"),
        }
    }
}

/// A Rackspace username and its API key or password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: Secret,
}

impl Credentials {
    pub fn api_key(username: impl Into<String>, key: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            secret: Secret::ApiKey(key.into()),
        }
    }

    pub fn password(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            secret: Secret::Password(password.into()),
        }
    }
}

#[cfg(test)]
mod tests;
