//! Table tests over the supervisor's steps: events in, actions out.

use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};
use crate::config::HostConfig;
use crate::docker::{Binding, Labelled, PortSpec, Proto};

fn host() -> HostConfig {
    let cli = Cli::try_parse_from(["sidekick", "host", "--host", "core01"]).unwrap();
    let Command::Host(h) = cli.command else {
        panic!("not host")
    };
    HostConfig::from_args(&h, &|_| None).unwrap()
}

fn view(id: &str, running: bool) -> ContainerView {
    ContainerView {
        id: id.into(),
        name: format!("name-{id}"),
        status: if running { "running" } else { "exited" }.into(),
        running,
        paused: false,
        restarting: false,
        started_at_nanos: 1,
        stop_signal: libc::SIGTERM,
        health: None,
        bindings: Ok(vec![Binding {
            host_ip: "0.0.0.0".parse().unwrap(),
            host_port: 18001,
        }]),
        host_network: false,
        networks: Default::default(),
    }
}

/// What an inspect of container `id` labelled `labels` finds.
fn found(id: &str, labels: &[(&str, &str)], running: bool) -> Found {
    let l = Labelled {
        id: id.into(),
        name: format!("name-{id}"),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        published_tcp: vec![PortSpec {
            port: 80,
            proto: Proto::Tcp,
        }],
    };
    let h = host();
    let services = crate::config::container_services(&h.defaults, h.resync, &l).map(|list| {
        list.into_iter()
            .map(|s| FoundService {
                view: s.config.as_ref().ok().map(|_| view(id, running)),
                service: s.name,
                config: s.config.map(Box::new),
            })
            .collect()
    });
    Found {
        name: l.name,
        services,
    }
}

fn keyed(id: &str, key: &str) -> Found {
    found(id, &[("sidekick.key", key)], true)
}

fn changed(id: &str, action: &str) -> Event {
    Event::Docker(HostEvent::Changed {
        id: id.into(),
        action: action.into(),
    })
}

fn inspected(id: &str, found: Option<Found>) -> Event {
    Event::Inspected {
        id: id.into(),
        found: Ok(found.map(Box::new)),
    }
}

/// `a` for container a's container-wide service, `a/web` for its service `web`.
fn agent_name(a: &AgentId) -> String {
    if a.service.is_empty() {
        a.container.clone()
    } else {
        format!("{}/{}", a.container, a.service)
    }
}

/// Agent `name` (as [`agent_name`] spells it) has finished.
fn done(name: &str) -> Event {
    let (container, service) = name.split_once('/').unwrap_or((name, ""));
    Event::Finished {
        agent: AgentId {
            container: container.into(),
            service: service.into(),
        },
    }
}

/// A compact spelling of the actions, for table assertions.
fn names(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            Action::Inspect { id, after } if after.is_zero() => format!("inspect {id}"),
            Action::Inspect { id, .. } => format!("inspect {id} later"),
            Action::Start {
                agent,
                config,
                first,
            } => format!(
                "start {} {} with {}",
                agent_name(agent),
                config.layout.prefix,
                first.iter().map(update_name).collect::<Vec<_>>().join("+")
            ),
            Action::Send { agent, update } => {
                format!("send {} {}", agent_name(agent), update_name(update))
            }
            Action::Finish { id } => format!("finish {id}"),
            Action::Unmanaged { id, error } => format!("unmanaged {id} {}", error.label),
            Action::Waiting {
                agent, key, holder, ..
            } => format!("waiting {} {key} for {holder}", agent_name(agent)),
        })
        .collect()
}

fn update_name(u: &DockerUpdate) -> String {
    match u {
        DockerUpdate::Snapshot(Some(v)) if v.running => "running".into(),
        DockerUpdate::Snapshot(Some(_)) => "stopped".into(),
        DockerUpdate::Snapshot(None) => "absent".into(),
        DockerUpdate::Kill { signal, .. } => format!("kill {signal}"),
        DockerUpdate::Disconnected(_) => "disconnected".into(),
    }
}

