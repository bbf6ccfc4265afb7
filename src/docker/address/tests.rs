//! Table tests of the address rule: bindings and host addresses in, announced addresses out.

use super::*;
use crate::docker::view::Binding;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn view_with(bindings: &[(&str, u16)]) -> ContainerView {
    let json = serde_json::json!({"Id": "x", "Name": "/web"});
    let c: bollard::models::ContainerInspectResponse = serde_json::from_value(json).unwrap();
    let mut v = ContainerView::from_inspect(&c, TCP80);
    v.bindings = Ok(bindings
        .iter()
        .map(|(h, p)| Binding {
            host_ip: ip(h),
            host_port: *p,
        })
        .collect());
    v
}

/// `ipv4` / `ipv6` as "public,private:port"-ish text for compact tables.
fn show(a: &Result<Announce, AddressError>) -> String {
    match a {
        Err(e) => format!("err: {e}"),
        Ok(a) => {
            let pair = |p: Option<Pair>| {
                p.map(|p| format!("{}/{}", p.public, p.private))
                    .unwrap_or_else(|| "-".into())
            };
            format!(
                "v4 {} v6 {} port {} probe {}",
                pair(a.ipv4),
                pair(a.ipv6),
                a.port,
                a.probe
            )
        }
    }
}

/// (why, host addresses, bindings, expected announcement).
type Row<'a> = (&'a str, HostAddrs, &'a [(&'a str, u16)], &'a str);

#[test]
fn published_each_family_takes_its_own_bindings_port() {
    let route = HostAddrs {
        default_route: Some(ip("192.0.2.10")),
        ..HostAddrs::default()
    };
    let v6_flag = HostAddrs {
        public: Some(ip("2001:db8::7")),
        ..route
    };
    let both = HostAddrs {
        public: Some(ip("2001:db8::7")),
        private: Some(ip("10.0.0.7")),
        ..route
    };
    #[rustfmt::skip]
    let table: &[Row] = &[
        ("-p 80 on dual-stack Docker: v4 takes 0.0.0.0's port, never ::'s", route,
         &[("::", 32768), ("0.0.0.0", 32771)],
         "v4 192.0.2.10/192.0.2.10 v6 - port 32771 probe 192.0.2.10:32771"),
        ("the IPv6 binding's lower port is not taken for IPv4", route,
         &[("0.0.0.0", 32771), ("::", 32770)],
         "v4 192.0.2.10/192.0.2.10 v6 - port 32771 probe 192.0.2.10:32771"),
        ("a v6 host address with a different v6 port is left out, not given v4's port", v6_flag,
         &[("0.0.0.0", 32771), ("::", 32770)],
         "v4 192.0.2.10/192.0.2.10 v6 - port 32771 probe 192.0.2.10:32771"),
        ("same port on both families: both are announced", v6_flag,
         &[("0.0.0.0", 32771), ("::", 32771)],
         "v4 192.0.2.10/192.0.2.10 v6 2001:db8::7/2001:db8::7 port 32771 probe 192.0.2.10:32771"),
        ("private fills its own family only", both,
         &[("0.0.0.0", 32771), ("::", 32771)],
         "v4 192.0.2.10/10.0.0.7 v6 2001:db8::7/2001:db8::7 port 32771 probe 192.0.2.10:32771"),
        ("specific HostIp wins over all interfaces of its family", route,
         &[("0.0.0.0", 32771), ("127.0.0.1", 18001)],
         "v4 127.0.0.1/127.0.0.1 v6 - port 18001 probe 127.0.0.1:18001"),
        ("[::1] is IPv6 only, never the v4 default route with its port", route,
         &[("::1", 18003)],
         "v4 - v6 ::1/::1 port 18003 probe [::1]:18003"),
        ("only [::] and no v6 host address: nothing to announce", route,
         &[("::", 32768)],
         "err: no public IP: the binding is on all interfaces and this host has no default route; pass --public-ip"),
        ("only [::] with an IPv6 --public-ip", v6_flag,
         &[("::", 32768)],
         "v4 - v6 2001:db8::7/2001:db8::7 port 32768 probe [2001:db8::7]:32768"),
    ];
    for (why, host, bindings, want) in table {
        let got = show(&select(host, None, TCP80, &view_with(bindings)));
        assert_eq!(got, *want, "{why}");
    }
}

