//! The `docker` CLI (and `podman`'s, which takes the same arguments) as a function: every call
//! has a deadline; `docker_ok` panics with stderr.

use super::super::process::output_with_deadline;
use std::process::{Command, Output};
use std::time::Duration;

/// Deadline of an ordinary docker command (stop waits are added on top by callers).
pub const DOCKER_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `docker <args>`; panics only if it cannot run at all or overruns `deadline`.
pub fn docker_with(args: &[&str], input: Option<&[u8]>, deadline: Duration) -> Output {
    cli_with("docker", args, input, deadline)
}

/// Runs `<program> <args>` (`docker` or `podman`) like [`docker_with`].
pub fn cli_with(program: &str, args: &[&str], input: Option<&[u8]>, deadline: Duration) -> Output {
    let mut cmd = Command::new(program);
    // For `docker build`: the legacy builder needs no buildx plugin and builds FROM scratch
    // offline. Other commands ignore it.
    cmd.args(args).env("DOCKER_BUILDKIT", "0");
    output_with_deadline(&mut cmd, input, deadline)
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"))
}

/// Runs `docker <args>` with the default deadline.
pub fn docker(args: &[&str]) -> Output {
    docker_with(args, None, DOCKER_DEADLINE)
}

/// Runs `docker <args>`, panics unless it exits 0, returns trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    check(args, out)
}

pub fn check(args: &[&str], out: Output) -> String {
    check_cli("docker", args, out)
}

/// Panics unless `<program> <args>` exited 0; returns trimmed stdout.
pub fn check_cli(program: &str, args: &[&str], out: Output) -> String {
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Docker answers (`docker version` reaches the daemon).
pub fn docker_available() -> bool {
    let mut cmd = Command::new("docker");
    cmd.args(["version", "--format", "{{.Server.Version}}"]);
    matches!(
        output_with_deadline(&mut cmd, None, Duration::from_secs(20)),
        Ok(o) if o.status.success()
    )
}
