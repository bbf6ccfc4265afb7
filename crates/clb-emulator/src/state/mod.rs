//! The emulator's whole world behind one mutex: load balancers and nodes, tokens, the rate limiter,
//! the fault RNG and the statistics. The CLB operations here apply the reference's rules in the
//! reference's order (schema before existence, existence before status, status before duplicates,
//! duplicates before the node limit) and record every accepted mutation.

use std::collections::{BTreeMap, HashSet};

use chrono::{SecondsFormat, Utc};
use serde_json::Value;
use tokio::time::Instant;

mod lifecycle;

use super::fault::{immutable_bulk, immutable_single, Fault};
use super::identity::TokenStore;
use super::model::{LoadBalancer, NodeView};
use super::ratelimit::RateLimiter;
use super::stats::{Mutation, Recorder};
use super::validate::{NewNode, NodeUpdate};
use super::Config;

/// Per-account cap on load balancers (DOCS `LOADBALANCER_LIMIT`).
pub(crate) const LOADBALANCER_LIMIT: usize = 25;

pub(crate) struct State {
    pub config: Config,
    lbs: BTreeMap<u64, LoadBalancer>,
    next_lb_id: u64,
    next_node_id: u64,
    pub tokens: TokenStore,
    pub limiter: RateLimiter,
    pub fault_rng: fastrand::Rng,
    pub token_rng: fastrand::Rng,
    pub stats: Recorder,
}

/// `GET /loadbalancers` filters.
#[derive(Debug, Default, Clone)]
pub(crate) struct ListFilter {
    pub name: Option<String>,
    pub node_address: Option<String>,
    pub status: Option<String>,
}

fn address_of(n: &NodeView) -> String {
    if n.address.contains(':') {
        format!("[{}]:{}", n.address, n.port)
    } else {
        format!("{}:{}", n.address, n.port)
    }
}

impl State {
    pub(crate) fn new(config: Config) -> Self {
        let fault_rng = match config.seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        let mut state = State {
            lbs: BTreeMap::new(),
            next_lb_id: 1000,
            next_node_id: 10000,
            tokens: TokenStore::default(),
            limiter: RateLimiter::default(),
            fault_rng,
            token_rng: fastrand::Rng::new(),
            stats: Recorder::default(),
            config,
        };
        let tenant = state.default_tenant();
        for name in state.config.load_balancers.clone() {
            state.insert_lb(&tenant, &name, "HTTP", 80);
        }
        state
    }

    /// The tenant of the first configured user (where library-created load balancers live).
    pub(crate) fn default_tenant(&self) -> String {
        self.config
            .users
            .first()
            .map_or_else(|| "123456".to_string(), |u| u.tenant_id.clone())
    }

    pub(crate) fn insert_lb(&mut self, tenant: &str, name: &str, protocol: &str, port: u16) -> u64 {
        let id = self.next_lb_id;
        self.next_lb_id += 1;
        self.lbs
            .insert(id, LoadBalancer::new(id, tenant, name, protocol, port));
        id
    }

    /// Any load balancer, whatever its account (test control), settled to `now`.
    /// Every load balancer id, in creation order.
    pub(crate) fn lb_ids(&self) -> Vec<u64> {
        self.lbs.keys().copied().collect()
    }

    pub(crate) fn any_lb(&mut self, id: u64, now: Instant) -> Option<&mut LoadBalancer> {
        let lb = self.lbs.get_mut(&id)?;
        lb.settle(now);
        Some(lb)
    }

    /// A load balancer of `tenant`, settled to `now`, or 404.
    fn lb(&mut self, tenant: &str, id: u64, now: Instant) -> Result<&mut LoadBalancer, Fault> {
        match self.lbs.get_mut(&id) {
            Some(lb) if lb.tenant == tenant => {
                lb.settle(now);
                Ok(lb)
            }
            _ => Err(Fault::LbNotFound),
        }
    }

    fn node_id(&mut self) -> u64 {
        let id = self.next_node_id;
        self.next_node_id += 1;
        id
    }

    /// Appends a node without any check (placeholders, drift made by hand).
    pub(crate) fn push_node(&mut self, lb_id: u64, address: &str, port: u16) -> Option<u64> {
        if !self.lbs.contains_key(&lb_id) {
            return None;
        }
        let id = self.node_id();
        let lb = self.lbs.get_mut(&lb_id)?;
        lb.nodes.push(NodeView {
            id,
            address: address.to_string(),
            port,
            condition: "ENABLED".into(),
            status: "ONLINE".into(),
            weight: 1,
            node_type: "PRIMARY".into(),
        });
        Some(id)
    }

    fn record(&mut self, method: &str, action: &str, lb_id: u64, nodes: &[NodeView]) {
        self.stats.mutation(Mutation {
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            method: method.into(),
            action: action.into(),
            lb_id,
            node_ids: nodes.iter().map(|n| n.id).collect(),
            addresses: nodes.iter().map(address_of).collect(),
            by: crate::http::ACTOR
                .try_with(|u| u.clone())
                .unwrap_or_default(),
        });
    }

    /// Starts the PENDING_UPDATE window after an accepted mutation.
    fn pending(&mut self, lb_id: u64, now: Instant) {
        let lasts = self.config.pending_update;
        if let Some(lb) = self.lbs.get_mut(&lb_id) {
            lb.begin("PENDING_UPDATE", "ACTIVE", lasts, now);
        }
    }

