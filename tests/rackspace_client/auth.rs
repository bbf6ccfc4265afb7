//! Authentication: api key / password bodies, region selection, identity failures, 401 → re-auth
//! once, refresh before expiry, one refresh for concurrent callers, deadlines and TLS.

use super::*;

#[tokio::test]
async fn api_key_auth_selects_region_and_sends_the_token() {
    let fake = Fake::start().await;
    let client = key_client(&fake);
    let lb = client.get_load_balancer(1).await.unwrap();
    assert_eq!(lb.id, 1);
    assert_eq!(lb.status, LbStatus::Active);
    assert_eq!(lb.nodes.len(), 2);
    assert_eq!(lb.nodes[1].condition, NodeCondition::Draining);
    assert_eq!(
        lb.nodes[1].status,
        Some(NodeStatus::Other("SOMETHING_NEW".into()))
    );

    let bodies = fake.lock().identity_bodies.clone();
    assert_eq!(
        bodies,
        vec![
            serde_json::json!({"auth":{"RAX-KSKEY:apiKeyCredentials":{"username":USER,"apiKey":API_KEY}}})
        ]
    );
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, format!("/v1.0/{TENANT}/loadbalancers/1"));
    assert!(seen[0].token.as_deref().unwrap().contains(TOKEN_MARK));
}

#[tokio::test]
async fn password_auth_and_case_insensitive_region() {
    let fake = Fake::start().await;
    let creds = Credentials::password(USER, PASSWORD);
    let client = Client::new(config(&fake, "dfw", creds)).unwrap();
    let lb = client.get_load_balancer(3).await.unwrap();
    assert_eq!(lb.status, LbStatus::PendingUpdate);
    assert!(lb.nodes.is_empty(), "missing nodes key means no nodes");
    let body = fake.lock().identity_bodies[0].clone();
    assert_eq!(body["auth"]["passwordCredentials"]["username"], USER);
    assert_eq!(body["auth"]["passwordCredentials"]["password"], PASSWORD);
    assert_eq!(
        fake.seen()[0].path,
        format!("/dfw/v1.0/{TENANT}/loadbalancers/3")
    );
}

#[tokio::test]
async fn unknown_region_is_a_config_error_listing_regions() {
    let fake = Fake::start().await;
    let creds = Credentials::api_key(USER, API_KEY);
    let client = Client::new(config(&fake, "LON", creds)).unwrap();
    let e = client.authenticate().await.unwrap_err();
    assert_eq!(e.metric_label(), "config");
    assert!(e.to_string().contains("DFW, ORD"), "{e}");
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn bad_credentials_are_rejected_not_transient() {
    let fake = Fake::start().await;
    let creds = Credentials::api_key(USER, "wrong-VERYSECRET-key");
    let client = Client::new(config(&fake, "ORD", creds)).unwrap();
    let e = client.get_load_balancer(1).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::CredentialsRejected {
                status: 401,
                revoked: false,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_transient());
    assert_no_secret("AuthRejected", &format!("{e} {e:?}"));
    assert_eq!(fake.identity_calls(), 1);
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn identity_outage_is_transient() {
    let fake = Fake::start().await;
    fake.lock().identity_script.push_back(Reply::new(503, ""));
    let client = key_client(&fake);
    let e = client.authenticate().await.unwrap_err();
    assert!(matches!(e, Error::Server { status: 503, .. }), "{e:?}");
    assert!(e.is_transient());
    client.authenticate().await.unwrap();
}

#[tokio::test]
async fn a_401_re_authenticates_once_and_retries() {
    let fake = Fake::start().await;
    let client = key_client(&fake);
    client.authenticate().await.unwrap();
    fake.lock().reject_next = 1;
    client.get_load_balancer(1).await.unwrap();
    assert_eq!((fake.identity_calls(), fake.calls("GET")), (2, 2));
    let seen = fake.seen();
    assert_ne!(seen[0].token, seen[1].token, "the retry uses the new token");
}

#[tokio::test]
async fn two_401s_give_unauthorized_after_exactly_two_identity_calls() {
    let fake = Fake::start().await;
    let client = key_client(&fake);
    fake.lock().reject_next = 2;
    let e = client.get_load_balancer(1).await.unwrap_err();
    assert_eq!(e, Error::Unauthorized);
    assert_eq!(fake.identity_calls(), 2);
    assert_eq!(fake.calls("GET"), 2);
}

#[tokio::test]
async fn token_is_refreshed_shortly_before_it_expires() {
    let fake = Fake::start().await;
    fake.lock().token_lifetime = Some(Duration::from_secs(4));
    let client = key_client(&fake);
    client.get_load_balancer(1).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(8);
    while fake.identity_calls() < 2 {
        assert!(Instant::now() < deadline, "token was never refreshed");
        // Under the client's GET budget (3/s), so pacing never holds a request back.
        tokio::time::sleep(Duration::from_millis(340)).await;
        client.get_load_balancer(1).await.unwrap();
    }
    let st = fake.lock();
    assert_eq!(
        st.expired_used, 0,
        "a request went out with an expired token"
    );
    let gap = st.identity_times[1] - st.identity_times[0];
    assert!(
        gap >= Duration::from_millis(3500) && gap < Duration::from_secs(4),
        "refreshed after {gap:?}"
    );
}

#[tokio::test]
async fn concurrent_callers_share_one_authentication() {
    let fake = Fake::start().await;
    let client = key_client(&fake);
    let calls = (0..8).map(|_| {
        let c = client.clone();
        async move { c.get_load_balancer(1).await }
    });
    for r in futures_util::future::join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(fake.identity_calls(), 1);
    assert_eq!(fake.calls("GET"), 8);
}

#[tokio::test]
async fn deadline_and_connection_failures_are_transport_errors() {
    let fake = Fake::start().await;
    let mut cfg = config(&fake, "ORD", Credentials::api_key(USER, API_KEY));
    cfg.request_timeout = Duration::from_millis(300);
    let client = Client::new(cfg).unwrap();
    client.authenticate().await.unwrap();
    fake.script(Reply {
        status: 200,
        delay: Some(Duration::from_secs(5)),
        ..Reply::default()
    });
    let started = Instant::now();
    let e = client.get_load_balancer(1).await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    assert!(e.is_transient());
    assert!(started.elapsed() < Duration::from_secs(3));

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let cfg = ClientConfig::new(
        format!("http://{addr}/v2.0"),
        "ORD",
        Credentials::api_key(USER, API_KEY),
    );
    let e = Client::new(cfg).unwrap().authenticate().await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
}

#[tokio::test]
async fn https_urls_use_rustls() {
    // The fake speaks plain HTTP, so the TLS handshake fails: a transport error, not a panic
    // about a missing crypto provider.
    let fake = Fake::start().await;
    let url = format!("https://{}/v2.0", fake.addr);
    let client = Client::new(ClientConfig::new(
        url,
        "ORD",
        Credentials::api_key(USER, API_KEY),
    ))
    .unwrap();
    let e = client.authenticate().await.unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e:?}");
    let e = Client::new(ClientConfig::new(
        "ftp://x/v2.0",
        "ORD",
        Credentials::api_key(USER, API_KEY),
    ))
    .unwrap_err();
    assert_eq!(e.metric_label(), "config");
}
