use super::*;
use crate::docker::stream::since_arg;

#[test]
fn since_is_seconds_dot_nanos() {
    assert_eq!(since_arg(1_700_000_000_123_000_000), "1700000000.123000000");
    assert_eq!(since_arg(5), "0.000000005");
}

#[test]
fn filters_name_the_reference_and_the_known_id() {
    let o = options(Engine::Docker, "web01", Some("abc"), 0);
    let f = o.filters.unwrap();
    assert_eq!(f["container"], vec!["web01", "abc"]);
    assert!(f["event"].contains(&"kill".to_string()));
    assert_eq!(
        options(Engine::Docker, "abc", Some("abc"), 0)
            .filters
            .unwrap()["container"],
        vec!["abc"]
    );
}

#[test]
fn podman_gets_no_event_filter_its_actions_are_filtered_here() {
    let f = options(Engine::Podman, "web01", None, 0).filters.unwrap();
    assert_eq!(f["container"], vec!["web01"]);
    assert!(
        !f.contains_key("event"),
        "podman#16857: event=die matches nothing"
    );
}
