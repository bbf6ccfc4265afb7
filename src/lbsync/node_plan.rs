//! The node plan both backends share: which addresses a load balancer may hold at all (the
//! address rules), and which managed addresses it should serve given the registry, the static
//! nodes and the empty-registry guard. Backend-specific steps (Rackspace's batches and node
//! limit, nginx's one file) start from a [`NodePlan`].

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

/// What a backend accepts beyond the always-refused addresses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressRules {
    /// Loopback addresses are usable (nginx on the same host; `--allow-loopback` for Rackspace,
    /// e.g. against the emulator).
    pub allow_loopback: bool,
    /// IPv6 addresses are refused: the Rackspace node API reference
    /// (`reference/rackspace-clb-api.md`) documents IPv4 node addresses only.
    pub ipv4_only: bool,
}

/// Why `addr` can never be a node, or `None` when it can.
pub fn refusal(addr: SocketAddr, rules: AddressRules) -> Option<&'static str> {
    let ip = addr.ip().to_canonical();
    if addr.port() == 0 {
        return Some("port 0, not usable as a node");
    }
    if ip.is_unspecified() {
        return Some("unspecified address, not usable as a node");
    }
    if ip.is_multicast() {
        return Some("multicast address, not usable as a node");
    }
    match ip {
        IpAddr::V4(v4) if v4.is_broadcast() => {
            return Some("broadcast address, not usable as a node")
        }
        IpAddr::V4(v4) if v4.is_link_local() => {
            return Some("link-local address, not usable as a node")
        }
        IpAddr::V6(v6) if v6.is_unicast_link_local() => {
            return Some("link-local address, not usable as a node")
        }
        _ => {}
    }
    if ip.is_loopback() && !rules.allow_loopback {
        return Some("loopback address, refused by this backend (pass --allow-loopback to use it)");
    }
    if ip.is_ipv6() && rules.ipv4_only {
        return Some("IPv6 address, refused by this backend: the Rackspace node API documents IPv4 nodes only (use --address-family ipv4 or any)");
    }
    None
}

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

/// At most `n` items of a list for a log line (the full list goes to debug).
pub fn sample<T: std::fmt::Display>(items: impl IntoIterator<Item = T>, n: usize) -> String {
    let mut out = Vec::new();
    let mut more = 0usize;
    for (i, it) in items.into_iter().enumerate() {
        if i < n {
            out.push(it.to_string());
        } else {
            more += 1;
        }
    }
    let mut s = out.join(" ");
    if more > 0 {
        s.push_str(&format!(" (+{more} more)"));
    }
    s
}

#[cfg(test)]
mod tests;
