//! The report's pictures: which SVG figures this run's samples allow, built from the same
//! samples as the tables (`testkit::plot` draws them) and written into the figures directory.
//! A figure whose samples this run lacks (a part not run, or failed) is listed as not drawn,
//! with the reason, never drawn from anything else.

use serde::Serialize;
use testkit::plot::{self, DeployPoint, DeployRun, Figure, HostPoint, Latencies, ScalePoint};

use super::report::Results;
use super::stats::summarize;

#[derive(Debug, Default, Serialize)]
pub struct Figures {
    /// (file name in the figures directory, title), in report order.
    pub drawn: Vec<(String, String)>,
    /// (figure, why it is not drawn).
    pub missing: Vec<(String, String)>,
}

/// The figures' file names, in report order (README.md links the first two).
pub const LATENCY: &str = "latency.svg";
pub const ROLLING_DEPLOY: &str = "rolling-deploy.svg";
pub const LBSYNC_SCALE: &str = "lbsync-scale.svg";
pub const HOST: &str = "host-footprint.svg";

/// Builds one figure from the run's results, or says why it cannot.
type Build = fn(&Results) -> Result<Figure, String>;

fn latency(r: &Results) -> Result<Figure, String> {
    let s = r.sidekick.as_ref().ok_or("the sidekick part did not run")?;
    let mut subjects = vec![(
        Latencies {
            label: "sidekick run".into(),
            reg_ms: s.cycles.reg.iter().map(|x| x.latency_ms).collect(),
            dereg_ms: s.cycles.dereg.iter().map(|x| x.latency_ms).collect(),
        },
        plot::SIDEKICK,
    )];
    if let Some(c) = &r.shell {
        subjects.push((
            Latencies {
                label: "2014 shell loop".into(),
                reg_ms: c.reg.iter().map(|x| x.latency_ms).collect(),
                dereg_ms: c.dereg.iter().map(|x| x.latency_ms).collect(),
            },
            plot::SHELL_2014,
        ));
    }
    // Docker's `die` after the stop request: the DELETE's time plus its margin, per cycle.
    let die: Vec<f64> = s
        .cycles
        .dereg
        .iter()
        .chain(r.shell.iter().flat_map(|c| c.dereg.iter()))
        .map(|d| d.latency_ms + d.margin_ms)
        .collect();
    Ok(plot::latency_figure(
        &subjects,
        summarize(&die).map(|x| x.median),
    ))
}

fn rolling_deploy(r: &Results) -> Result<Figure, String> {
    let x = r.rolling.as_ref().ok_or("the rolling part did not run")?;
    let runs: Vec<DeployRun> = x
        .runs
        .iter()
        .zip([plot::SIDEKICK, plot::SHELL_2014, plot::OTHER])
        .map(|(run, color)| DeployRun {
            label: run.label.clone(),
            color,
            load: run
                .per_second
                .iter()
                .map(|s| DeployPoint {
                    t_s: s.t_s as f64,
                    ok_per_s: s.ok as f64,
                    failed_per_s: s.failed as f64,
                })
                .collect(),
            members: run
                .members
                .iter()
                .map(|s| (s.t_s, s.members as f64))
                .collect(),
        })
        .collect();
    let steps = x.runs.first().map(|r| r.stops.clone()).unwrap_or_default();
    Ok(plot::rolling_deploy_figure(&runs, &steps))
}

fn lbsync_scale(r: &Results) -> Result<Figure, String> {
    let s = r
        .lbsync_scale
        .as_ref()
        .ok_or("the lbsync part did not run (or its 20 000-instance run failed)")?;
    let pts: Vec<ScalePoint> = s
        .sweep
        .iter()
        .map(|p| ScalePoint {
            instances: p.instances as f64,
            converge_ms: p.full_upstream_ms,
            rss_mib: p.rss_mib,
        })
        .collect();
    Ok(plot::lbsync_scale_figure(&pts))
}

fn host(r: &Results) -> Result<Figure, String> {
    let h = r.host_mode.as_ref().ok_or("the host part did not run")?;
    let floor = h
        .probe_floor
        .as_ref()
        .ok_or("the host part has no probe floor")?;
    // The probe floor at k containers: the prober's CPU per probe at the agent's rate
    // (k containers ÷ the 5 s interval the floor was measured at).
    let per_container_pct = floor.pct_at_rate / h.n as f64;
    let cpu = |w: &super::footprint::Window| w.cpu_pct.max(w.cpu_pct_ns.unwrap_or(0.0));
    let point = |k: usize, w: &super::footprint::Window| HostPoint {
        containers: k as f64,
        cpu_pct: cpu(w),
        rss_mib: w.rss_kb.median / 1024.0,
        floor_pct: per_container_pct * k as f64,
    };
    let mut pts: Vec<HostPoint> = h
        .sweep
        .iter()
        .map(|p| point(p.containers, &p.window))
        .collect();
    pts.push(point(h.n, &h.window));
    Ok(plot::host_figure(&pts))
}

/// Draws every figure this run allows into `dir`.
pub fn write(r: &Results, dir: &std::path::Path) -> Figures {
    let mut out = Figures::default();
    let all: [(&str, Build); 4] = [
        (LATENCY, latency),
        (ROLLING_DEPLOY, rolling_deploy),
        (LBSYNC_SCALE, lbsync_scale),
        (HOST, host),
    ];
    if let Err(e) = std::fs::create_dir_all(dir) {
        out.missing
            .push(("every figure".into(), format!("{}: {e}", dir.display())));
        return out;
    }
    for (file, build) in all {
        let drawn = build(r).and_then(|fig| {
            let svg = plot::render(&fig)?;
            std::fs::write(dir.join(file), svg)
                .map_err(|e| format!("write {}: {e}", dir.join(file).display()))?;
            Ok(fig.title)
        });
        match drawn {
            Ok(title) => out.drawn.push((file.to_string(), title)),
            Err(e) => out.missing.push((file.to_string(), e)),
        }
    }
    out
}
