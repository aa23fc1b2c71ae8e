//! `algohost data import` and `algohost data export`: copy data points and
//! their samples between any two adapters (a directory, `postgres://…`,
//! `http(s)://…`) with [`crate::adapters::copy()`]. Both do the same; they
//! differ in which side defaults to `ALGOHOST_DATA`, the data store the
//! other commands use: import copies into it, export out of it. Import
//! also reads one CSV file (`--from FILE.csv`, [`crate::adapters::csv`]),
//! whose data points are described by the flags of [`CsvFlags`].

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use algohost_sdk::data::{DataPointFilter, Quantity, Resolution, parse_time_zone};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::UsageError;
use crate::adapters::copy::{self, CopyOptions, CopyProgress, CopySummary, DEFAULT_CHUNK_SIZE};
use crate::adapters::csv::{self, CsvAdapter, CsvOptions};
use crate::adapters::{self, Adapter, DataSpec};

const SPEC_HELP: &str = "A data store is a directory (files adapter), a postgres://… URL or an \
    http(s)://HOST:PORT URL of another `algohost serve` (bearer token from ALGOHOST_REST_TOKEN). \
    Data points are matched by name; samples at the same data point and ts are replaced, so \
    copying again is safe.\n\n\
    A CSV file (--from FILE.csv) has a `ts` column (RFC 3339, or local times with --time-zone) and \
    one numeric column per data point, headed by its name; empty cells are missing samples. For \
    example: algohost data import --from load.csv --to mydata --quantity power --unit kW \
    --time-zone Europe/Berlin. A Parquet file (--from FILE.parquet) is read the same way: a `ts` \
    column (datetimes with a time zone, which the data points then take, or local times with \
    --time-zone) and one numeric column per data point.";

/// `algohost data …`.
#[derive(Debug, Subcommand)]
pub(super) enum DataCommand {
    /// Copy data points and samples into a data store (e.g. the demo data into PostgreSQL, or a CSV file).
    #[command(after_help = SPEC_HELP)]
    Import {
        /// Where the data comes from: a directory, postgres://…, http(s)://… or a FILE.csv
        #[arg(long, value_name = "SPEC")]
        from: String,
        /// The data store to copy into.
        #[arg(
            long,
            value_name = "SPEC",
            env = "ALGOHOST_DATA",
            hide_env_values = true
        )]
        to: String,
        #[command(flatten)]
        selection: Selection,
        #[command(flatten)]
        csv: CsvFlags,
    },
    /// Copy data points and samples out of a data store (e.g. into a directory).
    #[command(after_help = SPEC_HELP)]
    Export {
        /// The data store to copy from.
        #[arg(
            long,
            value_name = "SPEC",
            env = "ALGOHOST_DATA",
            hide_env_values = true
        )]
        from: String,
        /// Where the data goes: a directory (created if missing), postgres://… or http(s)://…
        #[arg(long, value_name = "SPEC")]
        to: String,
        #[command(flatten)]
        selection: Selection,
    },
}

/// Which data points and samples to copy.
#[derive(Debug, Args)]
pub(super) struct Selection {
    /// Only these data points (by name; separate by commas or repeat) [default: all].
    #[arg(long, value_name = "NAMES", value_delimiter = ',', value_parser = parse_name)]
    names: Vec<String>,
    /// Only samples at or after this instant (RFC 3339, e.g. 2026-02-01T00:00:00Z).
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    start: Option<DateTime<Utc>>,
    /// Only samples before this instant (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_instant)]
    end: Option<DateTime<Utc>>,
    /// Samples per write.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CHUNK_SIZE)]
    chunk_size: usize,
}