/// Feeds `inputs` in order and returns the actions of each step.
fn run(s: &mut Supervisor, inputs: Vec<Event>) -> Vec<Vec<String>> {
    inputs.into_iter().map(|i| names(&s.step(i))).collect()
}

#[test]
fn a_listed_container_is_inspected_configured_and_started() {
    let mut s = Supervisor::new();
    let steps = run(
        &mut s,
        vec![
            Event::Docker(HostEvent::Listed(vec!["a".into()])),
            inspected("a", Some(keyed("a", "/s/a"))),
            changed("a", "health_status"),
            inspected("a", Some(keyed("a", "/s/a"))),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect a"],
            vec!["start a /s/a with running"],
            vec!["inspect a"],
            vec!["send a running"],
        ]
    );
    assert_eq!(s.managed(), 1);
}

#[test]
fn events_during_an_inspect_fold_into_one_more_look() {
    let mut s = Supervisor::new();
    let steps = run(
        &mut s,
        vec![
            changed("a", "create"),
            changed("a", "start"),
            changed("a", "health_status"),
            inspected("a", Some(found("a", &[("sidekick.key", "/s/a")], false))),
            inspected("a", Some(keyed("a", "/s/a"))),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect a"],
            vec![],
            vec![],
            vec!["start a /s/a with stopped", "inspect a"],
            vec!["send a running"],
        ]
    );
}

#[test]
fn a_kill_reaches_a_running_agent_at_once_and_a_new_one_at_its_start() {
    let mut s = Supervisor::new();
    let kill = |id: &str| {
        Event::Docker(HostEvent::Kill {
            id: id.into(),
            signal: "15".into(),
            at_nanos: 5,
        })
    };
    let steps = run(
        &mut s,
        vec![
            changed("a", "start"),
            kill("a"),
            inspected("a", Some(keyed("a", "/s/a"))),
            kill("a"),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect a"],
            vec![],
            vec!["start a /s/a with running+kill 15"],
            vec!["send a kill 15"],
        ]
    );
}

#[test]
fn a_removed_container_releases_its_keys_and_is_forgotten() {
    let mut s = Supervisor::new();
    let steps = run(
        &mut s,
        vec![
            changed("a", "start"),
            inspected("a", Some(keyed("a", "/s/a"))),
            changed("a", "destroy"),
            inspected("a", None),
            // Late events of the removed container while its agent finishes: nothing.
            changed("a", "destroy"),
            done("a"),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect a"],
            vec!["start a /s/a with running"],
            vec!["inspect a"],
            vec!["send a absent", "finish a"],
            vec![],
            vec![],
        ]
    );
    assert_eq!(s.managed(), 0);
    assert_eq!(s.known().count(), 0);
}

#[test]
fn bad_labels_are_reported_once_and_the_container_stays_unmanaged_until_removed() {
    let mut s = Supervisor::new();
    let bad = found("b", &[("sidekick.key", "relative")], true);
    let steps = run(
        &mut s,
        vec![
            changed("b", "create"),
            inspected("b", Some(bad)),
            changed("b", "start"),
            changed("b", "die"),
            Event::Docker(HostEvent::Listed(vec!["b".into()])),
            changed("b", "destroy"),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect b"],
            vec!["unmanaged b sidekick.key"],
            vec![],
            vec![],
            vec![],
            vec![],
        ]
    );
    assert_eq!(s.known().count(), 0, "forgotten at destroy");
}

#[test]
fn a_container_without_the_key_label_is_ignored_silently() {
    let mut s = Supervisor::new();
    let steps = run(
        &mut s,
        vec![
            changed("u", "start"),
            inspected("u", Some(found("u", &[], true))),
        ],
    );
    assert_eq!(steps, vec![vec!["inspect u"], Vec::<&str>::new()]);
    assert_eq!(s.managed(), 0);
}

