//! The Cloud Load Balancers JSON shapes the client reads and writes: load balancers, nodes, their
//! conditions and statuses and the account's limits. Statuses and conditions are read whatever
//! their spelling (`PENDING_UPDATE`, `PENDING-UPDATE`, `pending update`); a value this client does
//! not know (or a non-string) is kept as `Other`, never a decoding error.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The canonical spelling of a status or condition: upper case, `-` and spaces as `_`.
pub(crate) fn normalize(text: &str) -> String {
    text.trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// Defines a string-valued API enum that keeps values it does not know in `Other`.
macro_rules! api_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "serde_json::Value", into = "String")]
        pub enum $name {
            $($variant,)+
            /// A value this client does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The API's spelling of this value.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Other(s) => s,
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match normalize(&s).as_str() {
                    $($text => Self::$variant,)+
                    _ => Self::Other(s),
                }
            }
        }

        impl From<serde_json::Value> for $name {
            fn from(v: serde_json::Value) -> Self {
                match v {
                    serde_json::Value::String(s) => Self::from(s),
                    other => Self::Other(other.to_string()),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

api_enum!(
    /// A node's settable condition.
    NodeCondition {
        Enabled => "ENABLED",
        Disabled => "DISABLED",
        Draining => "DRAINING",
    }
);

api_enum!(
    /// A node's read-only, health-driven status.
    NodeStatus {
        Online => "ONLINE",
        Offline => "OFFLINE",
        Draining => "DRAINING",
    }
);

api_enum!(
    /// A load balancer's status; only `Active` accepts changes.
    LbStatus {
        Active => "ACTIVE",
        Build => "BUILD",
        PendingCreate => "PENDING_CREATE",
        PendingUpdate => "PENDING_UPDATE",
        PendingDelete => "PENDING_DELETE",
        Suspended => "SUSPENDED",
        Error => "ERROR",
        Deleted => "DELETED",
    }
);

impl LbStatus {
    /// Only ACTIVE accepts changes.
    pub fn accepts_changes(&self) -> bool {
        *self == LbStatus::Active
    }

    /// A transitional status that ends by itself (PENDING_UPDATE, BUILD, PENDING_CREATE): wait
    /// for ACTIVE.
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            LbStatus::PendingUpdate | LbStatus::Build | LbStatus::PendingCreate
        )
    }
}

/// One node of a load balancer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: u64,
    /// An IP address or an allowed domain name, as the API returned it.
    pub address: String,
    pub port: u16,
    pub condition: NodeCondition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<NodeStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// `PRIMARY` or `SECONDARY`; absent means primary.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
}

/// A node to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewNode {
    pub address: String,
    pub port: u16,
    pub condition: NodeCondition,
}

/// One item of `GET /loadbalancers` (which never carries nodes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerSummary {
    pub id: u64,
    pub name: String,
    pub status: LbStatus,
}

/// `GET /loadbalancers/{id}`: the parts the reconciler needs. A missing `nodes` key means no nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub id: u64,
    pub name: String,
    pub status: LbStatus,
    #[serde(default)]
    pub nodes: Vec<Node>,
}

/// The account limits that shape how lbsync batches its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Maximum nodes per load balancer (`NODE_LIMIT`).
    pub node_limit: u32,
    /// Maximum node ids per bulk delete (`BATCH_DELETE_LIMIT`).
    pub batch_delete_limit: u32,
}

impl Limits {
    /// Picks the two limits out of `{"absolute":[{"name":..,"value":..},..]}`; a name missing
    /// (or a value out of range) keeps its default.
    pub(crate) fn from_absolute(items: &[AbsoluteLimit]) -> Self {
        let default = Limits::default();
        let find = |name: &str, default: u32| {
            items
                .iter()
                .find(|l| l.name == name)
                .and_then(|l| u32::try_from(l.value).ok())
                .unwrap_or(default)
        };
        Limits {
            node_limit: find("NODE_LIMIT", default.node_limit),
            batch_delete_limit: find("BATCH_DELETE_LIMIT", default.batch_delete_limit),
        }
    }
}

impl Default for Limits {
    /// The documented defaults: 25 nodes per load balancer, 10 ids per bulk delete.
    fn default() -> Self {
        Limits {
            node_limit: 25,
            batch_delete_limit: 10,
        }
    }
}

/// Where [`Limits`] came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitsSource {
    /// `GET /loadbalancers/absolutelimits` (names it did not list take the defaults).
    Api,
    /// The server does not serve the limits (404, 405, 501, 403, a body that is not the limits
    /// document, any other refusal but a transient one): the documented defaults are used. `reason` is one short line for the
    /// caller's single warning.
    Defaults { reason: String },
}

/// The account's limits and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLimits {
    pub limits: Limits,
    pub source: LimitsSource,
}

/// Response envelopes (wire only).
#[derive(Deserialize)]
pub(crate) struct AbsoluteLimit {
    pub name: String,
    pub value: i64,
}

#[derive(Deserialize)]
pub(crate) struct AbsoluteLimitsBody {
    #[serde(default)]
    pub absolute: Vec<AbsoluteLimit>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoadBalancersBody {
    #[serde(default)]
    pub load_balancers: Vec<LoadBalancerSummary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LoadBalancerBody {
    pub load_balancer: LoadBalancer,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct NodesBody<T> {
    pub nodes: Vec<T>,
}

#[cfg(test)]
mod tests;
