//! Secrets (API key, password, token) never reach errors, Debug output or logs; shared secret
//! files are warned about.

use super::*;

#[tokio::test]
async fn secrets_never_reach_errors_debug_or_logs() {
    let logs = logs();
    let fake = Fake::start().await;
    let cfg = config(&fake, "ORD", Credentials::api_key(USER, API_KEY));
    assert_no_secret("ClientConfig Debug", &format!("{cfg:?}"));
    let client = Client::new(cfg).unwrap();
    assert_no_secret("Client Debug", &format!("{client:?}"));

    let mut errors = Vec::new();
    client.get_load_balancer(1).await.unwrap();
    fake.lock().reject_next = 2;
    errors.push(client.get_load_balancer(1).await.unwrap_err());
    fake.script(Reply::new(
        422,
        r#"{"message":"Duplicate nodes detected.","code":422}"#,
    ));
    let node = NewNode {
        address: "10.0.0.7".into(),
        port: 80,
        condition: NodeCondition::Enabled,
    };
    errors.push(client.add_nodes(1, &[node]).await.unwrap_err());
    let pw = Credentials::password(USER, "bad-VERYSECRET-pw");
    let bad = Client::new(config(&fake, "ORD", pw)).unwrap();
    errors.push(bad.authenticate().await.unwrap_err());
    fake.lock().identity_script.push_back(Reply::new(
        200,
        &format!(r#"{{"access":{{"token":{{"id":"x-{TOKEN_MARK}","expires":7}}}}}}"#),
    ));
    errors.push(key_client(&fake).authenticate().await.unwrap_err());
    for e in &errors {
        assert_no_secret("error", &format!("{e} / {e:?}"));
    }
    let text = logs.text();
    assert!(
        text.contains("rackspace request"),
        "debug request logs are captured: {text}"
    );
    assert!(text.contains("/loadbalancers/1"), "{text}");
    assert_no_secret("logs", &text);
}

#[tokio::test]
async fn shared_secret_files_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let logs = logs();
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("private-key");
    std::fs::write(&private, format!("{API_KEY}\n")).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = sidekick::config::read_secret_file("--api-key-file", &private).unwrap();
    assert_eq!(key, API_KEY);
    let warned_private = logs.text().lines().any(|l| l.contains("private-key"));
    assert!(!warned_private, "{}", logs.text());

    let shared = dir.path().join("shared-key");
    std::fs::write(&shared, format!("{API_KEY}\n")).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
    sidekick::config::read_secret_file("--api-key-file", &shared).unwrap();
    let text = logs.text();
    assert!(
        text.contains("readable by group or others") && text.contains("shared-key"),
        "{text}"
    );
    assert!(text.contains("0644"), "{text}");
    assert_no_secret("logs", &text);
}