#[test]
fn a_relist_after_a_cut_finds_vanished_and_new_containers() {
    let mut s = Supervisor::new();
    run(
        &mut s,
        vec![
            Event::Docker(HostEvent::Listed(vec!["a".into(), "b".into()])),
            inspected("a", Some(keyed("a", "/s/a"))),
            inspected("b", Some(keyed("b", "/s/b"))),
        ],
    );
    let steps = run(
        &mut s,
        vec![
            Event::Docker(HostEvent::Disconnected("cut".into())),
            // b was removed and c created during the cut.
            Event::Docker(HostEvent::Listed(vec!["a".into(), "c".into()])),
            inspected("a", Some(keyed("a", "/s/a"))),
            inspected("b", None),
            inspected("c", Some(keyed("c", "/s/c"))),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["send a disconnected", "send b disconnected"],
            vec!["inspect a", "inspect b", "inspect c"],
            vec!["send a running"],
            vec!["send b absent", "finish b"],
            vec!["start c /s/c with running"],
        ]
    );
}

#[test]
fn an_inspect_that_fails_tells_the_agent_and_is_retried_later() {
    let mut s = Supervisor::new();
    run(
        &mut s,
        vec![
            changed("a", "start"),
            inspected("a", Some(keyed("a", "/s/a"))),
        ],
    );
    let steps = run(
        &mut s,
        vec![
            changed("a", "die"),
            Event::Inspected {
                id: "a".into(),
                found: Err("timeout".into()),
            },
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect a"],
            vec!["send a disconnected", "inspect a later"]
        ]
    );
}

#[test]
fn a_second_container_on_one_key_waits_for_the_first_to_be_removed() {
    let mut s = Supervisor::new();
    let steps = run(
        &mut s,
        vec![
            changed("a", "start"),
            inspected("a", Some(keyed("a", "/s/one"))),
            changed("b", "start"),
            inspected("b", Some(keyed("b", "/s/one"))),
            changed("c", "start"),
            inspected("c", Some(keyed("c", "/s/one"))),
            // b's state changes while it waits; it starts with the latest.
            changed("b", "die"),
            inspected("b", Some(found("b", &[("sidekick.key", "/s/one")], false))),
            changed("a", "destroy"),
            inspected("a", None),
            done("a"),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect a"],
            vec!["start a /s/one with running"],
            vec!["inspect b"],
            vec!["waiting b /s/one for name-a"],
            vec!["inspect c"],
            vec!["waiting c /s/one for name-a"],
            vec!["inspect b"],
            vec![],
            vec!["inspect a"],
            vec!["send a absent", "finish a"],
            vec!["start b /s/one with stopped"],
        ]
    );
}

#[test]
fn a_recreated_container_with_a_changed_key_gets_a_new_agent() {
    // `docker rm -f web; docker run --name web --label sidekick.key=/s/new`: a new id.
    let mut s = Supervisor::new();
    let steps = run(
        &mut s,
        vec![
            changed("old", "start"),
            inspected("old", Some(keyed("old", "/s/old"))),
            changed("old", "destroy"),
            changed("new", "create"),
            inspected("old", None),
            inspected("new", Some(keyed("new", "/s/new"))),
            done("old"),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect old"],
            vec!["start old /s/old with running"],
            vec!["inspect old"],
            vec!["inspect new"],
            vec!["send old absent", "finish old"],
            vec!["start new /s/new with running"],
            vec![],
        ]
    );
}

#[test]
fn answers_for_unknown_containers_are_dropped() {
    let mut s = Supervisor::new();
    let steps = run(
        &mut s,
        vec![
            inspected("x", Some(keyed("x", "/s/x"))),
            done("x"),
            // A replayed event of a container removed before the agent started.
            changed("gone", "destroy"),
            inspected("gone", None),
        ],
    );
    assert_eq!(
        steps,
        vec![vec![], vec![], vec!["inspect gone"], Vec::<&str>::new()]
    );
    assert_eq!(s.known().count(), 0);
}

/// `sidekick.key` and two more services: the container's news reaches each agent.
fn three(id: &str, running: bool) -> Found {
    found(
        id,
        &[
            ("sidekick.key", "/s/main"),
            ("sidekick.admin.key", "/s/admin"),
            ("sidekick.admin.port", "81"),
            ("sidekick.metrics.key", "/s/metrics"),
        ],
        running,
    )
}

