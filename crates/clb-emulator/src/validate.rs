//! Pure validation of CLB request bodies and queries. Schema problems (bad JSON, unknown fields, wrong
//! types, unknown enum values) give the array-message 400; value problems give `Validation Failure`
//! with the texts from the reference (MIMIC verified 2015-06-16 and 2016-09-13).

use std::net::IpAddr;

use serde::Deserialize;
use serde_json::Value;

use super::fault::Fault;

/// A node as asked for in `POST .../nodes` (or inside `POST /loadbalancers`), already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewNode {
    pub address: String,
    pub port: u16,
    pub condition: String,
    pub node_type: String,
    pub weight: u8,
}

/// The settable fields of `PUT .../nodes/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NodeUpdate {
    pub condition: Option<String>,
    pub node_type: Option<String>,
    pub weight: Option<u8>,
}

/// A `POST /loadbalancers` body, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewLoadBalancer {
    pub name: String,
    pub protocol: String,
    pub port: u16,
    pub nodes: Vec<NewNode>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "UPPERCASE")]
enum Condition {
    Enabled,
    Disabled,
    Draining,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Condition::Enabled => "ENABLED",
            Condition::Disabled => "DISABLED",
            Condition::Draining => "DRAINING",
        }
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "UPPERCASE")]
enum NodeType {
    Primary,
    Secondary,
}

