//! SVG figures for the benchmark report (`scripts/bench`), drawn with plotters' SVG backend only:
//! no system library and no font file (text is written as SVG `<text>`, its size estimated by
//! plotters). Pure: figures in, SVG text out; the bench decides what to draw from its samples and
//! where to write it. A figure is one or more panels side by side or stacked, each with named
//! axes, lines (steps, straight segments or points only) and labelled vertical markers.

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

/// How the panels of a figure are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    SideBySide,
    Stacked,
}

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Straight segments with a dot at each point.
    Line,
    /// Dashed straight segments (a floor, a reference).
    Dashed,
    /// A staircase: each value holds until the next point (counts over time, distributions).
    Steps,
}

#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
    /// Index into the palette: the same subject keeps one colour across panels and figures.
    pub color: usize,
}

#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub x_axis: String,
    pub y_axis: String,
    /// Logarithmic time axis (latencies spanning milliseconds to seconds).
    pub log_x: bool,
    pub series: Vec<Series>,
    /// Vertical lines at x with a label (e.g. Docker's `die` event).
    pub markers: Vec<(f64, String)>,
}

#[derive(Debug, Clone)]
pub struct Figure {
    pub title: String,
    pub layout: Layout,
    pub panels: Vec<Panel>,
}

/// sidekick, the 2014 loop, a floor, a third subject.
pub const SIDEKICK: usize = 0;
pub const SHELL_2014: usize = 1;
pub const FLOOR: usize = 2;
pub const OTHER: usize = 3;
const PALETTE: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(110, 110, 110),
    RGBColor(44, 160, 44),
];
const FONT: &str = "sans-serif";

/// The empirical cumulative distribution of `samples`: (value, % of samples ≤ value), a step per
/// sample, starting at 0 %.
pub fn cdf(samples: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let mut out = Vec::with_capacity(v.len() + 1);
    if let Some(first) = v.first() {
        out.push((*first, 0.0));
    }
    for (i, x) in v.iter().enumerate() {
        out.push((*x, 100.0 * (i + 1) as f64 / n));
    }
    out
}

impl Series {
    pub fn new(label: &str, style: Style, color: usize, points: Vec<(f64, f64)>) -> Series {
        Series {
            label: label.to_string(),
            points,
            style,
            color,
        }
    }
}

