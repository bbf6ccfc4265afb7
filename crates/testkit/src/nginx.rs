//! A private nginx per test (Debian's /usr/sbin/nginx): own prefix, pid file and logs in a temp
//! dir, run as a non-daemon child in its own process group, proxying `/` to one upstream whose
//! `server` lines live in `upstream.conf`, the file lbsync's nginx backend writes. Stopped on drop.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

const NGINX: &str = "/usr/sbin/nginx";
const DEADLINE: Duration = Duration::from_secs(10);

/// A private nginx: own prefix, pid file and logs in a temp dir, run as a non-daemon child in its
/// own process group, stopped on drop.
pub struct Nginx {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

impl Nginx {
    /// An nginx proxying `/` to upstream `name` (included from `upstream.conf`, empty at first),
    /// with `extra_http` added to its `http` block; a request whose backend refuses or times out
    /// is retried on the next one (`proxy_next_upstream error timeout`).
    pub fn start(name: &str, extra_http: &str) -> Nginx {
        Self::start_with(name, extra_http, "error timeout")
    }

    /// [`Nginx::start`] with `proxy_next_upstream` set to `next_upstream` (`off`: a request is
    /// never retried on another backend, as a load balancer without retries behaves).
    pub fn start_with(name: &str, extra_http: &str, next_upstream: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let port = free_port();
        // As root, workers would otherwise run as `nobody` and could not read the temp dir.
        let user = if unsafe { libc::geteuid() } == 0 {
            "user root;"
        } else {
            ""
        };
        let conf = format!(
            "{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n  access_log {d}/access.log;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               {extra_http}\n\
               include {d}/upstream.conf;\n\
               server {{\n    listen 127.0.0.1:{port};\n\
                 location / {{ proxy_pass http://{name}; proxy_next_upstream {next_upstream}; \
                 proxy_connect_timeout 1s; }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        std::fs::write(
            dir.path().join("upstream.conf"),
            format!("upstream {name} {{\n    server 127.0.0.1:1 down;\n}}\n"),
        )
        .unwrap();
        let child = Command::new(NGINX)
            .args(["-p", &d, "-c", &format!("{d}/nginx.conf"), "-e"])
            .arg(format!("{d}/error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start /usr/sbin/nginx");
        let mut n = Nginx { dir, port, child };
        n.wait_ready();
        n
    }

    fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited with {status}: {}", self.error_log());
            }
            let listening = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok();
            if listening && self.dir.path().join("nginx.pid").exists() {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "nginx not up: {}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nginx` with this instance's prefix, config and error log.
    pub fn cmd(&self) -> String {
        let d = self.dir.path().display();
        format!("{NGINX} -p '{d}' -c '{d}/nginx.conf' -e '{d}/error.log'")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn upstream_file(&self) -> PathBuf {
        self.path("upstream.conf")
    }

    /// The command that tests this nginx's configuration (lbsync's `--check-cmd`).
    pub fn check_cmd(&self) -> String {
        format!("{} -t", self.cmd())
    }

    /// The command that reloads this nginx (lbsync's `--reload-cmd`).
    pub fn reload_cmd(&self) -> String {
        format!("{} -s reload", self.cmd())
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.path("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        // SAFETY: signals the process group this fixture created (master and workers).
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}
