//! Running `--check-cmd` and `--reload-cmd`: `sh -c CMD` in its own process group under a deadline
//! (the whole group is killed when it passes), stdout and stderr captured together into an
//! unlinked temp file, so a daemon the command leaves behind cannot hold a pipe open and hang us.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::process::Stdio;
use std::time::Duration;

/// At most this much of a command's output is kept for an error message.
pub const OUTPUT_CAP: usize = 2048;

/// Why a command did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Exit(i32),
    Signal(i32),
    /// The shell's exit 127: the program was not found.
    NotFound,
    /// The shell's exit 126: found but not executable.
    NotExecutable,
    /// Did not finish in time; the process group was killed.
    Timeout(Duration),
    /// `sh` itself could not be started or waited for.
    Spawn(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Exit(c) => write!(f, "exited with status {c}"),
            Failure::Signal(s) => write!(f, "was killed by signal {s}"),
            Failure::NotFound => f.write_str("could not run: command not found (shell exit 127)"),
            Failure::NotExecutable => f.write_str("could not run: not executable (shell exit 126)"),
            Failure::Timeout(d) => write!(
                f,
                "did not finish within {} and was killed",
                crate::duration::format(*d)
            ),
            Failure::Spawn(e) => write!(f, "could not start sh: {e}"),
        }
    }
}

/// A failed command: why, and its combined output (trimmed, capped, `(no output)` when empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandFailure {
    pub failure: Failure,
    pub output: String,
}

/// Runs `sh -c cmd`; Ok when it exits 0 within `timeout`.
pub async fn execute(cmd: &str, timeout: Duration) -> Result<(), CommandFailure> {
    let spawn_failed = |e: io::Error| CommandFailure {
        failure: Failure::Spawn(e.to_string()),
        output: tidy(""),
    };
    let out = capture_file().map_err(spawn_failed)?;
    let err = out.try_clone().map_err(spawn_failed)?;
    let mut capture = out.try_clone().map_err(spawn_failed)?;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_failed)?;
    // Kills the group if this future is dropped (lbsync shutting down) or the deadline passes.
    let mut group = GroupKiller(child.id().and_then(|p| i32::try_from(p).ok()));
    let failure = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => {
            group.0 = None;
            match (
                status.code(),
                std::os::unix::process::ExitStatusExt::signal(&status),
            ) {
                (Some(0), _) => return Ok(()),
                (Some(127), _) => Failure::NotFound,
                (Some(126), _) => Failure::NotExecutable,
                (Some(c), _) => Failure::Exit(c),
                (None, Some(s)) => Failure::Signal(s),
                (None, None) => Failure::Exit(-1),
            }
        }
        Ok(Err(e)) => Failure::Spawn(e.to_string()),
        Err(_) => {
            group.kill();
            let _ = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
            Failure::Timeout(timeout)
        }
    };
    Err(CommandFailure {
        failure,
        output: tidy(&read_capped(&mut capture)),
    })
}

struct GroupKiller(Option<i32>);

impl GroupKiller {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A temp file nobody else can open: created, then unlinked at once.
fn capture_file() -> io::Result<File> {
    let path = std::env::temp_dir().join(format!(
        ".sidekick-cmd-{}-{:016x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(f)
}

fn read_capped(f: &mut File) -> String {
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(0)).is_ok() {
        let _ = f.take(4 * OUTPUT_CAP as u64).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Trimmed, at most [`OUTPUT_CAP`] bytes (cut on a character boundary), never empty.
pub fn tidy(output: &str) -> String {
    let t = output.trim();
    if t.is_empty() {
        return "(no output)".to_string();
    }
    if t.len() <= OUTPUT_CAP {
        return t.to_string();
    }
    let mut end = OUTPUT_CAP;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} [... output cut at {OUTPUT_CAP} bytes]", &t[..end])
}

#[cfg(test)]
mod tests;