#[test]
fn not_published_is_the_bindings_error() {
    let mut v = view_with(&[]);
    v.bindings = Err(BindingError::NotPublished("80/tcp".into(), "none".into()));
    assert_eq!(
        show(&select(&HostAddrs::default(), None, TCP80, &v)),
        "err: container port 80/tcp is not published (published: none)"
    );
}

fn on_networks(nets: &[(&str, Option<&str>, Option<&str>)]) -> ContainerView {
    let mut v = view_with(&[]);
    v.bindings = Err(BindingError::NotPublished("80/tcp".into(), "none".into()));
    v.networks = nets
        .iter()
        .map(|(n, v4, v6)| {
            let addrs = crate::docker::NetAddrs {
                ipv4: v4.map(ip),
                ipv6: v6.map(ip),
            };
            (n.to_string(), addrs)
        })
        .collect();
    v
}

const TCP80: PortSpec = PortSpec {
    port: 80,
    proto: crate::docker::Proto::Tcp,
};

#[test]
#[allow(clippy::type_complexity)]
fn internal_mode_announces_the_address_on_that_network_and_the_container_port() {
    let host = HostAddrs {
        default_route: Some(ip("192.0.2.10")),
        private: Some(ip("10.0.0.7")),
        ..HostAddrs::default()
    };
    let pinned = HostAddrs {
        public: Some(ip("203.0.113.7")),
        ..host
    };
    let two = on_networks(&[
        ("bridge", Some("172.17.0.5"), None),
        ("backend", Some("172.18.0.2"), Some("fd00:5a::2")),
    ]);
    let v6_only = on_networks(&[("v6net", None, Some("fd00:5b::3"))]);
    let host_net = on_networks(&[("host", None, None)]);
    #[rustfmt::skip]
    let table: &[(&str, HostAddrs, &str, &ContainerView, &str)] = &[
        ("the named network, never another one; both families; --private-ip is not used", host,
         "backend", &two,
         "v4 172.18.0.2/172.18.0.2 v6 fd00:5a::2/fd00:5a::2 port 80 probe 172.18.0.2:80"),
        ("an explicit --public-ip still wins for its family's public key", pinned,
         "backend", &two,
         "v4 203.0.113.7/172.18.0.2 v6 fd00:5a::2/fd00:5a::2 port 80 probe 172.18.0.2:80"),
        ("IPv6 only: no _ipv4_ value at all", host,
         "v6net", &v6_only,
         "v4 - v6 fd00:5b::3/fd00:5b::3 port 80 probe [fd00:5b::3]:80"),
        ("not on the network: says where it is", host,
         "frontend", &two,
         "err: container is not on Docker network \"frontend\" (it is on: backend, bridge)"),
        ("attached but without an address", host,
         "host", &host_net,
         "err: container has no address on Docker network \"host\""),
    ];
    for (why, host, net, view, want) in table {
        assert_eq!(show(&select(host, Some(net), TCP80, view)), *want, "{why}");
    }
}

#[test]
#[allow(clippy::type_complexity)]
fn host_networking_announces_the_host_addresses_and_the_container_port() {
    let mut v = on_networks(&[("host", None, None)]);
    v.host_network = true;
    let route = HostAddrs {
        default_route: Some(ip("192.0.2.10")),
        ..HostAddrs::default()
    };
    let dual = HostAddrs {
        public: Some(ip("2001:db8::7")),
        ..route
    };
    #[rustfmt::skip]
    let table: &[(&str, HostAddrs, &str)] = &[
        ("the default-route address", route, "v4 192.0.2.10/192.0.2.10 v6 - port 80 probe 192.0.2.10:80"),
        ("an IPv6 --public-ip adds the IPv6 keys, same port", dual,
         "v4 192.0.2.10/192.0.2.10 v6 2001:db8::7/2001:db8::7 port 80 probe 192.0.2.10:80"),
        ("no address at all", HostAddrs::default(),
         "err: no public IP: the binding is on all interfaces and this host has no default route; pass --public-ip"),
    ];
    for (why, host, want) in table {
        assert_eq!(show(&select(host, None, TCP80, &v)), *want, "{why}");
    }
}