#[test]
fn each_service_of_a_container_has_its_own_agent_and_all_hear_the_container() {
    let mut s = Supervisor::new();
    let steps = run(
        &mut s,
        vec![
            changed("a", "start"),
            inspected("a", Some(three("a", true))),
            Event::Docker(HostEvent::Kill {
                id: "a".into(),
                signal: "15".into(),
                at_nanos: 5,
            }),
            changed("a", "die"),
            inspected("a", Some(three("a", false))),
            changed("a", "destroy"),
            inspected("a", None),
            done("a/admin"),
            done("a"),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect a"],
            vec![
                "start a /s/main with running",
                "start a/admin /s/admin with running",
                "start a/metrics /s/metrics with running",
            ],
            vec![
                "send a kill 15",
                "send a/admin kill 15",
                "send a/metrics kill 15"
            ],
            vec!["inspect a"],
            vec![
                "send a stopped",
                "send a/admin stopped",
                "send a/metrics stopped"
            ],
            vec!["inspect a"],
            vec![
                "send a absent",
                "send a/admin absent",
                "send a/metrics absent",
                "finish a",
            ],
            vec![],
            vec![],
        ]
    );
    assert_eq!(s.managed(), 1, "a/metrics still finishing");
    assert_eq!(s.known().count(), 1);
    run(&mut s, vec![done("a/metrics")]);
    assert_eq!((s.managed(), s.known().count()), (0, 0));
}

#[test]
fn a_bad_service_is_reported_and_the_others_start() {
    let mut s = Supervisor::new();
    let labels = [
        ("sidekick.key", "/s/main"),
        ("sidekick.Admin.key", "/s/admin"),
        ("sidekick.twin.key", "/s/main/"),
        ("sidekick.ok.key", "/s/ok"),
    ];
    let steps = run(
        &mut s,
        vec![
            changed("a", "start"),
            inspected("a", Some(found("a", &labels, true))),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect a"],
            vec![
                "unmanaged a sidekick.Admin.key",
                "unmanaged a sidekick.twin.key",
                "start a /s/main with running",
                "start a/ok /s/ok with running",
            ],
        ]
    );
    // Only bad services: the container is not managed, and forgotten at destroy. A bad
    // container-wide label, bad for both services, is said once.
    let labels = [
        ("sidekick.key", "/s/b"),
        ("sidekick.health.mode", "grpc"),
        ("sidekick.b2.key", "/s/b2"),
    ];
    let steps = run(
        &mut s,
        vec![
            changed("b", "start"),
            inspected("b", Some(found("b", &labels, true))),
            changed("b", "destroy"),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect b"],
            vec!["unmanaged b sidekick.health.mode"],
            vec![]
        ]
    );
    assert_eq!(s.known().collect::<Vec<_>>(), vec!["a"]);
}

#[test]
fn a_service_whose_key_another_container_holds_waits_while_its_siblings_run() {
    let mut s = Supervisor::new();
    let steps = run(
        &mut s,
        vec![
            changed("old", "start"),
            inspected("old", Some(keyed("old", "/s/admin"))),
            changed("a", "start"),
            inspected("a", Some(three("a", true))),
            changed("a", "die"),
            inspected("a", Some(three("a", false))),
            changed("old", "destroy"),
            inspected("old", None),
            done("old"),
        ],
    );
    assert_eq!(
        steps,
        vec![
            vec!["inspect old"],
            vec!["start old /s/admin with running"],
            vec!["inspect a"],
            vec![
                "start a /s/main with running",
                "waiting a/admin /s/admin for name-old",
                "start a/metrics /s/metrics with running",
            ],
            vec!["inspect a"],
            vec!["send a stopped", "send a/metrics stopped"],
            vec!["inspect old"],
            vec!["send old absent", "finish old"],
            vec!["start a/admin /s/admin with stopped"],
        ]
    );
    assert_eq!(s.managed(), 3);
}
