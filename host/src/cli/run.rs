//! `algohost validate` and `algohost run`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use algohost_sdk::Output;
use algohost_sdk::data::{DataPointConfig, DataPointFilter, FlowFilter};
use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::{DataFrame, ParquetWriter};
use anyhow::Context as _;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use super::interrupt::{self, CancelOnInterrupt, End, Stop, Waited};
use super::output::StdoutDiverted;
use super::params::parse as parse_params;
use super::{EXIT_CANCELLED, EXIT_FAILED, EXIT_TIMED_OUT, EXIT_USAGE, UsageError};
use crate::adapters::{self, Adapter, NoData};
use crate::registry::Registry;
use crate::runner::{
    self, CancelToken, Execution, Run, RunObserver, RunOutcome, RunRejected, RunStatus,
};

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
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    timeout: Option<f64>,
}

/// Prints every params error with its pointer; exit code 2 when invalid.
pub(super) fn validate(registry: &Registry, name: &str, params: &Value) -> anyhow::Result<u8> {
    match runner::validate(registry, name, params) {
        Ok(()) => {
            outln!("params are valid for {name}")?;
            Ok(0)
        }
        Err(rejected) => Ok(report_rejected(&rejected)),
    }
}

fn report_rejected(rejected: &RunRejected) -> u8 {
    match rejected {
        RunRejected::UnknownAlgorithm(e) => errln!("error: {e}"),
        RunRejected::InvalidParams { algorithm, errors } => {
            errln!(
                "error: invalid params for {algorithm} ({} error(s)):",
                errors.len()
            );
            for e in errors {
                errln!("  {e}");
            }
        }
    }
    EXIT_USAGE
}

/// Shows a run on stderr: a progress bar on a terminal, log records (all
/// with -v, warnings and errors otherwise), and progress as lines with -v
/// when there is no bar.
struct CliObserver {
    bar: Option<ProgressBar>,
    verbose: bool,
}

impl CliObserver {
    /// Prints a line on stderr, above the bar if there is one.
    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => errln!("{line}"),
        }
    }
}

impl RunObserver for CliObserver {
    fn progress(&self, fraction: f64, message: &str) {
        match &self.bar {
            Some(bar) => {
                // Progress is a fraction; the bar counts per mille.
                bar.set_position((fraction * 1000.0).round() as u64);
                bar.set_message(message.to_owned());
            }
            None if self.verbose => {
                errln!("progress {:>3.0}% {message}", fraction * 100.0);
            }
            None => {}
        }
    }

    fn log(&self, record: &LogRecord) {
        let is_warning = matches!(record.level.as_str(), "warn" | "error");
        if !(self.verbose || is_warning) {
            return;
        }
        self.say(&log_line(record));
    }
}

/// A log record as a line: `WARN target: message key=value`, its fields as
/// tracing's own format shows them.
pub(super) fn log_line(record: &LogRecord) -> String {
    let fields: String = record
        .fields
        .iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(text) => format!(" {key}={text}"),
            other => format!(" {key}={other}"),
        })
        .collect();
    format!(
        "{:>5} {}: {}{fields}",
        record.level.to_uppercase(),
        record.target,
        record.message
    )
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

