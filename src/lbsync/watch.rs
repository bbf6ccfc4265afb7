//! Watching the registry prefix: every change publishes its instant to the reconciler (it re-reads
//! the whole prefix itself, level-triggered). The watch starts at the snapshot's revision + 1;
//! a compaction cancel means re-list from a fresh revision; a broken or silent stream (checked
//! with progress requests) is re-opened from the last revision seen.

use std::time::Duration;

use etcd_client::{Client, GetOptions, WatchOptions};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::backoff::{Backoff, RetryLog};
use crate::etcd::timed;

/// How often a quiet watch is asked for progress, and how long the answer may take.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
const PROGRESS_DEADLINE: Duration = Duration::from_secs(5);

/// The revision etcd is at now (a cheap one-key read of the prefix).
async fn current_revision(client: &Client, prefix: &str) -> Option<i64> {
    let opts = GetOptions::new()
        .with_prefix()
        .with_keys_only()
        .with_limit(1);
    timed(client.clone().get(prefix, Some(opts)))
        .await
        .ok()?
        .header()
        .map(|h| h.revision())
}

/// Runs until `dirty` has no receivers. `from_rev` is the snapshot's revision + 1. Each
/// (re)open goes to the pool's current member; a broken stream marks its member suspect.
pub async fn watch_prefix(
    pool: crate::etcd::Pool,
    prefix: String,
    mut from_rev: i64,
    dirty: watch::Sender<Instant>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let bump = |d: &watch::Sender<Instant>| d.send_replace(Instant::now());
    let mut log = RetryLog::new("watching the registry prefix");
    while !dirty.is_closed() {
        let member = pool.member();
        let client = member.client.clone();
        let opts = WatchOptions::new()
            .with_prefix()
            .with_start_revision(from_rev);
        let mut stream = match timed(client.clone().watch(prefix.as_str(), Some(opts))).await {
            Ok(s) => s,
            Err(e) => {
                pool.suspect(member.index, &e);
                log.failed(&e);
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        let mut awaiting_progress = false;
        loop {
            let wait = if awaiting_progress {
                PROGRESS_DEADLINE
            } else {
                PROGRESS_EVERY
            };
            let msg = tokio::select! {
                m = tokio::time::timeout(wait, stream.message()) => m,
                _ = dirty.closed() => return,
            };
            match msg {
                Err(_) if !awaiting_progress => {
                    if stream.request_progress().await.is_err() {
                        break;
                    }
                    awaiting_progress = true;
                }
                Err(_) => {
                    pool.suspect(member.index, &"the watch went silent");
                    log.failed(&"the watch went silent");
                    break;
                }
                Ok(Ok(Some(resp))) => {
                    awaiting_progress = false;
                    backoff.reset();
                    log.succeeded();
                    if resp.canceled() {
                        warn!(
                            compact_revision = resp.compact_revision(),
                            reason = resp.cancel_reason(),
                            "prefix watch canceled (compaction?); re-listing"
                        );
                        from_rev = current_revision(&client, &prefix)
                            .await
                            .map(|r| r + 1)
                            .unwrap_or(from_rev);
                        bump(&dirty);
                        break;
                    }
                    if let Some(last) = resp
                        .events()
                        .iter()
                        .filter_map(|e| e.kv())
                        .map(|kv| kv.mod_revision())
                        .max()
                    {
                        from_rev = from_rev.max(last + 1);
                        debug!(
                            events = resp.events().len(),
                            revision = last,
                            "prefix changed"
                        );
                        bump(&dirty);
                    }
                }
                Ok(Ok(None)) | Ok(Err(_)) => {
                    pool.suspect(member.index, &"the watch stream broke");
                    log.failed(&format_args!(
                        "the watch stream broke at revision {from_rev}"
                    ));
                    break;
                }
            }
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}
