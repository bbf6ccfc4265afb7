//! The 2014 monweb@ loop (`benches/monweb-2014.sh`) as a child process in its own process group,
//! so that Drop kills the loop together with its curl/etcdctl/sleep children.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/monweb-2014.sh");

pub struct ShellLoop {
    child: Child,
    pid: u32,
    _dir: tempfile::TempDir,
}

impl ShellLoop {
    /// Announces the container published on 127.0.0.1:`port` under `key` in etcd `endpoints`.
    pub fn spawn(port: u16, key: &str, endpoints: &str) -> ShellLoop {
        let dir = tempfile::Builder::new()
            .prefix("sk-bench-shell-")
            .tempdir()
            .expect("temp dir");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.path().join("output.log"))
            .expect("shell log");
        let child = Command::new("bash")
            .arg(SCRIPT)
            .env("PORT", port.to_string())
            .env("KEY", key)
            .env("UNIT", "monweb@01.service")
            .env("HOST_NAME", "core01")
            .env("PUBLIC_IP", "127.0.0.1")
            .env("PRIVATE_IP", "127.0.0.1")
            .env("ETCDCTL_ENDPOINTS", endpoints)
            .env("TTL", "10")
            .env("INTERVAL", "10")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log fd"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn bash {SCRIPT}: {e}"));
        ShellLoop {
            pid: child.id(),
            child,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for ShellLoop {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created (its leader is our unreaped child).
        unsafe {
            libc::kill(-(self.pid as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}
