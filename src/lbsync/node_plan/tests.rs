use super::*;

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn set(addrs: &[&str]) -> BTreeSet<SocketAddr> {
    addrs.iter().map(|s| a(s)).collect()
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
