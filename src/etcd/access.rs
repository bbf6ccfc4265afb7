//! The startup permission check: before a mode starts its loops it tries each kind of access it
//! will need, so a role that does not cover a prefix is a configuration error naming the key and
//! what the role needs (exit 2), not a warning repeated forever.
//!
//! A write is tried with a transaction whose compare can never hold (a key's version is never
//! negative): etcd checks the permissions of both branches before it evaluates the compare, so
//! the put is refused or allowed without ever being applied. It is one raft proposal, at startup.

use etcd_client::{Compare, CompareOp, GetOptions, Txn, TxnOp};

use super::{timed, EtcdConfig, EtcdError, Pool};

/// The role a mode needs, in words for the error message.
pub const AGENT_NEEDS: &str =
    "readwrite on the key prefix (--key) and on /sidekick/owners/ (see README: etcd permissions)";
pub const LBSYNC_NEEDS: &str =
    "read on the registry prefix and readwrite on /sidekick/lbsync/ (see README: etcd permissions)";

/// One access to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Read every key under this prefix.
    Read(String),
    /// Read and write this key (and the keys under it, as a prefix).
    ReadWrite(String),
}

/// Tries every access in `needs`; the first refused one is returned as [`EtcdError::Denied`].
pub async fn check(pool: &Pool, needs: &[Need], role_needs: &str) -> Result<(), EtcdError> {
    let user = pool.config().user().map(str::to_string);
    for need in needs {
        let client = pool.client();
        let (op, key, r) = match need {
            Need::Read(prefix) => {
                let opts = GetOptions::new()
                    .with_prefix()
                    .with_keys_only()
                    .with_limit(1);
                let r = timed(client.clone().get(prefix.as_str(), Some(opts))).await;
                ("reading", prefix, r.map(|_| ()))
            }
            Need::ReadWrite(key) => {
                let txn = Txn::new()
                    .when([Compare::version(key.as_str(), CompareOp::Less, 0)])
                    .and_then([TxnOp::put(key.as_str(), "", None)])
                    .or_else([TxnOp::get(key.as_str(), None)]);
                let r = timed(client.clone().txn(txn)).await;
                ("writing", key, r.map(|_| ()))
            }
        };
        if let Err(e) = r {
            let e = e.named(op, key, role_needs, user.as_deref());
            if e.is_config() {
                return Err(e);
            }
            // Anything else (etcd busy, a member down) is for the loops to retry.
            tracing::debug!(error = %e, "permission check inconclusive; going on");
        }
    }
    Ok(())
}

/// Connects (retrying until a member answers; `Ok(None)` if `stop` resolves first) and [`check`]s
/// that the user's role covers `needs`; `role_needs` says in words what the mode needs
/// ([`AGENT_NEEDS`], [`LBSYNC_NEEDS`]). A refused permission or password is a configuration
/// error, returned at once.
pub async fn connect_checked(
    etcd: &EtcdConfig,
    needs: &[Need],
    role_needs: &str,
    stop: impl std::future::Future<Output = ()>,
) -> Result<Option<Pool>, EtcdError> {
    let Some(pool) = super::connect_retrying(etcd, stop).await? else {
        return Ok(None);
    };
    check(&pool, needs, role_needs).await?;
    Ok(Some(pool))
}
