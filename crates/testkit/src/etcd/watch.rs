//! [`Watcher`]: records every etcd event under a prefix with the local time it arrived, so tests
//! can assert "no DELETE was ever seen" or measure latencies. It runs on its own thread and
//! runtime (timestamps stay honest whatever the test thread does), and survives etcd restarts:
//! on a broken stream it reconnects and resumes from the last revision it saw.

use super::access::EtcdAccess;
use etcd_client::{EventType, WatchOptions};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch as signal;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One recorded event. For a DELETE, `value`/`lease` are empty/0 and `prev_value` holds the
/// value the key had (when etcd still knew it).
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub kind: EventKind,
    pub key: String,
    pub value: String,
    pub lease: i64,
    pub prev_value: Option<String>,
    pub revision: i64,
    pub at: Instant,
}

impl WatchEvent {
    pub fn is_put(&self) -> bool {
        self.kind == EventKind::Put
    }
    pub fn is_delete(&self) -> bool {
        self.kind == EventKind::Delete
    }
}

pub struct Watcher {
    prefix: String,
    events: Arc<Mutex<Vec<WatchEvent>>>,
    reconnects: Arc<Mutex<usize>>,
    stop: signal::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

const READY_DEADLINE: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_millis(100);

impl Watcher {
    /// Watches `prefix` on plain-HTTP endpoints; returns once the watch is established.
    pub fn start(endpoints: &[String], prefix: &str) -> Watcher {
        Self::start_with(&EtcdAccess::plain(endpoints), prefix)
    }