/// Renders `fig` as an SVG document.
pub fn render(fig: &Figure) -> Result<String, String> {
    if fig.panels.is_empty() {
        return Err(format!("figure {:?} has no panel", fig.title));
    }
    let n = fig.panels.len() as u32;
    let size = match fig.layout {
        Layout::SideBySide => (460 * n, 400),
        Layout::Stacked => (860, 60 + 240 * n),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(&fig.title, (FONT, 20))
            .map_err(|e| e.to_string())?;
        let areas = match fig.layout {
            Layout::SideBySide => root.split_evenly((1, fig.panels.len())),
            Layout::Stacked => root.split_evenly((fig.panels.len(), 1)),
        };
        for (area, panel) in areas.iter().zip(&fig.panels) {
            draw_panel(area, panel)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<(), String> {
    let points = p.series.iter().flat_map(|s| s.points.iter());
    let xs = points
        .clone()
        .map(|pt| pt.0)
        .chain(p.markers.iter().map(|m| m.0));
    let xs: Vec<f64> = xs
        .filter(|x| x.is_finite() && (!p.log_x || *x > 0.0))
        .collect();
    let ys: Vec<f64> = points.map(|pt| pt.1).filter(|y| y.is_finite()).collect();
    let (Some(x_lo), Some(x_hi)) = (
        xs.iter().copied().reduce(f64::min),
        xs.iter().copied().reduce(f64::max),
    ) else {
        return Err(format!("panel {:?} has no data", p.title));
    };
    let y_hi = ys.iter().copied().fold(0.0, f64::max);
    let y_lo = ys.iter().copied().fold(0.0, f64::min);
    let y_range = y_lo..(if y_hi > y_lo { y_hi * 1.08 } else { y_lo + 1.0 });
    let mut chart = ChartBuilder::on(area);
    chart
        .caption(&p.title, (FONT, 15))
        .margin(12)
        .x_label_area_size(44)
        .y_label_area_size(64);
    if p.log_x {
        let x_range = (x_lo / 1.5)..(x_hi * 1.5);
        let chart = chart
            .build_cartesian_2d(x_range.log_scale(), y_range)
            .map_err(|e| e.to_string())?;
        finish(chart, p)
    } else {
        let pad = ((x_hi - x_lo) * 0.03).max(1e-9);
        let x_range = (x_lo - pad)..(x_hi + pad);
        let chart = chart
            .build_cartesian_2d(x_range, y_range)
            .map_err(|e| e.to_string())?;
        finish(chart, p)
    }
}

fn finish<'a, DB, X>(
    mut chart: ChartContext<'a, DB, Cartesian2d<X, RangedCoordf64>>,
    p: &Panel,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(&p.x_axis)
        .y_desc(&p.y_axis)
        .label_style((FONT, 12))
        .axis_desc_style((FONT, 13))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(|e| e.to_string())?;
    let (_, y_span) = (chart.x_range(), chart.y_range());
    for (x, label) in &p.markers {
        let line = vec![(*x, y_span.start), (*x, y_span.end)];
        chart
            .draw_series(DashedLineSeries::new(line, 6, 4, BLACK.stroke_width(1)))
            .map_err(|e| e.to_string())?;
        let y_text = y_span.start + (y_span.end - y_span.start) * 0.5;
        chart
            .draw_series(std::iter::once(Text::new(
                label.clone(),
                (*x, y_text),
                (FONT, 12).into_font().color(&BLACK),
            )))
            .map_err(|e| e.to_string())?;
    }
    for s in &p.series {
        let color = PALETTE[s.color % PALETTE.len()];
        let style = color.stroke_width(2);
        let pts = match s.style {
            Style::Steps => steps(&s.points),
            Style::Line | Style::Dashed => s.points.clone(),
        };
        let drawn = match s.style {
            Style::Dashed => chart.draw_series(DashedLineSeries::new(pts, 8, 5, style)),
            Style::Line | Style::Steps => chart.draw_series(LineSeries::new(pts, style)),
        }
        .map_err(|e| e.to_string())?;
        drawn.label(s.label.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
        });
        if s.style != Style::Dashed {
            chart
                .draw_series(
                    s.points
                        .iter()
                        .map(|pt| Circle::new(*pt, 2, color.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
    }
    if p.series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font((FONT, 12))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Registration and deregistration latency of one subject (ms, one sample per cycle).
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    pub label: String,
    pub reg_ms: Vec<f64>,
    pub dereg_ms: Vec<f64>,
}

/// Figure "latency": the distributions (cumulative, log time axis) of registration and
/// deregistration, one line per subject; `die_ms` marks Docker's `die` event after the stop
/// request (the container's stop timeout) on the deregistration panel.
pub fn latency_figure(subjects: &[(Latencies, usize)], die_ms: Option<f64>) -> Figure {
    let panel = |title: &str, x: &str, pick: fn(&Latencies) -> &Vec<f64>| Panel {
        title: title.into(),
        x_axis: x.into(),
        y_axis: "cycles at or below (%)".into(),
        log_x: true,
        series: subjects
            .iter()
            .filter(|(l, _)| !pick(l).is_empty())
            .map(|(l, c)| {
                let label = format!("{} (N={})", l.label, pick(l).len());
                Series::new(&label, Style::Steps, *c, cdf(pick(l)))
            })
            .collect(),
        markers: vec![],
    };
    let mut dereg = panel(
        "deregistration",
        "stop request → keys gone (ms, log scale)",
        |l| &l.dereg_ms,
    );
    if let Some(die) = die_ms {
        dereg.markers.push((die, " die event".into()));
    }
    Figure {
        title: "registration and deregistration latency".into(),
        layout: Layout::SideBySide,
        panels: vec![
            panel(
                "registration",
                "start event → last key written (ms, log scale)",
                |l| &l.reg_ms,
            ),
            dereg,
        ],
    }
}

/// One second of a rolling deploy under load, as the load generator saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeployPoint {
    /// Seconds since the deploy began.
    pub t_s: f64,
    /// Requests answered 2xx in that second.
    pub ok_per_s: f64,
    /// Requests failed (error status, reset, timeout) in that second.
    pub failed_per_s: f64,
}

/// One subject's rolling deploy: the load generator's seconds and the load balancer's membership
/// (sampled more often than once a second, so a short dip shows).
#[derive(Debug, Clone, Default)]
pub struct DeployRun {
    pub label: String,
    /// Palette index ([`SIDEKICK`], [`SHELL_2014`]).
    pub color: usize,
    pub load: Vec<DeployPoint>,
    /// (seconds since the deploy began, backends in the load balancer).
    pub members: Vec<(f64, f64)>,
}

/// Figure "rolling deploy": requests per second, failed requests and load-balancer membership
/// over time, one line per subject (sidekick, the 2014 loop); `steps` marks when each old
/// container was told to stop (the first subject's schedule).
pub fn rolling_deploy_figure(runs: &[DeployRun], steps: &[f64]) -> Figure {
    let panel = |title: &str, y: &str, pick: &dyn Fn(&DeployRun) -> Vec<(f64, f64)>| Panel {
        title: title.into(),
        x_axis: "time since the deploy began (s)".into(),
        y_axis: y.into(),
        log_x: false,
        series: runs
            .iter()
            .map(|r| Series::new(&r.label, Style::Steps, r.color, pick(r)))
            .collect(),
        markers: vec![],
    };
    let per_s = |f: fn(&DeployPoint) -> f64| {
        move |r: &DeployRun| r.load.iter().map(|p| (p.t_s, f(p))).collect::<Vec<_>>()
    };
    let mut members = panel("load balancer membership", "backends in the LB", &|r| {
        changes(&r.members)
    });
    members.markers = steps
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, format!(" stop {}", i + 1)))
        .collect();
    Figure {
        title: "rolling deploy under load".into(),
        layout: Layout::Stacked,
        panels: vec![
            panel(
                "requests answered",
                "requests/s (2xx)",
                &per_s(|p| p.ok_per_s),
            ),
            panel(
                "failed requests",
                "failed requests/s",
                &per_s(|p| p.failed_per_s),
            ),
            members,
        ],
    }
}

/// A step series reduced to where its value changes (and its last sample): drawn as steps it is
/// the same line, without one vertex per 100 ms sample.
fn changes(v: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = Vec::new();
    for (i, &p) in v.iter().enumerate() {
        if out.last().is_none_or(|l| l.1 != p.1) || i + 1 == v.len() {
            out.push(p);
        }
    }
    out
}

/// One lbsync run over `instances` instances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalePoint {
    pub instances: f64,
    /// Start → the load balancer holds every instance.
    pub converge_ms: f64,
    /// lbsync's RSS then.
    pub rss_mib: f64,
}

/// Figure "lbsync convergence": time to a full load balancer and RSS against the number of
/// instances.
pub fn lbsync_scale_figure(points: &[ScalePoint]) -> Figure {
    let series = |pick: fn(&ScalePoint) -> f64| {
        let pts = points.iter().map(|p| (p.instances, pick(p))).collect();
        vec![Series::new(
            "sidekick lbsync (nginx)",
            Style::Line,
            SIDEKICK,
            pts,
        )]
    };
    Figure {
        title: "lbsync: convergence against the number of instances".into(),
        layout: Layout::SideBySide,
        panels: vec![
            Panel {
                title: "start → full upstream".into(),
                x_axis: "instances in etcd".into(),
                y_axis: "time to converge (ms)".into(),
                log_x: false,
                series: series(|p| p.converge_ms),
                markers: vec![],
            },
            Panel {
                title: "memory with the full upstream".into(),
                x_axis: "instances in etcd".into(),
                y_axis: "RSS (MiB)".into(),
                log_x: false,
                series: series(|p| p.rss_mib),
                markers: vec![],
            },
        ],
    }
}

/// `sidekick host` idle beside `containers` labelled containers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostPoint {
    pub containers: f64,
    /// % of one core over the idle window.
    pub cpu_pct: f64,
    pub rss_mib: f64,
    /// The probe floor at this many containers: a plain blocking prober's CPU at the agent's
    /// probe rate (% of one core).
    pub floor_pct: f64,
}

