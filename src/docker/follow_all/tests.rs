use super::*;

#[test]
fn events_and_list_filter_on_every_label() {
    let labels = vec!["sidekick.key".to_string(), "team=web".to_string()];
    let o = events_options(&labels, 1_700_000_000_000_000_000);
    let f = o.filters.unwrap();
    assert_eq!(f["label"], labels);
    assert_eq!(f["type"], vec!["container"]);
    assert!(f["event"].contains(&"kill".to_string()));
    assert!(f["event"].contains(&"destroy".to_string()));
    assert_eq!(o.since.as_deref(), Some("1700000000.000000000"));
}
