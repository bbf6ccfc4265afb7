//! The node plan both backends share: which managed addresses a load balancer should serve given
//! the registry, the static nodes and the empty-registry guard (which addresses it may hold at all
//! is [`crate::registry::node`]). Backend-specific steps (Rackspace's batches and node
//! limit, nginx's one file) start from a [`NodePlan`].

use std::collections::BTreeSet;
use std::net::SocketAddr;

/// The managed addresses a backend should serve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodePlan {
    /// What the backend should serve besides the static nodes (which it never touches).
    pub want: BTreeSet<SocketAddr>,
    /// The registry is empty and the guard kept the managed addresses the backend serves.
    pub empty_guard: bool,
}

/// Plans the managed set from `desired` (the registry, address rules already applied, re-checked
/// if asked; taken by value so a pass over 20 000 addresses copies none) and `present` (what the
/// backend serves now, static nodes included).
pub fn plan_nodes(
    mut desired: BTreeSet<SocketAddr>,
    present: &BTreeSet<SocketAddr>,
    statics: &BTreeSet<SocketAddr>,
    allow_empty: bool,
) -> NodePlan {
    if desired.is_empty() && !allow_empty {
        let managed_present: BTreeSet<SocketAddr> = present.difference(statics).copied().collect();
        if !managed_present.is_empty() {
            return NodePlan {
                want: managed_present,
                empty_guard: true,
            };
        }
    }
    if !statics.is_empty() {
        desired.retain(|a| !statics.contains(a));
    }
    NodePlan {
        want: desired,
        empty_guard: false,
    }
}

#[cfg(test)]
mod tests;
