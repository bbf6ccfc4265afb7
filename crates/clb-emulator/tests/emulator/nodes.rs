//! Node calls: PENDING_UPDATE after each change, immutable texts, duplicates, the node limit, bulk
//! delete rules, node updates and schema errors.

use std::time::Duration;

use clb_emulator::Config;
use reqwest::Method;
use serde_json::json;

use super::{nodes_body, Harness};

#[tokio::test]
async fn add_nodes_goes_pending_update_then_active_and_refuses_changes_meanwhile() {
    let pending_update = Duration::from_millis(300);
    let h = Harness::start(Config {
        pending_update,
        ..Config::default()
    })
    .await;
    let lb = h.emu.create_load_balancer("web");
    let started = tokio::time::Instant::now();
    let (status, body) = h
        .post_nodes(lb, &[("10.0.0.1", 80), ("10.0.0.2", 80)])
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["nodes"].as_array().unwrap().len(), 2);
    assert!(body["nodes"][0]["id"].as_u64().is_some());
    assert_eq!(h.emu.status(lb).as_deref(), Some("PENDING_UPDATE"));
    let (status, body) = h.post_nodes(lb, &[("10.0.0.3", 80)]).await;
    assert_eq!(status, 422);
    let text = format!(
        "Load Balancer '{lb}' has a status of 'PENDING_UPDATE' and is considered immutable."
    );
    assert_eq!(body, json!({"message": text, "code": 422}));
    h.wait_for_status(lb, "ACTIVE").await;
    assert!(started.elapsed() >= pending_update);
    assert_eq!(h.post_nodes(lb, &[("10.0.0.3", 80)]).await.0, 202);
    assert_eq!(h.emu.nodes(lb).len(), 3);
    let s = h.emu.stats();
    assert_eq!(s.immutable, 1);
    assert_eq!(s.mutations.len(), 2);
    assert_eq!(s.mutations[0].addresses, ["10.0.0.1:80", "10.0.0.2:80"]);
}

#[tokio::test]
async fn immutable_texts_for_single_and_bulk_calls() {
    let h = Harness::start(Config::default()).await;
    let lb = h.emu.create_load_balancer("web");
    let node = h.emu.add_node_direct(lb, "10.0.0.1", 80);
    for status in [
        "PENDING_UPDATE",
        "ERROR",
        "PENDING_DELETE",
        "SUSPENDED",
        "DELETED",
    ] {
        h.emu.set_status(lb, status);
        let (code, body) = h.delete(&format!("/loadbalancers/{lb}/nodes/{node}")).await;
        assert_eq!(code, 422);
        let single =
            format!("Load Balancer '{lb}' has a status of '{status}' and is considered immutable.");
        assert_eq!(body["message"], single);
        let (code, body) = h
            .delete(&format!("/loadbalancers/{lb}/nodes?id={node}"))
            .await;
        assert_eq!(code, 422);
        let bulk = match status {
            "DELETED" => "The load balancer is deleted and considered immutable.",
            _ => "LoadBalancer is not ACTIVE",
        };
        assert_eq!(body["message"], bulk);
    }
    assert_eq!(h.emu.nodes(lb).len(), 1);
    assert_eq!(h.emu.stats().immutable, 10);
}

#[tokio::test]
async fn duplicates_and_node_limit_reject_the_whole_batch() {
    let h = Harness::start(Config {
        node_limit: 3,
        ..Config::default()
    })
    .await;
    let lb = h.emu.create_load_balancer("web");
    assert_eq!(
        h.post_nodes(lb, &[("10.0.0.1", 80), ("10.0.0.2", 80)])
            .await
            .0,
        202
    );
    let (status, body) = h
        .post_nodes(lb, &[("10.0.0.9", 80), ("10.0.0.1", 80)])
        .await;
    assert_eq!(status, 422);
    let dup = "Duplicate nodes detected. One or more nodes already configured on load balancer.";
    assert_eq!(body, json!({"message": dup, "code": 422}));
    let (status, body) = h
        .post_nodes(lb, &[("10.0.0.3", 80), ("10.0.0.4", 80)])
        .await;
    assert_eq!(status, 413);
    assert_eq!(
        body,
        json!({"message": "Nodes must not exceed 3 per load balancer.", "code": 413})
    );
    assert_eq!(
        h.emu.nodes(lb).len(),
        2,
        "nothing of a refused batch is added"
    );
    let s = h.emu.stats();
    assert_eq!((s.duplicate, s.node_limit, s.rate_limited), (1, 1, 0));
}

