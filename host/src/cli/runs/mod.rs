//! `algohost runs`, `runs show` and `runs output`: the run history that
//! `algohost serve` keeps in its run store, read from the shell, with the
//! server running or not. The store is opened read-only
//! ([`ReadOnlyStore`]): reading takes over no run and writes nothing.

mod frames;
mod show;
mod store_path;

use std::path::PathBuf;

use algohost_sdk::suggest;
use clap::{Args, Subcommand};
use uuid::Uuid;

use super::UsageError;
use crate::runner::{Run, RunStatus};
use crate::server::frames::FrameFormat;
use crate::store::Logs;
use crate::store::sqlite::ReadOnlyStore;
use store_path::StorePath;

#[derive(Debug, Args)]
#[command(
    after_help = "The run store is the SQLite file of `algohost serve` (its --store): --store \
    beats ALGOHOST_STORE, which beats `store` in the config file (--config or ALGOHOST_CONFIG), \
    which beats algohost.db in the working directory. It is only read, also while a server runs \
    on it; a running run shows its progress and logs as last stored."
)]
pub(super) struct RunsArgs {
    #[command(subcommand)]
    command: Option<RunsCommand>,
    #[command(flatten)]
    list: ListArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// `algohost runs`: which runs to list, and how.
#[derive(Debug, Args)]
struct ListArgs {
    /// Only runs in these statuses (separate by commas): queued, running, succeeded, failed,
    /// cancelled, timed_out.
    #[arg(long, value_name = "STATUS[,STATUS]", value_delimiter = ',', value_parser = parse_status)]
    status: Vec<RunStatus>,
    /// Only runs of this algorithm.
    #[arg(long, value_name = "NAME")]
    algorithm: Option<String>,
    /// The most runs to show, newest first; 0 shows every run [default: 50]
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
    /// Print the runs as JSON: an array of runs as `GET /runs` has them.
    #[arg(long)]
    json: bool,
}

impl ListArgs {
    /// The flags given, as they are spelt on the command line.
    fn given(&self) -> Vec<&'static str> {
        [
            ("--status", !self.status.is_empty()),
            ("--algorithm", self.algorithm.is_some()),
            ("--limit", self.limit.is_some()),
            ("--json", self.json),
        ]
        .into_iter()
        .filter_map(|(flag, is_given)| is_given.then_some(flag))
        .collect()
    }
}

/// Where the run store is.
#[derive(Debug, Args)]
struct StoreArgs {
    /// The run store: the SQLite file of `algohost serve --store` [default: algohost.db]
    /// [env: ALGOHOST_STORE]
    #[arg(long, value_name = "FILE", global = true)]
    store: Option<PathBuf>,
    /// The TOML config file of `algohost serve`, for its `store` [env: ALGOHOST_CONFIG]
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// Show one run: status, params, error, summary, output frames, timestamps (and logs).
    Show {
        /// The run's id (a UUID, as `algohost runs` lists it).
        #[arg(value_name = "ID", value_parser = parse_run_id)]
        id: Uuid,
        /// Print the run as JSON, as `GET /runs/{id}` has it (with `logs` only with --logs).
        #[arg(long)]
        json: bool,
        /// Also show the run's log records.
        #[arg(long)]
        logs: bool,
    },
    /// Write an output frame of a run that succeeded, to stdout or a file.
    Output {
        /// The run's id (a UUID, as `algohost runs` lists it).
        #[arg(value_name = "ID", value_parser = parse_run_id)]
        id: Uuid,
        /// The frame's name (`algohost runs show ID` lists them).
        frame: String,
        /// The encoding [default: from the extension of -o FILE, else csv]
        #[arg(long, value_name = "csv|json|parquet|arrow", value_parser = frames::parse_format)]
        format: Option<FrameFormat>,
        /// Write to FILE instead of stdout (replacing it).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

fn parse_status(text: &str) -> Result<RunStatus, String> {
    text.trim().parse().map_err(|_| {
        let names: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!(
            "'{}' is not a run status: give one or more of {}, separated by commas",
            suggest::shown(text),
            names.join(", ")
        )
    })
}

fn parse_run_id(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text.trim()).map_err(|_| {
        format!(
            "'{}' is not a run id: a run id is a UUID such as \
             01936f0e-8c1a-7d2b-9e4f-5a6b7c8d9e0f, as `algohost runs` lists them",
            suggest::shown(text)
        )
    })
}

/// `algohost runs …`.
pub(super) fn run(args: &RunsArgs) -> anyhow::Result<u8> {
    let given = args.list.given();
    if let (Some(command), [first, ..]) = (&args.command, given.as_slice()) {
        let name = match command {
            RunsCommand::Show { .. } => "show",
            RunsCommand::Output { .. } => "output",
        };
        return Err(UsageError(format!(
            "{first} is a flag of `algohost runs` (the listing), not of `runs {name}`; give \
             `runs {name}`'s flags after it (see algohost runs {name} --help)"
        ))
        .into());
    }
    let store_path = StorePath::resolve(&args.store)?;
    let store = store_path.open()?;
    match &args.command {
        None => show::list(&store, &store_path, &args.list),
        Some(RunsCommand::Show { id, json, logs }) => {
            show::show(&store, &store_path, *id, *json, *logs)
        }
        Some(RunsCommand::Output {
            id,
            frame,
            format,
            output,
        }) => frames::write_output(&store, &store_path, *id, frame, *format, output.as_deref()),
    }
}

/// The run `id`, or an error saying the store does not have it.
fn find(
    store: &ReadOnlyStore,
    store_path: &StorePath,
    id: Uuid,
    logs: Logs,
) -> anyhow::Result<Run> {
    store.read(id, logs)?.ok_or_else(|| {
        UsageError(format!(
            "there is no run {id} in the run store {}; `algohost runs` lists the runs it holds",
            store_path.path.display()
        ))
        .into()
    })
}
