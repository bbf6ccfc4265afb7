use super::*;

fn messages(f: Fault) -> Vec<String> {
    match f {
        Fault::Validation(m) => m,
        other => panic!("expected validation, got {other:?}"),
    }
}

#[test]
fn new_nodes_accepts_the_documented_body_with_defaults() {
    let nodes = new_nodes(
        br#"{"nodes":[{"address":"10.1.1.1","port":80,"condition":"ENABLED"},
        {"address":"::1","port":8080,"condition":"DRAINING","type":"SECONDARY","weight":5}]}"#,
    )
    .unwrap();
    assert_eq!(nodes[0].weight, 1);
    assert_eq!(nodes[0].node_type, "PRIMARY");
    assert_eq!(nodes[1].condition, "DRAINING");
    assert_eq!(nodes[1].weight, 5);
}

#[test]
fn new_nodes_schema_and_validation_errors() {
    for bad in [
        &b"not json"[..],
        br#"{"nodes":[{"address":"10.1.1.1","port":80,"bogus":1}]}"#,
        br#"{"nodes":[{"address":"10.1.1.1","port":80,"status":"ONLINE"}]}"#,
        br#"{"nodes":[{"address":"10.1.1.1","port":80,"condition":"ON"}]}"#,
        br#"{"nodes":[{"address":"10.1.1.1"}]}"#,
        br#"{"node":[]}"#,
    ] {
        assert_eq!(
            new_nodes(bad),
            Err(Fault::Schema),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    let m = messages(
        new_nodes(br#"{"nodes":[{"address":"web01","port":0,"weight":101}]}"#).unwrap_err(),
    );
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(m[2], WEIGHT_TEXT);
    assert_eq!(
        messages(new_nodes(br#"{"nodes":[]}"#).unwrap_err()).len(),
        1
    );
}

#[test]
fn node_update_rejects_immutable_fields_with_mimic_texts() {
    let m = messages(
        node_update(br#"{"node":{"address":"1.1.1.1","port":81,"id":3,"weight":0}}"#).unwrap_err(),
    );
    assert_eq!(
        m,
        [
            "Node ip field cannot be modified.",
            "Port field cannot be modified.",
            WEIGHT_TEXT,
            "Node id field cannot be modified."
        ]
    );
    assert_eq!(
        node_update(br#"{"node":{"condition":"DRAINING"}}"#).unwrap(),
        NodeUpdate {
            condition: Some("DRAINING".into()),
            ..NodeUpdate::default()
        }
    );
    assert!(matches!(
        node_update(br#"{"node":{}}"#),
        Err(Fault::Validation(_))
    ));
    assert_eq!(node_update(br#"{"node":{"color":1}}"#), Err(Fault::Schema));
}

#[test]
fn bulk_ids_limits_and_emptiness() {
    assert_eq!(bulk_ids(Some("id=1&id=2"), 10).unwrap(), [1, 2]);
    assert!(matches!(bulk_ids(None, 10), Err(Fault::BadRequest(_))));
    assert!(matches!(
        bulk_ids(Some("x=1"), 10),
        Err(Fault::BadRequest(_))
    ));
    let q: Vec<String> = (1..=11).map(|i| format!("id={i}")).collect();
    let m = messages(bulk_ids(Some(&q.join("&")), 10).unwrap_err());
    assert_eq!(
        m,
        [
            "Request to delete 11 nodes exceeds the account limit BATCH_DELETE_LIMIT of 10 \
          please attempt to delete fewer then 10 nodes"
        ]
    );
    assert!(matches!(
        bulk_ids(Some("id=abc"), 10),
        Err(Fault::Validation(_))
    ));
}
