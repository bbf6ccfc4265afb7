//! Docker for the benchmark: container start/stop/kill as single Engine API requests over the
//! unix socket (no CLI start-up time inside a measured interval), and [`Events`], a
//! `docker events --format '{{json .}}'` child whose lines (action, `timeNano`) are recorded on a
//! reader thread. The `_at` variants and [`Events::follow_api`] take another engine's socket
//! (Podman's Docker-compatible API), whose events are read from the API itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const API: &str = "/v1.41";

fn socket_path() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(h) if h.starts_with("unix://") => h.trim_start_matches("unix://").to_string(),
        _ => "/var/run/docker.sock".to_string(),
    }
}

/// `POST path` with an empty body; the HTTP status code.
fn post(path: &str, deadline: Duration) -> Result<u16, String> {
    post_at(&socket_path(), path, deadline)
}

/// [`post`] on the API socket `sock`.
fn post_at(sock: &str, path: &str, deadline: Duration) -> Result<u16, String> {
    let mut s = UnixStream::connect(sock).map_err(|e| format!("connect {sock}: {e}"))?;
    s.set_read_timeout(Some(deadline))
        .map_err(|e| e.to_string())?;
    write!(
        s,
        "POST {API}{path} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("POST {path}: {e}"))?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head)
        .map_err(|e| format!("POST {path}: no answer: {e}"))?;
    let code = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("POST {path}: bad status line"))?;
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    if (200..300).contains(&code) || code == 304 {
        Ok(code)
    } else {
        Err(format!(
            "POST {path}: HTTP {code}: {}",
            String::from_utf8_lossy(&rest).trim()
        ))
    }
}

pub fn start(id: &str) -> Result<(), String> {
    start_at(&socket_path(), id)
}

/// [`start`] on the API socket `sock`.
pub fn start_at(sock: &str, id: &str) -> Result<(), String> {
    post_at(
        sock,
        &format!("/containers/{id}/start"),
        Duration::from_secs(30),
    )
    .map(drop)
}

/// `docker stop -t secs`: returns once the container has stopped.
pub fn stop(id: &str, secs: u32) -> Result<(), String> {
    stop_at(&socket_path(), id, secs)
}

/// [`stop`] on the API socket `sock`.
pub fn stop_at(sock: &str, id: &str, secs: u32) -> Result<(), String> {
    let deadline = Duration::from_secs(u64::from(secs) + 30);
    post_at(sock, &format!("/containers/{id}/stop?t={secs}"), deadline).map(drop)
}

pub fn kill(id: &str) -> Result<(), String> {
    post(&format!("/containers/{id}/kill"), Duration::from_secs(30)).map(drop)
}

#[derive(Debug, Clone)]
pub struct Event {
    /// The container's id.
    pub id: String,
    /// The container's name (`Actor.Attributes.name`).
    pub name: String,
    pub action: String,
    /// Docker's own wall-clock time of the event.
    pub time_nano: i64,
}

/// Events of one container, recorded from a `docker events` child (killed on Drop) or from the
/// API's event stream (shut on Drop).
pub struct Events {
    child: Option<Child>,
    stream: Option<UnixStream>,
    seen: Arc<Mutex<Vec<Event>>>,
}

/// Records every JSON event line of `input` into `sink`, on a thread of its own.
fn record(input: impl Read + Send + 'static, sink: Arc<Mutex<Vec<Event>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(input).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let action = v["Action"]
                .as_str()
                .or(v["status"].as_str())
                .unwrap_or("")
                .to_string();
            let time_nano = v["timeNano"].as_i64().unwrap_or(0);
            let id = v["Actor"]["ID"]
                .as_str()
                .or(v["id"].as_str())
                .unwrap_or("")
                .to_string();
            let name = v["Actor"]["Attributes"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            sink.lock().unwrap().push(Event {
                id,
                name,
                action,
                time_nano,
            });
        }
    });
}

impl Events {
    /// Follows `container` (id or name) from now on.
    pub fn follow(container: &str) -> Events {
        Self::follow_filter(&format!("container={container}"))
    }

    /// Follows every container matching the `docker events --filter` `filter` (e.g.
    /// `label=k=v`) from now on.
    pub fn follow_filter(filter: &str) -> Events {
        let since = format!("{:.3}", super::sys::wall_ns() as f64 / 1e9);
        let mut child = Command::new("docker")
            .args([
                "events",
                "--since",
                &since,
                "--filter",
                "type=container",
                "--filter",
                filter,
                "--format",
                "{{json .}}",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn docker events");
        let out = child.stdout.take().expect("piped stdout");
        let seen = Arc::new(Mutex::new(Vec::new()));
        record(out, seen.clone());
        Events {
            child: Some(child),
            stream: None,
            seen,
        }
    }

    /// Follows `container`'s events from now on, read from the Engine API on `sock` (an
    /// HTTP/1.0 request: the answer is the bare stream of JSON lines, no chunking).
    pub fn follow_api(sock: &str, container: &str) -> Result<Events, String> {
        let since = format!("{:.3}", super::sys::wall_ns() as f64 / 1e9);
        let filters = serde_json::json!({"type": ["container"], "container": [container]});
        let query: String = url_encode(&filters.to_string());
        let mut s = UnixStream::connect(sock).map_err(|e| format!("connect {sock}: {e}"))?;
        write!(
            s,
            "GET {API}/events?since={since}&filters={query} HTTP/1.0\r\nHost: docker\r\n\r\n"
        )
        .map_err(|e| format!("GET events on {sock}: {e}"))?;
        let shut = s.try_clone().map_err(|e| e.to_string())?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        record(s, seen.clone());
        Ok(Events {
            child: None,
            stream: Some(shut),
            seen,
        })
    }

    pub fn len(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// The first event `action` recorded after `mark`, waiting up to `deadline`.
    pub fn wait_for(&self, mark: usize, action: &str, deadline: Duration) -> Option<Event> {
        let start = Instant::now();
        loop {
            if let Some(e) = self.find(mark, action) {
                return Some(e);
            }
            if start.elapsed() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Every event recorded so far.
    pub fn all(&self) -> Vec<Event> {
        self.seen.lock().unwrap().clone()
    }

    pub fn find(&self, mark: usize, action: &str) -> Option<Event> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .skip(mark)
            .find(|e| e.action == action)
            .cloned()
    }
}

/// Percent-encodes everything but unreserved characters.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Drop for Events {
    fn drop(&mut self) {
        if let Some(s) = &self.stream {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let _ = child.kill();
        let _ = child.wait();
    }
}
