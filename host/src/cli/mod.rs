//! The `algohost` command line: list, describe, validate and run algorithms,
//! show plugin diagnostics, serve over HTTP, read the runs a server keeps,
//! generate the demo dataset and copy data between data stores.
//!
//! Exit codes: 0 success, 1 the run failed, 2 bad usage or input (params,
//! files, data a target refuses, a run failing on input its plugin finds
//! invalid, a run or output frame a run store does not have), 124 the run
//! timed out, 130 the run was cancelled by Ctrl-C (143 by SIGTERM, 129 by
//! SIGHUP: 128 + the signal), 141 stdout was closed (as a tool killed by
//! SIGPIPE).

// First: its `outln!` is used by the others.
#[macro_use]
mod output;

mod data;
mod describe;
pub(crate) mod interrupt;
mod params;
mod run;
mod runs;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::registry::Registry;
use crate::server::config::LogFormat;
use crate::sources::{self, DiscoveryOptions};

/// Exit code for bad usage and invalid params.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a failed run.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a timed-out run (as `timeout(1)`).
pub const EXIT_TIMED_OUT: u8 = 124;
/// Exit code of a cancelled run (as Ctrl-C; SIGTERM and SIGHUP give 128 +
/// their signal, see `interrupt`).
pub const EXIT_CANCELLED: u8 = 130;
/// Exit code when stdout was closed before everything was written (`algohost
/// list | head -1`): 128 + SIGPIPE, what a shell shows for `cat` or `ls` in
/// the same spot, so that `set -o pipefail` scripts see it the same way.
pub const EXIT_BROKEN_PIPE: u8 = 141;

