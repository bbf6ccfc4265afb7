//! Clients that abuse an HTTP port the way issue 22 did: `idle` connections that never send a
//! byte and `slow` slowloris clients that send a request head one byte at a time and never
//! finish it. Both kinds are reopened when the server closes them, so the counts stay what was
//! asked for as long as the server lets them in. Threads and plain sockets; stops on Drop.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the clients look at their connections (and a slowloris sends its next byte).
const TICK: Duration = Duration::from_millis(200);
const SLOW_HEAD: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: slowloris\r\nX-Slow: ";

pub struct Abuse {
    stop: Arc<AtomicBool>,
    reopened: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<()>>,
}

/// One abusive connection; `None` while it could not be (re)opened.
struct Conn {
    stream: Option<TcpStream>,
}

fn open(addr: SocketAddr) -> Option<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// Whether the server has closed `s` (reads anything it sent, without blocking).
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// Lifts this process's soft limit on open files to its hard limit: the clients need more than
/// the usual 1 024 descriptors. (Processes spawned before keep their own limit.)
fn raise_open_files() {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

impl Abuse {
    /// Opens `idle` silent connections and `slow` slowloris clients to 127.0.0.1:`port`; returns
    /// once every one has been tried once.
    pub fn start(port: u16, idle: usize, slow: usize) -> Abuse {
        raise_open_files();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stop = Arc::new(AtomicBool::new(false));
        let reopened = Arc::new(AtomicUsize::new(0));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let mut threads = Vec::new();
        for (n, slowloris) in [(idle, false), (slow, true)] {
            let (stop, reopened, ready) = (stop.clone(), reopened.clone(), ready_tx.clone());
            threads.push(std::thread::spawn(move || {
                let mut conns: Vec<Conn> = (0..n)
                    .map(|_| Conn {
                        stream: open(addr).map(|mut s| {
                            if slowloris {
                                let _ = s.write_all(SLOW_HEAD);
                            }
                            s
                        }),
                    })
                    .collect();
                let _ = ready.send(());
                let mut next = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    next += TICK;
                    for c in conns.iter_mut() {
                        let dead = match c.stream.as_mut() {
                            Some(s) => closed(s) || (slowloris && s.write_all(b"a").is_err()),
                            None => true,
                        };
                        if dead {
                            c.stream = open(addr).map(|mut s| {
                                if slowloris {
                                    let _ = s.write_all(SLOW_HEAD);
                                }
                                s
                            });
                            reopened.fetch_add(1, Ordering::Relaxed);
                        }
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                    }
                    std::thread::sleep(next.saturating_duration_since(Instant::now()));
                }
            }));
        }
        for _ in 0..2 {
            let _ = ready_rx.recv_timeout(Duration::from_secs(60));
        }
        Abuse {
            stop,
            reopened,
            threads,
        }
    }

    /// Connections reopened after the server closed them (or that could not be opened).
    pub fn reopened(&self) -> usize {
        self.reopened.load(Ordering::Relaxed)
    }
}

impl Drop for Abuse {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
