//! The emulator on its own thread with its own runtime, for synchronous callers (tests that block,
//! the benchmarks): [`Emulator::start_background`] binds 127.0.0.1 on a free port and serves until
//! the returned [`BackgroundEmulator`] is dropped.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::Emulator;

/// How long the thread may take to bind and report its address.
const START_DEADLINE: Duration = Duration::from_secs(10);

/// A serving emulator on its own thread; stops (and joins the thread) on drop.
pub struct BackgroundEmulator {
    /// The emulator's state, shared with the server (inspect or change it directly).
    pub api: Emulator,
    /// `http://127.0.0.1:PORT/v2.0`, for `--identity-url`.
    pub identity_url: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Serves this emulator on a thread of its own (see [`BackgroundEmulator`]).
    pub fn start_background(&self) -> std::io::Result<BackgroundEmulator> {
        self.start_background_on(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Like [`Emulator::start_background`], bound to `addr` (port 0: a free one).
    pub fn start_background_on(
        &self,
        addr: std::net::SocketAddr,
    ) -> std::io::Result<BackgroundEmulator> {
        let (url_tx, url_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let api = self.clone();
        let thread = std::thread::Builder::new()
            .name("clb-emulator".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = url_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    let running = match api.spawn_on(addr).await {
                        Ok(r) => r,
                        Err(e) => {
                            let _ = url_tx.send(Err(e));
                            return;
                        }
                    };
                    let _ = url_tx.send(Ok(running.identity_url()));
                    // Any message or the sender's drop ends the wait.
                    let _ = tokio::task::spawn_blocking(move || stop_rx.recv()).await;
                    drop(running);
                });
            })?;
        let identity_url = match url_rx.recv_timeout(START_DEADLINE) {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the emulator thread did not report its address",
                ))
            }
        };
        Ok(BackgroundEmulator {
            api: self.clone(),
            identity_url,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

impl Drop for BackgroundEmulator {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
