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
