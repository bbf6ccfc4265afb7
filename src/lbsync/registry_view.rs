//! The etcd side of the registry view: list the prefix in pages at one pinned revision, then
//! apply the prefix watch's events to the shared [`InstanceMap`] and publish the revision after each
//! response (the driver reads the desired set from the registry when it runs a pass, so a burst
//! of changes costs one read). A full re-list happens only when the history cannot be followed: a compaction or
//! other cancel (logged with etcd's own reason), a watch response too large to decode, or an etcd
//! that is *behind* us (rebuilt on an empty data dir, restored from a backup, another cluster):
//! etcd silently accepts a watch at a future revision, so every response's header revision and
//! cluster id are compared with what was seen.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::{Client, EventType, GetOptions, WatchOptions, WatchResponse, WatchStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::instances::InstanceMap;
use crate::backoff::{Backoff, RetryLog};
use crate::etcd::Pool;
use crate::etcd::{timed, EtcdError};

/// Keys per range request: far below gRPC's 4 MiB for any sane key and value size.
pub const PAGE: i64 = 5_000;
/// The decode limit of the watch stream (a big transaction's events come in one response).
const MAX_MESSAGE: usize = 256 << 20;
/// How often a quiet watch is asked for progress, and how long the answer may take.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
const PROGRESS_DEADLINE: Duration = Duration::from_secs(5);
/// Re-opening a broken watch: short, so a restarted etcd is followed again within a second.
const REOPEN_FIRST: Duration = Duration::from_millis(50);
const REOPEN_MAX: Duration = Duration::from_millis(500);
/// What the watch's retry log calls it (a fresh log for each listing).
const WATCHING: &str = "watching the registry prefix";

/// The driver's ends of a running registry view: `changed` carries the revision of the last change
/// (`None` until the first listing). For the leader's fence, `seen` is the highest header revision
/// of a listing or watch response (every event up to it is applied) and `wanted` is the revision a
/// new leadership term needs, which the view asks etcd for with a progress request rather than
/// waiting for the next change.
pub struct View {
    pub registry: SharedInstances,
    pub changed: watch::Receiver<Option<i64>>,
    pub seen: watch::Receiver<i64>,
    pub wanted: watch::Sender<i64>,
}

/// Starts the view of `prefix` into `registry` on `pool`; it runs until `changed` is dropped.
pub fn spawn(
    pool: Pool,
    registry: InstanceMap,
    prefix: String,
) -> (View, tokio::task::JoinHandle<()>) {
    let registry: SharedInstances = Arc::new(Mutex::new(registry));
    let (changed_tx, changed) = watch::channel(None);
    let (seen_tx, seen) = watch::channel(0);
    let (wanted, wanted_rx) = watch::channel(0);
    let follower = Follower {
        pool,
        registry: registry.clone(),
        prefix,
        changed: changed_tx,
        seen: seen_tx,
        wanted: wanted_rx,
        cluster: 0,
        next_rev: 0,
        backoff: Backoff::new(REOPEN_FIRST, REOPEN_MAX),
        log: RetryLog::new(WATCHING),
    };
    let task = tokio::spawn(follower.run());
    let view = View {
        registry,
        changed,
        seen,
        wanted,
    };
    (view, task)
}

impl View {
    /// The desired set now.
    pub fn snapshot(&self) -> ViewSnapshot {
        let r = lock(&self.registry);
        ViewSnapshot {
            addrs: r.desired(),
            instances: r.instances(),
        }
    }
}

/// The registry shared by the view (writer) and the driver (reader).
pub type SharedInstances = Arc<Mutex<InstanceMap>>;

/// What the driver plans from: the registry's usable addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewSnapshot {
    pub addrs: BTreeSet<SocketAddr>,
    pub instances: usize,
}

/// True when a response header follows what was seen (`next_rev`: the revision the watch expects
/// next; `cluster`: the cluster id of the listing); false when the server is behind our revision,
/// or is another cluster: then re-list from scratch.
pub fn follows(header_rev: i64, header_cluster: u64, next_rev: i64, cluster: u64) -> bool {
    header_cluster == cluster && header_rev >= next_rev - 1
}

/// Why etcd canceled a watch, from its response: a compaction is said as such (its response
/// carries no header revision, so it must be read before [`follows`] is asked), else etcd's
/// own reason. `None` when the watch was not canceled.
pub fn cancel_reason(canceled: bool, compact_revision: i64, reason: &str) -> Option<String> {
    match (canceled || compact_revision > 0, compact_revision, reason) {
        (false, _, _) => None,
        (true, c, _) if c > 0 => Some(format!("history compacted up to revision {c}")),
        (true, _, "") => Some("canceled by etcd without a reason".to_string()),
        (true, _, r) => Some(r.to_string()),
    }
}