impl NodeType {
    fn as_str(self) -> &'static str {
        match self {
            NodeType::Primary => "PRIMARY",
            NodeType::Secondary => "SECONDARY",
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeIn {
    address: String,
    port: i64,
    condition: Option<Condition>,
    #[serde(rename = "type")]
    node_type: Option<NodeType>,
    weight: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NodesIn {
    nodes: Vec<NodeIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateIn {
    condition: Option<Condition>,
    #[serde(rename = "type")]
    node_type: Option<NodeType>,
    weight: Option<i64>,
    address: Option<Value>,
    port: Option<Value>,
    id: Option<Value>,
    status: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    node: UpdateIn,
}

#[derive(Deserialize)]
struct LoadBalancerIn {
    name: String,
    protocol: Option<String>,
    port: Option<i64>,
    #[serde(default)]
    nodes: Vec<NodeIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadBalancerBody {
    #[serde(rename = "loadBalancer")]
    load_balancer: LoadBalancerIn,
}

const WEIGHT_TEXT: &str = "Node weight is invalid. Range is 1-100. Please specify a valid weight.";

fn schema<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Fault> {
    serde_json::from_slice(body).map_err(|_| Fault::Schema)
}

fn weight(w: Option<i64>, errors: &mut Vec<String>) -> u8 {
    match w.map(u8::try_from) {
        None => 1,
        Some(Ok(w)) if (1..=100).contains(&w) => w,
        Some(_) => {
            errors.push(WEIGHT_TEXT.into());
            1
        }
    }
}

fn check_node(n: NodeIn, errors: &mut Vec<String>) -> NewNode {
    let address = n.address.trim().to_string();
    if address.parse::<IpAddr>().is_err() {
        errors.push(format!(
            "Node address '{address}' is not a valid IPv4 or IPv6 address."
        ));
    }
    let port = match u16::try_from(n.port) {
        Ok(p) if p > 0 => p,
        _ => {
            errors.push(format!(
                "Node port {} is invalid. Range is 1-65535.",
                n.port
            ));
            0
        }
    };
    let weight = weight(n.weight, errors);
    NewNode {
        address,
        port,
        condition: n.condition.unwrap_or(Condition::Enabled).as_str().into(),
        node_type: n.node_type.unwrap_or(NodeType::Primary).as_str().into(),
        weight,
    }
}

fn check_nodes(nodes: Vec<NodeIn>, errors: &mut Vec<String>) -> Vec<NewNode> {
    nodes.into_iter().map(|n| check_node(n, errors)).collect()
}

/// `POST .../nodes`: `{"nodes":[{"address","port"[,"condition","type","weight"]}]}`.
pub(crate) fn new_nodes(body: &[u8]) -> Result<Vec<NewNode>, Fault> {
    let parsed: NodesIn = schema(body)?;
    let mut errors = Vec::new();
    if parsed.nodes.is_empty() {
        errors.push("Must provide at least one node to add.".into());
    }
    let nodes = check_nodes(parsed.nodes, &mut errors);
    if errors.is_empty() {
        Ok(nodes)
    } else {
        Err(Fault::Validation(errors))
    }
}

/// `PUT .../nodes/{id}`: `{"node":{...}}` with at least one of condition, weight, type.
pub(crate) fn node_update(body: &[u8]) -> Result<NodeUpdate, Fault> {
    let UpdateBody { node } = schema(body)?;
    let mut errors = Vec::new();
    if node.address.is_some() {
        errors.push("Node ip field cannot be modified.".to_string());
    }
    if node.port.is_some() {
        errors.push("Port field cannot be modified.".to_string());
    }
    let weight = node.weight.map(|w| weight(Some(w), &mut errors));
    if node.id.is_some() {
        errors.push("Node id field cannot be modified.".to_string());
    }
    if node.status.is_some() {
        errors.push("Node status field cannot be modified.".to_string());
    }
    let update = NodeUpdate {
        condition: node.condition.map(|c| c.as_str().into()),
        node_type: node.node_type.map(|t| t.as_str().into()),
        weight,
    };
    if errors.is_empty() && update == NodeUpdate::default() {
        errors
            .push("The node must have at least one of condition, weight or type to update.".into());
    }
    if errors.is_empty() {
        Ok(update)
    } else {
        Err(Fault::Validation(errors))
    }
}

/// `POST /loadbalancers` (demo convenience): name required, protocol/port default to HTTP/80.
pub(crate) fn new_load_balancer(body: &[u8]) -> Result<NewLoadBalancer, Fault> {
    let LoadBalancerBody { load_balancer: lb } = schema(body)?;
    let mut errors = Vec::new();
    if lb.name.trim().is_empty() || lb.name.len() > 128 {
        errors.push("Load balancer name must be 1-128 characters.".to_string());
    }
    let port = match lb.port.map(u16::try_from) {
        None => 80,
        Some(Ok(p)) if p > 0 => p,
        Some(_) => {
            errors.push("Port must be in the range 1-65535.".to_string());
            0
        }
    };
    let nodes = check_nodes(lb.nodes, &mut errors);
    if errors.is_empty() {
        Ok(NewLoadBalancer {
            name: lb.name,
            protocol: lb.protocol.unwrap_or_else(|| "HTTP".into()),
            port,
            nodes,
        })
    } else {
        Err(Fault::Validation(errors))
    }
}

/// `DELETE .../nodes?id=1&id=2`: the ids in order, or the MIMIC-verified refusals.
pub(crate) fn bulk_ids(raw_query: Option<&str>, limit: usize) -> Result<Vec<u64>, Fault> {
    let mut ids = Vec::new();
    let mut bad = Vec::new();
    for pair in raw_query.unwrap_or("").split('&') {
        let Some(value) = pair.strip_prefix("id=") else {
            continue;
        };
        match value.parse::<u64>() {
            Ok(id) => ids.push(id),
            Err(_) => bad.push(value.to_string()),
        }
    }
    if !bad.is_empty() {
        return Err(Fault::Validation(vec![format!(
            "Node ids {} are not valid node ids",
            bad.join(",")
        )]));
    }
    if ids.is_empty() {
        return Err(Fault::BadRequest(
            "Must supply one or more id's to process this request.".into(),
        ));
    }
    if ids.len() > limit {
        return Err(Fault::Validation(vec![format!(
            "Request to delete {} nodes exceeds the account limit BATCH_DELETE_LIMIT of {limit} \
             please attempt to delete fewer then {limit} nodes",
            ids.len()
        )]));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests;