/// Runs an algorithm with file descriptor 1 `diverted` to stderr, if it
/// could be; what the command prints goes to the real stdout.
pub(super) fn run(
    registry: Registry,
    args: &RunArgs,
    verbose: u8,
    diverted: Option<StdoutDiverted>,
) -> anyhow::Result<u8> {
    let params = parse_params(&args.params)?;
    let timeout = args
        .timeout
        .map(runner::timeout_from_secs)
        .transpose()
        .map_err(|e| UsageError(format!("--timeout {e}")))?;
    let no_data = Arc::new(NoDataGiven::default());
    let adapter: Arc<dyn Adapter> = match &args.data {
        Some(spec) => adapters::open_existing(spec)
            .map_err(|e| UsageError(format!("--data {}: {e}", adapters::display_spec(spec))))?,
        None => no_data.clone(),
    };
    let mut run = match runner::prepare(&registry, &args.name, params) {
        Ok(run) => run,
        Err(rejected) => return Ok(report_rejected(&rejected)),
    };
    // Valid params first, so that a mistyped run makes no directory.
    let stale = match &args.output {
        Some(dir) => output_files(dir)?,
        None => Vec::new(),
    };
    run.timeout = timeout.map(|t| t.as_secs_f64());
    let observer = Arc::new(CliObserver {
        bar: progress_bar(),
        verbose: verbose > 0,
    });
    let mut ctrl_c = CancelOnInterrupt::install();
    if verbose > 0 {
        observer.say(&format!(
            "run {} of {} started; Ctrl-C cancels it",
            run.id, run.algorithm
        ));
    }
    let (id, algorithm) = (run.id, run.algorithm.clone());
    let started = Instant::now();
    let execution = Execution {
        timeout,
        adapter,
        cancel: CancelToken::new(),
        observer: observer.clone(),
    };
    let waited = wait_for_run(registry, run, execution, &observer, &mut ctrl_c);
    drop(ctrl_c);
    if let Some(bar) = &observer.bar {
        bar.finish_and_clear();
    }
    let (outcome, stopped) = match waited? {
        Waited::Ended(outcome) => (outcome, None),
        Waited::Interrupted(stop, End::Returned(outcome)) => (outcome, Some(stop)),
        Waited::Interrupted(stop, End::GivenUp | End::InterruptedAgain) => {
            // The plugin runs on: it must not reach stdout either.
            if let Some(diverted) = diverted {
                diverted.keep();
            }
            errln!(
                "error: run {id} of {algorithm} cancelled, but its plugin did not stop within \
                 {}s (it does not call ctx.check()); given up without waiting for it",
                interrupt::GRACE.as_secs()
            );
            return Ok(stop.exit_code());
        }
        Waited::Lost => anyhow::bail!("the run's thread ended without a result"),
    };
    let run = &outcome.run;
    if run.status == RunStatus::TimedOut {
        // Its plugin may run on, given up at the deadline.
        if let Some(diverted) = diverted {
            diverted.keep();
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (Some(output), RunStatus::Succeeded) = (&outcome.output, run.status) else {
        let code = report_unsuccessful(run, verbose, no_data.was_asked());
        return Ok(stopped.map_or(code, Stop::exit_code));
    };
    let printed = outln!("{}", serde_json::to_string_pretty(&run.summary)?);
    let written = match &args.output {
        Some(dir) => write_frames(dir, output)?,
        None => Vec::new(),
    };
    if let Some(stop) = stopped {
        errln!(
            "run {id} of {algorithm} succeeded in {elapsed:.2}s, before its plugin saw the \
             cancel ({}): its result is kept, and the exit code is {}",
            stop.name(),
            stop.exit_code()
        );
    } else {
        errln!("run {id} of {algorithm} succeeded in {elapsed:.2}s");
    }
    for path in &written {
        errln!("  wrote {}", path.display());
    }
    for path in stale.iter().filter(|p| !written.contains(p)) {
        errln!(
            "note: {} is not an output of this run (left as it was)",
            path.display()
        );
    }
    if args.output.is_none() && !output.frames.is_empty() {
        let names: Vec<&str> = output.frames.keys().map(String::as_str).collect();
        errln!(
            "note: output frame(s) not written: {}; pass --output DIR to write them as Parquet",
            names.join(", ")
        );
    }
    printed?;
    Ok(stopped.map_or(0, Stop::exit_code))
}

/// Runs `run` on a runner thread and waits for it, Ctrl-C (or SIGTERM,
/// SIGHUP) cancelling it (saying so on stderr) and giving its plugin up
/// when it does not stop in time ([`interrupt::wait`]).
fn wait_for_run(
    registry: Registry,
    run: Run,
    execution: Execution,
    observer: &CliObserver,
    ctrl_c: &mut CancelOnInterrupt,
) -> anyhow::Result<Waited<RunOutcome, Stop>> {
    let (id, algorithm) = (run.id, run.algorithm.clone());
    let cancel = execution.cancel.clone();
    let (tx, rx) = mpsc::sync_channel(1);
    runner::spawn_pooled(Box::new(move || {
        // Nobody receives when the plugin was given up.
        let _ = tx.send(runner::run_prepared(&registry, run, execution));
    }))
    .context("could not start the run's thread")?;
    let cancelling = |stop: Stop| {
        let by = match stop {
            Stop::Interrupt => String::new(),
            other => format!(" ({})", other.name()),
        };
        observer.say(&format!(
            "cancelling run {id} of {algorithm}{by}; waiting up to {}s for its plugin to stop \
             ({} again to exit at once)",
            interrupt::GRACE.as_secs(),
            stop.name()
        ));
        stop
    };
    Ok(interrupt::wait(
        |tick| rx.recv_timeout(tick),
        &cancel,
        || ctrl_c.next().map(cancelling),
    ))
}

/// Reports a run that failed, was cancelled or timed out; its exit code.
/// A run that failed on invalid input (the plugin found the params or data
/// invalid), or asked for data when none was given, is a usage error.
fn report_unsuccessful(run: &Run, verbose: u8, asked_for_data: bool) -> u8 {
    let status = match run.status {
        RunStatus::TimedOut => "timed out",
        status => status.as_str(),
    };
    let error = run.error.as_ref();
    let message = match error {
        Some(e) if e.kind != "cancelled" => format!(": {}", e.message),
        Some(_) => String::new(),
        None => ": no message".to_owned(),
    };
    let traceback = error
        .and_then(|e| e.details.get("traceback"))
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty());
    // Rust's own panic report (with its note on RUST_BACKTRACE) is left to
    // the run's error: say how to get the backtrace instead.
    let is_panic = error.is_some_and(|e| e.kind == "panic");
    let hint = match traceback {
        Some(_) if verbose == 0 => " (-v shows the traceback)",
        None if is_panic && std::env::var_os("RUST_BACKTRACE").is_none() => {
            " (RUST_BACKTRACE=1 shows a backtrace)"
        }
        _ => "",
    };
    errln!(
        "error: run {} of {} {status}{message}{hint}",
        run.id,
        run.algorithm
    );
    if let (Some(traceback), true) = (traceback, verbose > 0) {
        errln!("{}", traceback.trim_end());
    }
    match run.status {
        RunStatus::TimedOut => EXIT_TIMED_OUT,
        RunStatus::Cancelled => EXIT_CANCELLED,
        _ if asked_for_data || error.is_some_and(|e| e.kind == "invalid_input") => EXIT_USAGE,
        _ => EXIT_FAILED,
    }
}

/// Prepares `--output` before the run, so that a directory that cannot
/// take the frames is refused before anything runs: creates it if missing
/// and checks that a file can be written in it. Returns the Parquet files
/// it holds already.
fn output_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let refuse = |why: String| UsageError(format!("--output {}: {why}", dir.display()));
    if dir.exists() && !dir.is_dir() {
        return Err(refuse(
            "exists and is not a directory; give a directory for the output frames (it is created if missing)"
                .to_owned(),
        )
        .into());
    }
    if !dir.exists() {
        // The nearest existing ancestor must be a directory to create it in.
        if let Some(ancestor) = dir.ancestors().skip(1).find(|a| a.exists())
            && !ancestor.is_dir()
        {
            return Err(refuse(format!(
                "cannot be created: {} is not a directory",
                ancestor.display()
            ))
            .into());
        }
        std::fs::create_dir_all(dir).map_err(|e| refuse(format!("cannot be created: {e}")))?;
    }
    let probe = dir.join(format!(".algohost-output-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| refuse(format!("cannot write in it: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    let entries = std::fs::read_dir(dir).map_err(|e| refuse(format!("cannot list it: {e}")))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|ext| ext == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

/// The adapter of a run given no `--data`: every access fails (saying to
/// pass `--data`), and is remembered, so that a run that failed for want of
/// data is a usage error.
#[derive(Default)]
struct NoDataGiven {
    asked: AtomicBool,
}

impl NoDataGiven {
    fn was_asked(&self) -> bool {
        self.asked.load(Ordering::SeqCst)
    }

    fn ask(&self) -> &NoData {
        self.asked.store(true, Ordering::SeqCst);
        &NoData
    }
}

impl Adapter for NoDataGiven {
    fn data_points(&self, filter: &DataPointFilter) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        self.ask().data_points(filter)
    }
    fn read(&self, filter: &DataPointFilter) -> algohost_sdk::Result<DataFrame> {
        self.ask().read(filter)
    }
    fn write(&self, long: &DataFrame) -> algohost_sdk::Result<()> {
        self.ask().write(long)
    }
    fn flows(&self, filter: &FlowFilter) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        self.ask().flows(filter)
    }
    fn define_data_points(
        &self,
        points: &[DataPointConfig],
    ) -> algohost_sdk::Result<Vec<DataPointConfig>> {
        self.ask().define_data_points(points)
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
