//! `algohost runs` and `runs show`: runs as lines of a table, one run in
//! full, or either as the HTTP API's JSON.

use algohost_sdk::logging::LogRecord;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::store_path::StorePath;
use super::{ListArgs, find};
use crate::cli::describe::print_table;
use crate::cli::run::log_line;
use crate::runner::{Run, RunStatus};
use crate::server::runs::{DEFAULT_PAGE, RunView};
use crate::store::sqlite::ReadOnlyStore;
use crate::store::{Logs, RunQuery};

/// Error messages are cut to this many characters in a listing.
const LISTED_ERROR_CHARS: usize = 80;

/// JSON up to this many characters is shown on one line by `runs show`.
const ONE_LINE_JSON_CHARS: usize = 100;

/// `algohost runs`: one line per run, newest first.
pub(super) fn list(
    store: &ReadOnlyStore,
    store_path: &StorePath,
    args: &ListArgs,
) -> anyhow::Result<u8> {
    let limit = args.limit.unwrap_or(DEFAULT_PAGE);
    // One run more than the limit tells whether there are more.
    let query = RunQuery {
        status: args.status.clone(),
        algorithm: args.algorithm.clone(),
        limit: match limit {
            0 => 0,
            n => n.saturating_add(1),
        },
        before: None,
    };
    let mut runs = store.list(&query)?;
    let is_cut = limit > 0 && runs.len() > limit;
    if is_cut {
        runs.truncate(limit);
    }
    if args.json {
        let views: Vec<RunView> = runs.into_iter().map(view_without_logs).collect();
        outln!("{}", serde_json::to_string_pretty(&views)?)?;
        return Ok(0);
    }
    let now = Utc::now();
    let mut has_orphans = false;
    let mut rows: Vec<[String; 7]> = Vec::with_capacity(runs.len());
    for run in &runs {
        let is_orphaned = store.is_orphaned(run)?;
        has_orphans |= is_orphaned;
        let (status, took) = match is_orphaned {
            true => (format!("{} (server gone)", run.status), "-".to_owned()),
            false => (run.status.to_string(), duration(run, now)),
        };
        rows.push([
            run.id.to_string(),
            run.algorithm.clone(),
            status,
            instant(Some(run.created_at), SecondsFormat::Secs),
            instant(run.finished_at, SecondsFormat::Secs),
            took,
            error_summary(run),
        ]);
    }
    print_table(
        &[
            "ID",
            "ALGORITHM",
            "STATUS",
            "CREATED",
            "FINISHED",
            "DURATION",
            "ERROR",
        ],
        &rows,
    )?;
    if has_orphans {
        errln!("{ORPHANS}");
    }
    if runs.is_empty() {
        let filtered = !args.status.is_empty() || args.algorithm.is_some();
        errln!(
            "no runs{} in the run store {}",
            if filtered { " match the filters" } else { "" },
            store_path.path.display()
        );
    } else if is_cut {
        errln!("only the newest {limit} shown; --limit N shows more, --limit 0 all");
    }
    Ok(0)
}

/// What `(server gone)` in a listing means.
const ORPHANS: &str = "(server gone): the server that holds the run is no longer running; the \
    next `algohost serve` on this store marks running ones failed (interrupted), or queues \
    them again when their algorithm is idempotent, and runs queued ones";

/// A run as the API shows it, without its log records.
fn view_without_logs(run: Run) -> RunView {
    let mut view = RunView::from(run);
    view.logs = None;
    view
}

/// An instant in UTC to the precision given (`2026-03-01T12:00:03Z` in
/// the list, `2026-03-01T12:00:03.125Z` for one run, whose runs often
/// take less than a second), or `-`.
fn instant(at: Option<DateTime<Utc>>, precision: SecondsFormat) -> String {
    at.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339_opts(precision, true))
}

/// How long the run ran (`1.25s`, `3m07s`), so far for a running one
/// (`12.0s+`); `-` for one that never started.
fn duration(run: &Run, now: DateTime<Utc>) -> String {
    match (run.started_at, run.finished_at) {
        (Some(start), Some(end)) => span((end - start).max(TimeDelta::zero())),
        (Some(start), None) => format!("{}+", span((now - start).max(TimeDelta::zero()))),
        (None, _) => "-".to_owned(),
    }
}

