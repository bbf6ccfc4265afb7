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
pub async fn run(cmd: &str, timeout: Duration) -> Result<(), CommandFailure> {
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
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn success_failure_and_output() {
        assert_eq!(run("true", T).await, Ok(()));
        let f = run("echo out; echo err >&2; exit 3", T).await.unwrap_err();
        assert_eq!(f.failure, Failure::Exit(3));
        assert!(
            f.output.contains("out") && f.output.contains("err"),
            "{f:?}"
        );
        assert_eq!(run("false", T).await.unwrap_err().output, "(no output)");
    }

    #[tokio::test]
    async fn missing_program_is_named() {
        let f = run("no-such-program-sidekick -t", T).await.unwrap_err();
        assert_eq!(f.failure, Failure::NotFound);
        assert!(f.output.contains("no-such-program-sidekick"), "{f:?}");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group_promptly() {
        let started = std::time::Instant::now();
        // The grandchild `sleep` keeps running unless the group is killed; the capture file
        // means its open stdout cannot make us wait for it either.
        let f = run("sleep 30 & sleep 30", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert_eq!(f.failure, Failure::Timeout(Duration::from_millis(200)));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn tidy_trims_and_caps_on_a_char_boundary() {
        assert_eq!(tidy("  x \n"), "x");
        let long = "é".repeat(OUTPUT_CAP);
        let t = tidy(&long);
        assert!(t.ends_with("bytes]") && t.len() < OUTPUT_CAP + 40);
    }
}
