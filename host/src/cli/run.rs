//! `algohost validate` and `algohost run`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use algohost_sdk::Output;
use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::ParquetWriter;
use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::{EXIT_CANCELLED, EXIT_FAILED, EXIT_TIMED_OUT, EXIT_USAGE, UsageError, parse_params};
use crate::adapters::{self, Adapter, NoData};
use crate::registry::Registry;
use crate::runner::{self, CancelToken, RunObserver, RunRejected, RunRequest, RunStatus};

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Algorithm name.
    name: String,
    /// Params as JSON, or @FILE to read them from a file (@- for stdin).
    #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
    params: String,
    /// Where the data lives: a directory (files adapter), postgres://… or
    /// http(s)://HOST:PORT of another `algohost serve` (token from ALGOHOST_REST_TOKEN).
    #[arg(
        long,
        value_name = "DIR|URL",
        env = "ALGOHOST_DATA",
        hide_env_values = true
    )]
    data: Option<String>,
    /// Write output frames here as Parquet (one file per frame).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Stop waiting after SECS seconds and report the run as timed out.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
}

/// Prints every params error with its pointer; exit code 2 when invalid.
pub(super) fn validate(registry: &Registry, name: &str, params: &Value) -> anyhow::Result<u8> {
    match runner::validate(registry, name, params) {
        Ok(()) => {
            println!("params are valid for {name}");
            Ok(0)
        }
        Err(rejected) => Ok(report_rejected(&rejected)),
    }
}

fn report_rejected(rejected: &RunRejected) -> u8 {
    match rejected {
        RunRejected::UnknownAlgorithm(e) => eprintln!("error: {e}"),
        RunRejected::InvalidParams { algorithm, errors } => {
            eprintln!(
                "error: invalid params for {algorithm} ({} error(s)):",
                errors.len()
            );
            for e in errors {
                eprintln!("  {e}");
            }
        }
    }
    EXIT_USAGE
}

struct CliObserver {
    bar: Option<ProgressBar>,
    show_logs: bool,
}

impl RunObserver for CliObserver {
    fn progress(&self, fraction: f64, message: &str) {
        if let Some(bar) = &self.bar {
            // Progress is a fraction; the bar counts per mille.
            bar.set_position((fraction * 1000.0).round() as u64);
            bar.set_message(message.to_owned());
        }
    }

    fn log(&self, record: &LogRecord) {
        let is_warning = matches!(record.level.as_str(), "warn" | "error");
        if !(self.show_logs || is_warning) {
            return;
        }
        let line = format!(
            "{:>5} {}: {}",
            record.level.to_uppercase(),
            record.target,
            record.message
        );
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

fn progress_bar() -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(1000);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}",
    )
    .ok()?;
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    Some(bar)
}

pub(super) fn run(registry: &Registry, args: &RunArgs, verbose: u8) -> anyhow::Result<u8> {
    let params = parse_params(&args.params)?;
    let timeout = args
        .timeout
        .map(runner::timeout_from_secs)
        .transpose()
        .map_err(|e| UsageError(format!("--timeout {e}")))?;
    let adapter: Arc<dyn Adapter> = match &args.data {
        Some(spec) => adapters::open_existing(spec)
            .map_err(|e| UsageError(format!("--data {}: {e}", adapters::display_spec(spec))))?,
        None => Arc::new(NoData),
    };
    if let Err(rejected) = runner::validate(registry, &args.name, &params) {
        return Ok(report_rejected(&rejected));
    }
    let observer = Arc::new(CliObserver {
        bar: progress_bar(),
        show_logs: verbose > 0,
    });
    let started = Instant::now();
    let request = RunRequest {
        algorithm: args.name.clone(),
        params,
        timeout,
        adapter,
        cancel: CancelToken::new(),
        observer: observer.clone(),
    };
    let outcome = match runner::execute(registry, request) {
        Ok(outcome) => outcome,
        Err(rejected) => return Ok(report_rejected(&rejected)),
    };
    if let Some(bar) = &observer.bar {
        bar.finish_and_clear();
    }
    let run = &outcome.run;
    let elapsed = started.elapsed().as_secs_f64();
    match run.status {
        RunStatus::Succeeded => {
            println!("{}", serde_json::to_string_pretty(&run.summary)?);
            let written = match (&args.output, &outcome.output) {
                (Some(dir), Some(output)) => write_frames(dir, output)?,
                _ => Vec::new(),
            };
            eprintln!(
                "run {} of {} succeeded in {elapsed:.2}s",
                run.id, run.algorithm
            );
            for path in written {
                eprintln!("  wrote {}", path.display());
            }
            Ok(0)
        }
        status => {
            let message = run
                .error
                .as_ref()
                .map(|e| e.message.as_str())
                .unwrap_or("no message");
            eprintln!(
                "error: run {} of {} {status}: {message}",
                run.id, run.algorithm
            );
            Ok(match status {
                RunStatus::TimedOut => EXIT_TIMED_OUT,
                RunStatus::Cancelled => EXIT_CANCELLED,
                _ => EXIT_FAILED,
            })
        }
    }
}

/// Writes each output frame to `DIR/<name>.parquet`; returns the paths.
pub fn write_frames(dir: &Path, output: &Output) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create output directory {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, frame) in &output.frames {
        let path = dir.join(format!("{name}.parquet"));
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut frame = frame.clone();
        ParquetWriter::new(file)
            .finish(&mut frame)
            .with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}
