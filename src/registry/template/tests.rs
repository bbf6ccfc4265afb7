use super::*;

fn record(unit: &str) -> Record {
    Record {
        unit: unit.into(),
        host: "core02".into(),
        public_ipv4_addr: Some("203.0.113.8".parse().unwrap()),
        private_ipv4_addr: Some("10.0.0.8".parse().unwrap()),
        public_ipv6_addr: None,
        private_ipv6_addr: None,
        port: 3306,
    }
}

#[test]
fn the_2014_db_value() {
    let t = Template::parse(r#"{"value": "{private_ipv4_addr}"}"#).unwrap();
    assert_eq!(
        t.render(&record("mondb.service")),
        r#"{"value": "10.0.0.8"}"#
    );
}

#[test]
fn every_placeholder_and_literal_braces() {
    let t = Template::parse(
        "{unit} on {host}: {public_ipv4_addr}/{private_ipv4_addr}:{port} {} {x y} {",
    )
    .unwrap();
    assert_eq!(
        t.render(&record("db")),
        "db on core02: 203.0.113.8/10.0.0.8:3306 {} {x y} {"
    );
    assert_eq!(
        Template::parse("static").unwrap().render(&record("x")),
        "static"
    );
}

#[test]
fn values_are_json_escaped() {
    let t = Template::parse(r#"{"unit": "{unit}"}"#).unwrap();
    let v = t.render(&record("we\"ird\\unit\n"));
    let parsed: serde_json::Value = serde_json::from_str(&v).unwrap();
    assert_eq!(parsed["unit"], "we\"ird\\unit\n");
}

#[test]
fn unknown_placeholders_and_empty_templates_are_refused() {
    let e = Template::parse(r#"{"value": "{private_ip}"}"#).unwrap_err();
    assert!(
        e.contains("{private_ip}") && e.contains("{private_ipv4_addr}"),
        "{e}"
    );
    assert!(e.contains(r#""{\"value\": \"{private_ip}\"}""#), "{e}");
    assert!(Template::parse("").is_err());
    assert!(Template::parse("  ").is_err());
}

#[test]
fn what_only_looks_like_a_placeholder_is_refused() {
    for (template, named, hint) in [
        ("{PORT}", "{PORT}", "{port}"),
        ("{ port }", "{ port }", "{port}"),
        (
            "{Private_IPv4_Addr}",
            "{Private_IPv4_Addr}",
            "{private_ipv4_addr}",
        ),
        (
            r#"{"value": "{private_ipv4_addr"}"#,
            "{private_ipv4_addr has no closing brace",
            "",
        ),
        ("{port", "{port has no closing brace", ""),
    ] {
        let e = Template::parse(template).unwrap_err();
        assert!(e.contains(named), "{template}: {e}");
        assert!(e.contains(hint), "{template}: {e}");
        assert!(
            e.contains("known: {unit}, {host}, {public_ipv4_addr}, {private_ipv4_addr}, {port}"),
            "{template}: {e}"
        );
    }
    // Braces that look like nothing in particular stay literal.
    for literal in ["{x y}", "{}", "{ }", "{\"port\": 1}", "{portal", "{{port}}"] {
        assert!(Template::parse(literal).is_ok(), "{literal}");
    }
}
