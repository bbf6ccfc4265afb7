//! The nginx backend of `sidekick lbsync --backend nginx`: owns one generated upstream file and
//! makes nginx serve exactly a given set of servers: render, write only when the bytes differ,
//! `--check-cmd` (the old file is put back if it fails), then `--reload-cmd`.
//!
//! The check runs against the file in place because nginx can only test its whole configuration,
//! which includes this file. That is safe: an nginx reloaded by someone else in that moment tests
//! the new configuration itself and keeps its old one if it is bad.

mod command;
mod file;
mod render;

pub use command::{CommandFailure, Failure, OUTPUT_CAP};
pub use render::{parse, render_into, valid_name, Parsed, PLACEHOLDER};

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::telemetry::{sample, LOG_SAMPLE};

pub const DEFAULT_CHECK_CMD: &str = "nginx -t";
pub const DEFAULT_RELOAD_CMD: &str = "nginx -s reload";
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxConfig {
    /// `--upstream-file`: the file nginx `include`s, owned entirely by lbsync.
    pub upstream_file: PathBuf,
    /// `--upstream-name`: the name in `upstream NAME { ... }` that `proxy_pass http://NAME` uses.
    pub upstream_name: String,
    /// `--check-cmd`, run through `sh -c`.
    pub check_cmd: String,
    /// `--reload-cmd`, run through `sh -c`.
    pub reload_cmd: String,
    /// Deadline of each command; the command's process group is killed when it passes.
    pub command_timeout: Duration,
}

impl NginxConfig {
    /// A config with the default commands and timeout.
    pub fn new(upstream_file: impl Into<PathBuf>, upstream_name: impl Into<String>) -> Self {
        NginxConfig {
            upstream_file: upstream_file.into(),
            upstream_name: upstream_name.into(),
            check_cmd: DEFAULT_CHECK_CMD.to_string(),
            reload_cmd: DEFAULT_RELOAD_CMD.to_string(),
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }
}

/// What one `apply` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The file already held exactly this set and nginx had loaded it: nothing ran.
    Unchanged,
    /// The file was (re)written if needed, checked, and nginx reloaded. `added`/`removed` are
    /// relative to what nginx served before (both empty for the one-time reload of an unchanged
    /// file after start, or when retrying a reload that failed).
    Reloaded {
        added: Vec<SocketAddr>,
        removed: Vec<SocketAddr>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum NginxError {
    #[error("--upstream-name {name:?}: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("--upstream-file {}: {reason}", path.display())]
    BadFile { path: PathBuf, reason: String },
    #[error("{flag} must not be empty")]
    EmptyCommand { flag: &'static str },
    #[error("the nginx command timeout must be more than zero")]
    ZeroTimeout,
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    #[error("nginx config check `{cmd}` {failure}; {} keeps its previous contents and nginx keeps serving the previous set: {output}", path.display())]
    CheckFailed {
        cmd: String,
        path: PathBuf,
        failure: Failure,
        output: String,
    },
    #[error("nginx config check `{cmd}` {failure}, and putting back the previous {} failed too ({source}): the file holds the rejected set, nginx was not reloaded: {output}", path.display())]
    RestoreFailed {
        cmd: String,
        path: PathBuf,
        failure: Failure,
        output: String,
        source: std::io::Error,
    },
    #[error("nginx reload `{cmd}` {failure}; the new {} passed the check and stays in place, nginx serves the previous set until a reload succeeds (retried on the next apply): {output}", path.display())]
    ReloadFailed {
        cmd: String,
        path: PathBuf,
        failure: Failure,
        output: String,
    },
}

impl NginxError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            NginxError::BadName { .. }
            | NginxError::BadFile { .. }
            | NginxError::EmptyCommand { .. }
            | NginxError::ZeroTimeout => "config",
            NginxError::Io { .. } => "io",
            NginxError::Parse { .. } => "parse",
            NginxError::CheckFailed { .. } => "check_failed",
            NginxError::RestoreFailed { .. } => "restore_failed",
            NginxError::ReloadFailed { .. } => "reload_failed",
        }
    }

    /// True for errors of configuration the user must fix (exit 2).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            NginxError::BadName { .. }
                | NginxError::BadFile { .. }
                | NginxError::EmptyCommand { .. }
                | NginxError::ZeroTimeout
        )
    }
}

/// What this process knows about the set nginx has loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Loaded {
    /// Just started: a previous run may have written the file and died before reloading, so the
    /// first apply reloads even when the file is unchanged.
    Unknown,
    /// nginx loaded the file as it is on disk, which holds this set as this process wrote it
    /// (so a large file is not parsed again to tell what changed).
    Current(BTreeSet<SocketAddr>),
    /// A reload failed; nginx still serves this set, and the next apply reloads again.
    Stale(BTreeSet<SocketAddr>),
}

