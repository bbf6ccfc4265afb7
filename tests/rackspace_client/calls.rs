//! Cloud Load Balancers calls: request shapes, error classification on the wire, list/resolve,
//! and limits.

use super::*;

#[tokio::test]
async fn rate_limit_413_carries_retry_after() {
    let fake = Fake::start().await;
    let mut reply = Reply::new(
        413,
        r#"{"overLimit":{"code":413,"message":"OverLimit Retry...","details":"Error Details...","retryAfter":"2015-06-13T22:30:10Z"}}"#,
    );
    reply.headers.push(("retry-after", "7".into()));
    fake.script(reply);
    let client = key_client(&fake);
    let e = client.get_load_balancer(1).await.unwrap_err();
    assert_eq!(
        e,
        Error::RateLimited {
            retry_after: Some(Duration::from_secs(7))
        }
    );
    assert!(e.is_transient());
}

#[tokio::test]
async fn mutation_errors_are_classified() {
    let fake = Fake::start().await;
    let client = key_client(&fake);
    let node = NewNode {
        address: "10.0.0.7".into(),
        port: 18001,
        condition: NodeCondition::Enabled,
    };
    let cases = [
        (
            422,
            r#"{"code":422,"message":"Load Balancer '1' has a status of 'PENDING_UPDATE' and is considered immutable."}"#,
            "immutable",
        ),
        (
            422,
            r#"{"message":"Duplicate nodes detected. One or more nodes already configured on load balancer.","code":422}"#,
            "duplicate",
        ),
        (
            422,
            r#"{"message":"Load Balancer '1' has a status of 'PENDING_DELETE' and is considered immutable.","code":422}"#,
            "lb_gone",
        ),
        (
            413,
            r#"{"message":"Nodes must not exceed 25 per load balancer.","code":413}"#,
            "node_limit",
        ),
        // Only the load balancer's own URL says it is gone with a 404.
        (
            404,
            r#"{"message":"Load balancer not found","code":404}"#,
            "not_found",
        ),
        (
            410,
            r#"{"message":"The loadbalancer is marked as deleted.","code":410}"#,
            "lb_gone",
        ),
        (
            400,
            r#"{"message":["JSON does not match the expected schema"]}"#,
            "bad_request",
        ),
        (500, r#"{"message":"boom","code":500}"#, "server"),
    ];
    for (status, body, label) in cases {
        fake.script(Reply::new(status, body));
        let e = client
            .add_nodes(1, std::slice::from_ref(&node))
            .await
            .unwrap_err();
        assert_eq!(e.metric_label(), label, "{status} {body}: {e:?}");
    }
    fake.script(Reply::new(
        422,
        r#"{"code":422,"message":"Load Balancer '1' has a status of 'PENDING_UPDATE' and is considered immutable."}"#,
    ));
    let e = client
        .set_node_condition(1, 410, NodeCondition::Draining)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Immutable { lb_status: Some(ref s), .. } if s == "PENDING_UPDATE"));
    fake.script(Reply::new(
        400,
        r#"{"validationErrors":{"messages":["Node ids 100,200 are not a part of your loadbalancer"]},"message":"Validation Failure","code":400,"details":"The object is not valid"}"#,
    ));
    let e = client
        .delete_nodes(1, &[100, 200, 410], 10)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        Error::NotPartOfLb {
            ids: vec![100, 200]
        }
    );
    fake.script(Reply::new(
        404,
        r#"{"message":"Node not found","code":404}"#,
    ));
    let e = client.delete_nodes(1, &[999], 10).await.unwrap_err();
    assert_eq!(e.metric_label(), "node_not_found");
}

