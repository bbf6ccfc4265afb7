//! The upstream file on disk: read it, replace it atomically (temp file in the same directory,
//! fsync, rename, fsync the directory), and put the previous contents back after a failed check.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The file actually written: a symlinked upstream file (as in `sites-enabled/`) is replaced at
/// its target, so the link survives.
pub fn target(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
        }
        _ => path.to_path_buf(),
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The file's bytes, or `None` when it does not exist.
pub fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces `path` by `bytes` so a reader sees either the old or the new file, never a torn one.
/// Mode and (when permitted) owner of the old file are kept; a new file gets 0644.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let path = target(path);
    let dir = dir_of(&path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.sidekick-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let old = fs::metadata(&path).ok();
    let mode = old.as_ref().map_or(0o644, |m| m.mode() & 0o7777);
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(bytes)?;
        // The umask may have narrowed the mode given at creation.
        f.set_permissions(Permissions::from_mode(mode))?;
        if let Some(m) = &old {
            // Only root may give the file away; otherwise it stays ours, which is fine.
            let _ = std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()));
        }
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        sync_dir(&dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Puts back what `read` returned before a write: the old bytes, or no file at all.
pub fn restore(path: &Path, previous: Option<&[u8]>) -> io::Result<()> {
    match previous {
        Some(bytes) => write_atomic(path, bytes),
        None => {
            let path = target(path);
            match fs::remove_file(&path) {
                Ok(()) => sync_dir(&dir_of(&path)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
        }
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
