//! Real Docker containers for tests, driven through the `docker` CLI: the FROM-scratch web image
//! ([`web_image`]), [`Container`] (run/create, ports, exec, stop/kill/restart/rename, health body)
//! and removal of containers left behind by dead test processes ([`cleanup_stale`]). A container
//! lives on the Docker Engine, or on Podman through `podman` (see [`crate::engine`]).
//! Drop removes the container (`docker rm -f -v`), also when the test panics.

mod cli;
mod image;
mod network;
mod opts;

pub use cli::{cli_with, docker, docker_available, docker_ok, docker_with};
pub use image::{web_image, web_image_for, BUSYBOX, HEALTH_BODY};
pub use network::Network;
pub use opts::{run_args, unique_name, ContainerOpts, NAME_PREFIX, PID_LABEL};

use super::wait::wait_until;
use cli::{check_cli, DOCKER_DEADLINE};
use std::process::Output;
use std::time::Duration;

/// A container this test created. Commands address it by id, so a rename does not lose it.
pub struct Container {
    id: String,
    name: String,
    removed: bool,
    /// The CLI that made it: `docker` or `podman`.
    cli: &'static str,
}

/// Runs the container's CLI with `args`; panics unless it exits 0; returns trimmed stdout.
fn cli_ok(cli: &'static str, args: &[&str]) -> String {
    check_cli(cli, args, cli_with(cli, args, None, DOCKER_DEADLINE))
}

impl Container {
    /// `docker run -d` with `opts` (image defaults to [`web_image`]).
    pub fn run(opts: ContainerOpts) -> Container {
        Self::make("docker", "run", &opts)
    }

    /// `docker create` without starting; call [`Container::start`] later.
    pub fn create(opts: ContainerOpts) -> Container {
        Self::make("docker", "create", &opts)
    }

    /// `run -d` (or `create` when `start` is false) through `cli` (`docker` or `podman`).
    pub fn make_with(cli: &'static str, start: bool, opts: ContainerOpts) -> Container {
        Self::make(cli, if start { "run" } else { "create" }, &opts)
    }

    fn make(cli: &'static str, verb: &str, opts: &ContainerOpts) -> Container {
        let name = opts.name.clone().unwrap_or_else(|| unique_name(""));
        let image = opts
            .image
            .clone()
            .unwrap_or_else(|| web_image_for(cli).to_string());
        let mut args: Vec<String> = vec![verb.to_string()];
        if verb == "run" {
            args.push("-d".to_string());
        }
        args.extend(run_args(opts, &name, &image));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = cli_with(cli, &argv, None, DOCKER_DEADLINE);
        if !out.status.success() {
            // `run` may have created the container before failing to start it.
            let _ = cli_with(cli, &["rm", "-f", "-v", &name], None, DOCKER_DEADLINE);
        }
        let id = check_cli(cli, &argv, out);
        Container {
            id,
            name,
            removed: false,
            cli,
        }
    }

