//! Pure reading of what `host` needs from an inspected container before it knows the container's
//! port spec: its id, name, labels and the TCP ports it publishes (the default of
//! `sidekick.port`). How the labels become a configuration is `config::host`'s business.

use std::collections::BTreeMap;

use bollard::models::ContainerInspectResponse;

use super::view::{container_name, published};
use super::{PortSpec, Proto};

/// A container as `host` first sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub id: String,
    /// Without Docker's leading slash.
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The TCP container ports published on the host, sorted, without duplicates.
    pub published_tcp: Vec<PortSpec>,
}

impl Labelled {
    pub fn from_inspect(c: &ContainerInspectResponse) -> Labelled {
        Labelled {
            id: c.id.clone().unwrap_or_default(),
            name: container_name(c),
            labels: c
                .config
                .as_ref()
                .and_then(|cfg| cfg.labels.as_ref())
                .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            published_tcp: published_tcp_ports(c),
        }
    }
}

/// The TCP container ports published on the host: those with a host binding in the container's
/// configuration (`-p`, known before it starts), those Docker reports bound now, and with `-P`
/// every exposed port. Sorted by port.
fn published_tcp_ports(c: &ContainerInspectResponse) -> Vec<PortSpec> {
    let host_config = c.host_config.as_ref();
    let mut names: Vec<&str> = published(host_config.and_then(|h| h.port_bindings.as_ref()))
        .chain(published(
            c.network_settings.as_ref().and_then(|n| n.ports.as_ref()),
        ))
        .collect();
    let exposed = c.config.as_ref().and_then(|cfg| cfg.exposed_ports.as_ref());
    if host_config.and_then(|h| h.publish_all_ports) == Some(true) {
        names.extend(exposed.into_iter().flatten().map(String::as_str));
    }
    let mut ports: Vec<PortSpec> = names
        .iter()
        .filter_map(|n| PortSpec::parse(n).ok())
        .filter(|p| p.proto == Proto::Tcp)
        .collect();
    ports.sort_by_key(|p| p.port);
    ports.dedup();
    ports
}

#[cfg(test)]
mod tests;
