//! [`DockerProxy`]: a unix socket in a temp dir that forwards every connection byte for byte to
//! /var/run/docker.sock, and can "sever" Docker: close every open connection at once and refuse
//! new ones (accept, then drop) until restored. It runs on its own thread and runtime, so it
//! works from sync and async tests alike. Drop stops it and closes everything.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// Where the real daemon listens.
pub const DOCKER_SOCK: &str = "/var/run/docker.sock";

#[derive(Default)]
struct Counters {
    severed: AtomicBool,
    accepted: AtomicUsize,
    refused: AtomicUsize,
    open: AtomicUsize,
}

pub struct DockerProxy {
    socket: PathBuf,
    counters: Arc<Counters>,
    /// Bumped on every sever: live connections drop when it changes.
    generation: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl DockerProxy {
    /// Starts forwarding to /var/run/docker.sock.
    pub fn start() -> DockerProxy {
        Self::start_to(Path::new(DOCKER_SOCK))
    }

    /// Starts forwarding to the unix socket `upstream`.
    pub fn start_to(upstream: &Path) -> DockerProxy {
        let dir = tempfile::Builder::new()
            .prefix("sk-dproxy-")
            .tempdir()
            .expect("create proxy temp dir");
        let socket = dir.path().join("docker.sock");
        let counters = Arc::new(Counters::default());
        let (generation, gen_rx) = watch::channel(0u64);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (sock, up, c) = (socket.clone(), upstream.to_path_buf(), counters.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build proxy runtime");
            rt.block_on(async move {
                let listener = UnixListener::bind(&sock).expect("bind proxy socket");
                let _ = ready_tx.send(());
                serve(listener, up, c, gen_rx, shutdown_rx).await;
            });
            // Dropping the runtime cancels every connection task, closing its sockets.
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("docker proxy did not start");
        DockerProxy {
            socket,
            counters,
            generation,
            shutdown,
            thread: Some(thread),
            _dir: dir,
        }
    }

    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// `unix:///tmp/.../docker.sock`, for `DOCKER_HOST` / `docker -H`.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Closes every open connection at once and refuses new ones until [`DockerProxy::restore`].
    pub fn sever(&self) {
        self.counters.severed.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Forwards new connections again.
    pub fn restore(&self) {
        self.counters.severed.store(false, Ordering::SeqCst);
    }

    pub fn is_severed(&self) -> bool {
        self.counters.severed.load(Ordering::SeqCst)
    }

    /// Connections accepted and forwarded (not counting refused ones).
    pub fn connections_accepted(&self) -> usize {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// Connections accepted and immediately dropped while severed.
    pub fn connections_refused(&self) -> usize {
        self.counters.refused.load(Ordering::SeqCst)
    }

    /// Forwarded connections currently open.
    pub fn open_connections(&self) -> usize {
        self.counters.open.load(Ordering::SeqCst)
    }
}

impl Drop for DockerProxy {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve(
    listener: UnixListener,
    upstream: PathBuf,
    counters: Arc<Counters>,
    generation: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            a = listener.accept() => a,
        };
        let Ok((client, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Mark the generation seen before checking the flag: a sever after the check then
        // still reaches this connection.
        let mut gen = generation.clone();
        gen.mark_unchanged();
        if counters.severed.load(Ordering::SeqCst) {
            counters.refused.fetch_add(1, Ordering::SeqCst);
            drop(client);
            continue;
        }
        counters.accepted.fetch_add(1, Ordering::SeqCst);
        let (up, c) = (upstream.clone(), counters.clone());
        tokio::spawn(async move {
            c.open.fetch_add(1, Ordering::SeqCst);
            tokio::select! {
                _ = gen.changed() => {}
                _ = forward(client, &up) => {}
            }
            c.open.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

async fn forward(mut client: UnixStream, upstream: &Path) {
    let Ok(mut server) = UnixStream::connect(upstream).await else {
        return;
    };
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}
