//! The `algohost` command line: list, describe, validate and run algorithms,
//! show plugin diagnostics, serve over HTTP, generate the demo dataset and
//! copy data between data stores.
//!
//! Exit codes: 0 success, 1 the run failed, 2 bad usage or input (params,
//! files, data a target refuses, a run failing on input its plugin finds
//! invalid), 124 the run timed out, 130 the run was cancelled (Ctrl-C), 141
//! stdout was closed (as a tool killed by SIGPIPE).

// First: its `outln!` is used by the others.
#[macro_use]
mod output;

mod data;
mod describe;
pub(crate) mod interrupt;
mod params;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::registry::Registry;
use crate::sources::{self, DiscoveryOptions};

/// Exit code for bad usage and invalid params.
pub const EXIT_USAGE: u8 = 2;
/// Exit code of a failed run.
pub const EXIT_FAILED: u8 = 1;
/// Exit code of a timed-out run (as `timeout(1)`).
pub const EXIT_TIMED_OUT: u8 = 124;
/// Exit code of a cancelled run (as Ctrl-C).
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
    /// tracing filter such as `algohost=debug`, beats it for the host's own
    /// logs; a run's log records follow -v [env: ALGOHOST_LOG]
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
    // A server logs its requests (info) by default.
    let is_server = matches!(cli.command, Command::Serve(_));
    init_logging(cli.verbose + u8::from(is_server));
    match dispatch(cli).and_then(|code| output::flush().map(|()| code)) {
        Ok(code) => code,
        Err(err) => exit_code_of(&err),
    }
}

/// Reports `err` on stderr and chooses the exit code: quiet 141 for a closed
/// stdout, 2 for bad usage or input, 1 otherwise.
fn exit_code_of(err: &anyhow::Error) -> u8 {
    if let Some(stdout) = err
        .chain()
        .find_map(|e| e.downcast_ref::<output::StdoutError>())
    {
        if stdout.is_broken_pipe() {
            return EXIT_BROKEN_PIPE;
        }
        errln!("error: {stdout}");
        return EXIT_FAILED;
    }
    errln!("error: {err:#}");
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

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let from_env = tracing_subscriber::EnvFilter::try_from_env("ALGOHOST_LOG");
    let is_bad =
        from_env.is_err() && std::env::var_os("ALGOHOST_LOG").is_some_and(|v| !v.is_empty());
    let filter = from_env.unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // One JSON object per line for log collectors (Loki, ELK), or text.
    let format = std::env::var("ALGOHOST_LOG_FORMAT").unwrap_or_default();
    let format = format.trim().to_ascii_lowercase();
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        logs.json().flatten_event(true).try_init()
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
    if !format.is_empty() && format != "json" && format != "text" {
        tracing::warn!("ALGOHOST_LOG_FORMAT={format:?} is not json or text; logging text");
    }
    if is_bad {
        tracing::warn!(
            "ALGOHOST_LOG is not a tracing filter (such as warn or algohost=debug); it is ignored"
        );
    }
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
        Command::Serve(args) => serve::serve(&cli.plugin_dirs, args),
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
