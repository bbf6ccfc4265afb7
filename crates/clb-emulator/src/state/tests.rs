use super::*;

fn node(address: &str, port: u16) -> NewNode {
    NewNode {
        address: address.into(),
        port,
        condition: "ENABLED".into(),
        node_type: "PRIMARY".into(),
        weight: 1,
    }
}

#[test]
fn duplicates_inside_one_batch_and_foreign_accounts() {
    let mut s = State::new(Config::default());
    let now = Instant::now();
    let lb = s.insert_lb("123456", "web", "HTTP", 80);
    let twice = vec![node("10.0.0.1", 80), node("10.0.0.1", 80)];
    assert_eq!(s.add_nodes("123456", lb, twice, now), Err(Fault::Duplicate));
    let other_port = vec![node("10.0.0.1", 80), node("10.0.0.1", 81)];
    assert_eq!(s.add_nodes("123456", lb, other_port, now).unwrap().len(), 2);
    assert_eq!(s.list_nodes("999", lb, now), Err(Fault::LbNotFound));
    assert_eq!(s.delete_nodes("999", lb, &[1], now), Err(Fault::LbNotFound));
}

#[test]
fn config_load_balancers_exist_at_start_in_the_first_account() {
    let config = Config {
        load_balancers: vec!["a".into(), "b".into()],
        ..Config::default()
    };
    let mut s = State::new(config);
    let listed = s.list_lbs("123456", &ListFilter::default(), Instant::now());
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["status"], "ACTIVE");
}