    pub(crate) fn list_lbs(
        &mut self,
        tenant: &str,
        filter: &ListFilter,
        now: Instant,
    ) -> Vec<Value> {
        let wanted_status = filter.status.as_deref();
        self.lbs
            .values_mut()
            .filter(|lb| lb.tenant == tenant)
            .map(|lb| {
                lb.settle(now);
                &*lb
            })
            .filter(|lb| match wanted_status {
                Some(s) => lb.status.eq_ignore_ascii_case(s),
                None => lb.status != "DELETED",
            })
            .filter(|lb| match (&filter.node_address, &filter.name) {
                (Some(addr), _) => lb.has_node_address(addr),
                (None, Some(name)) => lb.name == *name,
                (None, None) => true,
            })
            .map(LoadBalancer::summary_json)
            .collect()
    }

    pub(crate) fn lb_detail(
        &mut self,
        tenant: &str,
        id: u64,
        now: Instant,
    ) -> Result<Value, Fault> {
        let page = self.config.node_page_size.max(1);
        Ok(self.lb(tenant, id, now)?.detail_json(page))
    }

    fn readable(&mut self, tenant: &str, id: u64, now: Instant) -> Result<&LoadBalancer, Fault> {
        let lb = self.lb(tenant, id, now)?;
        if lb.status == "DELETED" {
            return Err(Fault::Gone);
        }
        Ok(lb)
    }

    pub(crate) fn list_nodes(
        &mut self,
        tenant: &str,
        id: u64,
        now: Instant,
    ) -> Result<Vec<NodeView>, Fault> {
        Ok(self.readable(tenant, id, now)?.nodes.clone())
    }

    pub(crate) fn get_node(
        &mut self,
        tenant: &str,
        id: u64,
        node_id: u64,
        now: Instant,
    ) -> Result<NodeView, Fault> {
        let lb = self.readable(tenant, id, now)?;
        lb.nodes
            .iter()
            .find(|n| n.id == node_id)
            .cloned()
            .ok_or(Fault::NodeNotFound)
    }

    /// A node mutation is allowed only while ACTIVE (single-node text).
    fn mutable(&mut self, tenant: &str, id: u64, now: Instant) -> Result<&mut LoadBalancer, Fault> {
        let lb = self.lb(tenant, id, now)?;
        if lb.status != "ACTIVE" {
            return Err(immutable_single(id, &lb.status));
        }
        Ok(lb)
    }

    pub(crate) fn add_nodes(
        &mut self,
        tenant: &str,
        id: u64,
        new: Vec<NewNode>,
        now: Instant,
    ) -> Result<Vec<NodeView>, Fault> {
        let limit = self.config.node_limit;
        let lb = self.mutable(tenant, id, now)?;
        let mut seen: HashSet<(String, u16)> = lb
            .nodes
            .iter()
            .map(|n| (n.address.clone(), n.port))
            .collect();
        if !new.iter().all(|n| seen.insert((n.address.clone(), n.port))) {
            return Err(Fault::Duplicate);
        }
        if lb.nodes.len() + new.len() > limit {
            return Err(Fault::NodeLimit(limit));
        }
        let mut created = Vec::with_capacity(new.len());
        for n in new {
            created.push(NodeView {
                id: self.node_id(),
                address: n.address,
                port: n.port,
                condition: n.condition,
                status: "ONLINE".into(),
                weight: n.weight,
                node_type: n.node_type,
            });
        }
        if let Some(lb) = self.lbs.get_mut(&id) {
            lb.nodes.extend(created.iter().cloned());
        }
        self.pending(id, now);
        self.record("POST", "add_nodes", id, &created);
        Ok(created)
    }

    pub(crate) fn update_node(
        &mut self,
        tenant: &str,
        id: u64,
        node_id: u64,
        up: NodeUpdate,
        now: Instant,
    ) -> Result<(), Fault> {
        let lb = self.mutable(tenant, id, now)?;
        let node = lb
            .nodes
            .iter_mut()
            .find(|n| n.id == node_id)
            .ok_or(Fault::NodeNotFound)?;
        if let Some(c) = up.condition {
            node.condition = c;
        }
        if let Some(t) = up.node_type {
            node.node_type = t;
        }
        if let Some(w) = up.weight {
            node.weight = w;
        }
        let changed = node.clone();
        self.pending(id, now);
        self.record("PUT", "update_node", id, &[changed]);
        Ok(())
    }

    pub(crate) fn delete_node(
        &mut self,
        tenant: &str,
        id: u64,
        node_id: u64,
        now: Instant,
    ) -> Result<(), Fault> {
        let lb = self.mutable(tenant, id, now)?;
        let pos = lb
            .nodes
            .iter()
            .position(|n| n.id == node_id)
            .ok_or(Fault::NodeNotFound)?;
        let gone = lb.nodes.remove(pos);
        self.pending(id, now);
        self.record("DELETE", "delete_node", id, &[gone]);
        Ok(())
    }

    /// Bulk delete: all or nothing; foreign ids are named, sorted, in the 400.
    pub(crate) fn delete_nodes(
        &mut self,
        tenant: &str,
        id: u64,
        ids: &[u64],
        now: Instant,
    ) -> Result<(), Fault> {
        let lb = self.lb(tenant, id, now)?;
        if lb.status != "ACTIVE" {
            return Err(immutable_bulk(&lb.status));
        }
        let mut foreign: Vec<u64> = ids
            .iter()
            .copied()
            .filter(|i| !lb.nodes.iter().any(|n| n.id == *i))
            .collect();
        if !foreign.is_empty() {
            foreign.sort_unstable();
            foreign.dedup();
            let list: Vec<String> = foreign.iter().map(u64::to_string).collect();
            return Err(Fault::Validation(vec![format!(
                "Node ids {} are not a part of your loadbalancer",
                list.join(",")
            )]));
        }
        let (gone, kept) = lb.nodes.drain(..).partition(|n| ids.contains(&n.id));
        lb.nodes = kept;
        let gone: Vec<NodeView> = gone;
        self.pending(id, now);
        self.record("DELETE", "delete_nodes", id, &gone);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
