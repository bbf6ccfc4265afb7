//! The `sidekick` binary: parse the command line, set up logging, run one mode, map the outcome
//! to an exit code (0 ok, 1 failure / not registrable, 2 bad usage or input). The mapping is
//! explicit: 2 comes from `config` (flags, files, values) and from the few run-time errors that
//! say the configuration is wrong, each listed in its mode's function below (lbsync: credentials
//! Identity rejects at start, see `LbsyncError::is_config`); everything else that fails is 1.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::Parser;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

use sidekick::check::FromLabels;
use sidekick::cli::AgentArgs;
use sidekick::cli::{Cli, Command, LogFormat};
use sidekick::config::host::{service_label, KEY};
use sidekick::config::{
    container_reference, metrics_addr, AgentConfig, ConfigError, HostConfig, HostDefaults,
    LbsyncConfig, Service,
};
use sidekick::telemetry::{self, Mode};

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    // Colours only on a terminal: log files and journald get plain text.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .init();
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn usage_error(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("sidekick: {e}");
    ExitCode::from(2)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // One thread is plenty for one container and keeps the agent small.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Parses the command line. A value clap refuses (a flag's parser said no) is one line naming the
/// flag and the value, exit 2, like every config error; help, version and the other clap errors
/// (missing or unknown flags, with their usage) are clap's own.
fn parse_cli() -> Result<Cli, ExitCode> {
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ValueValidation | ErrorKind::InvalidValue
            ) =>
        {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            Err(usage_error(first.trim_start_matches("error: ")))
        }
        Err(e) => e.exit(),
    }
}

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging(cli.log_format);
    if let Some(file) = &cli.require_env_file {
        if let Err(e) = sidekick::config::require_env_file(file) {
            return usage_error(e);
        }
    }
    let result = match cli.command {
        Command::Run(args) => match (
            AgentConfig::from_args(&args.agent, args.resync_interval, &env),
            metrics_addr(args.metrics.metrics_addr.as_deref()),
        ) {
            (Ok(cfg), Ok(addr)) => run(cfg, addr),
            (Err(e), _) | (_, Err(e)) => return usage_error(e),
        },
        Command::Check(args) if args.agent.key.is_none() => {
            match labelled_check_args(&args.agent) {
                Ok((defaults, container)) => check_labelled(defaults, &container, args.json),
                Err(e) => return usage_error(e),
            }
        }
        Command::Check(args) => {
            match AgentConfig::from_args(
                &args.agent,
                sidekick::cli::limits::RESYNC_INTERVAL.default_value(),
                &env,
            ) {
                Ok(cfg) => check(cfg, args.json),
                Err(e) => return usage_error(e),
            }
        }
        Command::Host(args) => match (
            HostConfig::from_args(&args, &env),
            metrics_addr(args.metrics.metrics_addr.as_deref()),
        ) {
            (Ok(cfg), Ok(addr)) => host(cfg, addr),
            (Err(e), _) | (_, Err(e)) => return usage_error(e),
        },
        Command::Lbsync(args) => match (
            LbsyncConfig::from_args(&args, &env),
            metrics_addr(args.metrics.metrics_addr.as_deref()),
        ) {
            (Ok(cfg), Ok(addr)) => lbsync(cfg, addr),
            (Err(e), _) | (_, Err(e)) => return usage_error(e),
        },
        Command::GenerateDocs { dir } => sidekick::docgen::generate(&dir)
            .map(|files| {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            })
            .map_err(anyhow::Error::from),
    };
    // What the user can get wrong in the flags was refused above by `config`; what fails now is
    // 1, except what etcd refuses at startup (credentials, permissions): that is configuration
    // too, 2.
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sidekick: {e:#}");
            ExitCode::from(exit_code_of(&e))
        }
    }
}

/// The exit code of a failed mode, from the kind of its error: 2 for configuration errors found
/// at startup (etcd refused the credentials or a permission the mode needs), else 1.
fn exit_code_of(e: &anyhow::Error) -> u8 {
    let config = e
        .downcast_ref::<sidekick::agent::AgentError>()
        .is_some_and(|e| e.is_config())
        || e.downcast_ref::<sidekick::lbsync::LbsyncError>()
            .is_some_and(|e| e.is_config());
    if config {
        2
    } else {
        1
    }
}

/// The signal that ends a mode, telling systemd `STOPPING=1` when it comes.
fn shutdown() -> impl std::future::Future<Output = ()> {
    telemetry::stopping_on(sidekick::signals::terminate())
}

