use super::*;

const LIMITS: Limits = Limits {
    node_limit: 25,
    batch_delete_limit: 10,
};

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn node(id: u64, addr: &str) -> LbNode {
    LbNode {
        id,
        addr: Some(a(addr)),
        condition: "ENABLED".into(),
    }
}

fn set(addrs: &[&str]) -> BTreeSet<SocketAddr> {
    addrs.iter().map(|s| a(s)).collect()
}

fn many(n: usize) -> BTreeSet<SocketAddr> {
    (0..n)
        .map(|i| SocketAddr::from(([10, 0, 0, 1], 18000 + i as u16)))
        .collect()
}

#[test]
fn adds_all_missing_in_one_batch_and_removes_what_is_gone() {
    let nodes = vec![node(1, "10.0.0.1:80"), node(2, "10.0.0.2:80")];
    let p = plan_changes(
        &set(&["10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"]),
        &nodes,
        &BTreeSet::new(),
        LIMITS,
    );
    assert_eq!(p.removes, vec![vec![1]]);
    assert_eq!(p.adds, vec![a("10.0.0.3:80"), a("10.0.0.4:80")]);
    assert!(p.enable.is_empty() && p.unplaced.is_empty());
}

#[test]
fn converged_when_equal() {
    let nodes = vec![node(1, "10.0.0.1:80")];
    assert!(plan_changes(&set(&["10.0.0.1:80"]), &nodes, &BTreeSet::new(), LIMITS).is_converged());
}

#[test]
fn static_and_domain_nodes_are_never_touched() {
    let nodes = vec![
        node(1, "1.1.1.1:80"),
        LbNode {
            id: 2,
            addr: None,
            condition: "DISABLED".into(),
        },
        node(3, "10.0.0.9:80"),
    ];
    let p = plan_changes(
        &set(&["10.0.0.1:80"]),
        &nodes,
        &set(&["1.1.1.1:80"]),
        LIMITS,
    );
    assert_eq!(p.removes, vec![vec![3]]);
    assert_eq!(p.adds, vec![a("10.0.0.1:80")]);
    // A wanted address already present as a static node is not added again.
    let p = plan_changes(&set(&["1.1.1.1:80"]), &nodes, &set(&["1.1.1.1:80"]), LIMITS);
    assert!(p.adds.is_empty());
}

#[test]
fn removals_are_batched_by_the_bulk_delete_limit() {
    let nodes: Vec<LbNode> = many(23)
        .iter()
        .enumerate()
        .map(|(i, ad)| node(i as u64 + 1, &ad.to_string()))
        .collect();
    let p = plan_changes(&set(&["10.9.9.9:80"]), &nodes, &BTreeSet::new(), LIMITS);
    assert_eq!(
        p.removes.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![10, 10, 3]
    );
    assert_eq!(p.adds.len(), 1);
}

#[test]
fn adds_are_capped_to_the_room_under_the_node_limit_counting_removals() {
    let nodes: Vec<LbNode> = (0..20)
        .map(|i| node(i + 1, &format!("10.1.0.{}:80", i + 1)))
        .collect();
    let mut want = many(10);
    want.insert(a("10.1.0.1:80"));
    // 20 present, 19 to remove (all but 10.1.0.1) -> 1 stays, room for 24, 10 fit.
    let p = plan_changes(&want, &nodes, &BTreeSet::new(), LIMITS);
    assert_eq!(p.adds.len(), 10);
    let p = plan_changes(&many(30), &[], &BTreeSet::new(), LIMITS);
    assert_eq!((p.adds.len(), p.unplaced.len()), (25, 5));
    let full: Vec<LbNode> = many(25)
        .iter()
        .enumerate()
        .map(|(i, ad)| node(i as u64, &ad.to_string()))
        .collect();
    let mut want = many(25);
    want.insert(a("10.2.0.1:80"));
    let p = plan_changes(&want, &full, &BTreeSet::new(), LIMITS);
    assert!(
        p.adds.is_empty() && p.unplaced == vec![a("10.2.0.1:80")],
        "full: nothing added, reported instead"
    );
}

#[test]
fn empty_registry_is_guarded_unless_allowed() {
    // As lbsync composes them: the shared node plan (where the guard lives), then this plan.
    let plan = |nodes: &[LbNode], statics: &BTreeSet<SocketAddr>, allow_empty: bool| {
        let present = nodes.iter().filter_map(|n| n.addr).collect();
        let p = plan_nodes(BTreeSet::new(), &present, statics, allow_empty);
        (p.empty_guard, plan_changes(&p.want, nodes, statics, LIMITS))
    };
    let nodes = vec![node(1, "10.0.0.1:80"), node(2, "1.1.1.1:80")];
    let statics = set(&["1.1.1.1:80"]);
    let (guard, p) = plan(&nodes, &statics, false);
    assert!(guard && p.is_converged(), "nothing removed");
    let (guard, p) = plan(&nodes, &statics, true);
    assert_eq!(p.removes, vec![vec![1]]);
    assert!(!guard);
    let (guard, _) = plan(&[node(2, "1.1.1.1:80")], &statics, false);
    assert!(!guard, "only static nodes: nothing to guard");
}

#[test]
fn wanted_nodes_that_are_not_enabled_are_re_enabled_and_duplicates_removed() {
    let mut n = node(1, "10.0.0.1:80");
    n.condition = "DRAINING".into();
    let p = plan_changes(
        &set(&["10.0.0.1:80"]),
        &[n, node(2, "10.0.0.1:80")],
        &BTreeSet::new(),
        LIMITS,
    );
    assert_eq!(p.enable, vec![1]);
    assert_eq!(p.removes, vec![vec![2]]);
}

#[test]
fn the_plan_keeps_statics_out_and_guards_an_empty_registry() {
    let statics = set(&["1.1.1.1:80"]);
    let present = set(&["1.1.1.1:80", "10.0.0.1:80"]);
    let p = plan_nodes(
        set(&["10.0.0.2:80", "1.1.1.1:80"]),
        &present,
        &statics,
        false,
    );
    assert_eq!(p.want, set(&["10.0.0.2:80"]));
    assert!(!p.empty_guard);
    let p = plan_nodes(BTreeSet::new(), &present, &statics, false);
    assert!(p.empty_guard);
    assert_eq!(p.want, set(&["10.0.0.1:80"]), "keeps what is served");
    let p = plan_nodes(BTreeSet::new(), &present, &statics, true);
    assert!(!p.empty_guard && p.want.is_empty());
    let p = plan_nodes(BTreeSet::new(), &statics, &statics, false);
    assert!(!p.empty_guard, "only static nodes: nothing to guard");
}