    /// Watches `prefix` with TLS/auth as in `access`; returns once the watch is established.
    pub fn start_with(access: &EtcdAccess, prefix: &str) -> Watcher {
        let events = Arc::new(Mutex::new(Vec::new()));
        let reconnects = Arc::new(Mutex::new(0));
        let (stop, stop_rx) = signal::channel(false);
        let (ready_tx, ready_rx) = mpsc::channel();
        let job = Job {
            access: access.clone(),
            prefix: prefix.to_string(),
            events: events.clone(),
            reconnects: reconnects.clone(),
        };
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("build watcher runtime")
                .block_on(job.run(stop_rx, ready_tx))
        });
        let watcher = Watcher {
            prefix: prefix.to_string(),
            events,
            reconnects,
            stop,
            thread: Some(thread),
        };
        if ready_rx.recv_timeout(READY_DEADLINE).is_err() {
            panic!(
                "watch on {prefix} via {:?} not established within {READY_DEADLINE:?}",
                access.endpoints
            );
        }
        watcher
    }

    /// Every event recorded so far, in arrival order.
    pub fn events(&self) -> Vec<WatchEvent> {
        self.events.lock().unwrap().clone()
    }

    /// Number of events recorded so far (use as a mark for [`Watcher::events_since`]).
    pub fn len(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    /// Whether no event was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events recorded after `mark` (a value of [`Watcher::len`]).
    pub fn events_since(&self, mark: usize) -> Vec<WatchEvent> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .skip(mark)
            .cloned()
            .collect()
    }

    pub fn deletes(&self) -> Vec<WatchEvent> {
        self.events()
            .into_iter()
            .filter(|e| e.is_delete())
            .collect()
    }

    pub fn puts(&self) -> Vec<WatchEvent> {
        self.events().into_iter().filter(|e| e.is_put()).collect()
    }

    /// How often the watch had to be re-established (etcd went away and came back).
    pub fn reconnects(&self) -> usize {
        *self.reconnects.lock().unwrap()
    }

    /// The first recorded event (past or future) matching `pred`, waiting up to `deadline`.
    /// Blocks the calling thread; from async code prefer [`Watcher::wait_for_async`].
    pub fn wait_for(
        &self,
        pred: impl Fn(&WatchEvent) -> bool,
        deadline: Duration,
    ) -> Option<WatchEvent> {
        self.wait_for_since(0, pred, deadline)
    }

    /// Like [`Watcher::wait_for`] but only considers events after `mark`.
    pub fn wait_for_since(
        &self,
        mark: usize,
        pred: impl Fn(&WatchEvent) -> bool,
        deadline: Duration,
    ) -> Option<WatchEvent> {
        let start = Instant::now();
        loop {
            if let Some(e) = self.find(mark, &pred) {
                return Some(e);
            }
            if start.elapsed() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Async version of [`Watcher::wait_for`].
    pub async fn wait_for_async(
        &self,
        pred: impl Fn(&WatchEvent) -> bool,
        deadline: Duration,
    ) -> Option<WatchEvent> {
        let start = Instant::now();
        loop {
            if let Some(e) = self.find(0, &pred) {
                return Some(e);
            }
            if start.elapsed() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn find(&self, mark: usize, pred: &impl Fn(&WatchEvent) -> bool) -> Option<WatchEvent> {
        let events = self.events.lock().unwrap();
        events.iter().skip(mark).find(|e| pred(e)).cloned()
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Job {
    access: EtcdAccess,
    prefix: String,
    events: Arc<Mutex<Vec<WatchEvent>>>,
    reconnects: Arc<Mutex<usize>>,
}

impl Job {
    async fn run(self, mut stop: signal::Receiver<bool>, ready: mpsc::Sender<()>) {
        let mut last_rev: Option<i64> = None;
        let mut ready = Some(ready);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                () = self.watch_once(&mut last_rev, &mut ready) => {}
            }
            if ready.is_none() {
                *self.reconnects.lock().unwrap() += 1;
            }
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    /// One watch stream from connect until it breaks.
    async fn watch_once(&self, last_rev: &mut Option<i64>, ready: &mut Option<mpsc::Sender<()>>) {
        let Ok(mut client) = etcd_client::Client::connect(
            &self.access.endpoints,
            Some(self.access.stream_options()),
        )
        .await
        else {
            return;
        };
        let mut opts = WatchOptions::new()
            .with_prefix()
            .with_prev_key()
            .with_progress_notify();
        let resumed = last_rev.is_some();
        if let Some(rev) = *last_rev {
            opts = opts.with_start_revision(rev + 1);
        }
        let Ok(mut stream) = client.watch(self.prefix.as_str(), Some(opts)).await else {
            return;
        };
        while let Ok(Some(resp)) = stream.message().await {
            let at = Instant::now();
            if resp.created() {
                if let Some(tx) = ready.take() {
                    let _ = tx.send(());
                }
            }
            if resp.canceled() {
                if resp.compact_revision() > 0 {
                    *last_rev = Some(resp.compact_revision() - 1);
                }
                return;
            }
            // A header revision says "everything up to here was sent" only on a fresh watch's
            // creation and on progress notifications; a resumed watch's creation header runs
            // ahead of the events still to come.
            let synced = if resp.created() {
                !resumed
            } else {
                resp.events().is_empty()
            };
            if let (true, Some(h)) = (synced, resp.header()) {
                let rev = h.revision();
                if last_rev.is_none_or(|r| rev > r) {
                    *last_rev = Some(rev);
                }
            }
            let mut recorded = self.events.lock().unwrap();
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let kind = match ev.event_type() {
                    EventType::Put => EventKind::Put,
                    EventType::Delete => EventKind::Delete,
                };
                *last_rev = Some(last_rev.map_or(kv.mod_revision(), |r| r.max(kv.mod_revision())));
                recorded.push(WatchEvent {
                    kind,
                    key: String::from_utf8_lossy(kv.key()).into_owned(),
                    value: String::from_utf8_lossy(kv.value()).into_owned(),
                    lease: kv.lease(),
                    prev_value: ev
                        .prev_kv()
                        .map(|p| String::from_utf8_lossy(p.value()).into_owned()),
                    revision: kv.mod_revision(),
                    at,
                });
            }
        }
    }
}
