use super::*;

#[test]
fn events_and_list_filter_on_every_label() {
    let labels = vec!["sidekick.key".to_string(), "team=web".to_string()];
    let o = events_options(Engine::Docker, &labels, 1_700_000_000_000_000_000);
    let f = o.filters.unwrap();
    assert_eq!(f["label"], labels);
    assert_eq!(f["type"], vec!["container"]);
    assert!(f["event"].contains(&"kill".to_string()));
    assert!(f["event"].contains(&"destroy".to_string()));
    assert_eq!(o.since.as_deref(), Some("1700000000.000000000"));
}

#[test]
fn podman_events_are_asked_for_by_type_only() {
    // Podman 4.3 matches no event with a key-only label filter, none with event=die.
    let labels = vec!["sidekick.key".to_string()];
    let f = events_options(Engine::Podman, &labels, 0).filters.unwrap();
    assert_eq!(f.keys().collect::<Vec<_>>(), vec!["type"]);
}

#[test]
fn a_container_that_left_or_joined_the_running_set_has_moved() {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(moved(&set(&["a", "b"]), &set(&["b", "c"])), vec!["a", "c"]);
    assert!(moved(&set(&["a"]), &set(&["a"])).is_empty());
}
