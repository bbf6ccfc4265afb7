//! What the emulator saw: request counts by (method, route, status), counters for the interesting
//! refusals, and a log of accepted mutations. [`Stats`] is the snapshot tests read (in-process or as
//! JSON from `GET /_emulator/stats`).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::fault::Outcome;

/// Requests answered for one (method, route, status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    pub method: String,
    /// Route kind: `tokens`, `loadbalancers`, `loadbalancer`, `absolutelimits`, `nodes`, `node`,
    /// or `unmatched`. Admin (`/_emulator/...`) requests are not counted.
    pub route: String,
    pub status: u16,
    pub count: u64,
}

/// How many recent requests the timeline keeps.
pub const TIMELINE_LEN: usize = 4096;

/// One request on the timeline (the last [`TIMELINE_LEN`] non-admin requests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedRequest {
    pub method: String,
    /// Route kind, as in [`RequestCount`].
    pub route: String,
    pub status: u16,
    /// Milliseconds since the emulator started (or its statistics were last reset).
    pub at_ms: u64,
}

/// One accepted (202) mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mutation {
    /// Wall-clock time, RFC 3339 with milliseconds.
    pub at: String,
    pub method: String,
    /// `add_nodes`, `update_node`, `delete_node`, `delete_nodes`, `create_load_balancer`,
    /// `delete_load_balancer`.
    pub action: String,
    pub lb_id: u64,
    pub node_ids: Vec<u64>,
    /// `address:port` of the nodes concerned.
    pub addresses: Vec<String>,
    /// The user whose token made the change (empty for changes made through the admin API).
    #[serde(default)]
    pub by: String,
}

/// A snapshot of everything counted since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub requests: Vec<RequestCount>,
    /// `POST /v2.0/tokens` calls, successful or not.
    pub auth_calls: u64,
    /// Identity 401s (bad credentials).
    pub auth_failures: u64,
    /// CLB 401s (missing, invalid, expired or foreign token).
    pub unauthorized: u64,
    /// 413 wrapped `overLimit` (rate limiter).
    pub rate_limited: u64,
    /// 413 flat `Nodes must not exceed ...`.
    pub node_limit: u64,
    /// 422 `... considered immutable` / `LoadBalancer is not ACTIVE`.
    pub immutable: u64,
    /// 422 duplicate nodes.
    pub duplicate: u64,
    /// 500/503 injected by `fail_rate`.
    pub injected_faults: u64,
    pub mutations: Vec<Mutation>,
    /// The last [`TIMELINE_LEN`] requests with their times, oldest first.
    pub timeline: Vec<TimedRequest>,
}

impl Stats {
    /// Requests answered for `method` on `route` with `status`.
    pub fn requests_for(&self, method: &str, route: &str, status: u16) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.method == method && r.route == route && r.status == status)
            .map(|r| r.count)
            .sum()
    }

    /// All requests for `method` on `route`, whatever the status.
    pub fn requests_to(&self, method: &str, route: &str) -> u64 {
        self.requests
            .iter()
            .filter(|r| r.method == method && r.route == route)
            .map(|r| r.count)
            .sum()
    }

    /// Every counted request.
    pub fn total_requests(&self) -> u64 {
        self.requests.iter().map(|r| r.count).sum()
    }

    /// Times (ms) of the timeline's `method` requests (any route; identity calls are `tokens`).
    pub fn times_of(&self, method: &str, route: Option<&str>) -> Vec<u64> {
        self.timeline
            .iter()
            .filter(|r| r.method == method && route.is_none_or(|want| r.route == want))
            .map(|r| r.at_ms)
            .collect()
    }

    /// The most `method` requests (CLB routes only, not Identity) in any window of `window_ms`
    /// on the timeline.
    pub fn peak_in_window(&self, method: &str, window_ms: u64) -> usize {
        let times: Vec<u64> = self
            .timeline
            .iter()
            .filter(|r| r.method == method && r.route != "tokens")
            .map(|r| r.at_ms)
            .collect();
        times
            .iter()
            .enumerate()
            .map(|(i, t)| {
                times[i..]
                    .iter()
                    .take_while(|u| **u < t + window_ms)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}

/// The live counters behind [`Stats`].
#[derive(Debug)]
pub(crate) struct Recorder {
    requests: BTreeMap<(String, String, u16), u64>,
    snapshot: Stats,
    started: Instant,
    timeline: VecDeque<TimedRequest>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            requests: BTreeMap::new(),
            snapshot: Stats::default(),
            started: Instant::now(),
            timeline: VecDeque::new(),
        }
    }
}

impl Recorder {
    pub(crate) fn request(
        &mut self,
        method: &str,
        route: &str,
        status: u16,
        outcome: Option<Outcome>,
    ) {
        *self
            .requests
            .entry((method.to_string(), route.to_string(), status))
            .or_default() += 1;
        if route == "tokens" {
            self.snapshot.auth_calls += 1;
        }
        if self.timeline.len() >= TIMELINE_LEN {
            self.timeline.pop_front();
        }
        self.timeline.push_back(TimedRequest {
            method: method.to_string(),
            route: route.to_string(),
            status,
            at_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
        let s = &mut self.snapshot;
        match outcome {
            Some(Outcome::AuthFailure) => s.auth_failures += 1,
            Some(Outcome::Unauthorized) => s.unauthorized += 1,
            Some(Outcome::RateLimited) => s.rate_limited += 1,
            Some(Outcome::NodeLimit) => s.node_limit += 1,
            Some(Outcome::Immutable) => s.immutable += 1,
            Some(Outcome::Duplicate) => s.duplicate += 1,
            Some(Outcome::Injected) => s.injected_faults += 1,
            None => {}
        }
    }

    pub(crate) fn mutation(&mut self, m: Mutation) {
        self.snapshot.mutations.push(m);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let mut s = self.snapshot.clone();
        s.timeline = self.timeline.iter().cloned().collect();
        s.requests = self
            .requests
            .iter()
            .map(|((method, route, status), count)| RequestCount {
                method: method.clone(),
                route: route.clone(),
                status: *status,
                count: *count,
            })
            .collect();
        s
    }

    pub(crate) fn reset(&mut self) {
        *self = Recorder::default();
    }
}

/// The route kind of a request path (mirrors the router's patterns; `unmatched` otherwise).
pub(crate) fn route_kind(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v2.0", "tokens"] => "tokens",
        ["v1.0", _, "loadbalancers"] => "loadbalancers",
        ["v1.0", _, "loadbalancers", "absolutelimits"] => "absolutelimits",
        ["v1.0", _, "loadbalancers", _] => "loadbalancer",
        ["v1.0", _, "loadbalancers", _, "nodes"] => "nodes",
        ["v1.0", _, "loadbalancers", _, "nodes", _] => "node",
        ["control", ..] => "control",
        _ => "unmatched",
    }
}

#[cfg(test)]
mod tests;
