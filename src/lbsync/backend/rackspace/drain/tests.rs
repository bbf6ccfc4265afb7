use super::*;
use std::net::SocketAddr;

fn node(id: u64, condition: &str) -> LbNode {
    LbNode {
        id,
        addr: Some(SocketAddr::from(([10, 0, 0, id as u8], 80))),
        condition: condition.into(),
    }
}

#[test]
fn removals_drain_first_then_delete_once_the_period_is_over() {
    let now = Instant::now();
    let s = Duration::from_secs;
    let nodes = [node(1, "ENABLED"), node(2, "DRAINING"), node(3, "DRAINING")];
    let since = |pairs: &[(u64, Duration)]| -> BTreeMap<u64, Instant> {
        pairs.iter().map(|(id, ago)| (*id, now - *ago)).collect()
    };
    type Row<'a> = (&'a [u64], BTreeMap<u64, Instant>, Duration, Removal);
    let table: Vec<Row> = vec![
        // Draining off: delete at once, in batches.
        (
            &[1, 2, 3],
            since(&[]),
            Duration::ZERO,
            Removal::Delete(vec![1, 2]),
        ),
        (&[], since(&[]), s(10), Removal::Nothing),
        // A node not draining yet is drained first.
        (&[1, 2], since(&[(2, s(20))]), s(10), Removal::Drain(1)),
        // Drained long enough: deleted; the others wait for the earliest end.
        (
            &[2, 3],
            since(&[(2, s(20)), (3, s(1))]),
            s(10),
            Removal::Delete(vec![2]),
        ),
        (
            &[2, 3],
            since(&[(2, s(4)), (3, s(1))]),
            s(10),
            Removal::WaitFor(s(6)),
        ),
        // DRAINING when we found it (a restart): its period starts now.
        (&[3], since(&[]), s(10), Removal::WaitFor(s(10))),
    ];
    for (ids, draining_since, period, want) in table {
        assert_eq!(
            removal(ids, &nodes, &draining_since, period, now, 2),
            want,
            "{ids:?} {period:?}"
        );
    }
}
