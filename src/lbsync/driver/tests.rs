use super::*;

const RESYNC: Duration = Duration::from_secs(30);

#[test]
fn transitions() {
    let now = Instant::now();
    let s = Duration::from_secs;
    let idle = State::Idle {
        until: now + RESYNC,
    };
    let idle_past = State::Idle { until: now - s(1) };
    let hold = State::Holding { until: now + s(5) };
    let hold_past = State::Holding { until: now - s(1) };
    use Event::*;
    use State::*;
    let table: Vec<(State, Event, State)> = vec![
        // Leadership gates everything.
        (Following, Changed, Following),
        (Following, Timer, Following),
        (Following, Passed(Step::Progress), Following),
        (Following, Leadership(true), Due),
        (idle, Leadership(false), Following),
        (hold, Leadership(false), Following),
        (Due, Leadership(false), Following),
        (idle, Leadership(true), idle),
        // No debounce: a change finds the driver idle and a pass starts at once.
        (idle, Changed, Due),
        (idle, Timer, idle),
        (idle_past, Timer, Due),
        // While held (rate limit, backoff) or already due, changes wait for the pass.
        (hold, Changed, hold),
        (hold, Timer, hold),
        (hold_past, Timer, Due),
        (Due, Changed, Due),
        (Due, Timer, Due),
        // What a pass asks for.
        (Due, Passed(Step::Progress), Due),
        (
            Due,
            Passed(Step::Converged),
            Idle {
                until: now + RESYNC,
            },
        ),
        (
            Due,
            Passed(Step::Resync),
            Idle {
                until: now + RESYNC,
            },
        ),
        (Due, Passed(Step::Wait(s(2))), Holding { until: now + s(2) }),
        (
            Due,
            Passed(Step::Revisit(s(10))),
            Idle { until: now + s(10) },
        ),
        (
            Due,
            Passed(Step::Revisit(s(99))),
            Idle {
                until: now + RESYNC,
            },
        ),
    ];
    for (from, ev, want) in table {
        assert_eq!(
            step(from, ev.clone(), now, RESYNC),
            want,
            "{from:?} + {ev:?}"
        );
    }
}
