//! etcd users and roles for permission tests (the cluster runs with auth on, as `root`), and
//! the raft index for "no proposals" checks.

use super::super::rt;
use super::access::EtcdAccess;
use etcd_client::{Permission, PermissionType};

/// What a role may do on a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    Read,
    ReadWrite,
}

/// Creates `role` with `perms` (each on a key prefix) and `user` (with `password`) holding it,
/// through `root` (an access with the root user). Returns the access as that user.
pub fn add_user(
    root: &EtcdAccess,
    user: &str,
    password: &str,
    role: &str,
    perms: &[(Perm, &str)],
) -> EtcdAccess {
    let root = root.clone();
    let (u, p, r) = (user.to_string(), password.to_string(), role.to_string());
    let perms: Vec<(Perm, String)> = perms.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let as_user = EtcdAccess {
        auth: Some((u.clone(), p.clone())),
        ..root.clone()
    };
    rt::block_on(async move {
        let mut c = root.client().await;
        c.role_add(r.as_str()).await.expect("etcd role add");
        for (perm, prefix) in perms {
            let t = match perm {
                Perm::Read => PermissionType::Read,
                Perm::ReadWrite => PermissionType::Readwrite,
            };
            c.role_grant_permission(
                r.as_str(),
                Permission::new(t, prefix.as_str()).with_prefix(),
            )
            .await
            .expect("etcd role grant-permission");
        }
        c.user_add(u.as_str(), p.as_str(), None)
            .await
            .expect("etcd user add");
        c.user_grant_role(u.as_str(), r.as_str())
            .await
            .expect("etcd user grant-role");
    });
    as_user
}

/// The highest raft index any member reports (each status call is a read, not a proposal).
pub fn raft_index(access: &EtcdAccess) -> u64 {
    let access = access.clone();
    rt::block_on(async move {
        let mut best = 0;
        for ep in &access.endpoints {
            let one = access.with_endpoints(std::slice::from_ref(ep));
            if let Ok(mut c) = one.connect().await {
                if let Ok(s) = c.status().await {
                    best = best.max(s.raft_index());
                }
            }
        }
        best
    })
}
