//! Rackspace credentials (username + API key or password) and reading the secret from a file.
//! Secrets print as `<redacted>` in `Debug` and are never put in errors or logs.

use std::fmt;
use std::path::Path;

use tracing::warn;

use super::error::Error;

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

    /// Reads the API key from `path` (trailing newline trimmed); warns if others can read the file.
    pub fn from_api_key_file(username: impl Into<String>, path: &Path) -> Result<Self, Error> {
        Ok(Self::api_key(username, read_secret_file(path, "API key")?))
    }

    /// Reads the password from `path` (trailing newline trimmed); warns if others can read the file.
    pub fn from_password_file(username: impl Into<String>, path: &Path) -> Result<Self, Error> {
        Ok(Self::password(
            username,
            read_secret_file(path, "password")?,
        ))
    }
}

/// Reads a one-line secret file. Errors name the file and never quote its content.
fn read_secret_file(path: &Path, what: &str) -> Result<String, Error> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read {what} file {shown}: {e}")))?;
    warn_if_shared(path);
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Config(format!("{what} file {shown} is not UTF-8 text")))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.trim().is_empty() {
        return Err(Error::Config(format!("{what} file {shown} is empty")));
    }
    if secret.contains('\n') {
        return Err(Error::Config(format!(
            "{what} file {shown} has more than one line; it must hold only the {what}"
        )));
    }
    Ok(secret.to_string())
}

/// True when the permission bits let the group or others read the file.
pub(crate) fn readable_by_others(mode: u32) -> bool {
    mode & 0o044 != 0
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if readable_by_others(mode) {
            warn!(
                path = %path.display(),
                mode = %format!("{mode:04o}"),
                "secret file is readable by group or others; chmod 600 it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secret() {
        let c = Credentials::api_key("alice", "s3cr3t-key");
        let d = format!("{c:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
        assert!(d.contains("alice") && d.contains("<redacted>"), "{d}");
        let p = format!("{:?}", Secret::Password("hunter2".into()));
        assert_eq!(p, "Password(<redacted>)");
    }

    #[test]
    fn mode_bits() {
        assert!(!readable_by_others(0o600));
        assert!(!readable_by_others(0o400));
        assert!(readable_by_others(0o640));
        assert!(readable_by_others(0o604));
        assert!(readable_by_others(0o644));
    }

    #[test]
    fn file_trims_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "abc123\n").unwrap();
        let c = Credentials::from_api_key_file("bob", &path).unwrap();
        assert_eq!(c.secret, Secret::ApiKey("abc123".into()));
        std::fs::write(&path, "pa ss\r\n").unwrap();
        let c = Credentials::from_password_file("bob", &path).unwrap();
        assert_eq!(c.secret, Secret::Password("pa ss".into()));
    }

    #[test]
    fn file_errors_name_the_file_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "\n").unwrap();
        let e = Credentials::from_api_key_file("bob", &path).unwrap_err();
        assert!(e.to_string().contains("is empty"), "{e}");
        std::fs::write(&path, "line-one-secret\nline-two\n").unwrap();
        let e = Credentials::from_api_key_file("bob", &path).unwrap_err();
        assert!(!e.to_string().contains("line-one"), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        let missing = dir.path().join("nope");
        let e = Credentials::from_password_file("bob", &missing).unwrap_err();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