/// The first key after every key starting with `prefix`.
fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

fn utf8(key: &[u8], value: &[u8]) -> Option<(String, String)> {
    match std::str::from_utf8(key) {
        Ok(k) => Some((k.to_string(), String::from_utf8_lossy(value).into_owned())),
        Err(_) => {
            warn!(key = %String::from_utf8_lossy(key), "skipping a registry key that is not UTF-8");
            None
        }
    }
}

/// The prefix at one revision, read `PAGE` keys at a time.
async fn list(
    client: &Client,
    prefix: &str,
) -> Result<(i64, u64, Vec<(String, String)>), EtcdError> {
    let mut kv = client.kv_client().max_decoding_message_size(MAX_MESSAGE);
    let end = range_end(prefix.as_bytes());
    let mut from = prefix.as_bytes().to_vec();
    let (mut rev, mut cluster) = (0i64, 0u64);
    let mut out = Vec::new();
    loop {
        let mut opts = GetOptions::new().with_range(end.clone()).with_limit(PAGE);
        if rev > 0 {
            opts = opts.with_revision(rev);
        }
        let resp = timed(kv.get(from.clone(), Some(opts))).await?;
        if rev == 0 {
            let h = resp.header();
            rev = h.map(|h| h.revision()).unwrap_or(0);
            cluster = h.map(|h| h.cluster_id()).unwrap_or(0);
        }
        let kvs = resp.kvs();
        out.extend(kvs.iter().filter_map(|kv| utf8(kv.key(), kv.value())));
        match kvs.last() {
            Some(last) if resp.more() => {
                from = last.key().to_vec();
                from.push(0);
            }
            _ => break,
        }
    }
    Ok((rev, cluster, out))
}

fn lock(registry: &SharedInstances) -> std::sync::MutexGuard<'_, InstanceMap> {
    registry.lock().unwrap_or_else(|p| p.into_inner())
}

/// The watch cannot go on: re-list the prefix (or stop, when the receivers are gone).
struct Relist;

/// The view's task: the prefix listed, then watched; where the watch is and how its (re)opens are
/// paced and logged.
struct Follower {
    pool: Pool,
    registry: SharedInstances,
    prefix: String,
    /// The senders of [`View`]'s channels.
    changed: watch::Sender<Option<i64>>,
    seen: watch::Sender<i64>,
    wanted: watch::Receiver<i64>,
    /// The cluster id of the listing.
    cluster: u64,
    /// The revision the watch expects next.
    next_rev: i64,
    backoff: Backoff,
    log: RetryLog,
}

impl Follower {
    /// Every event up to `revision` is applied (this task is the only sender of `seen`).
    fn saw(&self, revision: i64) {
        if revision > *self.seen.borrow() {
            self.seen.send_replace(revision);
        }
    }

    /// The registry changed at `revision` (every event up to it applied).
    fn publish(&self, revision: i64) {
        self.changed.send_replace(Some(revision));
        self.saw(revision);
    }

    /// True when a leader waits for a revision the view has not shown yet.
    fn behind(&mut self) -> bool {
        *self.wanted.borrow_and_update() > *self.seen.borrow()
    }

    /// Lists, then follows the prefix until the receivers of `changed` are gone.
    async fn run(mut self) {
        let mut list_backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
        let mut list_log = RetryLog::new("reading the registry prefix");
        while !self.changed.is_closed() {
            let member = self.pool.member();
            let (rev, cluster, kvs) = match list(&member.client, &self.prefix).await {
                Ok(x) => x,
                Err(e) => {
                    self.pool.suspect(member.index, &e);
                    list_log.failed(&e);
                    tokio::select! {
                        _ = tokio::time::sleep(list_backoff.next_delay()) => {}
                        _ = self.changed.closed() => return,
                    }
                    continue;
                }
            };
            list_log.succeeded();
            list_backoff.reset();
            debug!(revision = rev, keys = kvs.len(), "registry prefix listed");
            lock(&self.registry).reset(kvs);
            self.publish(rev);
            (self.cluster, self.next_rev) = (cluster, rev + 1);
            self.backoff.reset();
            self.log = RetryLog::new(WATCHING);
            self.follow().await;
        }
    }