fn run(cfg: AgentConfig, metrics: Option<SocketAddr>) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        telemetry::start(Mode::Run, metrics).await?;
        sidekick::agent::run(cfg, shutdown()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn host(cfg: HostConfig, metrics: Option<SocketAddr>) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        telemetry::start(Mode::Host, metrics).await?;
        sidekick::host::run(cfg, shutdown()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `check` without `--key`: the host-level flags, and the container whose labels say the rest.
/// The container's own flags would be ignored, so they are refused.
fn labelled_check_args(a: &AgentArgs) -> Result<(HostDefaults, String), ConfigError> {
    let given = [
        ("--container-port", a.container_port.is_some()),
        ("--unit", a.unit.is_some()),
        ("--format", a.format.is_some()),
        ("--value-template", a.value_template.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
        return Err(ConfigError::Invalid(format!(
            "{flag} needs --key (without --key, check reads the container's sidekick.* labels)"
        )));
    }
    Ok((
        HostDefaults::from_args(&a.shared, &env)?,
        container_reference(&a.container)?,
    ))
}

fn check_labelled(defaults: HostDefaults, container: &str, json: bool) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let resync = sidekick::cli::limits::RESYNC_INTERVAL.default_value();
    match rt.block_on(sidekick::check::from_labels(&defaults, resync, container)) {
        FromLabels::Found { services, note } => {
            drop(rt);
            match services {
                Ok(services) => check_services(services, json, note),
                Err(e) => Ok(usage_error(e)),
            }
        }
        other => {
            print!(
                "{}",
                sidekick::check::render_without_labels(container, &other, json)
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn lbsync(cfg: LbsyncConfig, metrics: Option<SocketAddr>) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    runtime()?.block_on(async {
        telemetry::start(Mode::Lbsync, metrics).await?;
        sidekick::lbsync::run(cfg, shutdown()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// A labelled `check`: one report per service of the container, each headed by the label that
/// declares it when there are several. A service whose labels do not parse is reported on stderr
/// and makes the exit 2; the others are still checked.
fn check_services(services: Vec<Service>, json: bool, note: String) -> anyhow::Result<ExitCode> {
    if let [one] = services.as_slice() {
        return match &one.config {
            Ok(cfg) => check_with_note(cfg.clone(), json, Some(note)),
            Err(e) => Ok(usage_error(e)),
        };
    }
    let rt = runtime()?;
    let (mut all_registrable, mut bad, mut shown) = (true, false, Vec::new());
    for s in &services {
        let label = service_label(&s.name, KEY);
        match &s.config {
            Ok(cfg) => {
                let mut report = rt.block_on(sidekick::check::gather(cfg));
                report.notes.insert(0, note.clone());
                all_registrable &= report.registrable;
                if json {
                    let mut v = serde_json::to_value(&report).context("encoding the report")?;
                    v["service"] = label.into();
                    shown.push(v);
                } else {
                    print!(
                        "{:<12}{label}\n{}",
                        "service",
                        sidekick::check::render_text(cfg, &report)
                    );
                }
            }
            Err(e) => {
                bad = true;
                eprintln!("sidekick: {e}");
                if json {
                    shown.push(serde_json::json!({ "service": label, "error": e.to_string() }));
                } else {
                    println!(
                        "{:<12}{label}\n{:<12}NOT managed: {e}",
                        "service", "verdict"
                    );
                }
            }
        }
    }
    if json {
        let v = serde_json::json!({ "registrable": all_registrable && !bad, "services": shown });
        println!("{v:#}");
    }
    Ok(match (bad, all_registrable) {
        (true, _) => ExitCode::from(2),
        (false, true) => ExitCode::SUCCESS,
        (false, false) => ExitCode::from(1),
    })
}

fn check(cfg: AgentConfig, json: bool) -> anyhow::Result<ExitCode> {
    check_with_note(cfg, json, None)
}

fn check_with_note(cfg: AgentConfig, json: bool, note: Option<String>) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let source = if note.is_some() {
        "label sidekick.network"
    } else {
        "--network"
    };
    if let Some(e) = rt.block_on(sidekick::check::missing_network(&cfg, source)) {
        return Ok(usage_error(format!("container {:?}: {e}", cfg.container)));
    }
    let mut report = rt.block_on(sidekick::check::gather(&cfg));
    report.notes.splice(0..0, note);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("encoding the report")?
        );
    } else {
        print!("{}", sidekick::check::render_text(&cfg, &report));
    }
    Ok(if report.registrable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