/// Figure "host footprint": CPU (with the probe floor) and RSS against the number of containers.
pub fn host_figure(points: &[HostPoint]) -> Figure {
    let pts = |pick: fn(&HostPoint) -> f64| -> Vec<(f64, f64)> {
        points.iter().map(|p| (p.containers, pick(p))).collect()
    };
    Figure {
        title: "sidekick host: footprint against the number of containers".into(),
        layout: Layout::SideBySide,
        panels: vec![
            Panel {
                title: "CPU, idle".into(),
                x_axis: "labelled containers".into(),
                y_axis: "CPU (% of one core)".into(),
                log_x: false,
                series: vec![
                    Series::new("sidekick host", Style::Line, SIDEKICK, pts(|p| p.cpu_pct)),
                    Series::new(
                        "probe floor (plain prober, same rate)",
                        Style::Dashed,
                        FLOOR,
                        pts(|p| p.floor_pct),
                    ),
                ],
                markers: vec![],
            },
            Panel {
                title: "memory, idle".into(),
                x_axis: "labelled containers".into(),
                y_axis: "RSS (MiB)".into(),
                log_x: false,
                series: vec![Series::new(
                    "sidekick host",
                    Style::Line,
                    SIDEKICK,
                    pts(|p| p.rss_mib),
                )],
                markers: vec![],
            },
        ],
    }
}

/// A staircase through `points`: each y holds until the next x.
fn steps(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, pt) in points.iter().enumerate() {
        if i > 0 {
            out.push((pt.0, points[i - 1].1));
        }
        out.push(*pt);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_steps_to_100_percent_in_sorted_order() {
        assert_eq!(
            cdf(&[3.0, 1.0, f64::NAN, 2.0, 4.0]),
            vec![
                (1.0, 0.0),
                (1.0, 25.0),
                (2.0, 50.0),
                (3.0, 75.0),
                (4.0, 100.0)
            ]
        );
        assert!(cdf(&[]).is_empty());
    }

    #[test]
    fn steps_hold_each_value_until_the_next_point() {
        assert_eq!(
            steps(&[(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)]),
            vec![(0.0, 1.0), (1.0, 1.0), (1.0, 3.0), (2.0, 3.0), (2.0, 2.0)]
        );
    }

    #[test]
    fn a_panel_without_data_is_an_error_naming_it() {
        let fig = Figure {
            title: "t".into(),
            layout: Layout::SideBySide,
            panels: vec![Panel {
                title: "empty panel".into(),
                x_axis: "x".into(),
                y_axis: "y".into(),
                log_x: true,
                series: vec![Series::new("a", Style::Line, 0, vec![(0.0, 1.0)])],
                markers: vec![],
            }],
        };
        let e = render(&fig).unwrap_err();
        assert!(e.contains("empty panel"), "{e}");
    }
}