/// What a CSV source does not say about its data points (one set for all
/// of its columns).
#[derive(Debug, Args)]
#[command(next_help_heading = "CSV or Parquet source (--from FILE.csv or FILE.parquet)")]
pub(super) struct CsvFlags {
    /// The data points' quantity (required for a CSV or Parquet source).
    #[arg(long, value_name = "power|energy|price|state", value_parser = parse_quantity)]
    quantity: Option<Quantity>,
    /// The data points' unit, e.g. kW (required for a CSV or Parquet source).
    #[arg(long, value_name = "UNIT")]
    unit: Option<String>,
    /// The data points' resolution (ISO 8601, e.g. PT15M) [default: the most common step between time stamps].
    #[arg(long, value_name = "DURATION", value_parser = parse_resolution)]
    resolution: Option<Resolution>,
    /// The data points' time zone (IANA) [default: UTC, or a Parquet ts column's zone], and the zone time stamps without a UTC offset are in: a file with such time stamps needs it.
    #[arg(long, value_name = "ZONE", value_parser = parse_zone)]
    time_zone: Option<String>,
}

impl CsvFlags {
    /// The flags given, as they are spelt on the command line.
    fn given(&self) -> Vec<&'static str> {
        [
            ("--quantity", self.quantity.is_some()),
            ("--unit", self.unit.is_some()),
            ("--resolution", self.resolution.is_some()),
            ("--time-zone", self.time_zone.is_some()),
        ]
        .into_iter()
        .filter_map(|(flag, is_given)| is_given.then_some(flag))
        .collect()
    }
}

fn parse_quantity(text: &str) -> Result<Quantity, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "power" => Ok(Quantity::Power),
        "energy" => Ok(Quantity::Energy),
        "price" => Ok(Quantity::Price),
        "state" => Ok(Quantity::State),
        _ => Err(format!(
            "'{text}' is not a quantity: use power, energy, price or state"
        )),
    }
}

fn parse_resolution(text: &str) -> Result<Resolution, String> {
    text.parse().map_err(|e| format!("{e}"))
}

fn parse_zone(text: &str) -> Result<String, String> {
    let name = text.trim();
    parse_time_zone(name).map_err(|e| match e {
        algohost_sdk::Error::InvalidInput(message) => message,
        other => other.to_string(),
    })?;
    Ok(name.to_owned())
}

/// One name of `--names`, without the spaces around it (`'site.load, site.pv'`).
fn parse_name(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.is_empty() {
        return Err("a data point name is empty; separate names by single commas".to_owned());
    }
    Ok(name.to_owned())
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("'{text}' is not an RFC 3339 instant such as 2026-02-01T00:00:00Z ({e})")
        })
}

pub(super) fn run(command: &DataCommand) -> anyhow::Result<u8> {
    let (from, to, selection, csv_flags) = match command {
        DataCommand::Import {
            from,
            to,
            selection,
            csv,
        } => (from, to, selection, Some(csv)),
        DataCommand::Export {
            from,
            to,
            selection,
        } => (from, to, selection, None),
    };
    if selection.chunk_size == 0 {
        return Err(UsageError("--chunk-size must be at least 1".into()).into());
    }
    if is_same_store(from, to) {
        return Err(UsageError(format!(
            "--from and --to are the same data store ({}); give two different ones",
            adapters::display_spec(from)
        ))
        .into());
    }
    if let (Some(start), Some(end)) = (selection.start, selection.end)
        && start >= end
    {
        return Err(UsageError(format!(
            "--start {} is not before --end {}; give a start before the end",
            start.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            end.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ))
        .into());
    }
    let is_csv = csv::is_csv_path(from) || csv::is_parquet_path(from);
    let source = match csv_flags {
        Some(flags) if is_csv => open_csv(from, flags)?,
        _ if is_csv => {
            return Err(UsageError(format!(
                "--from {from}: a CSV or Parquet file is read by `algohost data import --from {from} \
                 --quantity … --unit …`, not by export"
            ))
            .into());
        }
        // A file that is not CSV gets what `open` says of it.
        Some(flags) if !flags.given().is_empty() && !Path::new(from).is_file() => {
            let given = flags.given();
            return Err(UsageError(format!(
                "{} only {} to a CSV or Parquet source (--from FILE.csv or FILE.parquet); \
                 the data points of {} are copied as they are defined there",
                given.join(", "),
                if given.len() == 1 { "applies" } else { "apply" },
                adapters::display_spec(from)
            ))
            .into());
        }
        _ => open("--from", from, true)?,
    };
    check_names(source.as_ref(), &selection.names)?;
    // Opened only now: a new target directory is not made for a copy that
    // is refused.
    let target = open("--to", to, false)?;
    let options = CopyOptions {
        filter: DataPointFilter {
            names: selection.names.clone(),
            start: selection.start,
            end: selection.end,
            ..DataPointFilter::default()
        },
        chunk_size: selection.chunk_size,
    };
    let bar = progress_bar();
    let started = Instant::now();
    let copied = copy::copy(
        source.as_ref(),
        target.as_ref(),
        &options,
        &mut |event| match event {
            CopyProgress::Defined { .. } => {}
            CopyProgress::Read { point, samples } => {
                bar.inc_length(samples as u64);
                bar.set_message(point.name.clone());
            }
            CopyProgress::Written { samples, .. } => bar.inc(samples as u64),
        },
    );
    bar.finish_and_clear();
    let copied = copied.map_err(|e| match e {
        // What the target refuses of a CSV file (off-grid ts, NaN, a data
        // point it has at another resolution) is bad input.
        algohost_sdk::Error::InvalidInput(message) if is_csv => {
            let hint = flags_hint(source.as_ref(), target.as_ref()).unwrap_or_default();
            UsageError(format!("{message}{hint}")).into()
        }
        other => anyhow::Error::from(other),
    })?;
    print_summary(&copied, from, to, started.elapsed())?;
    Ok(0)
}

