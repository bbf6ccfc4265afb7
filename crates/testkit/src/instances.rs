//! Instances in the registry without running agents: each instance's keys written the way
//! `sidekick run --format keys` lays them out (the contract's `unit`, `host`,
//! `public_ipv4_addr`, `private_ipv4_addr`, `port`), all of one instance in one transaction, as
//! `run` writes them. The address goes into the `_ipv4_` keys whatever its family, so a suite
//! can also hand lbsync an IPv6 address where an IPv4 one belongs.

use std::net::SocketAddr;

use crate::etcd::EtcdAccess;

/// One instance: its key prefix (e.g. `/services/web/web01`), its address and its `host` value.
pub struct Instance {
    pub key: String,
    pub addr: SocketAddr,
    pub host: &'static str,
}

impl Instance {
    /// Instance `name` under `prefix` (ending in `/`), unit `monweb@NAME.service`.
    pub fn new(prefix: &str, name: &str, addr: SocketAddr, host: &'static str) -> Instance {
        Instance {
            key: format!("{prefix}{name}"),
            addr,
            host,
        }
    }

    /// Every key of the instance with its value.
    pub fn keys(&self) -> Vec<(String, String)> {
        let name = self.key.rsplit('/').next().unwrap_or_default();
        let ip = self.addr.ip().to_string();
        [
            ("unit", format!("monweb@{name}.service")),
            ("host", self.host.to_string()),
            ("public_ipv4_addr", ip.clone()),
            ("private_ipv4_addr", ip),
            ("port", self.addr.port().to_string()),
        ]
        .into_iter()
        .map(|(field, value)| (format!("{}/{field}", self.key), value))
        .collect()
    }
}

/// Writes the instances' keys, `per_txn` instances per transaction (1: as `sidekick run` does).
/// A transaction etcd refuses (e.g. "leader changed" during an election) is retried every
/// 100 ms, at most 100 times.
pub fn register(etcd: &EtcdAccess, instances: Vec<Instance>, per_txn: usize) {
    let access = etcd.clone();
    crate::rt::block_on(async move {
        let mut c = access.client().await;
        for chunk in instances.chunks(per_txn.max(1)) {
            let ops: Vec<_> = chunk
                .iter()
                .flat_map(Instance::keys)
                .map(|(k, v)| etcd_client::TxnOp::put(k, v, None))
                .collect();
            let mut attempt = 0;
            while let Err(e) = c.txn(etcd_client::Txn::new().and_then(ops.clone())).await {
                attempt += 1;
                assert!(
                    attempt < 100,
                    "etcd refused the registration 100 times: {e}"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    });
}
