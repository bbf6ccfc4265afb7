//! `host`'s etcd side, the one seam between the containers' agents and etcd: [`HostEtcd`] (what
//! every container's writer shares) and [`spawn_writer`] (how one container's writer is wired).
//!
//! INTERIM, until the writer that takes its client and lease from its caller lands: each
//! container's writer is today's `writer::run`, which opens its own connection and keeps its own
//! lease (one lease per container), and revokes it when it stops. The end state: [`HostEtcd`]
//! holds one client (pool) and one `LeaseKeeper`; [`spawn_writer`] hands each writer that client
//! and a lease subscription; [`HostEtcd::shutdown`] revokes the one lease after the agents
//! stopped, so every key of the host goes at once.

use crate::agent::writer::WriterConfig;
use crate::agent::WriterHandle;
use crate::config::{AgentConfig, HostDefaults};
use crate::etcd::EtcdConfig;
use crate::registry::Owner;

/// What every container's writer of this host shares.
pub struct HostEtcd {
    etcd: EtcdConfig,
}

impl HostEtcd {
    /// INTERIM: nothing to connect yet; each writer connects on its own.
    pub fn start(defaults: &HostDefaults) -> HostEtcd {
        HostEtcd {
            etcd: defaults.etcd.clone(),
        }
    }

    /// After every agent has stopped. INTERIM: nothing to do (each writer revoked its own
    /// lease). End state: revoke the shared lease within `writer::REVOKE_DEADLINE`.
    pub async fn shutdown(self) {}
}

/// Starts one container's writer, owned by `me` (unique per process and container).
pub fn spawn_writer(etcd: &HostEtcd, cfg: &AgentConfig, me: Owner) -> WriterHandle {
    WriterHandle::own_lease(WriterConfig {
        etcd: etcd.etcd.clone(),
        layout: cfg.layout.clone(),
        me,
        ttl: cfg.ttl,
        resync: cfg.resync,
    })
}
