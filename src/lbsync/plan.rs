//! The pure plans of a pass. [`plan_nodes`], for every backend: which managed addresses a load
//! balancer should serve given the registry, the static nodes and the empty-registry guard (which
//! addresses it may hold at all is [`crate::registry::node`]). [`plan_changes`], for a node list
//! (Rackspace's): from a [`NodePlan`]'s `want`, what to remove (in batches no larger than the
//! bulk-delete limit), what to add (capped to the room left under the node limit), and which
//! managed nodes to re-enable. Static nodes and nodes whose address is not an IP are never
//! touched.

use std::collections::BTreeSet;
use std::net::SocketAddr;

pub use crate::rackspace::Limits;

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

/// A node as the plan needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbNode {
    pub id: u64,
    /// `None` when the node's address is not an IP (a domain node): never managed.
    pub addr: Option<SocketAddr>,
    /// ENABLED, DISABLED, DRAINING (or anything the API invents).
    pub condition: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeChanges {
    /// Node ids to delete, each batch one API call.
    pub removes: Vec<Vec<u64>>,
    /// Addresses to add in one POST.
    pub adds: Vec<SocketAddr>,
    /// Managed nodes that are wanted but not ENABLED.
    pub enable: Vec<u64>,
    /// Wanted addresses that do not fit under the node limit.
    pub unplaced: Vec<SocketAddr>,
}

impl NodeChanges {
    pub fn is_converged(&self) -> bool {
        self.removes.is_empty() && self.adds.is_empty() && self.enable.is_empty()
    }
}

pub fn plan_changes(
    desired: &BTreeSet<SocketAddr>,
    nodes: &[LbNode],
    statics: &BTreeSet<SocketAddr>,
    limits: Limits,
) -> NodeChanges {
    let managed: Vec<(u64, SocketAddr, &str)> = nodes
        .iter()
        .filter_map(|n| {
            n.addr
                .filter(|a| !statics.contains(a))
                .map(|a| (n.id, a, n.condition.as_str()))
        })
        .collect();
    let present: BTreeSet<SocketAddr> = nodes.iter().filter_map(|n| n.addr).collect();
    let mut seen = BTreeSet::new();
    let mut removes: Vec<u64> = Vec::new();
    let mut enable = Vec::new();
    for (id, addr, condition) in managed {
        // A second node with the same address is always surplus.
        let duplicate = !seen.insert(addr);
        if duplicate || !desired.contains(&addr) {
            removes.push(id);
        } else if desired.contains(&addr) && !condition.eq_ignore_ascii_case("ENABLED") {
            enable.push(id);
        }
    }
    let wanted: Vec<SocketAddr> = desired
        .iter()
        .filter(|a| !present.contains(a))
        .copied()
        .collect();
    let room = (limits.node_limit as usize).saturating_sub(nodes.len() - removes.len());
    let (adds, unplaced) = if wanted.len() > room {
        (wanted[..room].to_vec(), wanted[room..].to_vec())
    } else {
        (wanted, Vec::new())
    };
    let batch = (limits.batch_delete_limit as usize).max(1);
    NodeChanges {
        removes: removes.chunks(batch).map(<[u64]>::to_vec).collect(),
        adds,
        enable,
        unplaced,
    }
}

#[cfg(test)]
mod tests;
