//! Test support shared by the etcd and lbsync suites (included with `#[path]`, not a test crate):
//! writing instances' keys into etcd exactly as `sidekick run` lays them out, through the
//! product's own registry codec.

use std::net::SocketAddr;

use testkit::etcd::EtcdAccess;

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

    fn ops(&self) -> Vec<etcd_client::TxnOp> {
        let name = self.key.rsplit('/').next().unwrap_or_default();
        let record = sidekick::registry::Record {
            unit: format!("monweb@{name}.service"),
            host: self.host.into(),
            public_ipv4_addr: Some(self.addr.ip()),
            private_ipv4_addr: Some(self.addr.ip()),
            public_ipv6_addr: None,
            private_ipv6_addr: None,
            port: self.addr.port(),
        };
        let layout =
            sidekick::registry::Layout::new(&self.key, sidekick::registry::KeyFormat::Keys)
                .expect("a valid test key");
        sidekick::registry::codec::render(&layout, &record)
            .into_iter()
            .map(|(k, v)| etcd_client::TxnOp::put(k, v, None))
            .collect()
    }
}

/// Writes the instances' keys, `per_txn` instances per transaction (1: as `sidekick run` does).
/// A transaction etcd refuses (e.g. "leader changed" during an election) is retried every
/// 100 ms, at most 100 times.
pub fn register(etcd: &EtcdAccess, instances: Vec<Instance>, per_txn: usize) {
    let access = etcd.clone();
    testkit::rt::block_on(async move {
        let mut c = access.client().await;
        for chunk in instances.chunks(per_txn.max(1)) {
            let ops: Vec<_> = chunk.iter().flat_map(Instance::ops).collect();
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