#[derive(Debug, Parser)]
#[command(
    name = "algohost",
    version,
    about = "Run algorithms written in Rust or Python: list, describe, validate, run.",
    after_help = "Dylib plugins are loaded from --plugin-dir and ALGOHOST_PLUGIN_PATH (separated like PATH)."
)]
struct Cli {
    /// A directory of dylib plugins (or one library file); repeatable. The
    /// directories of ALGOHOST_PLUGIN_PATH (separated like PATH) come after
    /// these [env: ALGOHOST_PLUGIN_PATH]
    #[arg(long = "plugin-dir", value_name = "DIR", global = true)]
    plugin_dirs: Vec<PathBuf>,
    /// Show more on stderr: -v info logs, progress lines and tracebacks, -vv
    /// debug (serve logs at info already: -v adds debug). ALGOHOST_LOG, a
    /// tracing filter such as `algohost=debug` (for serve, also `log` in its
    /// config file), beats it for the host's own logs; a run's log records
    /// follow -v [env: ALGOHOST_LOG]
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the registered algorithms.
    List {
        /// Print manifests as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one algorithm: description, params and outputs.
    Describe {
        /// Algorithm name.
        name: String,
        /// Print the manifest (with the params schema) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check params against an algorithm's schema without running it.
    Validate {
        /// Algorithm name.
        name: String,
        /// Params as JSON, or @FILE to read them from a file (@- for stdin).
        #[arg(long, value_name = "JSON|@FILE", default_value = "{}")]
        params: String,
    },
    /// Run an algorithm and print its output summary as JSON.
    Run(run::RunArgs),
    /// Show plugin sources and discovery diagnostics.
    Plugins {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the registry over HTTP: runs, events, outputs, data, OpenAPI docs.
    Serve(serve::ServeArgs),
    /// List the runs a server keeps in its run store; `runs show ID`, `runs output ID FRAME`.
    Runs(runs::RunsArgs),
    /// Copy data points and samples between data stores: directories, PostgreSQL, other servers.
    Data {
        #[command(subcommand)]
        command: data::DataCommand,
    },
    /// Generate the deterministic demo dataset into DIR.
    DemoData {
        /// Target directory (created if missing).
        dir: PathBuf,
        /// Write into a directory that holds other data points (or changed
        /// demo ones): the demo's data points are overwritten.
        #[arg(long)]
        force: bool,
    },
}

/// Runs the CLI with the process arguments. A custom host binary's whole
/// `main` is `fn main() -> ExitCode { algohost::cli::main() }`.
pub fn main() -> ExitCode {
    ExitCode::from(run_with_args(std::env::args_os()))
}

/// Runs the CLI with `args` (the first is the program name): the `algohost`
/// console command of the Python package calls this with `sys.argv`.
/// Returns the exit code.
pub fn run_with_args<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    // A server sets up its logs once its settings are read (they may be
    // in its config file).
    if !matches!(cli.command, Command::Serve(_)) {
        let (settings, warnings) = LogSettings::from_env();
        init_logging(cli.verbose, &settings);
        for warning in warnings {
            tracing::warn!("{warning}");
        }
    }
    match dispatch(cli).and_then(|code| output::flush().map(|()| code)) {
        Ok(code) => code,
        Err(err) => {
            report(&err);
            exit_code_of(&err)
        }
    }
}

/// Says on stderr what went wrong; nothing for a closed stdout, which the
/// exit code tells.
fn report(err: &anyhow::Error) {
    match err
        .chain()
        .find_map(|e| e.downcast_ref::<output::StdoutError>())
    {
        Some(stdout) if stdout.is_broken_pipe() => {}
        Some(stdout) => errln!("error: {stdout}"),
        None => errln!("error: {err:#}"),
    }
}

/// The exit code of `err`: 141 for a closed stdout, 2 for bad usage or
/// input, 1 otherwise.
fn exit_code_of(err: &anyhow::Error) -> u8 {
    if let Some(stdout) = err
        .chain()
        .find_map(|e| e.downcast_ref::<output::StdoutError>())
    {
        return if stdout.is_broken_pipe() {
            EXIT_BROKEN_PIPE
        } else {
            EXIT_FAILED
        };
    }
    // What the user typed or gave (a flag, a file, a directory of other
    // data) was wrong: the same exit code whichever layer noticed.
    let is_bad_input = |e: &(dyn std::error::Error + 'static)| {
        e.is::<UsageError>()
            || matches!(
                e.downcast_ref::<algohost_sdk::Error>(),
                Some(algohost_sdk::Error::InvalidInput(_))
            )
    };
    if err.chain().any(is_bad_input) {
        EXIT_USAGE
    } else {
        EXIT_FAILED
    }
}

/// An error in what the user typed (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

/// Where the logs' filter and format come from: the environment for every
/// command, `serve`'s settings (with its config file) for the server.
struct LogSettings {
    /// `ALGOHOST_LOG`: a tracing filter that beats `-v`.
    filter: Option<String>,
    /// `ALGOHOST_LOG_FORMAT`.
    format: LogFormat,
}

impl LogSettings {
    /// From `ALGOHOST_LOG` and `ALGOHOST_LOG_FORMAT`; a value that does not
    /// parse is ignored with a warning once logging is set up.
    fn from_env() -> (Self, Vec<String>) {
        let mut warnings = Vec::new();
        let filter = std::env::var("ALGOHOST_LOG")
            .ok()
            .filter(|f| !f.trim().is_empty());
        let filter = filter.filter(|f| {
            let is_filter = crate::server::config::check_log_filter(f).is_ok();
            if !is_filter {
                warnings.push(
                    "ALGOHOST_LOG is not a tracing filter (such as warn or algohost=debug); it is \
                     ignored"
                        .to_owned(),
                );
            }
            is_filter
        });
        let format = std::env::var("ALGOHOST_LOG_FORMAT").unwrap_or_default();
        let format = format.trim().to_ascii_lowercase();
        let parsed = if format.is_empty() {
            LogFormat::Text
        } else {
            format.parse().unwrap_or_else(|()| {
                warnings.push(format!(
                    "ALGOHOST_LOG_FORMAT={format:?} is not json or text; logging text"
                ));
                LogFormat::Text
            })
        };
        (
            Self {
                filter,
                format: parsed,
            },
            warnings,
        )
    }
}

/// Sends logs to stderr: `settings.filter`, else the level of `verbose`
/// (0 warn, 1 info, 2 debug), as text or one JSON object per line.
fn init_logging(verbose: u8, settings: &LogSettings) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = settings
        .filter
        .as_deref()
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // One JSON object per line for log collectors (Loki, ELK), or text.
    let _ = match settings.format {
        LogFormat::Json => logs.json().flatten_event(true).try_init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

fn discover(cli: &Cli) -> Registry {
    // A command that ends soon loads the libraries themselves.
    sources::discover(&DiscoveryOptions {
        private_copies: false,
        ..DiscoveryOptions::with_env(cli.plugin_dirs.clone())
    })
}

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match &cli.command {
        Command::List { json } => describe::list(&discover(&cli), *json),
        Command::Describe { name, json } => describe::describe(&discover(&cli), name, *json),
        Command::Validate { name, params } => {
            let registry = discover(&cli);
            let params = params::parse(params)?;
            run::validate(&registry, name, &params)
        }
        Command::Run(args) => {
            // What a plugin writes to file descriptor 1 itself goes to
            // stderr, from its import on.
            let stdout = output::divert_stdout();
            run::run(discover(&cli), args, cli.verbose, stdout)
        }
        Command::Plugins { json } => describe::plugins(&discover(&cli), &cli.plugin_dirs, *json),
        Command::Serve(args) => serve::serve(&cli.plugin_dirs, args, cli.verbose),
        Command::Runs(args) => runs::run(args),
        Command::Data { command } => data::run(command),
        Command::DemoData { dir, force } => demo_data(dir, *force),
    }
}

/// `algohost demo-data DIR`: refuses a directory whose data the demo would
/// change, unless `--force`; writing the demo over itself is fine.
fn demo_data(dir: &std::path::Path, force: bool) -> anyhow::Result<u8> {
    if !force {
        let changed = crate::demo::would_change(dir)?;
        if !changed.is_empty() {
            return Err(UsageError(format!(
                "{} already holds data that the demo data would change or mix with (data points \
                 {}); give an empty or new directory, or --force to write the demo data points \
                 into it (overwriting those of the same names)",
                dir.display(),
                changed.join(", ")
            ))
            .into());
        }
    }
    if force {
        crate::demo::replace_other_series(dir)?;
    }
    let summary = crate::demo::generate(dir)?;
    errln!("demo data written to {}", dir.display());
    outln!("{}", serde_json::to_string_pretty(&summary)?)?;
    Ok(0)
}
