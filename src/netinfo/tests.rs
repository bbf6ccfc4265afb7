use super::*;

#[test]
fn finds_the_default_route_interface() {
    let table =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                 docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n\
                 eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
    assert_eq!(default_route_interface(table).as_deref(), Some("eth0"));
    assert_eq!(default_route_interface("Iface\tDestination\n"), None);
}

#[test]
fn loopback_has_its_address_and_we_are_not_someone_else() {
    assert_eq!(interface_ipv4("lo"), Some(Ipv4Addr::LOCALHOST));
    assert!(!pid_alive(std::process::id()));
    assert!(pid_alive(1));
    assert!(hostname().is_some());
}

#[test]
fn zombies_are_dead() {
    assert!(is_zombie("1234 (sidekick (x)) Z 1 1234"));
    assert!(!is_zombie("1234 (sidekick) S 1 1234"));
    assert!(!is_zombie(""));
}