/// When the flags that define a CSV file's data points (or the resolution
/// inferred without `--resolution`) are all that keeps them from the
/// target's series of the same name: the flags to pass.
fn flags_hint(source: &dyn Adapter, target: &dyn Adapter) -> Option<String> {
    let points = source.data_points(&DataPointFilter::default()).ok()?;
    let names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
    let stored = target
        .data_points(&DataPointFilter::default().with_names(names))
        .ok()?;
    stored.iter().find_map(|stored| {
        let point = points.iter().find(|p| p.name == stored.name)?;
        let mut flags = Vec::new();
        if point.quantity != stored.quantity {
            flags.push(format!("--quantity {}", stored.quantity));
        }
        if point.unit != stored.unit {
            flags.push(format!("--unit {}", stored.unit));
        }
        if point.resolution != stored.resolution {
            flags.push(format!("--resolution {}", stored.resolution));
        }
        if point.time_zone != stored.time_zone {
            flags.push(format!("--time-zone {}", stored.time_zone));
        }
        (!flags.is_empty()).then(|| {
            format!(
                ". A CSV file's data points are what --quantity, --unit, --resolution and \
                 --time-zone say (without them: the most common step between its time stamps, \
                 and UTC): if its values belong to the stored series, pass {}",
                flags.join(" ")
            )
        })
    })
}

/// Refuses `--names` that the source does not hold, naming the close ones.
fn check_names(source: &dyn Adapter, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let all = source
        .data_points(&DataPointFilter::default())
        .map_err(|e| anyhow::anyhow!("--from: cannot list the data points: {e}"))?;
    let known: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    let unknown: Vec<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| !known.contains(n))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(UsageError(format!(
        "--names: {}",
        algohost_sdk::suggest::unknown_names(
            "data point name",
            &unknown,
            &known,
            "the source holds no data points"
        )
    ))
    .into())
}

