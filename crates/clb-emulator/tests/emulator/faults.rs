//! Behaving like servers lbsync was not written against: node list pagination, content types of
//! empty replies, and each fault switch (library, admin API and the binary's `--fault`).

use std::time::Duration;

use clb_emulator::{Config, Faults};
use reqwest::Method;
use serde_json::Value;

use super::{api_key, Harness};

fn ids(body: &Value) -> Vec<u64> {
    body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn node_lists_page_by_limit_and_marker_and_the_detail_shows_the_first_page() {
    let h = Harness::start(Config {
        node_limit: 300,
        ..Config::default()
    })
    .await;
    let lb = h.emu.create_load_balancer("web");
    for i in 0..230u16 {
        h.emu
            .add_node_direct(lb, &format!("10.0.{}.{}", i / 200, i % 200 + 1), 80);
    }
    let (status, first) = h.get(&format!("/loadbalancers/{lb}/nodes")).await;
    assert_eq!(status, 200);
    let first = ids(&first);
    assert_eq!(first.len(), 100, "default page size");
    let (_, second) = h
        .get(&format!(
            "/loadbalancers/{lb}/nodes?limit=100&marker={}",
            first[99]
        ))
        .await;
    let second = ids(&second);
    assert_eq!(second.len(), 100);
    assert!(second[0] > first[99], "the marker is exclusive");
    let (_, third) = h
        .get(&format!("/loadbalancers/{lb}/nodes?marker={}", second[99]))
        .await;
    assert_eq!(ids(&third).len(), 30);
    let (_, small) = h.get(&format!("/loadbalancers/{lb}/nodes?limit=7")).await;
    assert_eq!(ids(&small), first[..7].to_vec());
    let (_, capped) = h
        .get(&format!("/loadbalancers/{lb}/nodes?limit=1000"))
        .await;
    assert_eq!(ids(&capped).len(), 100, "limit is capped at the page size");
    assert_eq!(
        h.get(&format!("/loadbalancers/{lb}/nodes?limit=0")).await.0,
        400
    );
    let (_, detail) = h.get(&format!("/loadbalancers/{lb}")).await;
    assert_eq!(ids(&detail["loadBalancer"]), first);
}

#[tokio::test]
async fn empty_202_replies_carry_a_content_type() {
    let h = Harness::start(Config::default()).await;
    let lb = h.emu.create_load_balancer("web");
    let node = h.emu.add_node_direct(lb, "10.0.0.1", 80);
    let path = format!("/loadbalancers/{lb}/nodes/{node}");
    let url = format!("{}{path}", h.clb);
    let resp = h
        .http
        .request(Method::DELETE, url)
        .header("X-Auth-Token", &h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 202);
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(ct.as_deref(), Some("application/json"));
    assert!(resp.text().await.unwrap().is_empty());
}

#[tokio::test]
async fn no_limits_route_answers_an_html_404() {
    let h = Harness::start(Config::default()).await;
    let (status, _) = h.get("/loadbalancers/absolutelimits").await;
    assert_eq!(status, 200);
    h.emu.set_faults(Faults {
        no_limits_route: true,
        ..Faults::default()
    });
    let a = h
        .call_as(
            Some(&h.token),
            Method::GET,
            "/loadbalancers/absolutelimits",
            None,
        )
        .await;
    assert_eq!(a.status, 404);
    assert!(a.text.starts_with("<!DOCTYPE html>"), "{}", a.text);
    // Other routes are untouched.
    assert_eq!(h.get("/loadbalancers").await.0, 200);
}

#[tokio::test]
async fn html_404_turns_every_404_into_a_page() {
    let h = Harness::start(Config {
        faults: Faults {
            html_404: true,
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let a = h
        .call_as(Some(&h.token), Method::GET, "/loadbalancers/4242", None)
        .await;
    assert_eq!(a.status, 404);
    assert!(
        a.text.contains("<title>404 Not Found</title>"),
        "{}",
        a.text
    );
    assert!(a.json().is_null(), "not JSON");
}

#[tokio::test]
async fn hyphenated_status_spells_pending_update_with_a_hyphen() {
    let h = Harness::start(Config {
        pending_update: Duration::from_secs(30),
        faults: Faults {
            hyphenated_status: true,
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let lb = h.emu.create_load_balancer("web");
    assert_eq!(h.post_nodes(lb, &[("10.0.0.1", 80)]).await.0, 202);
    let (_, detail) = h.get(&format!("/loadbalancers/{lb}")).await;
    assert_eq!(detail["loadBalancer"]["status"], "PENDING-UPDATE");
    let (_, list) = h.get("/loadbalancers").await;
    assert_eq!(list["loadBalancers"][0]["status"], "PENDING-UPDATE");
}

#[tokio::test]
async fn control_service_first_lists_a_second_lb_service_that_answers_404() {
    let h = Harness::start(Config::default()).await;
    h.emu.set_faults(Faults {
        control_service_first: true,
        ..Faults::default()
    });
    let (status, access) = h.auth(api_key("demo", "demo-api-key")).await;
    assert_eq!(status, 200);
    let lb_services: Vec<&Value> = access["access"]["serviceCatalog"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["type"] == "rax:load-balancer")
        .collect();
    let names: Vec<&str> = lb_services
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cloudLoadBalancerControl", "cloudLoadBalancers"]);
    let control = lb_services[0]["endpoints"][0]["publicURL"]
        .as_str()
        .unwrap();
    let resp = h
        .http
        .get(format!("{control}/loadbalancers"))
        .header("X-Auth-Token", &h.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    assert!(resp.text().await.unwrap().contains("<html>"));
}

#[tokio::test]
async fn identity_401_from_a_given_moment_through_the_admin_api() {
    let h = Harness::start(Config::default()).await;
    let url = format!("{}/_emulator/faults", h.server.base_url());
    let resp = h
        .http
        .put(&url)
        .body(r#"{"identity_401":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 204);
    let (status, body) = h.auth(api_key("demo", "demo-api-key")).await;
    assert_eq!(status, 401);
    assert!(body["unauthorized"]["message"].is_string(), "{body}");
    let faults: Faults = h.http.get(&url).send().await.unwrap().json().await.unwrap();
    assert!(faults.identity_401 && !faults.html_404);
    // Tokens issued before keep working; only Identity refuses.
    assert_eq!(h.get("/loadbalancers").await.0, 200);
    let s = h.emu.stats();
    assert_eq!((s.auth_calls, s.auth_failures), (2, 1));
    assert_eq!(s.times_of("POST", Some("tokens")).len(), 2);
}

#[test]
fn fault_names_parse_and_unknown_ones_are_refused() {
    let mut f = Faults::default();
    for name in Faults::NAMES {
        f.enable(name).unwrap();
    }
    assert!(f.no_limits_route && f.html_404 && f.hyphenated_status);
    assert!(f.control_service_first && f.identity_401);
    let e = f.enable("bogus").unwrap_err();
    assert!(e.contains("no-limits-route"), "{e}");
}
