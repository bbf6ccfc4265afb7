//! The Cloud Load Balancers v1.0 calls lbsync needs: list/resolve/get load balancers, list nodes
//! (every `limit`/`marker` page), read the account limits (optional information: the documented
//! defaults when the server does not serve them), add nodes in one POST, delete nodes (single or
//! bulk), set a node's condition.

use std::collections::HashSet;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::client::Client;
use super::error::Error;
use super::model::{
    AbsoluteLimitsBody, AccountLimits, LbStatus, Limits, LimitsSource, LoadBalancer,
    LoadBalancerBody, LoadBalancerSummary, LoadBalancersBody, NewNode, Node, NodeCondition,
    NodesBody,
};

/// Page size of the listings (the API's maximum); a load balancer detail with this many nodes or
/// more may be a truncated first page, so the nodes are then listed page by page.
const PAGE_SIZE: usize = 100;
/// Upper bound on pages read by one listing (10 000 load balancers or nodes).
const MAX_PAGES: usize = 100;

/// The reason to fall back to the default limits, when `e` says the server has no limits to give:
/// anything but a transient failure (rate limit, 5xx, transport) or rejected credentials.
pub(crate) fn limits_unavailable(e: &Error) -> Option<String> {
    match e {
        _ if e.is_transient() || e.is_rejected_credentials() => None,
        Error::NotFound { message, .. } => Some(format!("HTTP 404: {message}")),
        Error::Unexpected { status, message } => Some(format!("HTTP {status}: {message}")),
        Error::Decode(what) => Some(what.clone()),
        other => Some(other.to_string()),
    }
}

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
    /// Every page of the listing at `path` (`limit=100`, `marker=<last id>`) of the items
    /// `items` takes out of each body: stops at a short page, or when a page brings nothing new
    /// (a server that ignores the marker).
    async fn pages<B: DeserializeOwned, T>(
        &self,
        path: &str,
        query: &[(&str, String)],
        what: &str,
        items: fn(B) -> Vec<T>,
        id: fn(&T) -> u64,
    ) -> Result<Vec<T>, Error> {
        let mut all: Vec<T> = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut q = vec![("limit", PAGE_SIZE.to_string())];
            q.extend_from_slice(query);
            if let Some(last) = all.last() {
                q.push(("marker", id(last).to_string()));
            }
            let bytes = self.request(Method::GET, path, &q, None).await?;
            let page = items(decode(what, &bytes)?);
            let full = page.len() >= PAGE_SIZE;
            let before = all.len();
            all.extend(page.into_iter().filter(|t| seen.insert(id(t))));
            if !full || all.len() == before {
                break;
            }
        }
        Ok(all)
    }

    /// `GET /loadbalancers[?name=]`, all pages. With a name, only exact matches are returned.
    pub async fn list_load_balancers(
        &self,
        name: Option<&str>,
    ) -> Result<Vec<LoadBalancerSummary>, Error> {
        let query: Vec<(&str, String)> =
            name.map(|n| ("name", n.to_string())).into_iter().collect();
        let mut all = self
            .pages(
                "/loadbalancers",
                &query,
                "load balancer list",
                |b: LoadBalancersBody| b.load_balancers,
                |lb| lb.id,
            )
            .await?;
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

    /// `GET /loadbalancers/{id}` with all its nodes (none when the key is absent). When the
    /// detail lists `PAGE_SIZE` (100) nodes or more it may be a first page only: the nodes are
    /// then read with [`Client::list_nodes`].
    pub async fn get_load_balancer(&self, id: u64) -> Result<LoadBalancer, Error> {
        let path = format!("/loadbalancers/{id}");
        let bytes = self.request(Method::GET, &path, &[], None).await?;
        let body: LoadBalancerBody = decode("load balancer", &bytes)?;
        let mut lb = body.load_balancer;
        if lb.nodes.len() >= PAGE_SIZE {
            lb.nodes = self.list_nodes(id).await?;
        }
        Ok(lb)
    }

    /// `GET /loadbalancers/{id}/nodes`, every page.
    pub async fn list_nodes(&self, lb: u64) -> Result<Vec<Node>, Error> {
        let path = format!("/loadbalancers/{lb}/nodes");
        let nodes = |b: NodesBody<Node>| b.nodes;
        self.pages(&path, &[], "node list", nodes, |n| n.id).await
    }

    /// The account's `NODE_LIMIT` and `BATCH_DELETE_LIMIT` and where they came from. The limits
    /// route is optional information: when the server does not serve it (404, 405, 501, 403, a
    /// body that is not the limits document, any other refusal) this is `Ok` with the documented
    /// defaults (25, 10) and [`LimitsSource::Defaults`] carrying a one-line reason for the
    /// caller's warning. Rate limits, 5xx, transport failures and rejected credentials stay
    /// errors.
    pub async fn account_limits(&self) -> Result<AccountLimits, Error> {
        let path = "/loadbalancers/absolutelimits";
        let read = match self.request(Method::GET, path, &[], None).await {
            Ok(bytes) => decode::<AbsoluteLimitsBody>("absolute limits", &bytes),
            Err(e) => Err(e),
        };
        match read {
            Ok(body) => Ok(AccountLimits {
                limits: Limits::from_absolute(&body.absolute),
                source: LimitsSource::Api,
            }),
            Err(e) => match limits_unavailable(&e) {
                Some(reason) => Ok(AccountLimits {
                    limits: Limits::default(),
                    source: LimitsSource::Defaults { reason },
                }),
                None => Err(e),
            },
        }
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
            [] => return Ok(()),
            [id] => {
                let path = format!("/loadbalancers/{lb}/nodes/{id}");
                self.request(Method::DELETE, &path, &[], None).await?;
            }
            many => {
                let path = format!("/loadbalancers/{lb}/nodes");
                let query: Vec<(&str, String)> =
                    many.iter().map(|id| ("id", id.to_string())).collect();
                self.request(Method::DELETE, &path, &query, None).await?;
            }
        }
        Ok(())
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
        self.request(Method::PUT, &path, &[], Some(&body)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
