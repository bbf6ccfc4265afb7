use super::*;

const MARGIN: Duration = Duration::from_secs(1);

fn live(id: i64, confirmed_for: Duration, now: Instant) -> LeaseState {
    LeaseState::Live {
        id,
        generation: 1,
        confirmed_until: now + confirmed_for,
    }
}

#[test]
fn the_fence_opens_only_for_the_winning_lease_confirmed_on_a_caught_up_view() {
    let now = Instant::now();
    let leader = Role::Leader {
        lease: 7,
        revision: 100,
    };
    let ok = Duration::from_secs(4);
    #[rustfmt::skip]
    let table: Vec<(&str, Role, LeaseState, i64, Fence)> = vec![
        ("leader, its lease, caught up", leader.clone(), live(7, ok, now), 100, Fence::Act),
        ("view past the term's revision", leader.clone(), live(7, ok, now), 250, Fence::Act),
        // Issue 22: after a heal the keeper grants a new lease at once; the old term is over.
        ("a new lease after a heal", leader.clone(), live(8, ok, now), 250, Fence::LeaseReplaced),
        ("no lease", leader.clone(), LeaseState::Pending, 250, Fence::LeaseReplaced),
        ("confirmation inside the margin", leader.clone(), live(7, MARGIN, now), 250, Fence::Unconfirmed),
        ("confirmation run out", leader.clone(), live(7, Duration::ZERO, now), 250, Fence::Unconfirmed),
        ("view older than the term", leader.clone(), live(7, ok, now), 99, Fence::ViewBehind { need: 100 }),
        ("candidate", Role::Candidate, live(7, ok, now), 250, Fence::NotLeader),
        ("follower", Role::Follower { leader: "b/1".into() }, live(7, ok, now), 250, Fence::NotLeader),
    ];
    for (name, role, lease, view, want) in table {
        assert_eq!(
            Fence::judge(&role, &lease, view, now, MARGIN),
            want,
            "{name}"
        );
    }
}

#[test]
fn the_key_names_the_holder_and_its_target() {
    let me = Holder {
        id: "core01/42".into(),
        target: Some("rackspace/web".into()),
    };
    assert_eq!(Holder::decode(me.encode().as_bytes()), me);
    // A value written before the target was recorded: an id, compatible with anything.
    let old = Holder::decode(b"core02/7");
    assert_eq!(old.id, "core02/7");
    assert!(!old.conflicts_with(&me) && !me.conflicts_with(&old));
    let other = Holder {
        id: "core03/9".into(),
        target: Some("nginx/web".into()),
    };
    assert!(other.conflicts_with(&me));
    let same = Holder {
        id: "core03/9".into(),
        target: Some("rackspace/web".into()),
    };
    assert!(!same.conflicts_with(&me));
}

#[test]
fn the_margin_is_a_quarter_of_the_ttl_up_to_a_second() {
    assert_eq!(
        safety_margin(Duration::from_secs(2)),
        Duration::from_millis(500)
    );
    assert_eq!(
        safety_margin(Duration::from_secs(15)),
        Duration::from_secs(1)
    );
}
