use super::*;

fn users() -> Vec<User> {
    vec![User::new("demo", "k", Some("p"), "123")]
}

#[test]
fn parses_both_credential_kinds() {
    let r = parse_request(
        br#"{"auth":{"RAX-KSKEY:apiKeyCredentials":{"username":"demo","apiKey":"k"}}}"#,
    )
    .unwrap();
    assert_eq!(r.credential, Credential::ApiKey("k".into()));
    let r = parse_request(
        br#"{"auth":{"passwordCredentials":{"username":"demo","password":"p"},"tenantId":"123"}}"#,
    )
    .unwrap();
    assert_eq!(r.credential, Credential::Password("p".into()));
    assert_eq!(authenticate(&users(), &r).unwrap().username, "demo");
}

#[test]
fn malformed_and_wrong_requests() {
    for body in [
        &b"{"[..],
        br#"{"auth":{}}"#,
        br#"{"auth":{"passwordCredentials":{"username":"demo"}}}"#,
        br#"{"auth":{"passwordCredentials":{"username":"demo","password":"p"},"tenantId":"1","tenantName":"1"}}"#,
    ] {
        assert!(matches!(parse_request(body), Err(Fault::IdentityBadRequest(_))));
    }
    let wrong = AuthRequest {
        username: "demo".into(),
        credential: Credential::ApiKey("p".into()),
        tenant: None,
    };
    assert_eq!(
        authenticate(&users(), &wrong).unwrap_err(),
        Fault::IdentityUnauthorized(BAD_CREDENTIALS.into())
    );
    let foreign = AuthRequest {
        credential: Credential::ApiKey("k".into()),
        tenant: Some("999".into()),
        ..wrong
    };
    assert!(authenticate(&users(), &foreign).is_err());
}

#[test]
fn tokens_expire_and_are_bound_to_their_tenant_and_user() {
    let mut store = TokenStore::default();
    let mut rng = fastrand::Rng::with_seed(1);
    let t0 = Instant::now();
    let tok = store.issue("demo", "123", Duration::from_secs(10), t0, &mut rng);
    assert_eq!(tok.len(), 32);
    assert_eq!(store.accepts(&tok, "123", t0), Some("demo"));
    assert_eq!(store.accepts(&tok, "456", t0), None);
    assert_eq!(
        store.accepts(&tok, "123", t0 + Duration::from_secs(10)),
        None
    );
    let tok2 = store.issue("ops", "123", Duration::from_secs(10), t0, &mut rng);
    assert_ne!(tok, tok2);
    assert_eq!(store.accepts(&tok2, "123", t0), Some("ops"));
    store.expire_all();
    assert_eq!(store.accepts(&tok2, "123", t0), None);
}
