//! Every figure of the benchmark report, rendered from a small fixed sample: the SVG parses as
//! XML, is an `<svg>` document, and names its axes and series in `<text>` elements.

use testkit::plot::{
    host_figure, latency_figure, lbsync_scale_figure, render, rolling_deploy_figure, DeployPoint,
    DeployRun, Figure, HostPoint, Latencies, ScalePoint, SHELL_2014, SIDEKICK,
};

/// The texts of the SVG, after checking it parses and is an `<svg>` document.
fn texts(fig: &Figure) -> Vec<String> {
    let svg = render(fig).unwrap_or_else(|e| panic!("{}: {e}", fig.title));
    let doc = roxmltree::Document::parse(&svg)
        .unwrap_or_else(|e| panic!("{}: not well-formed SVG: {e}\n{svg}", fig.title));
    assert_eq!(doc.root_element().tag_name().name(), "svg", "{}", fig.title);
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

fn assert_names(fig: &Figure, want: &[&str]) {
    let got = texts(fig);
    for w in want.iter().chain(std::iter::once(&fig.title.as_str())) {
        assert!(
            got.iter().any(|t| t.contains(w)),
            "{}: no <text> says {w:?}; texts: {got:?}",
            fig.title
        );
    }
    for p in &fig.panels {
        for axis in [&p.x_axis, &p.y_axis] {
            assert!(
                got.iter().any(|t| t == axis),
                "{}: axis {axis:?} is not named",
                fig.title
            );
        }
    }
}

#[test]
fn latency_distributions_name_their_axes_subjects_and_the_die_event() {
    let sidekick = Latencies {
        label: "sidekick run".into(),
        reg_ms: vec![7.1, 12.4, 19.6, 25.2, 36.0],
        dereg_ms: vec![22.4, 27.4, 31.0, 36.7, 46.3],
    };
    let shell = Latencies {
        label: "2014 shell loop".into(),
        reg_ms: vec![427.6, 671.4, 9494.0],
        dereg_ms: vec![2354.0, 5335.0, 11404.0],
    };
    let fig = latency_figure(&[(sidekick, SIDEKICK), (shell, SHELL_2014)], Some(2100.0));
    assert!(fig.panels.iter().all(|p| p.log_x), "log-scale time axes");
    assert_names(
        &fig,
        &["sidekick run (N=5)", "2014 shell loop (N=3)", "die event"],
    );
}

#[test]
fn rolling_deploy_names_requests_failures_membership_and_steps() {
    let run = |label: &str, color: usize, failed: f64, members: [f64; 4]| DeployRun {
        label: label.into(),
        color,
        load: (0..4)
            .map(|i| DeployPoint {
                t_s: i as f64,
                ok_per_s: 200.0 - failed * i as f64,
                failed_per_s: failed * (i % 2) as f64,
            })
            .collect(),
        members: members
            .iter()
            .enumerate()
            .map(|(i, m)| (i as f64 * 0.1, *m))
            .collect(),
    };
    let fig = rolling_deploy_figure(
        &[
            run("sidekick run", SIDEKICK, 0.0, [3.0, 4.0, 3.0, 3.0]),
            run("2014 shell loop", SHELL_2014, 40.0, [3.0, 3.0, 2.0, 3.0]),
        ],
        &[1.5, 2.5],
    );
    assert_eq!(fig.panels.len(), 3);
    assert_names(
        &fig,
        &[
            "sidekick run",
            "2014 shell loop",
            "failed requests",
            "load balancer membership",
            "stop 2",
        ],
    );
}

#[test]
fn lbsync_scale_names_instances_time_and_memory() {
    let pts: Vec<ScalePoint> = [
        (2000.0, 80.0, 9.0),
        (10000.0, 350.0, 20.0),
        (20000.0, 690.0, 36.0),
    ]
    .iter()
    .map(|&(instances, converge_ms, rss_mib)| ScalePoint {
        instances,
        converge_ms,
        rss_mib,
    })
    .collect();
    assert_names(&lbsync_scale_figure(&pts), &["sidekick lbsync (nginx)"]);
}

#[test]
fn host_footprint_names_cpu_rss_and_the_probe_floor() {
    let pts: Vec<HostPoint> = [(10.0, 0.06, 8.9), (25.0, 0.12, 9.5), (50.0, 0.23, 10.5)]
        .iter()
        .map(|&(containers, cpu_pct, rss_mib)| HostPoint {
            containers,
            cpu_pct,
            rss_mib,
            floor_pct: containers * 127.5e-6 / 5.0 * 100.0,
        })
        .collect();
    assert_names(&host_figure(&pts), &["sidekick host", "probe floor"]);
}
