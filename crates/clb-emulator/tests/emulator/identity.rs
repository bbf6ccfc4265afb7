//! Identity v2.0 and token handling: both credential kinds, refusals, the catalog, 401s, expiry.

use std::time::Duration;

use clb_emulator::{Config, User};
use reqwest::Method;
use serde_json::json;

use super::{api_key, public_url, token_of, Harness, DEADLINE};

#[tokio::test]
async fn authenticates_by_api_key_and_password_and_catalog_url_works() {
    let h = Harness::start(Config::default()).await;
    let pw =
        json!({"auth": {"passwordCredentials": {"username": "demo", "password": "demo-password"}}});
    let (status, access) = h.auth(pw).await;
    assert_eq!(status, 200);
    assert_ne!(token_of(&access), h.token, "each auth issues a new token");
    let token = &access["access"]["token"];
    let expires = token["expires"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(expires).is_ok(),
        "{expires}"
    );
    assert!(expires.ends_with('Z') && expires.contains('.'), "{expires}");
    assert_eq!(token["tenant"]["id"], "123456");
    assert_eq!(h.clb, format!("{}/v1.0/123456", h.server.base_url()));
    assert_eq!(
        public_url(&access, "DFW"),
        h.clb,
        "second region, same server"
    );
    let services = access["access"]["serviceCatalog"].as_array().unwrap();
    assert!(services.len() >= 2, "an unrelated service is listed too");
    assert_eq!(
        h.get("/loadbalancers").await,
        (200, json!({"loadBalancers": []}))
    );
}

#[tokio::test]
async fn identity_refusals() {
    let h = Harness::start(Config::default()).await;
    let (status, body) = h.auth(api_key("demo", "wrong")).await;
    assert_eq!(status, 401);
    let msg = "Unable to authenticate user with credentials provided.";
    assert_eq!(body, json!({"unauthorized": {"code": 401, "message": msg}}));
    assert_eq!(h.auth(json!({"auth": {}})).await.0, 400);
    let mut both = api_key("demo", "demo-api-key");
    both["auth"]["tenantId"] = json!("123456");
    both["auth"]["tenantName"] = json!("123456");
    assert_eq!(h.auth(both).await.0, 400);
    let s = h.emu.stats();
    assert_eq!((s.auth_calls, s.auth_failures), (4, 1));
}

#[tokio::test]
async fn bad_missing_foreign_and_expired_tokens_get_an_empty_401() {
    let users = vec![User::demo(), User::new("other", "other-key", None, "999")];
    let h = Harness::start(Config {
        users,
        ..Config::default()
    })
    .await;
    let (_, other) = h.auth(api_key("other", "other-key")).await;
    let other_token = token_of(&other);
    for token in [None, Some("nope"), Some(other_token.as_str())] {
        let a = h.call_as(token, Method::GET, "/loadbalancers", None).await;
        assert_eq!((a.status, a.text.as_str()), (401, ""), "token {token:?}");
    }
    h.emu.expire_tokens();
    let a = h
        .call_as(Some(&h.token), Method::GET, "/loadbalancers", None)
        .await;
    assert_eq!((a.status, a.text.as_str()), (401, ""));
    assert_eq!(h.emu.stats().unauthorized, 4);
}

#[tokio::test]
async fn tokens_expire_after_their_ttl_and_reauth_works() {
    let token_ttl = Duration::from_millis(100);
    let h = Harness::start(Config {
        token_ttl,
        ..Config::default()
    })
    .await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let a = h
            .call_as(Some(&h.token), Method::GET, "/loadbalancers", None)
            .await;
        if a.status == 401 {
            assert_eq!(a.text, "");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "token never expired"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, access) = h.auth(api_key("demo", "demo-api-key")).await;
    let fresh = token_of(&access);
    let a = h
        .call_as(Some(&fresh), Method::GET, "/loadbalancers", None)
        .await;
    assert_eq!(a.status, 200);
}