/// `350ms`, `1.25s`, `3m07s`, `2h05m`.
fn span(span: TimeDelta) -> String {
    let ms = span.num_milliseconds();
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.2}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `kind: message` of a run's error, its first line cut for a listing.
fn error_summary(run: &Run) -> String {
    let Some(error) = &run.error else {
        return String::new();
    };
    let text = error_text(&error.kind, &error.message);
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(LISTED_ERROR_CHARS) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

/// `kind: message`, or the message alone when it starts with its kind
/// (`interrupted: the server stopped …`).
fn error_text(kind: &str, message: &str) -> String {
    if message.starts_with(&format!("{kind}:")) {
        message.to_owned()
    } else {
        format!("{kind}: {message}")
    }
}

/// `algohost runs show ID`.
pub(super) fn show(
    store: &ReadOnlyStore,
    store_path: &StorePath,
    id: Uuid,
    as_json: bool,
    with_logs: bool,
) -> anyhow::Result<u8> {
    // The text counts warnings and errors even without --logs.
    let logs = if with_logs || !as_json {
        Logs::All
    } else {
        Logs::None
    };
    let run = find(store, store_path, id, logs)?;
    if as_json {
        let view = match with_logs {
            true => RunView::from(run),
            false => view_without_logs(run),
        };
        outln!("{}", serde_json::to_string_pretty(&view)?)?;
        return Ok(0);
    }
    outln!("run {}  {} {}", run.id, run.algorithm, run.version)?;
    match (store.is_orphaned(&run)?, run.status) {
        (false, status) => outln!("status    {status}")?,
        (true, RunStatus::Queued) => outln!(
            "status    queued, by a server that is gone: the next `algohost serve` on this \
             store runs it"
        )?,
        (true, status) => outln!(
            "status    {status}, on a server that is gone: the next `algohost serve` on this \
             store marks it failed (interrupted), or queues it again when its algorithm is \
             idempotent"
        )?,
    }
    if !run.status.is_finished() {
        let message = match run.progress_message.as_str() {
            "" => String::new(),
            m => format!(" {m}"),
        };
        outln!("progress  {:.0}%{message}", run.progress * 100.0)?;
    }
    outln!(
        "created   {}",
        instant(Some(run.created_at), SecondsFormat::Millis)
    )?;
    outln!(
        "started   {}",
        instant(run.started_at, SecondsFormat::Millis)
    )?;
    let took = match (run.started_at, run.finished_at) {
        (Some(_), Some(_)) => format!("  (took {})", duration(&run, Utc::now())),
        _ => String::new(),
    };
    outln!(
        "finished  {}{took}",
        instant(run.finished_at, SecondsFormat::Millis)
    )?;
    if let Some(timeout) = run.timeout {
        outln!("timeout   {timeout}s")?;
    }
    print_json("params", &run.params)?;
    if let Some(error) = &run.error {
        let text = error_text(&error.kind, &error.message);
        let mut lines = text.lines();
        outln!("error     {}", lines.next().unwrap_or_default())?;
        for line in lines {
            outln!("          {line}")?;
        }
        if !error.details.is_null() {
            print_json("details", &error.details)?;
        }
    }
    if run.status == RunStatus::Succeeded {
        print_json("summary", &run.summary)?;
    }
    if run.frames.is_empty() {
        outln!("frames    none")?;
    } else {
        outln!(
            "frames    {}  (algohost runs output {} FRAME)",
            run.frames.join(", "),
            run.id
        )?;
    }
    outln!("logs      {}", log_counts(&run.logs, with_logs))?;
    if with_logs {
        for record in &run.logs {
            outln!("  {} {}", record.ts, log_line(record))?;
        }
    }
    Ok(0)
}

/// `label` and a JSON value: on the line when short, else indented below.
fn print_json(label: &str, value: &Value) -> anyhow::Result<()> {
    let line = serde_json::to_string(value)?;
    if line.chars().count() <= ONE_LINE_JSON_CHARS {
        outln!("{label:<9} {line}")?;
        return Ok(());
    }
    outln!("{label}")?;
    for line in serde_json::to_string_pretty(value)?.lines() {
        outln!("  {line}")?;
    }
    Ok(())
}

/// `12 records, 1 warning, 0 errors (--logs shows them)`.
fn log_counts(logs: &[LogRecord], shown: bool) -> String {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let count = |level: &str| logs.iter().filter(|r| r.level == level).count();
    let hint = if shown || logs.is_empty() {
        ""
    } else {
        " (--logs shows them)"
    };
    format!(
        "{}, {}, {}{hint}",
        plural(logs.len(), "record"),
        plural(count("warn"), "warning"),
        plural(count("error"), "error")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_at_a_glance() {
        assert_eq!(span(TimeDelta::milliseconds(350)), "350ms");
        assert_eq!(span(TimeDelta::milliseconds(1_250)), "1.25s");
        assert_eq!(span(TimeDelta::milliseconds(187_000)), "3m07s");
        assert_eq!(span(TimeDelta::seconds(7_500)), "2h05m");
    }

    #[test]
    fn an_error_shows_its_kind_once() {
        assert_eq!(
            error_text("data", "the source is gone"),
            "data: the source is gone"
        );
        assert_eq!(
            error_text("interrupted", "interrupted: the server stopped"),
            "interrupted: the server stopped"
        );
    }
}
