//! Identity parsing: request bodies, expiry formats, catalog region selection, refresh timing.

use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

const SAMPLE: &str = r#"{"access":{
  "token":{"id":"tok-abc-SECRET","expires":"2014-11-24T22:05:39.115Z",
           "tenant":{"id":"110011","name":"110011"},"RAX-AUTH:authenticatedBy":["APIKEY"]},
  "serviceCatalog":[
    {"name":"cloudServersOpenStack","type":"compute","endpoints":[
        {"publicURL":"https://ord.servers.api.rackspacecloud.com/v2/110011","region":"ORD"}]},
    {"name":"cloudLoadBalancers","type":"rax:load-balancer","endpoints":[
        {"publicURL":"https://ord.loadbalancers.api.rackspacecloud.com/v1.0/110011","region":"ORD","tenantId":"110011"},
        {"publicURL":"https://dfw.loadbalancers.api.rackspacecloud.com/v1.0/110011/","region":"DFW","tenantId":"110011"}]}],
  "user":{"id":"123456","name":"jsmith","roles":[],"RAX-AUTH:defaultRegion":"DFW"}}}"#;

#[test]
fn api_key_and_password_bodies() {
    let b = request_body(&Credentials::api_key("u", "k"));
    assert_eq!(
        b,
        json!({"auth":{"RAX-KSKEY:apiKeyCredentials":{"username":"u","apiKey":"k"}}})
    );
    let b = request_body(&Credentials::password("u", "p"));
    assert_eq!(
        b,
        json!({"auth":{"passwordCredentials":{"username":"u","password":"p"}}})
    );
}

#[test]
fn expiry_formats() {
    let z = parse_expires("2014-11-24T22:05:39.115Z").unwrap();
    assert_eq!(
        z,
        Utc.with_ymd_and_hms(2014, 11, 24, 22, 5, 39).unwrap()
            + chrono::Duration::milliseconds(115)
    );
    let no_millis = parse_expires("2014-11-24T22:05:39Z").unwrap();
    assert_eq!(
        no_millis,
        Utc.with_ymd_and_hms(2014, 11, 24, 22, 5, 39).unwrap()
    );
    let offset = parse_expires("2222-02-22T22:22:22.000-02:00").unwrap();
    assert_eq!(
        offset,
        Utc.with_ymd_and_hms(2222, 2, 23, 0, 22, 22).unwrap()
    );
    let plus = parse_expires("2014-11-24T23:05:39+01:00").unwrap();
    assert_eq!(plus, no_millis);
    let bare = parse_expires("2014-11-24T22:05:39").unwrap();
    assert_eq!(bare, no_millis);
    assert_eq!(parse_expires("tomorrow"), None);
    assert_eq!(parse_expires(""), None);
}

#[test]
fn refresh_margin_is_min_of_hour_and_tenth() {
    let day = Duration::from_secs(24 * 3600);
    assert_eq!(refresh_after(day), day - Duration::from_secs(3600));
    assert_eq!(
        refresh_after(Duration::from_secs(2)),
        Duration::from_millis(1800)
    );
    let five_h = Duration::from_secs(5 * 3600);
    assert_eq!(refresh_after(five_h), Duration::from_secs(4 * 3600 + 1800));
    assert_eq!(refresh_after(Duration::ZERO), Duration::ZERO);
}

#[test]
fn parses_sample_access() {
    let a = parse_access(SAMPLE.as_bytes(), "ord").unwrap();
    assert_eq!(a.token.as_str(), "tok-abc-SECRET");
    assert_eq!(a.tenant_id.as_deref(), Some("110011"));
    assert_eq!(
        a.endpoint,
        "https://ord.loadbalancers.api.rackspacecloud.com/v1.0/110011"
    );
    assert_eq!(a.region, "ORD");
    assert!(!format!("{a:?}").contains("SECRET"));
}

#[test]
fn region_selection_trims_slash_and_uses_default_region() {
    let a = parse_access(SAMPLE.as_bytes(), "Dfw").unwrap();
    assert_eq!(
        a.endpoint,
        "https://dfw.loadbalancers.api.rackspacecloud.com/v1.0/110011"
    );
    let a = parse_access(SAMPLE.as_bytes(), "").unwrap();
    assert_eq!(a.region, "DFW");
}

