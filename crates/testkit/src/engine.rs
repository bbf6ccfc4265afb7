//! The container engine a test runs against: the Docker Engine, or Podman serving its
//! Docker-compatible API on a socket of the test's own (`podman system service --time=0`, stopped
//! on Drop). One test body takes an [`Engine`]; [`engine_tests!`](crate::engine_tests) makes one
//! `#[test]` per engine of it. Where Podman cannot run, its tests say so on stderr and pass,
//! unless `SIDEKICK_TEST_REQUIRE_PODMAN=1` (set by `scripts/test`, which installs it) makes that a
//! failure.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::docker::{Container, ContainerOpts};

/// How long the API service may take to answer its first `/_ping`.
const SERVICE_DEADLINE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Docker,
    Podman,
}

/// `podman system service` on a private socket.
struct Service {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

pub struct Engine {
    kind: Kind,
    service: Option<Service>,
}

/// One `GET path` on a unix socket; true when it answers 200.
fn answers(socket: &Path, path: &str) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: d\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

fn start_service(socket: &Path) -> Result<Child, String> {
    let _ = std::fs::remove_file(socket);
    let log = std::fs::File::create(socket.with_extension("log")).map_err(|e| e.to_string())?;
    let mut child = Command::new("podman")
        .args(["system", "service", "--time=0"])
        .arg(format!("unix://{}", socket.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("podman system service: {e}"))?;
    let start = Instant::now();
    while start.elapsed() < SERVICE_DEADLINE {
        if answers(socket, "/_ping") {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("podman system service exited: {status}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "podman system service did not answer on {} within {SERVICE_DEADLINE:?}",
        socket.display()
    ))
}

fn stop_service(child: &mut Child) {
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Engine {
    pub fn docker() -> Engine {
        Engine {
            kind: Kind::Docker,
            service: None,
        }
    }

    /// Podman with its API on a socket of this test's own; `None` (after saying so loudly on
    /// stderr) where Podman cannot run here, a panic instead when `SIDEKICK_TEST_REQUIRE_PODMAN`
    /// is `1`.
    pub fn podman() -> Option<Engine> {
        match Self::try_podman() {
            Ok(e) => Some(e),
            Err(why) => {
                let required = std::env::var("SIDEKICK_TEST_REQUIRE_PODMAN").as_deref() == Ok("1");
                assert!(!required, "podman required but unavailable: {why}");
                eprintln!(
                    "SKIPPED: podman is not available here ({why}); the Podman case did not run"
                );
                None
            }
        }
    }

    fn try_podman() -> Result<Engine, String> {
        let version = Command::new("podman")
            .args(["version", "--format", "{{.Client.Version}}"])
            .output()
            .map_err(|e| format!("podman: {e}"))?;
        if !version.status.success() {
            return Err(format!(
                "podman version: {}",
                String::from_utf8_lossy(&version.stderr).trim()
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("sk-podman-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let socket = dir.path().join("podman.sock");
        let child = start_service(&socket)?;
        Ok(Engine {
            kind: Kind::Podman,
            service: Some(Service {
                child,
                socket,
                _dir: dir,
            }),
        })
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The CLI that drives this engine's containers: `docker` or `podman`.
    pub fn cli(&self) -> &'static str {
        match self.kind {
            Kind::Docker => "docker",
            Kind::Podman => "podman",
        }
    }

    /// The engine's API address, as `--docker-host` takes it.
    pub fn docker_host(&self) -> String {
        match &self.service {
            Some(s) => format!("unix://{}", s.socket.display()),
            None => "unix:///var/run/docker.sock".to_string(),
        }
    }

    /// The arguments that point `sidekick` at this engine (none for Docker: its default).
    pub fn sidekick_args(&self) -> Vec<String> {
        match self.kind {
            Kind::Docker => Vec::new(),
            Kind::Podman => vec!["--docker-host".into(), self.docker_host()],
        }
    }

    /// The pid of Podman's API service (None on Docker: not the test's own).
    pub fn service_pid(&self) -> Option<u32> {
        self.service.as_ref().map(|s| s.child.id())
    }

    /// `args` (e.g. etcd's) followed by [`Engine::sidekick_args`].
    pub fn with_args(&self, mut args: Vec<String>) -> Vec<String> {
        args.extend(self.sidekick_args());
        args
    }

    /// Podman runs a container's HEALTHCHECK from a systemd timer, and a machine without systemd
    /// has none: this runs it every `interval`, as the timer would, until the returned guard is
    /// dropped. Docker runs its own: nothing to do (`None`).
    pub fn health_timer(&self, c: &Container, interval: Duration) -> Option<HealthTimer> {
        if self.kind != Kind::Podman {
            return None;
        }
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (id, flag) = (c.id().to_string(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = crate::docker::cli_with(
                    "podman",
                    &["healthcheck", "run", &id],
                    None,
                    Duration::from_secs(60),
                );
                std::thread::sleep(interval);
            }
        });
        Some(HealthTimer {
            stop,
            thread: Some(thread),
        })
    }

    /// `run -d` with `opts` on this engine.
    pub fn run(&self, opts: ContainerOpts) -> Container {
        Container::make_with(self.cli(), true, opts)
    }

    /// `create` with `opts` on this engine, not started.
    pub fn create(&self, opts: ContainerOpts) -> Container {
        Container::make_with(self.cli(), false, opts)
    }

    /// Podman: stops the API service and starts it again on the same socket (the containers run
    /// on: conmon keeps them). Docker: not supported (panics).
    pub fn restart_service(&mut self, down_for: Duration) {
        let s = self
            .service
            .as_mut()
            .expect("restart_service: only the Podman API service is the test's own");
        stop_service(&mut s.child);
        std::thread::sleep(down_for);
        s.child = start_service(&s.socket).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Runs a Podman container's HEALTHCHECK periodically (see [`Engine::health_timer`]).
pub struct HealthTimer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for HealthTimer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(s) = self.service.as_mut() {
            stop_service(&mut s.child);
        }
    }
}

/// One `#[test]` per engine for each named test body `fn NAME(engine: &Engine)`: `NAME::docker`
/// and `NAME::podman` (skipped loudly where Podman is not available).
#[macro_export]
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn docker() {
                super::$name(&$crate::engine::Engine::docker());
            }
            #[test]
            fn podman() {
                if let Some(engine) = $crate::engine::Engine::podman() {
                    super::$name(&engine);
                }
            }
        }
    )*};
}
