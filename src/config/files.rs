//! Reading the files flags name (secrets, TLS material) safely: only regular files (never a FIFO,
//! a device or a directory, which could block or never end), with a size limit checked on the
//! open handle and enforced while reading. Errors name the flag and the path, never the content.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use tracing::warn;

use super::ConfigError;

/// The largest secret file (API key, password): far above any real secret.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;
/// The largest TLS file (CA bundle, certificate, key): a distribution's whole CA bundle fits.
pub const MAX_PEM_FILE: u64 = 4 * 1024 * 1024;

fn bad(flag: &'static str, path: &Path, reason: impl Into<String>) -> ConfigError {
    ConfigError::BadFile {
        flag,
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn kind(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens without blocking (a FIFO would wait for a writer) and checks the handle's metadata, so
/// nothing can be swapped in between the check and the read.
fn open_regular(flag: &'static str, path: &Path, max: u64) -> Result<File, ConfigError> {
    let io = |source| ConfigError::File {
        flag,
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(bad(
            flag,
            path,
            format!("is {}; it must be a regular file", kind(meta.file_type())),
        ));
    }
    if meta.len() > max {
        return Err(bad(
            flag,
            path,
            format!("is {} bytes; at most {max} are allowed", meta.len()),
        ));
    }
    Ok(file)
}

/// A regular file of at most `max` bytes.
pub fn read_limited(flag: &'static str, path: &Path, max: u64) -> Result<Vec<u8>, ConfigError> {
    let file = open_regular(flag, path, max)?;
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ConfigError::File {
            flag,
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > max {
        return Err(bad(
            flag,
            path,
            format!("grew past {max} bytes while being read"),
        ));
    }
    Ok(bytes)
}

/// A one-line secret (`--api-key-file`, `--password-file`, `--etcd-password-file`): a regular
/// file of at most [`MAX_SECRET_FILE`] bytes, UTF-8, one non-empty line (a trailing newline is
/// fine and removed). Warns when the group or others can read it.
pub fn read_secret_file(flag: &'static str, path: &Path) -> Result<String, ConfigError> {
    let bytes = read_limited(flag, path, MAX_SECRET_FILE)?;
    let text = String::from_utf8(bytes).map_err(|_| bad(flag, path, "is not UTF-8 text"))?;
    let secret = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text);
    if secret.trim().is_empty() {
        return Err(bad(flag, path, "is empty"));
    }
    if secret.contains(['\n', '\r']) {
        return Err(bad(
            flag,
            path,
            "has more than one line; it must hold only the secret",
        ));
    }
    warn_if_shared(path);
    Ok(secret.to_string())
}

/// `--require-env-file`: the environment file a unit reads exists and is a regular file. Only
/// its metadata is looked at: systemd reads the file as root, and it may well be unreadable to
/// the unit's own user.
pub fn require_env_file(path: &Path) -> Result<(), ConfigError> {
    const FLAG: &str = "--require-env-file";
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::File {
        flag: FLAG,
        path: path.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(bad(
            FLAG,
            path,
            format!("is {}; it must be a regular file", kind(meta.file_type())),
        ));
    }
    Ok(())
}

/// True when the permission bits let the group or others read the file.
pub fn readable_by_others(mode: u32) -> bool {
    mode & 0o044 != 0
}

fn warn_if_shared(path: &Path) {
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

#[cfg(test)]
mod tests;
