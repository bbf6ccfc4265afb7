//! The emulated load balancer and node records, their status life cycle (transitional statuses settle
//! lazily from timestamps), and their JSON shapes (list item, detail, node).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::time::Instant;

/// A node as the API shows it (also the node JSON: `{"id","address","port","condition","status",
/// "weight","type"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    pub id: u64,
    pub address: String,
    pub port: u16,
    /// `ENABLED`, `DISABLED` or `DRAINING`.
    pub condition: String,
    /// `ONLINE` (the emulator runs no health checks).
    pub status: String,
    pub weight: u8,
    /// `PRIMARY` or `SECONDARY`.
    #[serde(rename = "type")]
    pub node_type: String,
}

/// One load balancer, owned by one account (tenant).
#[derive(Debug, Clone)]
pub(crate) struct LoadBalancer {
    pub id: u64,
    pub tenant: String,
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub status: String,
    /// When the current transitional status ends, and what it becomes.
    settles: Option<(Instant, &'static str)>,
    pub nodes: Vec<NodeView>,
    vip_id: u64,
    created: DateTime<Utc>,
    updated: DateTime<Utc>,
}

fn time(t: &DateTime<Utc>) -> Value {
    json!({"time": t.to_rfc3339_opts(SecondsFormat::Secs, true)})
}

impl LoadBalancer {
    pub(crate) fn new(id: u64, tenant: &str, name: &str, protocol: &str, port: u16) -> Self {
        let now = Utc::now();
        LoadBalancer {
            id,
            tenant: tenant.to_string(),
            name: name.to_string(),
            protocol: protocol.to_string(),
            port,
            status: "ACTIVE".into(),
            settles: None,
            nodes: Vec::new(),
            vip_id: 9_000_000 + id,
            created: now,
            updated: now,
        }
    }

    /// Ends a transitional status whose time has come.
    pub(crate) fn settle(&mut self, now: Instant) {
        if let Some((at, next)) = self.settles {
            if now >= at {
                self.status = next.to_string();
                self.settles = None;
            }
        }
    }

    /// Enters `transitional` (e.g. PENDING_UPDATE) until `now + lasts`, then `next` (e.g. ACTIVE).
    pub(crate) fn begin(
        &mut self,
        transitional: &str,
        next: &'static str,
        lasts: Duration,
        now: Instant,
    ) {
        self.status = transitional.to_string();
        self.settles = Some((now + lasts, next));
        self.updated = Utc::now();
    }

    /// Forces a status (test control); any pending transition is dropped.
    pub(crate) fn force_status(&mut self, status: &str) {
        self.status = status.to_string();
        self.settles = None;
        self.updated = Utc::now();
    }

    pub(crate) fn has_node_address(&self, address: &str) -> bool {
        self.nodes.iter().any(|n| n.address == address)
    }

    fn vip(&self) -> Value {
        // 203.0.113.0/24 (TEST-NET-3): documentation addresses, never routed.
        json!([{"id": self.vip_id, "address": format!("203.0.113.{}", self.id % 254 + 1),
                "type": "PUBLIC", "ipVersion": "IPV4"}])
    }

    /// The `GET /loadbalancers` item: no nodes, a `nodeCount`.
    pub(crate) fn summary_json(&self) -> Value {
        json!({
            "name": self.name,
            "id": self.id,
            "protocol": self.protocol,
            "port": self.port,
            "algorithm": "RANDOM",
            "status": self.status,
            "nodeCount": self.nodes.len(),
            "timeout": 30,
            "virtualIps": self.vip(),
            "created": time(&self.created),
            "updated": time(&self.updated),
        })
    }

    /// The `GET /loadbalancers/{id}` body content: `nodes` omitted when there are none (MIMIC),
    /// at most `node_page` of them (the first page by id; the rest through the paged node list).
    pub(crate) fn detail_json(&self, node_page: usize) -> Value {
        let mut v = json!({
            "name": self.name,
            "id": self.id,
            "protocol": self.protocol,
            "port": self.port,
            "algorithm": "RANDOM",
            "status": self.status,
            "timeout": 30,
            "virtualIps": self.vip(),
            "created": time(&self.created),
            "updated": time(&self.updated),
            "cluster": {"name": "ztm-n01.emulator.lbaas.rackspace.net"},
            "sourceAddresses": {
                "ipv4Public": "203.0.113.254",
                "ipv4Servicenet": format!("10.183.250.{}", self.id % 254 + 1),
            },
            "connectionLogging": {"enabled": false},
            "contentCaching": {"enabled": false},
            "httpsRedirect": false,
            "halfClosed": false,
        });
        if !self.nodes.is_empty() {
            let mut nodes = self.nodes.clone();
            nodes.sort_by_key(|n| n.id);
            nodes.truncate(node_page);
            v["nodes"] = json!(nodes);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_update_settles_lazily() {
        let mut lb = LoadBalancer::new(1, "t", "web", "HTTP", 80);
        let t0 = Instant::now();
        lb.begin("PENDING_UPDATE", "ACTIVE", Duration::from_millis(50), t0);
        lb.settle(t0 + Duration::from_millis(49));
        assert_eq!(lb.status, "PENDING_UPDATE");
        lb.settle(t0 + Duration::from_millis(50));
        assert_eq!(lb.status, "ACTIVE");
        lb.begin("PENDING_UPDATE", "ACTIVE", Duration::from_secs(1), t0);
        lb.force_status("ERROR");
        lb.settle(t0 + Duration::from_secs(2));
        assert_eq!(lb.status, "ERROR");
    }

    #[test]
    fn detail_omits_nodes_when_empty() {
        let mut lb = LoadBalancer::new(7, "t", "web", "HTTP", 80);
        assert!(lb.detail_json(100).get("nodes").is_none());
        assert_eq!(lb.summary_json()["nodeCount"], 0);
        lb.nodes.push(NodeView {
            id: 1,
            address: "10.0.0.1".into(),
            port: 80,
            condition: "ENABLED".into(),
            status: "ONLINE".into(),
            weight: 1,
            node_type: "PRIMARY".into(),
        });
        assert_eq!(lb.detail_json(100)["nodes"][0]["type"], "PRIMARY");
    }
}
