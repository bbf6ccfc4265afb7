use super::*;
use bollard::models::SystemVersionComponents;

fn version(components: &[&str]) -> SystemVersion {
    SystemVersion {
        components: Some(
            components
                .iter()
                .map(|n| SystemVersionComponents {
                    name: n.to_string(),
                    version: "1".into(),
                    details: None,
                })
                .collect(),
        ),
        ..Default::default()
    }
}

#[test]
fn podman_is_told_by_its_component_name() {
    assert_eq!(
        Engine::of(&version(&["Podman Engine", "Conmon", "OCI Runtime (runc)"])),
        Engine::Podman
    );
    assert_eq!(
        Engine::of(&version(&["Engine", "containerd", "runc", "docker-init"])),
        Engine::Docker
    );
    assert_eq!(Engine::of(&SystemVersion::default()), Engine::Docker);
}

#[test]
fn only_a_podman_named_socket_answered_by_docker_or_the_reverse_is_mentioned() {
    let p = "unix:///run/podman/podman.sock";
    let d = "unix:///var/run/docker.sock";
    assert!(mismatch(p, Engine::Docker).is_some_and(|m| m.contains(p)));
    assert!(mismatch(d, Engine::Podman).is_some_and(|m| m.contains(d)));
    assert_eq!(mismatch(p, Engine::Podman), None);
    assert_eq!(mismatch(d, Engine::Docker), None);
    assert_eq!(mismatch("tcp://127.0.0.1:2375", Engine::Podman), None);
}

#[test]
fn both_health_event_spellings_are_relevant_and_exec_events_are_not() {
    assert!(relevant_action("health_status: unhealthy"));
    assert!(relevant_action("health_status"));
    assert!(relevant_action("die"));
    assert!(!relevant_action("exec_died"));
    assert!(!relevant_action("cleanup"));
}

#[test]
fn label_filters_match_keys_and_key_value_pairs_like_the_daemon() {
    let attrs: HashMap<String, String> = [("sidekick.key", "/s/a"), ("env", "prod")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let f = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(labels_match(Some(&attrs), &f(&["sidekick.key"])));
    assert!(labels_match(
        Some(&attrs),
        &f(&["sidekick.key", "env=prod"])
    ));
    assert!(!labels_match(
        Some(&attrs),
        &f(&["sidekick.key", "env=dev"])
    ));
    assert!(!labels_match(Some(&attrs), &f(&["other"])));
    assert!(!labels_match(None, &f(&["sidekick.key"])));
    assert!(labels_match(None, &[]));
}
