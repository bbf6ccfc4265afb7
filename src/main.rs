//! The `sidekick` binary: parse the command line, set up logging, run one mode, map the outcome
//! to an exit code (0 ok, 1 failure / not registrable, 2 bad usage or input).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::Parser;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

use sidekick::cli::{Cli, Command, LogFormat};
use sidekick::config::{AgentConfig, LbsyncConfig};

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
    let result = match cli.command {
        Command::Run(args) => match AgentConfig::from_args(&args.agent, args.resync_interval, &env)
        {
            Ok(cfg) => run(cfg),
            Err(e) => return usage_error(e),
        },
        Command::Check(args) => {
            match AgentConfig::from_args(
                &args.agent,
                sidekick::config::limits::RESYNC_INTERVAL.default_value(),
                &env,
            ) {
                Ok(cfg) => check(cfg, args.json),
                Err(e) => return usage_error(e),
            }
        }
        Command::Lbsync(args) => match LbsyncConfig::from_args(&args, &env) {
            Ok(cfg) => lbsync(cfg),
            Err(e) => return usage_error(e),
        },
    };
    // Everything the user can get wrong was refused above by `config`: what fails now is 1.
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sidekick: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cfg: AgentConfig) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(sidekick::agent::run(cfg, sidekick::signals::terminate()))?;
    Ok(ExitCode::SUCCESS)
}

fn lbsync(cfg: LbsyncConfig) -> anyhow::Result<ExitCode> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    runtime()?.block_on(sidekick::lbsync::run(cfg, sidekick::signals::terminate()))?;
    Ok(ExitCode::SUCCESS)
}

fn check(cfg: AgentConfig, json: bool) -> anyhow::Result<ExitCode> {
    let report = runtime()?.block_on(sidekick::check::gather(&cfg));
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
