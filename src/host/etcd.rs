//! `host`'s etcd side, the one seam between the containers' agents and etcd: [`HostEtcd`] holds
//! the one endpoint pool and the one lease keeper of the host; [`spawn_writer`] hands each
//! container's writer that pool and a subscription to that lease; [`HostEtcd::shutdown`]
//! revokes the lease after the agents stopped, so every key of the host goes at once.
//!
//! One lease for all containers (not one each): one keepalive stream per host instead of one per
//! container, and shutdown is one revoke. A container that goes away while the host runs has its
//! keys deleted by its writer (a guarded delete), since the shared lease must live on; and a
//! writer never revokes a predecessor's lease, which may be the lease of other containers.

use std::future::Future;

use crate::agent::writer::{Shared, WriterConfig, REVOKE_DEADLINE};
use crate::agent::WriterHandle;
use crate::config::{AgentConfig, HostDefaults};
use crate::etcd::access::{connect_checked, Need, AGENT_NEEDS};
use crate::etcd::lease::LeaseKeeper;
use crate::etcd::{EtcdError, Pool};
use crate::registry::Owner;

/// What every container's writer of this host shares.
pub struct HostEtcd {
    pool: Pool,
    keeper: LeaseKeeper,
}

impl HostEtcd {
    /// Connects (retrying until a member answers; `Ok(None)` if `stop` resolves first), checks
    /// the user may write ownership records (a refusal is a configuration error), and starts
    /// keeping the host's lease.
    pub async fn start(
        defaults: &HostDefaults,
        stop: impl Future<Output = ()>,
    ) -> Result<Option<HostEtcd>, EtcdError> {
        let needs = [Need::ReadWrite(format!(
            "/{}/owners/",
            crate::registry::key::RESERVED_ROOT
        ))];
        let Some(pool) = connect_checked(&defaults.etcd, &needs, AGENT_NEEDS, stop).await? else {
            return Ok(None);
        };
        let keeper = LeaseKeeper::spawn(pool.clone(), defaults.ttl);
        Ok(Some(HostEtcd { pool, keeper }))
    }

    /// After every agent has stopped: revokes the shared lease within `REVOKE_DEADLINE`.
    pub async fn shutdown(self) {
        self.keeper.revoke(REVOKE_DEADLINE).await;
    }
}

/// Starts one container's writer, owned by `me` (unique per process and container).
pub fn spawn_writer(etcd: &HostEtcd, cfg: &AgentConfig, me: Owner) -> WriterHandle {
    WriterHandle::shared(
        WriterConfig {
            layout: cfg.layout.clone(),
            me,
            ttl: cfg.ttl,
            resync: cfg.resync,
        },
        Shared {
            pool: etcd.pool.clone(),
            lease: etcd.keeper.subscribe(),
            own_lease: false,
        },
    )
}
