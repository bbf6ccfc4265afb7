//! `docs/grafana/sidekick.json`: every panel query is valid PromQL (each one fed to
//! `promtool check rules` as a recording rule's expression, after Grafana's variables are
//! replaced the way Grafana replaces them), and the dashboard charts every metric family the
//! README's metric table lists (which holds the contract's names).

use super::*;

/// Grafana's variables in the dashboard, and what Grafana puts in their place.
const VARIABLES: [(&str, &str); 3] = [
    ("$__rate_interval", "1m"),
    ("$job", ".+"),
    ("$instance", ".+"),
];

fn dashboard() -> serde_json::Value {
    serde_json::from_str(include_str!("../../docs/grafana/sidekick.json"))
        .expect("docs/grafana/sidekick.json is JSON")
}

/// (panel title, expr) of every target of every panel, rows included.
fn queries(panels: &serde_json::Value, out: &mut Vec<(String, String)>) {
    for p in panels.as_array().into_iter().flatten() {
        let title = p["title"].as_str().unwrap_or("?").to_string();
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("panel {title:?}: a target without expr"));
            out.push((title.clone(), expr.to_string()));
        }
        queries(&p["panels"], out);
    }
}

/// The metric names in the first column of the README's metric table.
fn readme_metric_names() -> Vec<String> {
    let readme = include_str!("../../README.md");
    let table = readme
        .split("| metric | type | labels | modes | meaning |")
        .nth(1)
        .expect("README has the metric table");
    table
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| l.split('`').nth(1).map(str::to_string))
        .collect()
}

#[test]
fn every_dashboard_query_passes_promtool_and_every_metric_has_a_panel() {
    let d = dashboard();
    let mut qs = Vec::new();
    queries(&d["panels"], &mut qs);
    assert!(qs.len() >= 10, "the dashboard has its panels: {qs:?}");

    let names = readme_metric_names();
    for contract in [
        "sidekick_build_info",
        "sidekick_registered",
        "sidekick_probe_duration_seconds",
        "sidekick_lbsync_leader",
        "sidekick_lbsync_nodes",
        "sidekick_lbsync_api_requests_total",
    ] {
        assert!(
            names.iter().any(|n| n == contract),
            "README lists {contract}"
        );
    }
    for name in &names {
        assert!(
            qs.iter().any(|(_, e)| e.contains(name.as_str())),
            "no dashboard panel queries {name}"
        );
    }

    let rules: Vec<serde_json::Value> = qs
        .iter()
        .enumerate()
        .map(|(i, (title, expr))| {
            let mut e = expr.clone();
            for (var, value) in VARIABLES {
                e = e.replace(var, value);
            }
            assert!(
                !e.contains('$'),
                "panel {title:?}: unknown variable in {expr}"
            );
            serde_json::json!({ "record": format!("dashboard:query_{i}"), "expr": e })
        })
        .collect();
    // JSON is YAML: promtool reads the rule file as written here.
    let file = serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dashboard.rules.json");
    std::fs::write(&path, file.to_string()).expect("write the rules");
    let out = promtool(
        &["check", "rules", path.to_str().expect("utf-8 path")],
        None,
    );
    assert!(
        out.status.success(),
        "promtool check rules refused a dashboard query: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        serde_json::to_string_pretty(&file).unwrap_or_default()
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("SUCCESS: {} rules found", qs.len())),
        "{said}"
    );
}
