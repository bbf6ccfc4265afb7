//! One etcd member process: its ports, its directory, its fixed command line, and start/stop/kill.
//! Restarting reuses the same data dir and flags, so the member rejoins its cluster.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Member {
    pub name: String,
    pub client_port: u16,
    pub dir: PathBuf,
    pub args: Vec<String>,
    pub child: Option<Child>,
}

impl Member {
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("etcd.log")
    }

    pub fn spawn(&mut self) {
        self.spawn_program("etcd");
    }

    /// Spawns `program` with the member's arguments (`ip` for a member in a network namespace:
    /// `ip netns exec NS etcd ...`, which execs etcd under the same pid).
    pub fn spawn_program(&mut self, program: &str) {
        assert!(
            !self.is_running(),
            "etcd member {} already running",
            self.name
        );
        if let Some(mut old) = self.child.take() {
            let _ = old.wait();
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open etcd log file");
        let mut cmd = Command::new(program);
        cmd.args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log fd"))
            .stderr(log);
        // Flags only: an ETCD_* variable from the environment must not change the member.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ETCD") {
                cmd.env_remove(k);
            }
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn etcd (is etcd-server installed?): {e}"));
        self.child = Some(child);
    }

    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&mut self) {
        self.signal(libc::SIGTERM);
    }

    fn signal(&mut self, sig: i32) {
        if let Some(c) = &mut self.child {
            if let Ok(None) = c.try_wait() {
                // SAFETY: kill(2) on our own child; try_wait saw it unreaped and only we reap
                // it, so the pid is still its.
                unsafe {
                    libc::kill(c.id() as i32, sig);
                }
            }
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait up to `grace` for a clean exit, then SIGKILL. Always reaps.
    pub fn stop(&mut self, grace: Duration) {
        self.signal(libc::SIGTERM);
        let start = Instant::now();
        if let Some(c) = &mut self.child {
            while start.elapsed() < grace {
                if !matches!(c.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

/// Command line of member `name` in a cluster of `peers` (name, peer URL).
pub(crate) fn args(
    name: &str,
    data_dir: &str,
    client_url: &str,
    peer_url: &str,
    initial_cluster: &str,
    token: &str,
    tls: Option<(&str, &str, &str)>,
) -> Vec<String> {
    let mut a: Vec<String> = [
        "--name",
        name,
        "--data-dir",
        data_dir,
        "--listen-client-urls",
        client_url,
        "--advertise-client-urls",
        client_url,
        "--listen-peer-urls",
        peer_url,
        "--initial-advertise-peer-urls",
        peer_url,
        "--initial-cluster",
        initial_cluster,
        "--initial-cluster-token",
        token,
        "--initial-cluster-state",
        "new",
        "--logger",
        "zap",
        "--log-level",
        "warn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some((cert, key, ca)) = tls {
        for (flag, v) in [
            ("--cert-file", cert),
            ("--key-file", key),
            ("--trusted-ca-file", ca),
        ] {
            a.push(flag.to_string());
            a.push(v.to_string());
        }
        a.push("--client-cert-auth".to_string());
    }
    a
}
