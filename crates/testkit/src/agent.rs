//! The `sidekick` binary as a child process: [`AgentProcess`] for long-running modes (`run`,
//! `lbsync`) with stdout+stderr captured to a file, signals, bounded waits and SIGKILL on Drop
//! (printing its log when the test panicked); [`run_to_completion`] for one-shot `check`.
//!
//! The child gets `RUST_LOG=info` and `NO_COLOR=1` (plain log text to match on) unless the test
//! passes its own, and none of the test
//! process's `SIDEKICK_*`, `ETCDCTL_*` or `COREOS_*` variables (only what the test passes).

use super::process::output_with_deadline;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of a binary Cargo built for this test or bench run: `$SIDEKICK_TEST_BIN_DIR/NAME` when
/// that is set, else NAME next to the running test executable's `deps/` directory (where Cargo
/// puts a workspace's binaries for `cargo test` and `cargo bench`). Panics, naming the path, when
/// the binary is not there.
pub fn cargo_bin(name: &str) -> PathBuf {
    let dir = match std::env::var_os("SIDEKICK_TEST_BIN_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let exe = std::env::current_exe().expect("the test executable's path");
            let deps = exe.parent().expect("the test executable's directory");
            // target/<profile>/deps/<test> -> target/<profile>
            if deps.ends_with("deps") {
                deps.parent().unwrap_or(deps).to_path_buf()
            } else {
                deps.to_path_buf()
            }
        }
    };
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} was not built: run the tests through cargo (it builds every workspace binary)",
        path.display()
    );
    path
}

/// Path of the `sidekick` binary Cargo built for this test run.
pub fn sidekick_bin() -> PathBuf {
    cargo_bin("sidekick")
}

fn command(program: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        let k_str = k.to_string_lossy();
        if ["SIDEKICK_", "ETCDCTL_", "COREOS_"]
            .iter()
            .any(|p| k_str.starts_with(p))
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

pub struct AgentProcess {
    child: Option<Child>,
    pid: u32,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl AgentProcess {
    /// Starts `sidekick <args>` with `env` added.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> AgentProcess {
        Self::spawn_program(&sidekick_bin(), args, env)
    }

    /// Starts any program the same way (e.g. another binary of this package).
    pub fn spawn_program(program: &Path, args: &[&str], env: &[(&str, &str)]) -> AgentProcess {
        let dir = tempfile::Builder::new()
            .prefix("sk-agent-")
            .tempdir()
            .expect("create agent temp dir");
        let log = dir.path().join("output.log");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("create agent log");
        let child = command(program, args, env)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone log fd"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        AgentProcess {
            pid: child.id(),
            child: Some(child),
            log,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Everything it printed so far (stdout and stderr interleaved).
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// `msg` followed by the agent's output, for assertion messages.
    pub fn context(&self, msg: &str) -> String {
        format!("{msg}\n--- agent output ---\n{}", self.logs())
    }

    /// Waits until the output contains `needle`; panics with the output after `deadline`.
    pub fn wait_for_log(&self, needle: &str, deadline: Duration) {
        let start = Instant::now();
        while start.elapsed() < deadline {
            if self.logs().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{}",
            self.context(&format!("agent output lacks {needle:?} after {deadline:?}"))
        );
    }

    /// Sends `sig` if the process has not exited yet.
    pub fn signal(&mut self, sig: i32) {
        if let Some(c) = &mut self.child {
            if let Ok(None) = c.try_wait() {
                // SAFETY: kill(2) on our own child; try_wait saw it unreaped, and only we reap
                // it, so the pid cannot have been reused.
                unsafe {
                    libc::kill(self.pid as i32, sig);
                }
            }
        }
    }

    pub fn sigterm(&mut self) {
        self.signal(libc::SIGTERM);
    }

    pub fn sigint(&mut self) {
        self.signal(libc::SIGINT);
    }

    pub fn sigkill(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
        }
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Waits up to `deadline` for the process to exit; its status, or None if still running.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<ExitStatus> {
        let c = self.child.as_mut()?;
        let start = Instant::now();
        loop {
            match c.try_wait() {
                Ok(Some(s)) => return Some(s),
                Ok(None) if start.elapsed() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return None,
            }
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- agent (pid {}) output, test panicked ---\n{}",
                self.pid,
                self.logs()
            );
        }
    }
}

/// Runs `sidekick <args>` to completion (e.g. `check`); panics if it runs past `deadline`.
pub fn run_to_completion(args: &[&str], env: &[(&str, &str)], deadline: Duration) -> Output {
    let mut cmd = command(&sidekick_bin(), args, env);
    output_with_deadline(&mut cmd, None, deadline)
        .unwrap_or_else(|e| panic!("sidekick {args:?}: {e}"))
}

/// `sidekick run` arguments for `container` (its port 80/tcp) on `key`, as `monweb@01.service`
/// on host `core01`, plus the etcd flags and `extra`.
pub fn run_args(etcd_args: &[String], container: &str, key: &str, extra: &[&str]) -> Vec<String> {
    run_args_as(etcd_args, container, key, "monweb@01.service", extra)
}

/// [`run_args`] with another `--unit`.
pub fn run_args_as(
    etcd_args: &[String],
    container: &str,
    key: &str,
    unit: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut v: Vec<String> = [
        "run",
        "--container",
        container,
        "--container-port",
        "80/tcp",
        "--key",
        key,
        "--unit",
        unit,
        "--host",
        "core01",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(etcd_args.iter().cloned());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// `sidekick host` arguments managing only the containers that carry `require_label`
/// (`NAME=VALUE`), plus the etcd flags and `extra`.
pub fn host_args(etcd_args: &[String], require_label: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "host".into(),
        "--require-label".into(),
        require_label.into(),
    ];
    v.extend(etcd_args.iter().cloned());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// `sidekick lbsync --backend nginx` arguments writing upstream `web` into `upstream_file`, with
/// check and reload commands that always succeed (the file is the backend), plus the etcd flags
/// and `extra`.
pub fn lbsync_nginx_args(
    upstream_file: &Path,
    etcd_args: &[String],
    extra: &[&str],
) -> Vec<String> {
    let mut v: Vec<String> = [
        "lbsync",
        "--backend",
        "nginx",
        "--upstream-name",
        "web",
        "--check-cmd",
        "true",
        "--reload-cmd",
        "true",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend([
        "--upstream-file".to_string(),
        upstream_file.display().to_string(),
    ]);
    v.extend(etcd_args.iter().cloned());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}