    /// The CLI this container is driven with: `docker` or `podman`.
    pub fn cli(&self) -> &'static str {
        self.cli
    }

    fn run_cli(&self, args: &[&str]) -> Output {
        cli_with(self.cli, args, None, DOCKER_DEADLINE)
    }

    fn run_cli_ok(&self, args: &[&str]) -> String {
        cli_ok(self.cli, args)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Current name (follows [`Container::rename`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The loopback host port published for `container_port`/tcp (changes after a restart).
    pub fn host_port(&self, container_port: u16) -> u16 {
        self.try_host_port(container_port).unwrap_or_else(|| {
            panic!(
                "container {} has no published host port for {container_port}/tcp",
                self.name
            )
        })
    }

    /// Like [`Container::host_port`] but None when nothing is published (e.g. not running).
    pub fn try_host_port(&self, container_port: u16) -> Option<u16> {
        let spec = format!("{container_port}/tcp");
        let out = self.run_cli(&["port", &self.id, &spec]);
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.trim().rsplit(':').next()?.parse().ok())
    }

    /// `docker exec <id> <argv>`; the raw output (check `status` yourself).
    pub fn exec(&self, argv: &[&str]) -> Output {
        let mut args = vec!["exec", self.id.as_str()];
        args.extend_from_slice(argv);
        self.run_cli(&args)
    }

    /// `docker exec`, panicking unless it exits 0; returns trimmed stdout.
    pub fn exec_ok(&self, argv: &[&str]) -> String {
        let mut args = vec!["exec", self.id.as_str()];
        args.extend_from_slice(argv);
        self.run_cli_ok(&args)
    }

    /// Replaces /www/health.php with exactly `body` (written via stdin, then renamed into place).
    pub fn set_health_body(&self, body: &[u8]) {
        let args = [
            "exec",
            "-i",
            self.id.as_str(),
            "sh",
            "-c",
            "cat > /www/.health.tmp && mv /www/.health.tmp /www/health.php",
        ];
        let out = cli_with(self.cli, &args, Some(body), DOCKER_DEADLINE);
        check_cli(self.cli, &args, out);
    }

    /// `docker stop` with the container's own stop timeout (default 10 s).
    pub fn stop(&self) {
        let args = ["stop", self.id.as_str()];
        let out = cli_with(self.cli, &args, None, DOCKER_DEADLINE * 2);
        check_cli(self.cli, &args, out);
    }

    /// `docker stop -t secs`.
    pub fn stop_with_timeout(&self, secs: u32) {
        let t = secs.to_string();
        let deadline = DOCKER_DEADLINE + Duration::from_secs(secs.into());
        let args = ["stop", "-t", &t, &self.id];
        check_cli(self.cli, &args, cli_with(self.cli, &args, None, deadline));
    }

    pub fn start(&self) {
        self.run_cli_ok(&["start", &self.id]);
    }

    pub fn restart(&self) {
        self.run_cli_ok(&["restart", &self.id]);
    }

    /// `docker kill -s <signal>` (e.g. "KILL", "TERM", "HUP").
    pub fn kill(&self, signal: &str) {
        self.run_cli_ok(&["kill", "-s", signal, &self.id]);
    }

    pub fn pause(&self) {
        self.run_cli_ok(&["pause", &self.id]);
    }

    pub fn unpause(&self) {
        self.run_cli_ok(&["unpause", &self.id]);
    }

    /// `docker rm -f -v` now (Drop then does nothing).
    pub fn rm_force(&mut self) {
        self.run_cli_ok(&["rm", "-f", "-v", &self.id]);
        self.removed = true;
    }

    pub fn rename(&mut self, new_name: &str) {
        self.run_cli_ok(&["rename", &self.id, new_name]);
        self.name = new_name.to_string();
    }

    /// `docker inspect -f <format>`, trimmed.
    pub fn inspect(&self, format: &str) -> String {
        self.run_cli_ok(&["inspect", "-f", format, &self.id])
    }

    /// `State.Status`: created, running, exited, ...
    pub fn status(&self) -> String {
        self.inspect("{{.State.Status}}")
    }

    /// Not dead yet: running, or `stopping` (Podman's state while the stop signal is handled).
    pub fn is_alive(&self) -> bool {
        matches!(self.status().as_str(), "running" | "stopping")
    }

    pub fn is_running(&self) -> bool {
        self.inspect("{{.State.Running}}") == "true"
    }

    /// `State.Health.Status` (starting/healthy/unhealthy), None without a healthcheck.
    pub fn health_status(&self) -> Option<String> {
        let s = self.inspect("{{if .State.Health}}{{.State.Health.Status}}{{end}}");
        (!s.is_empty()).then_some(s)
    }

    /// Waits until `State.Status` is `status`.
    pub fn wait_status(&self, status: &str, deadline: Duration) {
        let what = format!("container {} status {status}", self.name);
        wait_until(deadline, &what, || self.status() == status);
    }

    /// Waits until the Docker health status is `status`.
    pub fn wait_health(&self, status: &str, deadline: Duration) {
        let what = format!("container {} health {status}", self.name);
        wait_until(deadline, &what, || {
            self.health_status().as_deref() == Some(status)
        });
    }

    /// Waits until GET /health.php on the published loopback port answers 200.
    pub fn wait_http_ready(&self, deadline: Duration) {
        let what = format!("container {} serving HTTP", self.name);
        wait_until(deadline, &what, || {
            self.try_host_port(80)
                .and_then(|p| http_get(p, "/health.php").ok())
                .is_some_and(|(code, _)| code == 200)
        });
    }

    /// `docker logs` (stdout and stderr).
    pub fn logs(&self) -> String {
        let out = self.run_cli(&["logs", &self.id]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if !self.removed {
            let mut cmd = std::process::Command::new(self.cli);
            cmd.args(["rm", "-f", "-v", &self.id]);
            let _ = super::process::output_with_deadline(&mut cmd, None, DOCKER_DEADLINE);
        }
    }
}

/// A plain HTTP/1.0 GET to 127.0.0.1:`port`; returns (status code, body bytes).
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, Vec<u8>)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    http_get_at(addr, path, Duration::from_secs(2), Duration::from_secs(5))
}

/// A plain HTTP/1.0 GET to `addr` on a new connection, the connect bounded by `connect` and each
/// read and write by `io`; returns (status code, body bytes).
pub fn http_get_at(
    addr: std::net::SocketAddr,
    path: &str,
    connect: Duration,
    io: Duration,
) -> std::io::Result<(u16, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, connect)?;
    s.set_read_timeout(Some(io))?;
    s.set_write_timeout(Some(io))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", addr.ip())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no end of HTTP headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
    Ok((code, raw[split + 4..].to_vec()))
}

/// Removes containers (by the pid label) whose creating test process no longer exists.
/// Returns how many it removed.
pub fn cleanup_stale() -> usize {
    cleanup_stale_with("docker")
}

/// [`cleanup_stale`] through `cli` (`docker` or `podman`).
pub fn cleanup_stale_with(cli: &str) -> usize {
    let filter = format!("label={PID_LABEL}");
    // Docker's `ps` template has `.Label NAME`; Podman's only the `.Labels` map.
    let fmt = if cli == "podman" {
        format!("{{{{.ID}}}} {{{{index .Labels \"{PID_LABEL}\"}}}}")
    } else {
        format!("{{{{.ID}}}} {{{{.Label \"{PID_LABEL}\"}}}}")
    };
    let run = |args: &[&str]| cli_with(cli, args, None, DOCKER_DEADLINE);
    let out = run(&["ps", "-a", "--filter", &filter, "--format", &fmt]);
    let mut removed = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut parts = line.split_whitespace();
        let (Some(id), Some(pid)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks whether the pid exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive && run(&["rm", "-f", "-v", id]).status.success() {
            removed += 1;
        }
    }
    removed
}
