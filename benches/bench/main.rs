//! `cargo bench --bench bench` (run through `scripts/bench`): sidekick's performance figures on
//! this machine, written as a markdown report. Registration and deregistration latency of
//! `sidekick run` and of the 2014 shell sidekick, the footprint of one and of many idle agents,
//! `sidekick host` beside as many labelled containers, and lbsync's latency and API calls against
//! the CLB emulator, the cost of `--metrics-addr`, and a rolling deploy under load through nginx
//! (`rolling`). A benchmark, not a test: missed
//! targets are reported, not failed; the exit code is non-zero only when a part could not run.
//!
//! Options: `--quick` (fewer repetitions, shorter windows), `--report PATH` (markdown),
//! `--raw PATH` (every sample as JSON), `--figures DIR` (the SVG figures, drawn from the same
//! samples; the report links them as `figures/NAME.svg`), `--only LIST` (comma-separated parts: sidekick, shell,
//! rolling, footprint, many, host, lbsync, idle, metrics, podman, abuse). Progress goes to stderr. `BENCH_LBSYNC_LOG=PREFIX` keeps lbsync's
//! debug log as `PREFIX-<pending>ms.log`.

mod cycle;
mod detail;
mod dockerapi;
mod engines;
mod figures;
mod footprint;
mod host;
mod host_floor;
mod idle;
mod lbsync;
mod lbsync_scale;
mod logs;
mod metrics;
mod metrics_abuse;
mod registration;
mod report;
mod rolling;
mod rolling_load;
mod shell;
mod stats;
mod sys;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How much to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    pub quick: bool,
    pub floor_n: usize,
    pub sidekick_n: usize,
    pub shell_n: usize,
    pub settle: Duration,
    pub idle: Duration,
    pub many_n: usize,
    pub lbsync_n: usize,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            quick: false,
            floor_n: 20,
            sidekick_n: 25,
            shell_n: 5,
            settle: Duration::from_secs(3),
            idle: Duration::from_secs(60),
            many_n: 50,
            lbsync_n: 20,
        }
    }

    fn quick() -> Plan {
        Plan {
            quick: true,
            floor_n: 5,
            sidekick_n: 5,
            shell_n: 2,
            settle: Duration::from_secs(2),
            idle: Duration::from_secs(15),
            many_n: 10,
            lbsync_n: 5,
        }
    }
}

const PARTS: [&str; 11] = [
    "sidekick",
    "shell",
    "rolling",
    "footprint",
    "many",
    "host",
    "lbsync",
    "idle",
    "metrics",
    "podman",
    "abuse",
];

struct Args {
    quick: bool,
    report: Option<String>,
    raw: Option<String>,
    figures: Option<String>,
    only: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        quick: false,
        report: None,
        raw: None,
        figures: None,
        only: PARTS.iter().map(|s| s.to_string()).collect(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--report" => a.report = Some(it.next().ok_or("--report needs a path")?),
            "--raw" => a.raw = Some(it.next().ok_or("--raw needs a path")?),
            "--figures" => a.figures = Some(it.next().ok_or("--figures needs a directory")?),
            "--only" => {
                let list = it.next().ok_or("--only needs a list")?;
                a.only = list.split(',').map(|s| s.trim().to_string()).collect();
                if let Some(bad) = a.only.iter().find(|p| !PARTS.contains(&p.as_str())) {
                    return Err(format!(
                        "--only: unknown part {bad:?} (known: {})",
                        PARTS.join(", ")
                    ));
                }
            }
            // `cargo bench` passes --bench to harness-less benchmarks.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(a)
}

/// Runs one part, turning a panic (a harness wait that timed out) into an error line.
fn part<T>(
    name: &str,
    errors: &mut Vec<String>,
    f: impl FnOnce() -> Result<T, String>,
) -> Option<T> {
    eprintln!("bench: --- {name} ---");
    let started = Instant::now();
    let out = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            errors.push(format!("{name}: {e}"));
            None
        }
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            errors.push(format!("{name}: {msg}"));
            None
        }
    };
    eprintln!(
        "bench: {name} took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    out
}