#[test]
fn unknown_region_lists_available_ones() {
    let e = parse_access(SAMPLE.as_bytes(), "LON").unwrap_err();
    assert_eq!(e.metric_label(), "config");
    let msg = e.to_string();
    assert!(msg.contains("\"LON\"") && msg.contains("DFW, ORD"), "{msg}");
}

#[test]
fn catalog_without_load_balancers() {
    let catalog: Vec<CatalogEntry> = serde_json::from_value(json!([
        {"name":"x","type":"compute","endpoints":[{"publicURL":"http://a","region":"ORD"}]}
    ]))
    .unwrap();
    let e = select_endpoint(&catalog, "ORD", None).unwrap_err();
    assert!(e.to_string().contains("rax:load-balancer"), "{e}");
}

#[test]
fn empty_region_with_one_or_many_endpoints() {
    let one: Vec<CatalogEntry> = serde_json::from_value(json!([
        {"type":"rax:load-balancer","endpoints":[{"publicURL":"http://a/v1.0/1","region":"SYD"}]}
    ]))
    .unwrap();
    assert_eq!(
        select_endpoint(&one, " ", None).unwrap(),
        ("http://a/v1.0/1".to_string(), "SYD".to_string())
    );
    let many: Vec<CatalogEntry> = serde_json::from_value(json!([
        {"type":"rax:load-balancer","endpoints":[
            {"publicURL":"http://a","region":"SYD"},{"publicURL":"http://b","region":"HKG"}]}
    ]))
    .unwrap();
    let e = select_endpoint(&many, "", None).unwrap_err();
    assert!(e.to_string().contains("HKG, SYD"), "{e}");
}

#[test]
fn malformed_access_never_quotes_the_token() {
    let body = br#"{"access":{"token":{"id":"tok-SECRET","expires":42}}}"#;
    let e = parse_access(body, "ORD").unwrap_err();
    assert_eq!(e.metric_label(), "decode");
    assert!(!e.to_string().contains("SECRET"), "{e}");
    let body = br#"{"access":{"token":{"id":"tok-SECRET","expires":"2014-11-24T22:05:39Z"},
        "serviceCatalog":"oops"}}"#;
    let e = parse_access(body, "ORD").unwrap_err();
    assert!(!e.to_string().contains("SECRET"), "{e}");
    assert!(parse_access(b"<html>", "ORD").is_err());
    let e = parse_access(
        br#"{"access":{"token":{"expires":"2014-11-24T22:05:39Z"}}}"#,
        "ORD",
    )
    .unwrap_err();
    assert!(e.to_string().contains("access.token.id"), "{e}");
}

#[test]
fn token_debug_is_redacted() {
    let t = Token("abc".into());
    assert_eq!(format!("{t:?}"), "Token(<redacted>)");
}

#[test]
fn cloud_load_balancers_wins_over_other_services_of_its_type_listed_first() {
    let catalog: Vec<CatalogEntry> = serde_json::from_value(json!([
        {"name":"cloudLoadBalancerControl","type":"rax:load-balancer","endpoints":[
            {"publicURL":"http://control/v1.0/1","region":"ORD"},
            {"publicURL":"http://control-lon/v1.0/1","region":"LON"}]},
        {"name":"cloudLoadBalancers","type":"rax:load-balancer","endpoints":[
            {"publicURL":"http://public/v1.0/1/","region":"ORD"}]}
    ]))
    .unwrap();
    assert_eq!(
        select_endpoint(&catalog, "ord", None).unwrap().0,
        "http://public/v1.0/1"
    );
    // No region given: the preferred service's only endpoint.
    assert_eq!(
        select_endpoint(&catalog, "", None).unwrap().0,
        "http://public/v1.0/1"
    );
    // A region only the other service has still works.
    assert_eq!(
        select_endpoint(&catalog, "LON", None).unwrap().0,
        "http://control-lon/v1.0/1"
    );
}
