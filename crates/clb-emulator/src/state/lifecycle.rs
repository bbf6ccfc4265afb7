//! Creating and deleting whole load balancers (`POST /loadbalancers`, `DELETE /loadbalancers/{id}`):
//! not needed by lbsync, handy for demos. BUILD and PENDING_DELETE last `pending_update`.

use std::collections::HashSet;

use serde_json::Value;
use tokio::time::Instant;

use super::{State, LOADBALANCER_LIMIT};
use crate::fault::{immutable_single, Fault};
use crate::model::NodeView;
use crate::validate::NewLoadBalancer;

impl State {
    /// `POST /loadbalancers`: BUILD for `pending_update`, then ACTIVE.
    pub(crate) fn create_lb(
        &mut self,
        tenant: &str,
        new: NewLoadBalancer,
        now: Instant,
    ) -> Result<Value, Fault> {
        let owned = self
            .lbs
            .values()
            .filter(|lb| lb.tenant == tenant && lb.status != "DELETED")
            .count();
        if owned >= LOADBALANCER_LIMIT {
            return Err(Fault::LbLimit(LOADBALANCER_LIMIT));
        }
        if new.nodes.len() > self.config.node_limit {
            return Err(Fault::NodeLimit(self.config.node_limit));
        }
        let mut seen = HashSet::new();
        if !new
            .nodes
            .iter()
            .all(|n| seen.insert((n.address.clone(), n.port)))
        {
            return Err(Fault::Duplicate);
        }
        let id = self.insert_lb(tenant, &new.name, &new.protocol, new.port);
        for n in new.nodes {
            let node_id = self.node_id();
            if let Some(lb) = self.lbs.get_mut(&id) {
                lb.nodes.push(NodeView {
                    id: node_id,
                    address: n.address,
                    port: n.port,
                    condition: n.condition,
                    status: "ONLINE".into(),
                    weight: n.weight,
                    node_type: n.node_type,
                });
            }
        }
        let lasts = self.config.pending_update;
        let lb = self.lbs.get_mut(&id).ok_or(Fault::LbNotFound)?;
        lb.begin("BUILD", "ACTIVE", lasts, now);
        let detail = lb.detail_json(usize::MAX);
        let nodes = lb.nodes.clone();
        self.record("POST", "create_load_balancer", id, &nodes);
        Ok(detail)
    }

    /// `DELETE /loadbalancers/{id}`: PENDING_DELETE for `pending_update`, then DELETED.
    pub(crate) fn delete_lb(&mut self, tenant: &str, id: u64, now: Instant) -> Result<(), Fault> {
        let lasts = self.config.pending_update;
        let lb = self.lb(tenant, id, now)?;
        match lb.status.as_str() {
            "ACTIVE" | "ERROR" => {}
            "DELETED" => {
                return Err(Fault::BadRequest(format!(
                    "Must provide valid load balancers: {id} could not be found."
                )))
            }
            other => return Err(immutable_single(id, other)),
        }
        lb.begin("PENDING_DELETE", "DELETED", lasts, now);
        self.record("DELETE", "delete_load_balancer", id, &[]);
        Ok(())
    }
}
