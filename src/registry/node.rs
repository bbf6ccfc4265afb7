//! Which socket addresses may be a load balancer node at all: never an unspecified, broadcast,
//! multicast or link-local address, nor port 0; loopback and IPv6 only when the backend accepts
//! them ([`AddressRules`]). `config` applies it to `--static-node`, lbsync's registry to every
//! instance.

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

#[cfg(test)]
mod tests;