/// One generated upstream file and the nginx that serves it (the lbsync `Backend` on top of it is
/// `lbsync::backend::nginx::NginxBackend`).
#[derive(Debug)]
pub struct NginxUpstream {
    cfg: NginxConfig,
    loaded: Loaded,
    /// The file's bytes as of the last successful apply (empty before one), so a pass that finds
    /// the set unchanged compares the file with them instead of rendering it again.
    rendered: String,
    /// The buffer the next file is rendered into (swapped with `rendered` on success).
    scratch: String,
}

impl NginxUpstream {
    /// Validates the config: the name, the file's directory, the commands.
    pub fn new(cfg: NginxConfig) -> Result<Self, NginxError> {
        let name = &cfg.upstream_name;
        if !valid_name(name) {
            let reason = if name.is_empty() {
                "must not be empty"
            } else {
                "use only letters, digits, '_', '.' and '-'"
            };
            let name = name.clone();
            return Err(NginxError::BadName { name, reason });
        }
        check_file(&cfg.upstream_file)?;
        for (flag, cmd) in [
            ("--check-cmd", &cfg.check_cmd),
            ("--reload-cmd", &cfg.reload_cmd),
        ] {
            if cmd.trim().is_empty() {
                return Err(NginxError::EmptyCommand { flag });
            }
        }
        if cfg.command_timeout.is_zero() {
            return Err(NginxError::ZeroTimeout);
        }
        if let Ok(bytes) = file::read(&cfg.upstream_file) {
            let why = "existing upstream file is not what lbsync writes; it will be overwritten";
            lenient_parse(&cfg, bytes.as_deref(), why);
        }
        Ok(NginxUpstream {
            cfg,
            loaded: Loaded::Unknown,
            rendered: String::new(),
            scratch: String::new(),
        })
    }

    /// Makes nginx serve exactly `wanted` (the static nodes included).
    pub async fn apply(&mut self, wanted: &BTreeSet<SocketAddr>) -> Result<Applied, NginxError> {
        let path = self.cfg.upstream_file.clone();
        let previous = {
            let p = path.clone();
            blocking(move || file::read(&p))
                .await
                .map_err(|source| io_error("read", &path, source))?
        };
        // The set nginx serves, and the file still as written: nothing to render or run. A file
        // edited by someone else falls through and is rendered and rewritten.
        if matches!(&self.loaded, Loaded::Current(s) if s == wanted)
            && previous.as_deref() == Some(self.rendered.as_bytes())
        {
            debug!(file = %path.display(), servers = wanted.len(), "nginx upstream unchanged");
            return Ok(Applied::Unchanged);
        }
        let mut text = std::mem::take(&mut self.scratch);
        render_into(&mut text, &self.cfg.upstream_name, wanted);
        let changed = previous.as_deref() != Some(text.as_bytes());
        if !changed && matches!(self.loaded, Loaded::Current(_)) {
            debug!(file = %path.display(), servers = wanted.len(), "nginx upstream unchanged");
            self.served(wanted.clone(), text);
            return Ok(Applied::Unchanged);
        }
        let base = match &self.loaded {
            Loaded::Current(served) | Loaded::Stale(served) => served.clone(),
            Loaded::Unknown => {
                let why = "upstream file was edited by hand; overwriting it";
                lenient_parse(&self.cfg, previous.as_deref(), why)
            }
        };
        // Until the reload succeeds nginx serves `base`, even if this future is dropped midway.
        let prior = std::mem::replace(&mut self.loaded, Loaded::Stale(base.clone()));
        if changed {
            text = write(&path, text).await?;
        }
        self.check(&path, changed.then_some(previous), prior)
            .await?;
        self.reload(path, wanted.clone(), base, text).await
    }

    /// Runs `--reload-cmd`; nginx then serves `wanted` where it served `base`.
    async fn reload(
        &mut self,
        path: PathBuf,
        wanted: BTreeSet<SocketAddr>,
        base: BTreeSet<SocketAddr>,
        text: String,
    ) -> Result<Applied, NginxError> {
        if let Err(f) = command::execute(&self.cfg.reload_cmd, self.cfg.command_timeout).await {
            warn!(file = %path.display(), cmd = %self.cfg.reload_cmd, failure = %f.failure,
                "nginx reload failed; will retry on the next apply");
            return Err(NginxError::ReloadFailed {
                cmd: self.cfg.reload_cmd.clone(),
                path,
                failure: f.failure,
                output: f.output,
            });
        }
        let added: Vec<SocketAddr> = wanted.difference(&base).copied().collect();
        let removed: Vec<SocketAddr> = base.difference(&wanted).copied().collect();
        let servers = wanted.len();
        self.served(wanted, text);
        // One bounded line whatever the size (journald splits lines above 48 KB); all at debug.
        info!(added = added.len(), removed = removed.len(), servers,
            added_sample = %sample(&added, LOG_SAMPLE), removed_sample = %sample(&removed, LOG_SAMPLE),
            file = %path.display(), "nginx upstream updated");
        debug!(added = ?added, removed = ?removed, "nginx upstream update, every address");
        Ok(Applied::Reloaded { added, removed })
    }

