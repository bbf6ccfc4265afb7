//! The one address-selection rule `run`, `check` and `host` share: from the container's published
//! bindings, networks and network mode and this host's addresses, which address of each family is
//! announced, with which port, and where the health probe goes. Three ways in: internal mode
//! (`--network NAME`: the container's own address there and the container port), host networking
//! (the host's addresses and the container port), else the published port. Each family takes its own binding's port: an IPv4
//! address is never announced with the port Docker published on `::` (on dual-stack Docker,
//! `-p 80` gives `0.0.0.0:N` and `[::]:M`, often with M != N), nor the reverse.

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;

use super::view::{Binding, BindingError, ContainerView, PortSpec};

/// What this host announces (`--public-ip`, `--private-ip`, the default-route address), each of
/// either family; an address only ever fills the keys of its own family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostAddrs {
    pub public: Option<IpAddr>,
    pub private: Option<IpAddr>,
    pub default_route: Option<IpAddr>,
}

/// One family's announced addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pair {
    pub public: IpAddr,
    pub private: IpAddr,
}

/// What to announce: at least one family, one port for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Announce {
    pub ipv4: Option<Pair>,
    pub ipv6: Option<Pair>,
    pub port: u16,
    /// Where the health probe connects: the first family's public address and the port.
    pub probe: SocketAddr,
}

/// Why nothing can be announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum AddressError {
    #[error(transparent)]
    Binding(#[from] BindingError),
    #[error("no public IP: the binding is on all interfaces and this host has no default route; pass --public-ip")]
    NoPublicIp,
    #[error("container is not on Docker network {network:?} (it is on: {on})")]
    NotOnNetwork { network: String, on: String },
    #[error("container has no address on Docker network {0:?}")]
    NoAddressOnNetwork(String),
}

fn of_family(ip: Option<IpAddr>, v6: bool) -> Option<IpAddr> {
    ip.filter(|ip| ip.is_ipv6() == v6)
}

impl HostAddrs {
    fn public(&self, v6: bool) -> Option<IpAddr> {
        of_family(self.public, v6)
    }

    /// One family's pair outside internal mode: the configured public address, else `own` (a
    /// binding's specific address), else the default-route address; the configured private
    /// address, else the public one.
    fn pair(&self, v6: bool, own: Option<IpAddr>) -> Option<Pair> {
        let public = self
            .public(v6)
            .or(own)
            .or(of_family(self.default_route, v6))?;
        let private = of_family(self.private, v6).unwrap_or(public);
        Some(Pair { public, private })
    }
}

/// One family's address and port from the published bindings: that family's binding (a specific
/// HostIp first, then the lowest port), announced as the configured public address, else the
/// binding's own address, else (all interfaces) the default-route address of that family.
fn published(host: &HostAddrs, bindings: &[Binding], v6: bool) -> Option<(Pair, u16)> {
    let b = bindings
        .iter()
        .filter(|b| b.host_ip.is_ipv6() == v6)
        .min_by_key(|b| (b.host_ip.is_unspecified(), b.host_port))?;
    let specific = (!b.host_ip.is_unspecified()).then_some(b.host_ip);
    Some((host.pair(v6, specific)?, b.host_port))
}

/// The rule. `network`: internal mode. A container on the host network: the host's addresses.
/// Else the published port: IPv4 first; the other family is announced too only when it has the
/// same port (there is one `port` key), so no address is ever written with another family's port.
pub fn select(
    host: &HostAddrs,
    network: Option<&str>,
    spec: PortSpec,
    view: &ContainerView,
) -> Result<Announce, AddressError> {
    if let Some(name) = network {
        return on_network(host, name, spec.port, view);
    }
    if view.host_network {
        let (ipv4, ipv6) = (host.pair(false, None), host.pair(true, None));
        let first = ipv4.or(ipv6).ok_or(AddressError::NoPublicIp)?;
        return Ok(Announce {
            ipv4,
            ipv6,
            port: spec.port,
            probe: SocketAddr::new(first.public, spec.port),
        });
    }
    let bindings = view.bindings.as_ref().map_err(|e| e.clone())?;
    let (v4, v6) = (
        published(host, bindings, false),
        published(host, bindings, true),
    );
    let (first, port) = v4.or(v6).ok_or(AddressError::NoPublicIp)?;
    let same_port = |f: Option<(Pair, u16)>| f.filter(|(_, p)| *p == port).map(|(a, _)| a);
    Ok(Announce {
        ipv4: same_port(v4),
        ipv6: same_port(v6),
        port,
        probe: SocketAddr::new(first.public, port),
    })
}

/// Internal mode: the container's addresses on `name` (an explicit public address of a family
/// still wins for that family's public key) and the container port; the probe goes to the
/// container's own address. Never another network's address.
fn on_network(
    host: &HostAddrs,
    name: &str,
    port: u16,
    view: &ContainerView,
) -> Result<Announce, AddressError> {
    let Some(n) = view.networks.get(name) else {
        let on: Vec<&str> = view.networks.keys().map(String::as_str).collect();
        return Err(AddressError::NotOnNetwork {
            network: name.to_string(),
            on: if on.is_empty() {
                "none".into()
            } else {
                on.join(", ")
            },
        });
    };
    let pair = |own: Option<IpAddr>, v6: bool| {
        own.map(|ip| Pair {
            public: host.public(v6).unwrap_or(ip),
            private: ip,
        })
    };
    let own = n
        .ipv4
        .or(n.ipv6)
        .ok_or_else(|| AddressError::NoAddressOnNetwork(name.to_string()))?;
    Ok(Announce {
        ipv4: pair(n.ipv4, false),
        ipv6: pair(n.ipv6, true),
        port,
        probe: SocketAddr::new(own, port),
    })
}

#[cfg(test)]
mod tests;