fn main() -> ExitCode {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it, and a
    // ten-minute benchmark has no place in the test suite.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bench: not run under cargo test; use scripts/bench");
        return ExitCode::SUCCESS;
    }
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    let plan = if args.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let started = Instant::now();
    let mut r = report::Results {
        command: format!("scripts/bench{}", if args.quick { " --quick" } else { "" }),
        quick: args.quick,
        host: Some(sys::host_info()),
        ..Default::default()
    };
    let on = |p: &str| args.only.iter().any(|x| x == p);
    let mut errors = Vec::new();
    // Build (or find) the web image once, outside every measurement.
    testkit::docker::web_image();
    if on("sidekick") {
        r.sidekick = part(
            "sidekick run: registration/deregistration",
            &mut errors,
            || registration::sidekick(&plan),
        );
    }
    if on("shell") {
        r.shell = part(
            "2014 shell loop: registration/deregistration",
            &mut errors,
            || registration::shell(&plan),
        );
    }
    if on("rolling") {
        r.rolling = part("rolling deploy under load", &mut errors, || {
            rolling::run(&plan)
        });
    }
    if on("footprint") {
        r.one_agent = part("footprint: one agent", &mut errors, || {
            footprint::one_agent(&plan)
        });
        r.shell_footprint = part("footprint: 2014 shell loop", &mut errors, || {
            footprint::shell_loop(&plan)
        });
    }
    if on("many") {
        r.many = part("footprint: many agents", &mut errors, || {
            footprint::many(&plan)
        });
    }
    if on("host") {
        r.host_mode = part(
            "sidekick host: many containers, one agent",
            &mut errors,
            || host::run(&plan),
        );
    }
    if on("metrics") {
        r.metrics = part("metrics on vs off", &mut errors, || metrics::run(&plan));
    }
    if on("abuse") {
        r.metrics_abuse = part("metrics port under abuse", &mut errors, || {
            metrics_abuse::run(&plan)
        });
    }
    if on("lbsync") {
        for pending in [Duration::ZERO, Duration::from_millis(300)] {
            let name = format!("lbsync, PENDING {} ms", pending.as_millis());
            if let Some(x) = part(&name, &mut errors, || lbsync::run(&plan, pending)) {
                r.lbsync.push(x);
            }
        }
        r.lbsync_scale = part("lbsync nginx, 20 000 instances", &mut errors, || {
            lbsync_scale::run(&plan)
        });
    }
    if on("podman") {
        r.engines = part("sidekick run on Docker and on Podman", &mut errors, || {
            engines::run(&plan)
        });
    }
    if on("idle") {
        r.idle = part("idle: raft proposals", &mut errors, || idle::run(&plan));
    }
    r.errors = errors;
    r.run_secs = started.elapsed().as_secs_f64();
    r.loadavg_end = sys::loadavg();
    if let Some(dir) = &args.figures {
        r.figures = figures::write(&r, std::path::Path::new(dir));
    }
    let md = report::render(&r, &plan);
    let mut rc = if r.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if let Some(path) = &args.report {
        if let Err(e) = std::fs::write(path, &md) {
            eprintln!("bench: write {path}: {e}");
            rc = ExitCode::from(1);
        }
    } else {
        print!("{md}");
    }
    if let Some(path) = &args.raw {
        match serde_json::to_string_pretty(&r) {
            Ok(j) => {
                if let Err(e) = std::fs::write(path, j) {
                    eprintln!("bench: write {path}: {e}");
                }
            }
            Err(e) => eprintln!("bench: encode raw results: {e}"),
        }
    }
    for e in &r.errors {
        eprintln!("bench: ERROR {e}");
    }
    rc
}
