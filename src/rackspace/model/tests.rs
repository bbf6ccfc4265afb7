//! Unit tests of `model`.

use super::*;

#[test]
fn unknown_enum_values_are_kept() {
    let c: NodeCondition = serde_json::from_str(r#""ENABLED""#).unwrap();
    assert_eq!(c, NodeCondition::Enabled);
    let s: NodeStatus = serde_json::from_str(r#""DEGRADED""#).unwrap();
    assert_eq!(s, NodeStatus::Other("DEGRADED".into()));
    assert_eq!(serde_json::to_string(&s).unwrap(), r#""DEGRADED""#);
    let st: LbStatus = serde_json::from_str(r#""PENDING_UPDATE""#).unwrap();
    assert_eq!(st, LbStatus::PendingUpdate);
    assert_eq!(LbStatus::Other("NEW".into()).to_string(), "NEW");
    assert_eq!(
        serde_json::to_string(&NodeCondition::Draining).unwrap(),
        r#""DRAINING""#
    );
}

#[test]
fn load_balancer_without_nodes_key_has_no_nodes() {
    let body = r#"{"loadBalancer":{"id":7,"name":"web","status":"ACTIVE","protocol":"HTTP",
        "port":80,"virtualIps":[],"healthMonitor":{}}}"#;
    let lb: LoadBalancerBody = serde_json::from_str(body).unwrap();
    assert_eq!(lb.load_balancer.nodes, vec![]);
    assert_eq!(lb.load_balancer.status, LbStatus::Active);
}

#[test]
fn node_with_extra_and_missing_fields() {
    let body = r#"{"id":410,"address":"10.1.1.1","port":80,"condition":"ENABLED",
        "status":"DRAINING","weight":3,"metadata":[]}"#;
    let n: Node = serde_json::from_str(body).unwrap();
    assert_eq!(n.status, Some(NodeStatus::Draining));
    assert_eq!(n.node_type, None);
    assert_eq!(n.weight, Some(3));
}

#[test]
fn limits_pick_names_and_default() {
    let body = r#"{"absolute":[{"name":"IPV6_LIMIT","value":25},{"name":"NODE_LIMIT","value":50},
        {"name":"BATCH_DELETE_LIMIT","value":10}]}"#;
    let b: AbsoluteLimitsBody = serde_json::from_str(body).unwrap();
    let l = Limits::from_absolute(&b.absolute);
    assert_eq!((l.node_limit, l.batch_delete_limit), (50, 10));
    let l = Limits::from_absolute(&[]);
    assert_eq!(l, Limits::default());
    assert_eq!((l.node_limit, l.batch_delete_limit), (25, 10));
}

#[test]
fn new_node_serializes_like_the_api() {
    let n = NewNode {
        address: "10.0.0.7".into(),
        port: 18001,
        condition: NodeCondition::Enabled,
    };
    assert_eq!(
        serde_json::to_string(&NodesBody { nodes: vec![n] }).unwrap(),
        r#"{"nodes":[{"address":"10.0.0.7","port":18001,"condition":"ENABLED"}]}"#
    );
}

#[test]
fn status_spellings_are_one_status() {
    for text in [
        "PENDING_UPDATE",
        "PENDING-UPDATE",
        "pending_update",
        "Pending-Update",
        " pending update ",
    ] {
        let st: LbStatus = serde_json::from_value(serde_json::json!(text)).unwrap();
        assert_eq!(st, LbStatus::PendingUpdate, "{text}");
        assert!(st.is_pending() && !st.accepts_changes());
    }
    let st: LbStatus = serde_json::from_str(r#""PENDING-DELETE""#).unwrap();
    assert_eq!(st, LbStatus::PendingDelete);
    let c: NodeCondition = serde_json::from_str(r#""draining""#).unwrap();
    assert_eq!(c, NodeCondition::Draining);
    assert!(LbStatus::Active.accepts_changes());
}

#[test]
fn unknown_or_odd_statuses_never_fail_decoding() {
    let body = r#"{"loadBalancer":{"id":7,"name":"web","status":"MIGRATING",
        "nodes":[{"id":1,"address":"10.0.0.1","port":80,"condition":"QUIESCING","status":42}]}}"#;
    let lb: LoadBalancerBody = serde_json::from_str(body).unwrap();
    let lb = lb.load_balancer;
    assert_eq!(lb.status, LbStatus::Other("MIGRATING".into()));
    assert!(!lb.status.accepts_changes() && !lb.status.is_pending());
    assert_eq!(
        lb.nodes[0].condition,
        NodeCondition::Other("QUIESCING".into())
    );
    assert_eq!(lb.nodes[0].status, Some(NodeStatus::Other("42".into())));
    let st: LbStatus = serde_json::from_str("null").unwrap();
    assert!(matches!(st, LbStatus::Other(_)));
}