#[tokio::test]
async fn node_calls_send_the_documented_requests() {
    let fake = Fake::start().await;
    let client = key_client(&fake);
    let nodes = [
        NewNode {
            address: "10.0.0.7".into(),
            port: 18001,
            condition: NodeCondition::Enabled,
        },
        NewNode {
            address: "10.0.0.8".into(),
            port: 18002,
            condition: NodeCondition::Draining,
        },
    ];
    let created = client.add_nodes(1, &nodes).await.unwrap();
    assert_eq!(created.len(), 2);
    assert_eq!((created[1].id, created[1].port), (501, 18002));
    client.delete_nodes(1, &[1, 2], 10).await.unwrap();
    client.delete_nodes(1, &[5], 10).await.unwrap();
    client
        .set_node_condition(1, 5, NodeCondition::Disabled)
        .await
        .unwrap();
    client.delete_nodes(1, &[], 10).await.unwrap();
    client.add_nodes(1, &[]).await.unwrap();
    let e = client.delete_nodes(1, &[1, 2, 3], 2).await.unwrap_err();
    assert_eq!(e, Error::TooManyIds { count: 3, limit: 2 });

    let seen = fake.seen();
    let base = format!("/v1.0/{TENANT}/loadbalancers/1/nodes");
    let shape: Vec<(&str, String, Option<&str>)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.clone(), s.query.as_deref()))
        .collect();
    assert_eq!(
        shape,
        vec![
            ("POST", base.clone(), None),
            ("DELETE", base.clone(), Some("id=1&id=2")),
            ("DELETE", format!("{base}/5"), None),
            ("PUT", format!("{base}/5"), None),
        ]
    );
    assert_eq!(
        seen[0].body,
        Some(serde_json::json!({"nodes":[
            {"address":"10.0.0.7","port":18001,"condition":"ENABLED"},
            {"address":"10.0.0.8","port":18002,"condition":"DRAINING"}]}))
    );
    assert_eq!(
        seen[3].body,
        Some(serde_json::json!({"node":{"condition":"DISABLED"}}))
    );
}

#[tokio::test]
async fn list_resolve_and_limits() {
    let fake = Fake::start().await;
    let client = key_client(&fake);
    assert_eq!(client.list_load_balancers(None).await.unwrap().len(), 3);
    assert_eq!(client.resolve(Some("db"), None).await.unwrap(), 3);
    let e = client.resolve(Some("web"), None).await.unwrap_err();
    assert_eq!(
        e,
        Error::AmbiguousLb {
            name: "web".into(),
            ids: vec![1, 2]
        }
    );
    assert!(e.to_string().contains("--lb-id"));
    assert_eq!(client.resolve(Some("web"), Some(2)).await.unwrap(), 2);
    let e = client.resolve(Some("api"), None).await.unwrap_err();
    assert_eq!(e, Error::NoSuchLb { name: "api".into() });
    let calls_before = fake.calls("GET");
    assert_eq!(client.resolve(None, Some(42)).await.unwrap(), 42);
    assert_eq!(fake.calls("GET"), calls_before, "an id alone needs no call");
    assert_eq!(
        client.resolve(None, None).await.unwrap_err().metric_label(),
        "config"
    );
    let q = fake.seen()[1].query.clone().unwrap();
    assert!(q.contains("name=db") && q.contains("limit=100"), "{q}");

    let limits = client.account_limits().await.unwrap().limits;
    assert_eq!((limits.node_limit, limits.batch_delete_limit), (50, 10));
}

#[tokio::test]
async fn a_retry_after_holds_the_next_get_back() {
    let fake = Fake::start().await;
    let client = key_client(&fake);
    client.get_load_balancer(1).await.unwrap();
    let mut reply = Reply::new(
        413,
        r#"{"overLimit":{"code":413,"message":"OverLimit Retry..."}}"#,
    );
    reply.headers.push(("retry-after", "1".into()));
    fake.script(reply);
    let e = client.get_load_balancer(1).await.unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    let started = Instant::now();
    client.get_load_balancer(1).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "the next GET went out after {:?}",
        started.elapsed()
    );
    // Other methods are not held.
    let started = Instant::now();
    client.delete_nodes(1, &[5], 10).await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(500));
}
