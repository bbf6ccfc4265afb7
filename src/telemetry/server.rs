//! The `--metrics-addr` listener: a small HTTP/1 server (hyper) answering `GET /metrics` with the
//! Prometheus text and `GET /healthz` with 200 while every main loop beats, 503 naming the stuck
//! one otherwise. It owns the connection policy that keeps both answering under abuse (idle
//! connections held open, slowloris clients): every connection is accepted at once; a silent one
//! costs a small task and no buffer until its first byte, and hyper closes one whose request
//! head takes longer than [`HEAD_DEADLINE`]; at most [`MAX_OPEN`] are open, and a newcomer past
//! that closes the connection that has gone longest without a request ([`victim`]), so a probe
//! or a scrape, which asks at once, always finds room.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tracing::{debug, info};

use super::Telemetry;

/// Connections open at once, idle ones included, at most: evicting sooner makes an abusive
/// client reconnect at once, and a probe then waits in the accept queue behind its reconnects;
/// a silent connection costs well under 1 KiB. Also kept to half the open-file limit.
const MAX_OPEN: usize = 2048;
/// The listen backlog (the kernel caps it at net.core.somaxconn, 4096 by default).
const BACKLOG: u32 = 4096;
/// How long a new connection may stay silent before it is closed.
const FIRST_BYTE_DEADLINE: Duration = Duration::from_secs(5);
/// How long a request head may take to arrive, and a kept-alive connection may stay idle.
const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// A connection's whole life (a scraper keeps it alive between scrapes otherwise).
const CONNECTION_DEADLINE: Duration = Duration::from_secs(30);
/// hyper's smallest read buffer: a request to this server is a few hundred bytes.
const MAX_BUF: usize = 8192;

/// Binds `addr`; failing here (address in use, no permission) stops the process with exit 1.
/// The accept queue holds [`BACKLOG`] connections: more than the clients that the eviction makes
/// reconnect can fill, so a probe's SYN is not dropped (a 1 s retransmit) while the agent waits
/// for the CPU.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(BACKLOG)?;
    info!(addr = %listener.local_addr().unwrap_or(addr), "serving /metrics and /healthz");
    Ok(listener)
}

/// One open connection: since when it has gone without a request (its opening, then its last
/// request), and how to close it.
struct Slot {
    quiet_since: Instant,
    abort: Option<AbortHandle>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    slots: HashMap<u64, Slot>,
}

type Shared = Arc<Mutex<Open>>;

fn lock(open: &Shared) -> std::sync::MutexGuard<'_, Open> {
    open.lock().unwrap_or_else(|p| p.into_inner())
}

/// The connection to close so that a newcomer fits, when `open` already holds `max`: the one
/// that has gone longest without a request (ties: the older id).
fn victim(open: impl Iterator<Item = (u64, Instant)>, len: usize, max: usize) -> Option<u64> {
    if len < max {
        return None;
    }
    open.min_by_key(|&(id, since)| (since, id))
        .map(|(id, _)| id)
}

/// Removes a connection's slot when its task ends, however it ends (finished, timed out,
/// aborted by [`victim`]).
struct SlotGuard {
    open: Shared,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        lock(&self.open).slots.remove(&self.id);
    }
}

/// Serves until the runtime stops.
pub async fn serve(listener: TcpListener, t: &'static Telemetry) {
    let open: Shared = Arc::default();
    let max_open = MAX_OPEN.min(open_files_limit() / 2).max(16);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                debug!(error = %e, "accepting a metrics connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let now = Instant::now();
        let mut o = lock(&open);
        let evict = victim(
            o.slots.iter().map(|(id, s)| (*id, s.quiet_since)),
            o.slots.len(),
            max_open,
        );
        if let Some(slot) = evict.and_then(|id| o.slots.remove(&id)) {
            if let Some(a) = slot.abort {
                a.abort();
            }
        }
        let id = o.next_id;
        o.next_id += 1;
        o.slots.insert(
            id,
            Slot {
                quiet_since: now,
                abort: None,
            },
        );
        let guard = SlotGuard {
            open: open.clone(),
            id,
        };
        let task = tokio::spawn(connection(stream, peer, guard, t));
        if let Some(slot) = o.slots.get_mut(&id) {
            slot.abort = Some(task.abort_handle());
        }
    }
}

/// This process's soft limit on open files.
fn open_files_limit() -> usize {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed to it.
    match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } {
        0 => usize::try_from(r.rlim_cur).unwrap_or(usize::MAX),
        _ => 1024,
    }
}

/// One connection: wait for its first byte without a buffer, then hand it to hyper (boxed, so
/// that a silent connection's task stays small).
async fn connection(stream: TcpStream, peer: SocketAddr, guard: SlotGuard, t: &'static Telemetry) {
    let deadline = Instant::now() + CONNECTION_DEADLINE;
    // `readable()` answers at once for a new socket (a spurious wake-up): peek for a real byte.
    let mut first = [0u8; 1];
    match tokio::time::timeout(FIRST_BYTE_DEADLINE, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {}
        _ => return,
    }
    let open = guard.open.clone();
    let id = guard.id;
    let service = service_fn(move |req| {
        if let Some(slot) = lock(&open).slots.get_mut(&id) {
            slot.quiet_since = Instant::now();
        }
        let resp = answer(t, &req);
        async move { Ok::<_, Infallible>(resp) }
    });
    let conn = Box::pin(
        hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_DEADLINE)
            .max_buf_size(MAX_BUF)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service),
    );
    if let Ok(Err(e)) = tokio::time::timeout_at(deadline, conn).await {
        debug!(peer = %peer, error = %e, "metrics connection ended with an error");
    }
    drop(guard);
}

fn text(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

fn answer(t: &Telemetry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    const PLAIN: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, PLAIN, "only GET\n");
    }
    match req.uri().path() {
        "/metrics" => match &t.metrics {
            Some(m) => {
                let (body, content_type) = m.render();
                text(StatusCode::OK, &content_type, body)
            }
            None => text(StatusCode::NOT_FOUND, PLAIN, "metrics are off\n"),
        },
        "/healthz" => match t.heartbeat.stale(tokio::time::Instant::now()) {
            None => text(StatusCode::OK, PLAIN, "ok\n"),
            Some((name, age)) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                PLAIN,
                format!(
                    "stuck: the {name} loop has not turned for {}\n",
                    crate::duration::format(age)
                ),
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found: try /metrics or /healthz\n",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_quiet_longest_makes_room() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let open = [(7, at(3)), (2, at(1)), (9, at(1)), (4, at(5))];
        assert_eq!(victim(open.into_iter(), 4, 5), None, "room left");
        assert_eq!(
            victim(open.into_iter(), 4, 4),
            Some(2),
            "oldest, then lowest id"
        );
        assert_eq!(victim(std::iter::empty(), 0, 0), None);
    }
}