    /// nginx serves `wanted`, which the file holds as `text`.
    fn served(&mut self, wanted: BTreeSet<SocketAddr>, text: String) {
        self.loaded = Loaded::Current(wanted);
        self.scratch = std::mem::replace(&mut self.rendered, text);
    }

    /// Runs `--check-cmd`. When it fails, the file's previous bytes (`rewritten`: given when this
    /// apply wrote it) are put back and nginx serves what it served before this apply (`prior`).
    async fn check(
        &mut self,
        path: &Path,
        rewritten: Option<Option<Vec<u8>>>,
        prior: Loaded,
    ) -> Result<(), NginxError> {
        let Err(f) = command::execute(&self.cfg.check_cmd, self.cfg.command_timeout).await else {
            return Ok(());
        };
        let cmd = self.cfg.check_cmd.clone();
        let path = path.to_path_buf();
        if let Some(previous) = rewritten {
            let p = path.clone();
            if let Err(source) = blocking(move || file::restore(&p, previous.as_deref())).await {
                // The rejected bytes stay on disk: keep the state pending.
                return Err(NginxError::RestoreFailed {
                    cmd,
                    path,
                    failure: f.failure,
                    output: f.output,
                    source,
                });
            }
        }
        self.loaded = prior;
        warn!(file = %path.display(), cmd = %cmd, failure = %f.failure,
            "nginx config check failed; previous upstream file kept");
        Err(NginxError::CheckFailed {
            cmd,
            path,
            failure: f.failure,
            output: f.output,
        })
    }

    /// The servers the file holds now (entries marked `down`, like the empty-set placeholder, are
    /// left out; static nodes are in). A missing file holds none; a file that is not what lbsync
    /// writes is an error naming the problem.
    pub fn current(&self) -> Result<BTreeSet<SocketAddr>, NginxError> {
        let path = &self.cfg.upstream_file;
        let Some(bytes) = file::read(path).map_err(|e| io_error("read", path, e))? else {
            return Ok(BTreeSet::new());
        };
        let p = parse(&self.cfg.upstream_name, &String::from_utf8_lossy(&bytes));
        if !p.problems.is_empty() {
            return Err(NginxError::Parse {
                path: path.clone(),
                reason: p.problems.join("; "),
            });
        }
        Ok(p.servers)
    }
}

/// The servers in an upstream file's bytes (none without a file), skipping anything unreadable
/// with a warning that says `why`.
fn lenient_parse(cfg: &NginxConfig, bytes: Option<&[u8]>, why: &str) -> BTreeSet<SocketAddr> {
    let Some(bytes) = bytes else {
        return BTreeSet::new();
    };
    let p = parse(&cfg.upstream_name, &String::from_utf8_lossy(bytes));
    if !p.problems.is_empty() {
        warn!(file = %cfg.upstream_file.display(), problems = ?p.problems, "{why}");
    }
    p.servers
}

fn check_file(path: &Path) -> Result<(), NginxError> {
    let bad = |reason: String| NginxError::BadFile {
        path: path.to_path_buf(),
        reason,
    };
    if path.as_os_str().is_empty() || path.file_name().is_none() {
        return Err(bad("must name a file".to_string()));
    }
    let target = file::target(path);
    if target.is_dir() {
        return Err(bad("is a directory, expected a file".to_string()));
    }
    let dir = file::dir_of(&target);
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(bad(format!("{} is not a directory", dir.display()))),
        Err(e) => Err(bad(format!("directory {}: {e}", dir.display()))),
    }
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> NginxError {
    NginxError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` to `path` off the async worker threads and gives the buffer back.
async fn write(path: &Path, text: String) -> Result<String, NginxError> {
    let p = path.to_path_buf();
    blocking(move || file::write_atomic(&p, text.as_bytes()).map(|()| text))
        .await
        .map_err(|source| io_error("write", path, source))
}

/// Runs small file I/O (fsync included) off the async worker threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)))
}

#[cfg(test)]
mod tests;
