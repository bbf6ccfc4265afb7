//! The Cloud Load Balancers v1.0 calls lbsync needs: list/resolve/get load balancers, read the
//! account limits, add nodes in one POST, delete nodes (single or bulk), set a node's condition.

use std::collections::HashSet;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::client::Client;
use super::error::Error;
use super::model::{
    AbsoluteLimitsBody, LbStatus, Limits, LoadBalancer, LoadBalancerBody, LoadBalancerSummary,
    LoadBalancersBody, NewNode, Node, NodeCondition, NodesBody,
};

/// `GET /loadbalancers` page size (the API's maximum).
const PAGE_SIZE: usize = 100;
/// Upper bound on pages read by one listing (10 000 load balancers).
const MAX_PAGES: usize = 100;

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| Error::Decode(format!("{what}: {e}")))
}

/// Picks the load balancer id from the candidates named `name` (pure part of `resolve`).
pub(crate) fn pick_lb(
    name: &str,
    id: Option<u64>,
    candidates: &[LoadBalancerSummary],
) -> Result<u64, Error> {
    let ids: Vec<u64> = candidates
        .iter()
        .filter(|lb| lb.name == name && lb.status != LbStatus::Deleted)
        .map(|lb| lb.id)
        .collect();
    match (id, ids.as_slice()) {
        (Some(id), ids) if ids.contains(&id) => Ok(id),
        (Some(id), []) => Err(Error::Config(format!(
            "--lb-id {id} was given with --lb-name {name:?}, but no load balancer has that name"
        ))),
        (Some(id), ids) => Err(Error::Config(format!(
            "load balancer {id} is not named {name:?}; the ones with that name are {}",
            ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        ))),
        (None, []) => Err(Error::NoSuchLb {
            name: name.to_string(),
        }),
        (None, [one]) => Ok(*one),
        (None, many) => Err(Error::AmbiguousLb {
            name: name.to_string(),
            ids: many.to_vec(),
        }),
    }
}

impl Client {
    /// `GET /loadbalancers[?name=]`, all pages. With a name, only exact matches are returned.
    pub async fn list_load_balancers(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<LoadBalancerSummary>, Error> {
        let mut all: Vec<LoadBalancerSummary> = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![("limit", PAGE_SIZE.to_string())];
            if let Some(n) = name {
                query.push(("name", n.to_string()));
            }
            if let Some(last) = all.last() {
                query.push(("marker", last.id.to_string()));
            }
            let bytes = self
                .request(Method::GET, "/loadbalancers", &query, None)
                .await?;
            let page: LoadBalancersBody = decode("load balancer list", &bytes)?;
            let full_page = page.load_balancers.len() >= PAGE_SIZE;
            let before = all.len();
            all.extend(
                page.load_balancers
                    .into_iter()
                    .filter(|lb| seen.insert(lb.id)),
            );
            // A short page ends the listing; so does a server that ignores the marker.
            if !full_page || all.len() == before {
                break;
            }
        }
        if let Some(n) = name {
            all.retain(|lb| lb.name == n);
        }
        Ok(all)
    }

    /// The id of the load balancer to manage. With only `id`, returns it without a call. With a
    /// name, lists the load balancers of that name: 0 or several matches are errors (listing the
    /// candidate ids); `id` picks one of several and must be among them.
    pub async fn resolve(&self, name: Option<&str>, id: Option<u64>) -> Result<u64, Error> {
        match (name, id) {
            (None, None) => Err(Error::Config(
                "no load balancer given: pass --lb-name or --lb-id".into(),
            )),
            (None, Some(id)) => Ok(id),
            (Some(name), id) => {
                let candidates = self.list_load_balancers(Some(name)).await?;
                pick_lb(name, id, &candidates)
            }
        }
    }

    /// `GET /loadbalancers/{id}` with its nodes (none when the key is absent).
    pub async fn get_load_balancer(&self, id: u64) -> Result<LoadBalancer, Error> {
        let path = format!("/loadbalancers/{id}");
        let bytes = self.request(Method::GET, &path, &[], None).await?;
        let body: LoadBalancerBody = decode("load balancer", &bytes)?;
        Ok(body.load_balancer)
    }

    /// `GET /loadbalancers/absolutelimits`: `NODE_LIMIT` and `BATCH_DELETE_LIMIT` (25/10 if absent).
    pub async fn absolute_limits(&self) -> Result<Limits, Error> {
        let path = "/loadbalancers/absolutelimits";
        let bytes = self.request(Method::GET, path, &[], None).await?;
        let body: AbsoluteLimitsBody = decode("absolute limits", &bytes)?;
        Ok(Limits::from_absolute(&body.absolute))
    }

    /// `POST /loadbalancers/{lb}/nodes` with all `nodes` in one request; returns the created nodes.
    /// An empty slice sends nothing.
    pub async fn add_nodes(&self, lb: u64, nodes: &[NewNode]) -> Result<Vec<Node>, Error> {
        if nodes.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("/loadbalancers/{lb}/nodes");
        let body = serde_json::to_value(NodesBody {
            nodes: nodes.to_vec(),
        })
        .map_err(|e| Error::Decode(format!("encoding nodes: {e}")))?;
        let bytes = self.request(Method::POST, &path, &[], Some(&body)).await?;
        let created: NodesBody<Node> = decode("created nodes", &bytes)?;
        Ok(created.nodes)
    }

    /// Deletes nodes: one id → `DELETE .../nodes/{id}`, several → `DELETE .../nodes?id=1&id=2`.
    /// More ids than `batch_limit` is an error (nothing is sent); an empty slice sends nothing.
    pub async fn delete_nodes(&self, lb: u64, ids: &[u64], batch_limit: u32) -> Result<(), Error> {
        if ids.len() > batch_limit as usize {
            return Err(Error::TooManyIds {
                count: ids.len(),
                limit: batch_limit,
            });
        }
        match ids {
            [] => Ok(()),
            [id] => {
                let path = format!("/loadbalancers/{lb}/nodes/{id}");
                self.request(Method::DELETE, &path, &[], None)
                    .await
                    .map(drop)
            }
            many => {
                let path = format!("/loadbalancers/{lb}/nodes");
                let query: Vec<(&str, String)> =
                    many.iter().map(|id| ("id", id.to_string())).collect();
                self.request(Method::DELETE, &path, &query, None)
                    .await
                    .map(drop)
            }
        }
    }

    /// `PUT /loadbalancers/{lb}/nodes/{node_id}` with `{"node":{"condition":...}}`.
    pub async fn set_node_condition(
        &self,
        lb: u64,
        node_id: u64,
        condition: NodeCondition,
    ) -> Result<(), Error> {
        let path = format!("/loadbalancers/{lb}/nodes/{node_id}");
        let body = json!({"node": {"condition": condition}});
        self.request(Method::PUT, &path, &[], Some(&body))
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests;