#[tokio::test]
async fn bulk_delete_limits_and_all_or_nothing() {
    let h = Harness::start(Config::default()).await;
    let lb = h.emu.create_load_balancer("web");
    let ids: Vec<u64> = (1..=12)
        .map(|i| h.emu.add_node_direct(lb, &format!("10.0.0.{i}"), 80))
        .collect();
    let query = |ids: &[u64]| {
        ids.iter()
            .map(|i| format!("id={i}"))
            .collect::<Vec<_>>()
            .join("&")
    };
    let path = format!("/loadbalancers/{lb}/nodes");
    let (status, body) = h.delete(&format!("{path}?{}", query(&ids[..11]))).await;
    assert_eq!(status, 400);
    let too_many = "Request to delete 11 nodes exceeds the account limit BATCH_DELETE_LIMIT of 10 \
                    please attempt to delete fewer then 10 nodes";
    assert_eq!(body["validationErrors"]["messages"], json!([too_many]));
    let none =
        json!({"message": "Must supply one or more id's to process this request.", "code": 400});
    assert_eq!(h.delete(&path).await, (400, none));
    let (status, body) = h
        .delete(&format!("{path}?id={}&id=200&id=100", ids[0]))
        .await;
    assert_eq!(status, 400);
    let foreign = "Node ids 100,200 are not a part of your loadbalancer";
    assert_eq!(body["validationErrors"]["messages"], json!([foreign]));
    assert_eq!(body["message"], "Validation Failure");
    assert_eq!(h.emu.nodes(lb).len(), 12, "all or nothing");
    assert_eq!(
        h.delete(&format!("{path}?{}", query(&ids[..10]))).await.0,
        202
    );
    let left: Vec<u64> = h.emu.nodes(lb).iter().map(|n| n.id).collect();
    assert_eq!(left, &ids[10..]);
    let m = h.emu.stats().mutations;
    assert_eq!(
        (m.len(), m[0].action.as_str(), m[0].node_ids.len()),
        (1, "delete_nodes", 10)
    );
}

#[tokio::test]
async fn update_node_rules_and_schema_errors() {
    let h = Harness::start(Config::default()).await;
    let lb = h.emu.create_load_balancer("web");
    let node = h.emu.add_node_direct(lb, "10.0.0.1", 80);
    let path = format!("/loadbalancers/{lb}/nodes/{node}");
    let moved = json!({"node": {"address": "10.0.0.2", "condition": "DRAINING"}});
    let (status, body) = h.call(Method::PUT, &path, Some(moved)).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["validationErrors"]["messages"],
        json!(["Node ip field cannot be modified."])
    );
    let drain = json!({"node": {"condition": "DRAINING", "weight": 5}});
    let a = h
        .call_as(Some(&h.token), Method::PUT, &path, Some(drain))
        .await;
    assert_eq!((a.status, a.text.as_str()), (202, ""));
    let n = &h.emu.nodes(lb)[0];
    assert_eq!((n.condition.as_str(), n.weight), ("DRAINING", 5));
    let (status, body) = h.get(&path).await;
    assert_eq!(
        (status, body["node"]["condition"].as_str()),
        (200, Some("DRAINING"))
    );

    let nodes = format!("/loadbalancers/{lb}/nodes");
    let unknown = json!({"nodes": [{"address": "10.0.0.5", "port": 80, "color": "red"}]});
    let schema = json!({"message": ["JSON does not match the expected schema"]});
    assert_eq!(
        h.call(Method::POST, &nodes, Some(unknown)).await,
        (400, schema)
    );
    let (status, body) = h
        .call(Method::POST, &nodes, Some(nodes_body(&[("not-an-ip", 0)])))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["validationErrors"]["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (status, body) = h.get(&nodes).await;
    assert_eq!((status, body["nodes"].as_array().unwrap().len()), (200, 1));
}
