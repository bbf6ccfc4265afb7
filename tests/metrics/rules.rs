//! The README's example alert rules are valid Prometheus rules (`promtool check rules`) and use
//! the metric names sidekick exports.

use super::*;

fn readme_rules() -> String {
    let readme = include_str!("../../README.md");
    let begin = readme
        .find("<!-- alert-rules:begin -->")
        .expect("README has the alert-rules block");
    let end = readme
        .find("<!-- alert-rules:end -->")
        .expect("README closes the alert-rules block");
    let block = &readme[begin..end];
    let start = block.find("```yaml\n").expect("a yaml fence") + "```yaml\n".len();
    let stop = block.rfind("```").expect("a closing fence");
    block[start..stop].to_string()
}

#[test]
fn the_readme_alert_rules_pass_promtool() {
    let rules = readme_rules();
    for name in [
        "sidekick_registered",
        "sidekick_lbsync_leader",
        "sidekick_lbsync_last_success_timestamp_seconds",
    ] {
        assert!(rules.contains(name), "the rules use {name}");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sidekick.rules.yml");
    std::fs::write(&path, &rules).expect("write the rules");
    let out = promtool(
        &["check", "rules", path.to_str().expect("utf-8 path")],
        None,
    );
    assert!(
        out.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("SUCCESS: 3 rules found"), "{said}");
}
