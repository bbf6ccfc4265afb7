//! Small async read/write helpers over an `etcd_client::Client`, for assertions. They panic on
//! errors (they are test helpers); values are read as UTF-8 (lossy).

use etcd_client::{Client, GetOptions, LeaseTimeToLiveOptions};
use std::collections::BTreeMap;

/// Every key under `prefix`: key -> (value, lease id; 0 = no lease).
pub async fn get_prefix(client: &mut Client, prefix: &str) -> BTreeMap<String, (String, i64)> {
    try_get_prefix(client, prefix)
        .await
        .unwrap_or_else(|e| panic!("etcd get prefix {prefix}: {e}"))
}

/// [`get_prefix`] that returns etcd's error (e.g. "leader changed" during an election) instead of
/// panicking, for tests that read through faults.
pub async fn try_get_prefix(
    client: &mut Client,
    prefix: &str,
) -> Result<BTreeMap<String, (String, i64)>, etcd_client::Error> {
    let resp = client
        .get(prefix, Some(GetOptions::new().with_prefix()))
        .await?;
    Ok(resp
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                (String::from_utf8_lossy(kv.value()).into_owned(), kv.lease()),
            )
        })
        .collect())
}

/// One key's (value, lease), or None when absent.
pub async fn get_key(client: &mut Client, key: &str) -> Option<(String, i64)> {
    let resp = client
        .get(key, None)
        .await
        .unwrap_or_else(|e| panic!("etcd get {key}: {e}"));
    resp.kvs()
        .first()
        .map(|kv| (String::from_utf8_lossy(kv.value()).into_owned(), kv.lease()))
}

/// The lease a key is bound to (Some(0) = key without lease), None when the key is absent.
pub async fn key_lease(client: &mut Client, key: &str) -> Option<i64> {
    get_key(client, key).await.map(|(_, lease)| lease)
}

/// Remaining TTL in seconds of a lease, None when it has expired or never existed.
pub async fn lease_ttl(client: &mut Client, lease: i64) -> Option<i64> {
    let resp = client
        .lease_time_to_live(lease, Some(LeaseTimeToLiveOptions::new()))
        .await
        .ok()?;
    (resp.ttl() > 0).then_some(resp.ttl())
}

/// Plain put (no lease).
pub async fn put(client: &mut Client, key: &str, value: &str) {
    client
        .put(key, value, None)
        .await
        .unwrap_or_else(|e| panic!("etcd put {key}: {e}"));
}