/// Opens a CSV source with the data point definitions of `flags`.
fn open_csv(from: &str, flags: &CsvFlags) -> anyhow::Result<Arc<dyn Adapter>> {
    let missing: Vec<&str> = [
        (
            "--quantity (power, energy, price or state)",
            flags.quantity.is_none(),
        ),
        ("--unit (such as kW)", flags.unit.is_none()),
    ]
    .into_iter()
    .filter_map(|(flag, is_missing)| is_missing.then_some(flag))
    .collect();
    let (Some(quantity), Some(unit)) = (flags.quantity, flags.unit.clone()) else {
        return Err(UsageError(format!(
            "--from {from}: a {} file says nothing of its data points but their names; pass {}",
            if csv::is_parquet_path(from) {
                "Parquet"
            } else {
                "CSV"
            },
            missing.join(" and ")
        ))
        .into());
    };
    let options = CsvOptions {
        quantity,
        unit,
        resolution: flags.resolution,
        time_zone: flags.time_zone.clone(),
    };
    match CsvAdapter::open(from, &options) {
        Ok(adapter) => Ok(Arc::new(adapter)),
        Err(algohost_sdk::Error::InvalidInput(message)) => Err(UsageError(message).into()),
        Err(e) => Err(UsageError(format!("--from {from}: {e}")).into()),
    }
}

/// Opens one side; a source directory or database must hold data already
/// (a typo must not read as an empty store, nor make tables).
fn open(flag: &str, spec: &str, is_source: bool) -> anyhow::Result<Arc<dyn Adapter>> {
    let shown = adapters::display_spec(spec);
    let kind = DataSpec::of(spec).map_err(|e| UsageError(format!("{flag} {shown}: {e}")))?;
    if !is_source && (csv::is_csv_path(spec) || csv::is_parquet_path(spec)) {
        return Err(UsageError(format!(
            "{flag} {shown}: algohost reads CSV and Parquet files (`data import --from \
             FILE.csv`) but does not write them; give a directory, a postgres:// or an http:// \
             URL"
        ))
        .into());
    }
    if is_source && kind == DataSpec::Files {
        let dir = Path::new(spec);
        if dir.is_file() {
            return Err(UsageError(format!(
                "{flag} {shown}: a file source must be a CSV file (FILE.csv) or a Parquet file \
                 (FILE.parquet) of a `ts` column and one column per data point (see `algohost \
                 data import --help`)"
            ))
            .into());
        }
        if !dir.is_dir() {
            return Err(UsageError(format!(
                "{flag} {shown}: no such directory; give a data directory (for example one made \
                 by `algohost demo-data DIR`), a postgres:// or an http:// URL"
            ))
            .into());
        }
        if !dir.join("catalog.json").is_file() {
            return Err(UsageError(format!(
                "{flag} {shown}: not an algohost data directory (it has no catalog.json)"
            ))
            .into());
        }
    }
    let opened = if is_source {
        adapters::open_source(spec)
    } else {
        adapters::open(spec)
    };
    opened.map_err(|e| UsageError(format!("{flag} {shown}: {e}")).into())
}

fn is_same_store(from: &str, to: &str) -> bool {
    if from.trim() == to.trim() {
        return true;
    }
    match (Path::new(from).canonicalize(), Path::new(to).canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// A bar of samples written on a terminal; hidden otherwise.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} samples  {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn print_summary(
    summary: &CopySummary,
    from: &str,
    to: &str,
    elapsed: Duration,
) -> anyhow::Result<()> {
    outln!(
        "copied {} data point(s), {} sample(s) from {} to {} in {:.1} s",
        summary.data_points.len(),
        summary.samples,
        adapters::display_spec(from),
        adapters::display_spec(to),
        elapsed.as_secs_f64()
    )?;
    // One row per data point, each column as wide as its widest cell.
    let rows: Vec<[String; 3]> = summary
        .data_points
        .iter()
        .map(|p| {
            let ids = format!("id {} -> {}", p.from_id, p.to_id);
            [p.name.clone(), ids, p.definition.clone()]
        })
        .collect();
    let width = |column: usize| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .max()
            .unwrap_or(0)
    };
    let (name_width, ids_width, definition_width) = (width(0), width(1), width(2));
    for (point, [name, ids, definition]) in summary.data_points.iter().zip(&rows) {
        outln!(
            "  {name:<name_width$}  {ids:<ids_width$}  {definition:<definition_width$}  {} \
             sample(s)",
            point.samples
        )?;
    }
    Ok(())
}
