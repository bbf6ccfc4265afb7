use super::*;

const L1: Lease = Lease {
    id: 0x11,
    generation: 1,
};
const L2: Lease = Lease {
    id: 0x22,
    generation: 2,
};

fn actual() -> Actual {
    [("/s/a".to_string(), ("v".to_string(), L1.id))]
        .into_iter()
        .collect()
}

fn owned(cache: Option<Actual>, keys: Keys) -> State {
    State::Owned {
        lease: L1,
        cache,
        keys,
    }
}

fn claiming(lease: Lease, retry: bool) -> State {
    State::Claiming { lease, retry }
}

#[test]
fn transitions() {
    use Event::*;
    let table: Vec<(&str, State, Event, State)> = vec![
        (
            "a lease starts the claim",
            State::NoLease,
            Lease(Some(L1)),
            claiming(L1, false),
        ),
        ("no lease, nothing", State::NoLease, Timer, State::NoLease),
        (
            "desired alone does not write without a lease",
            State::NoLease,
            DesiredChanged,
            State::NoLease,
        ),
        (
            "claimed",
            claiming(L1, false),
            Claimed(Claim::Mine),
            owned(None, Keys::Stale),
        ),
        (
            "held by another agent",
            claiming(L1, false),
            Claimed(Claim::Held),
            State::Held { lease: L1 },
        ),
        (
            "claim failed: back off",
            claiming(L1, false),
            Claimed(Claim::Failed),
            claiming(L1, true),
        ),
        (
            "backoff over",
            claiming(L1, true),
            Timer,
            claiming(L1, false),
        ),
        (
            "held: claim again later",
            State::Held { lease: L1 },
            Timer,
            claiming(L1, false),
        ),
        (
            "reconciled",
            owned(None, Keys::Stale),
            Reconciled(super::Reconciled::Done(actual())),
            owned(Some(actual()), Keys::Synced),
        ),
        (
            "ownership lost: claim again",
            owned(Some(actual()), Keys::Synced),
            Reconciled(super::Reconciled::Lost),
            claiming(L1, false),
        ),
        (
            "write failed: forget the cache, back off",
            owned(Some(actual()), Keys::Stale),
            Reconciled(super::Reconciled::Failed),
            owned(None, Keys::Retry),
        ),
        (
            "desired changed: plan against the cache",
            owned(Some(actual()), Keys::Synced),
            DesiredChanged,
            owned(Some(actual()), Keys::Stale),
        ),
        (
            "resync: re-read etcd",
            owned(Some(actual()), Keys::Synced),
            Resync,
            owned(None, Keys::Stale),
        ),
        (
            "same lease again: nothing",
            owned(Some(actual()), Keys::Synced),
            Lease(Some(L1)),
            owned(Some(actual()), Keys::Synced),
        ),
        (
            "a new lease: claim again",
            owned(Some(actual()), Keys::Synced),
            Lease(Some(L2)),
            claiming(L2, false),
        ),
        (
            "lease lost",
            owned(Some(actual()), Keys::Synced),
            Lease(None),
            State::NoLease,
        ),
        (
            "held, lease replaced",
            State::Held { lease: L1 },
            Lease(Some(L2)),
            claiming(L2, false),
        ),
        (
            "a stale claim outcome is ignored",
            owned(None, Keys::Stale),
            Claimed(Claim::Held),
            owned(None, Keys::Stale),
        ),
        (
            "a stale reconcile outcome is ignored",
            claiming(L1, false),
            Reconciled(super::Reconciled::Lost),
            claiming(L1, false),
        ),
        (
            "desired changed during a backoff: the backoff stands",
            owned(None, Keys::Retry),
            DesiredChanged,
            owned(None, Keys::Retry),
        ),
        (
            "backoff over while owned",
            owned(None, Keys::Retry),
            Timer,
            owned(None, Keys::Stale),
        ),
    ];
    for (name, from, event, want) in table {
        assert_eq!(
            step(from.clone(), event.clone()),
            want,
            "{name}: {from:?} + {event:?}"
        );
    }
}

#[test]
fn what_each_state_does() {
    assert_eq!(next(&State::NoLease), Next::Wait(Wait::Event));
    assert_eq!(next(&claiming(L1, false)), Next::Claim(L1));
    assert_eq!(next(&claiming(L1, true)), Next::Wait(Wait::Backoff));
    assert_eq!(next(&State::Held { lease: L1 }), Next::Wait(Wait::Held));
    assert_eq!(
        next(&owned(Some(actual()), Keys::Stale)),
        Next::Reconcile {
            lease: L1,
            cache: Some(actual())
        }
    );
    assert_eq!(next(&owned(None, Keys::Retry)), Next::Wait(Wait::Backoff));
    assert_eq!(
        next(&owned(Some(actual()), Keys::Synced)),
        Next::Wait(Wait::Resync),
        "in sync, an idle writer only waits: no writes"
    );
}
