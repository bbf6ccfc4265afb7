use super::*;

fn set(addrs: &[&str]) -> BTreeSet<SocketAddr> {
    addrs.iter().map(|a| a.parse().unwrap()).collect()
}

/// The upstream file for `servers`, in a buffer of its own.
fn render(name: &str, servers: &BTreeSet<SocketAddr>) -> String {
    let mut out = String::new();
    render_into(&mut out, name, servers);
    out
}

#[test]
fn render_then_parse_round_trips() {
    let s = set(&["10.0.0.2:80", "[2001:db8::1]:8080", "10.0.0.1:80"]);
    let text = render("app", &s);
    let p = parse("app", &text);
    assert!(p.found && p.problems.is_empty(), "{p:?}");
    assert_eq!(p.servers, s);
}

#[test]
fn empty_set_renders_the_placeholder_which_parses_as_no_servers() {
    let text = render("app", &BTreeSet::new());
    assert!(text.contains("server 127.0.0.1:1 down;"), "{text}");
    let p = parse("app", &text);
    assert!(p.found && p.servers.is_empty() && p.problems.is_empty());
}

#[test]
fn parse_reads_only_the_named_block_and_reports_hand_edits() {
    let text = "upstream other { server 10.9.9.9:1; }\n\
                upstream app {\n  keepalive 8; # pool\n  server 10.0.0.1:80 max_fails=3;\n\
                server web.example:80;\n  server 10.0.0.3:80 down;\n}\n";
    let p = parse("app", text);
    assert_eq!(p.servers, set(&["10.0.0.1:80"]));
    assert_eq!(p.problems.len(), 1, "{p:?}");
    assert!(p.problems[0].contains("web.example:80"));
    let missing = parse("nope", text);
    assert!(!missing.found && missing.problems[0].contains("upstream nope"));
}

#[test]
fn names_are_nginx_identifiers() {
    for ok in ["app", "web_01", "a.b-c"] {
        assert!(valid_name(ok), "{ok}");
    }
    for bad in ["", "a b", "a;b", "a{", "ü", "a/b"] {
        assert!(!valid_name(bad), "{bad:?}");
    }
}