    /// Follows the watch from `next_rev` until a re-list is needed (or the receivers are gone).
    /// Each (re)open goes to the pool's current member; a broken stream marks its member suspect,
    /// so the next open goes to one that answers.
    async fn follow(&mut self) {
        while !self.changed.is_closed() {
            let member = self.pool.member();
            let mut wc = member
                .client
                .watch_client()
                .max_decoding_message_size(MAX_MESSAGE);
            let opts = WatchOptions::new()
                .with_prefix()
                .with_start_revision(self.next_rev);
            match timed(wc.watch(self.prefix.as_str(), Some(opts))).await {
                Ok(mut stream) => {
                    if self.read(member.index, &mut stream).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    self.pool.suspect(member.index, &e);
                    self.log.failed(&e);
                }
            }
            tokio::time::sleep(self.backoff.next_delay()).await;
        }
        info!("registry view stopped");
    }

    /// Reads one stream (opened on member `member`) until it breaks (`Ok`: open again) or a
    /// re-list is needed. A quiet stream, or a leader waiting for a revision not seen yet, is
    /// asked for progress; a stream silent past the progress deadline counts as broken.
    async fn read(&mut self, member: usize, stream: &mut WatchStream) -> Result<(), Relist> {
        let (mut awaiting_progress, mut quiet) = (false, false);
        loop {
            if !awaiting_progress && (quiet || self.behind()) {
                if stream.request_progress().await.is_err() {
                    return Ok(());
                }
                awaiting_progress = true;
            }
            let wait = if awaiting_progress {
                PROGRESS_DEADLINE
            } else {
                PROGRESS_EVERY
            };
            let msg = tokio::select! {
                m = tokio::time::timeout(wait, stream.message()) => m,
                _ = self.changed.closed() => return Err(Relist),
                r = self.wanted.changed() => if r.is_err() { return Err(Relist) } else { continue },
            };
            let resp = match msg {
                Err(_) if !awaiting_progress => {
                    quiet = true;
                    continue;
                }
                Err(_) => {
                    self.pool.suspect(member, &"the watch went silent");
                    self.log.failed(&"the watch went silent");
                    return Ok(());
                }
                Ok(Ok(Some(resp))) => resp,
                Ok(Err(e)) if e.to_string().contains("too large") => {
                    warn!(error = %e, "a watch response was too large to decode; re-listing the prefix");
                    return Err(Relist);
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    self.pool.suspect(member, &"the watch stream broke");
                    self.log.failed(&format_args!(
                        "the watch stream broke at revision {}",
                        self.next_rev
                    ));
                    return Ok(());
                }
            };
            (awaiting_progress, quiet) = (false, false);
            self.handle(resp).await?;
        }
    }

    /// One watch response: a cancel, or an etcd behind what was seen, asks for a re-list; a
    /// progress notice moves `seen`; events go into the registry.
    async fn handle(&mut self, resp: WatchResponse) -> Result<(), Relist> {
        let canceled = cancel_reason(
            resp.canceled(),
            resp.compact_revision(),
            resp.cancel_reason(),
        );
        if let Some(h) = resp.header().filter(|_| canceled.is_none()) {
            if !follows(h.revision(), h.cluster_id(), self.next_rev, self.cluster) {
                warn!(
                    etcd_revision = h.revision(),
                    our_revision = self.next_rev - 1,
                    etcd_cluster = h.cluster_id(),
                    our_cluster = self.cluster,
                    "etcd is behind what lbsync saw (rebuilt on an empty data dir, restored, or another cluster); re-listing the prefix"
                );
                return Err(Relist);
            }
        }
        self.backoff.reset();
        self.log.succeeded();
        if let Some(reason) = canceled {
            warn!(reason = %reason, "prefix watch canceled; re-listing the prefix");
            tokio::time::sleep(self.backoff.next_delay()).await;
            return Err(Relist);
        }
        if resp.events().is_empty() {
            // A progress notice (etcd sends one only to a watch that has delivered every
            // event up to its header's revision); not the `created` answer, which comes first.
            if !resp.created() {
                self.saw(resp.header().map(|h| h.revision()).unwrap_or(0));
            }
            return Ok(());
        }
        self.apply(&resp);
        Ok(())
    }

    /// A response's events, into the registry as one change; publishes the revision.
    fn apply(&mut self, resp: &WatchResponse) {
        let mut last = self.next_rev - 1;
        let mut registry = lock(&self.registry);
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            last = last.max(kv.mod_revision());
            let Some((k, v)) = utf8(kv.key(), kv.value()) else {
                continue;
            };
            match ev.event_type() {
                EventType::Put => registry.stage_put(k, v),
                EventType::Delete => registry.stage_delete(&k),
            }
        }
        registry.settle();
        drop(registry);
        self.next_rev = self.next_rev.max(last + 1);
        debug!(
            events = resp.events().len(),
            revision = last,
            "prefix changed"
        );
        self.publish(last);
    }
}

#[cfg(test)]
mod tests;
