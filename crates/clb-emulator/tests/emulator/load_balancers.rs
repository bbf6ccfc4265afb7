//! Load-balancer level behaviour: listing and filters, limits, 404s, create/delete, rate limiting,
//! injected faults, statistics and the admin endpoints.

use clb_emulator::{Config, Stats, User};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{api_key, public_url, token_of, Harness};

#[tokio::test]
async fn listing_filters_and_limits() {
    let names = ["web", "web", "db"].map(String::from).to_vec();
    let h = Harness::start(Config {
        load_balancers: names,
        ..Config::default()
    })
    .await;
    let (_, all) = h.get("/loadbalancers").await;
    let all = all["loadBalancers"].as_array().unwrap().clone();
    let ids: Vec<u64> = all.iter().map(|l| l["id"].as_u64().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    let (_, web) = h.get("/loadbalancers?name=web").await;
    assert_eq!(
        web["loadBalancers"].as_array().unwrap().len(),
        2,
        "names are not unique"
    );
    h.emu.add_node_direct(ids[2], "10.9.9.9", 80);
    let (_, by_node) = h.get("/loadbalancers?nodeaddress=10.9.9.9&name=web").await;
    assert_eq!(
        by_node["loadBalancers"][0]["id"], ids[2],
        "nodeaddress wins over name"
    );
    assert_eq!(by_node["loadBalancers"][0]["nodeCount"], 1);
    let (_, detail) = h.get(&format!("/loadbalancers/{}", ids[0])).await;
    assert!(
        detail["loadBalancer"].get("nodes").is_none(),
        "no nodes key when empty"
    );
    let (_, limits) = h.get("/loadbalancers/absolutelimits").await;
    let limits = limits["absolute"].as_array().unwrap().clone();
    let limit = |name: &str| limits.iter().find(|l| l["name"] == name).unwrap()["value"].clone();
    assert_eq!(
        (limit("NODE_LIMIT"), limit("BATCH_DELETE_LIMIT")),
        (json!(25), json!(10))
    );
}

#[tokio::test]
async fn not_found_answers() {
    let users = vec![User::demo(), User::new("other", "k2", None, "999")];
    let h = Harness::start(Config {
        users,
        ..Config::default()
    })
    .await;
    let lb = h.emu.create_load_balancer("web");
    let lb_missing = json!({"message": "Load balancer not found", "code": 404});
    let node_missing = json!({"message": "Node not found", "code": 404});
    assert_eq!(
        h.get("/loadbalancers/424242").await,
        (404, lb_missing.clone())
    );
    assert_eq!(
        h.get("/loadbalancers/424242/nodes").await,
        (404, lb_missing)
    );
    let node = format!("/loadbalancers/{lb}/nodes/1");
    assert_eq!(h.get(&node).await, (404, node_missing.clone()));
    assert_eq!(h.delete(&node).await, (404, node_missing.clone()));
    let put = Some(json!({"node": {"condition": "DRAINING"}}));
    assert_eq!(h.call(Method::PUT, &node, put).await, (404, node_missing));
    // Another account's load balancer does not exist for this one.
    let (_, other) = h.auth(api_key("other", "k2")).await;
    let url = format!("{}/loadbalancers/{lb}", public_url(&other, "ORD"));
    let resp = h
        .http
        .get(url)
        .header("X-Auth-Token", token_of(&other))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn create_and_delete_a_load_balancer() {
    let pending_update = std::time::Duration::from_millis(30);
    let h = Harness::start(Config {
        pending_update,
        ..Config::default()
    })
    .await;
    let body = json!({"loadBalancer": {"name": "demo", "protocol": "HTTP", "port": 80,
        "virtualIps": [{"type": "PUBLIC"}], "nodes": [{"address": "10.0.0.1", "port": 80, "condition": "ENABLED"}]}});
    let (status, created) = h.call(Method::POST, "/loadbalancers", Some(body)).await;
    assert_eq!(status, 202, "{created}");
    assert_eq!(created["loadBalancer"]["status"], "BUILD");
    let lb = created["loadBalancer"]["id"].as_u64().unwrap();
    h.wait_for_status(lb, "ACTIVE").await;
    assert_eq!(h.delete(&format!("/loadbalancers/{lb}")).await.0, 202);
    h.wait_for_status(lb, "DELETED").await;
    assert_eq!(
        h.get("/loadbalancers").await.1,
        json!({"loadBalancers": []})
    );
    let (_, deleted) = h.get("/loadbalancers?status=DELETED").await;
    assert_eq!(deleted["loadBalancers"][0]["id"], lb);
}

#[tokio::test]
async fn rate_limit_answers_wrapped_413_with_retry_after() {
    let h = Harness::start(Config {
        rate_limits: true,
        ..Config::default()
    })
    .await;
    // GET allows 10 per second: the 11th within a second is refused (bounded number of tries).
    let mut refused = None;
    for _ in 0..40 {
        let a = h
            .call_as(Some(&h.token), Method::GET, "/loadbalancers", None)
            .await;
        if a.status == 413 {
            refused = Some(a);
            break;
        }
        assert_eq!(a.status, 200);
    }
    let a = refused.expect("never rate limited");
    let retry: u64 = a
        .retry_after
        .as_deref()
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let body = a.json();
    assert_eq!(body["overLimit"]["code"], 413);
    assert!(body["overLimit"]["retryAfter"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(h.emu.stats().rate_limited, 1);
}

#[tokio::test]
async fn fail_rate_one_answers_5xx_for_clb_but_not_identity() {
    let h = Harness::start(Config {
        fail_rate: 1.0,
        seed: Some(7),
        ..Config::default()
    })
    .await;
    let lb = h.emu.create_load_balancer("web");
    for _ in 0..5 {
        let (status, _) = h.post_nodes(lb, &[("10.0.0.1", 80)]).await;
        assert!(status == 500 || status == 503, "{status}");
    }
    assert!(h.emu.nodes(lb).is_empty(), "a fault changes nothing");
    let s = h.emu.stats();
    assert_eq!(s.injected_faults, 5);
    assert_eq!(s.requests_for("POST", "tokens", 200), 1);
    assert_eq!(s.requests_to("POST", "nodes"), 5);
    h.emu.reset_stats();
    assert_eq!(h.emu.stats().total_requests(), 0);
}

#[tokio::test]
async fn admin_endpoints_steer_a_running_emulator() {
    let h = Harness::start(Config::default()).await;
    let admin = format!("{}/_emulator", h.server.base_url());
    let resp = h
        .http
        .post(format!("{admin}/loadbalancers"))
        .json(&json!({"name": "web"}))
        .send();
    let created: Value = resp.await.unwrap().json().await.unwrap();
    let lb = created["id"].as_u64().unwrap();
    let node = json!({"address": "10.0.0.1", "port": 80});
    let resp = h
        .http
        .post(format!("{admin}/loadbalancers/{lb}/nodes-direct"))
        .json(&node)
        .send();
    assert_eq!(resp.await.unwrap().status(), StatusCode::CREATED);
    let status = json!({"status": "ERROR"});
    let resp = h
        .http
        .put(format!("{admin}/loadbalancers/{lb}/status"))
        .json(&status)
        .send();
    assert_eq!(resp.await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(h.emu.status(lb).as_deref(), Some("ERROR"));
    let resp = h
        .http
        .get(format!("{admin}/loadbalancers/{lb}/nodes"))
        .send();
    let nodes: Value = resp.await.unwrap().json().await.unwrap();
    assert_eq!(nodes["nodes"][0]["address"], "10.0.0.1");
    let resp = h.http.get(format!("{admin}/loadbalancers")).send();
    let all: Value = resp.await.unwrap().json().await.unwrap();
    let listed = all["loadBalancers"].as_array().unwrap();
    assert!(
        listed.iter().any(|l| l["id"] == lb && l["name"] == "web"),
        "{all}"
    );
    h.http
        .post(format!("{admin}/expire-tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(h.get("/loadbalancers").await.0, 401);
    let resp = h.http.get(format!("{admin}/stats")).send();
    let stats: Stats = resp.await.unwrap().json().await.unwrap();
    assert_eq!(stats.unauthorized, 1);
    assert_eq!(stats, h.emu.stats(), "admin calls are not counted");
}
