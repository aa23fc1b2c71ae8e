//! One CSV file as a read-only source of data points, for `algohost data
//! import --from FILE.csv`: the file is wide (a `ts` column plus one numeric
//! column per data point, named by its header), and the data points'
//! quantity, unit, resolution and time zone come from [`CsvOptions`], since
//! a CSV file has no place for them. [`super::copy::copy()`] does the rest.
//!
//! The whole file is read and checked when it is opened, so a bad cell is
//! reported (by line and column) before anything is written anywhere.

use std::collections::{HashMap, HashSet};
use std::io::{self, Cursor};
use std::ops::Range;
use std::path::{Path, PathBuf};

use algohost_sdk::data::{
    DataPointConfig, DataPointFilter, DataPointId, FlowFilter, Quantity, Resolution, TS,
    check_samples, id_ranges, long_frame, parse_time_zone, read_range, read_samples, ts_micros,
};
use algohost_sdk::{Error, Result};
use chrono::{DateTime, LocalResult, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone};
use chrono_tz::Tz;
use polars::prelude::*;

use super::Adapter;

/// What a CSV file does not say about its data points.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvOptions {
    /// The quantity of every data point (column).
    pub quantity: Quantity,
    /// The unit of every data point, e.g. "kW".
    pub unit: String,
    /// Their resolution; `None` infers it as the smallest step between
    /// consecutive time stamps.
    pub resolution: Option<Resolution>,
    /// The data points' time zone (IANA), and the zone of time stamps
    /// written without a UTC offset; `None` is UTC for the data points and
    /// makes such time stamps an error.
    pub time_zone: Option<String>,
}

/// Whether a `--from` value names a Parquet file (by its `.parquet`
/// extension), read like a CSV file: a `ts` column and one column per
/// data point.
pub fn is_parquet_path(spec: &str) -> bool {
    Path::new(spec)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
        && !Path::new(spec).is_dir()
}

/// Whether a `--from` value names a CSV file (by its `.csv` extension).
pub fn is_csv_path(spec: &str) -> bool {
    Path::new(spec)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        && !Path::new(spec).is_dir()
}

/// The data points of one CSV file and their samples, held in memory.
#[derive(Debug)]
pub struct CsvAdapter {
    /// The file, as given.
    path: PathBuf,
    /// One per value column, in column order, with ids 1, 2, …
    points: Vec<DataPointConfig>,
    /// Their samples in long form, sorted by (id, ts); empty cells left out.
    samples: DataFrame,
    /// The rows of each data point in `samples`.
    rows: HashMap<i64, Range<usize>>,
}

impl CsvAdapter {
    /// Reads and checks the whole file. Every error names the file and, for
    /// a bad cell, its line and column.
    pub fn open(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Self> {
        let path = path.as_ref().to_owned();
        if options.unit.trim().is_empty() {
            return Err(Error::InvalidInput(
                "the unit is empty: pass the unit of the values, such as --unit kW".to_owned(),
            ));
        }
        if is_parquet_path(&path.display().to_string()) {
            let (frame, options) = read_parquet(&path, options)?;
            return Self::from_text(path, frame, &options, Place::Row);
        }
        let frame = read_csv(&path)?;
        Self::from_text(path, frame, options, Place::Line)
    }

    /// The adapter of a file read as text columns (one per column of the
    /// file, and [`LINE`]), blank rows left out.
    fn from_text(
        path: PathBuf,
        frame: DataFrame,
        options: &CsvOptions,
        place: Place,
    ) -> Result<Self> {
        let file = path.display().to_string();
        let bad = |message: String| Error::InvalidInput(format!("{file}: {message}"));
        let names: Vec<String> = frame
            .get_column_names()
            .into_iter()
            .map(|n| n.to_string())
            .filter(|n| n != LINE)
            .collect();
        let value_names: Vec<&String> = names.iter().filter(|n| *n != TS).collect();
        let zone = options
            .time_zone
            .as_deref()
            .map(parse_time_zone)
            .transpose()?;
        let ts = parse_ts_column(&frame, zone, place).map_err(bad)?;
        let (mut ids, mut sample_ts, mut values) = (Vec::new(), Vec::new(), Vec::new());
        for (index, name) in value_names.iter().enumerate() {
            let id = index as i64 + 1;
            let cells = frame.column(name)?.str()?;
            let lines = frame.column(LINE)?.u32()?;
            for (cell, row) in cells.iter().zip(lines.into_no_null_iter()) {
                let Some(cell) = cell.map(str::trim).filter(|c| !c.is_empty()) else {
                    continue;
                };
                let value = cell
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        bad(format!(
                            "{} {}, column '{name}': '{cell}' is not a number; write numbers \
                             with a '.' as the decimal point and no unit, or leave the cell empty \
                             for a missing sample",
                            place.word(),
                            place.number(row as usize)
                        ))
                    })?;
                ids.push(id);
                sample_ts.push(ts[&row]);
                values.push(Some(value));
            }
        }
        // Inferred only now: a bad cell is the first thing to fix.
        let resolution = match options.resolution {
            Some(resolution) => resolution,
            None => infer_resolution(&ts, place).map_err(bad)?,
        };
        let points: Vec<DataPointConfig> = value_names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                let mut point =
                    DataPointConfig::new(*name, options.quantity, &options.unit, resolution)
                        .with_time_zone(options.time_zone.as_deref().unwrap_or("UTC"));
                point.id = DataPointId(index as i64 + 1);
                point
            })
            .collect();
        let samples = long_frame(ids, sample_ts, values)?;
        // Off the grid of the resolution given: refused before the target
        // sees any of it.
        check_samples(&samples, &points).map_err(|e| match e {
            Error::InvalidInput(message) => bad(message),
            other => other,
        })?;
        let rows = id_ranges(&samples)?
            .into_iter()
            .map(|(id, rows)| (id.0, rows))
            .collect();
        Ok(Self {
            path,
            points,
            samples,
            rows,
        })
    }

    /// The long frame of the samples of `ids` with `lo <= ts < hi` (µs).
    fn fetch(&self, ids: &HashSet<i64>, lo: i64, hi: i64) -> Result<DataFrame> {
        let mut ids: Vec<i64> = ids.iter().copied().collect();
        ids.sort_unstable();
        let mut out = self.samples.clear();
        for id in ids {
            let Some(rows) = self.rows.get(&id) else {
                continue;
            };
            let of_point = self.samples.slice(rows.start as i64, rows.len());
            let ts = ts_micros(&of_point)?;
            let start = ts.partition_point(|t| *t < lo);
            let end = ts.partition_point(|t| *t < hi).max(start);
            out.vstack_mut(&of_point.slice(start as i64, end - start))?;
        }
        Ok(out)
    }

    fn read_only<T>(&self) -> Result<T> {
        Err(Error::InvalidInput(format!(
            "{} is a CSV file, which algohost only reads: it can be the source of `algohost data \
             import --from FILE.csv`, not a data store to write to",
            self.path.display()
        )))
    }
}

/// The bytes of a source file; a missing one is bad input.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => Error::InvalidInput(format!("{}: no such file", path.display())),
        _ => Error::Data(format!("cannot read {}: {e}", path.display())),
    })
}

/// A CSV file's cells as text columns named by its header, with [`LINE`];
/// blank lines left out.
fn read_csv(path: &Path) -> Result<DataFrame> {
    let file = path.display().to_string();
    let bad = |message: String| Error::InvalidInput(format!("{file}: {message}"));
    let bytes = read_file(path)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(bad(format!("the file is empty; {LAYOUT}")));
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines = text.lines();
    let names = fields(
        lines
            .next()
            .unwrap_or_default()
            .trim_start_matches('\u{feff}'),
    );
    check_header(&names, LAYOUT).map_err(bad)?;
    // Every column as text: numbers and time stamps are parsed here, so
    // that an error can name its line.
    let frame = CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(0))
        .into_reader_with_file_handle(Cursor::new(bytes.clone()))
        .finish()
        .map_err(|e| {
            let long = lines
                .position(|l| fields(l).len() > names.len())
                .map(|row| {
                    format!(
                        "line {} has more cells than the header has columns ({}); write \
                             numbers with a '.' as the decimal point (a ',' separates cells), or \
                             name every column in the header",
                        line(row),
                        names.len()
                    )
                });
            let polars = e.to_string();
            let first = polars.lines().next().unwrap_or_default();
            bad(long.unwrap_or_else(|| format!("cannot be read as CSV ({first}); {LAYOUT}")))
        })?;
    // The header's names as read above (trimmed, unquoted).
    let mut frame = frame;
    frame.set_column_names(&names).map_err(|_| {
        bad(format!(
            "the header has {} column(s) but the lines do not; {LAYOUT}",
            names.len()
        ))
    })?;
    if let Some((row, cells)) = text
        .lines()
        .skip(1)
        .enumerate()
        .filter(|(_, l)| cell_count(l) < names.len())
        .map(|(row, l)| (row, fields(l)))
        .find(|(_, cells)| cells.iter().any(|c| !c.is_empty()))
    {
        return Err(bad(format!(
            "line {} has {} cell(s) but the header has {} columns: a cut-off line? leave a \
                 value out with an empty cell (a ',' and nothing after it)",
            line(row),
            cells.len(),
            names.len()
        )));
    }
    let frame = without_blank_rows(frame)?;
    if frame.height() == 0 {
        return Err(bad(format!("a header but no rows; {LAYOUT}")));
    }
    Ok(frame)
}

/// A Parquet file's columns as text columns, with [`LINE`], as [`read_csv`]
/// makes them: `ts` (a datetime, with a time zone or local times in
/// `--time-zone`; a date; or text) as RFC 3339 or local text, values as
/// numbers' text. A time-zone-aware `ts` gives the data points its zone
/// unless `--time-zone` says otherwise.
fn read_parquet(path: &Path, options: &CsvOptions) -> Result<(DataFrame, CsvOptions)> {
    let file = path.display().to_string();
    let bad = |message: String| Error::InvalidInput(format!("{file}: {message}"));
    let unreadable = |e: PolarsError| bad(format!("cannot be read as Parquet ({e})"));
    let mut reader = ParquetReader::new(Cursor::new(read_file(path)?));
    let schema = reader.schema().map_err(unreadable)?;
    if let Some((column, dtype)) = crate::arrow_types::unreadable_column(&schema) {
        return Err(bad(crate::arrow_types::refusal(&column, &dtype)));
    }
    let mut frame = reader.finish().map_err(unreadable)?;
    let mut names: Vec<String> = frame
        .get_column_names()
        .into_iter()
        .map(|n| n.to_string())
        .collect();
    if !names.iter().any(|n| n == TS)
        && let Some(index) = names.iter().position(|n| n == PANDAS_INDEX)
    {
        frame.rename(PANDAS_INDEX, TS.into())?;
        names[index] = TS.to_owned();
    }
    check_header(&names, PARQUET_LAYOUT).map_err(bad)?;
    let mut options = options.clone();
    let mut columns = Vec::with_capacity(frame.width() + 1);
    for column in frame.columns() {
        let name = column.name().to_string();
        let series = column.as_materialized_series();
        let text = match (name == TS, series.dtype()) {
            (true, DataType::Datetime(_, zone)) => {
                if let Some(zone) = zone {
                    options.time_zone.get_or_insert_with(|| zone.to_string());
                }
                let format = if zone.is_some() {
                    "%Y-%m-%dT%H:%M:%S%.f%:z"
                } else {
                    "%Y-%m-%dT%H:%M:%S%.f"
                };
                series.datetime()?.to_string(format)?.into_series()
            }
            (true, DataType::Date | DataType::String) => series.cast(&DataType::String)?,
            (true, other) => {
                return Err(bad(format!(
                    "column 'ts' is {other}; it must hold datetimes (with a time zone, or local \
                     times with --time-zone), dates or RFC 3339 text"
                )));
            }
            (false, dtype) if dtype.is_primitive_numeric() || dtype.is_null() => {
                series.cast(&DataType::String)?
            }
            (false, other) => {
                return Err(bad(format!(
                    "column '{name}' is {other}, not numbers; every column but 'ts' is a data \
                     point's values"
                )));
            }
        };
        columns.push(text.with_name(name.as_str().into()).into_column());
    }
    let rows = UInt32Chunked::from_iter_values(LINE.into(), 0..frame.height() as u32);
    columns.push(rows.into_column());
    let frame = DataFrame::new(frame.height(), columns)?;
    if frame.height() == 0 {
        return Err(bad(format!("no rows; {LAYOUT}")));
    }
    Ok((frame, options))
}

/// How the file must look, for the end of every error about its shape.
const LAYOUT: &str = "a CSV source has a header line `ts,NAME,…` (a 'ts' column, then one column \
    per data point, named by the data point's name) and one line per time stamp";

/// How a Parquet source is laid out, for its errors.
const PARQUET_LAYOUT: &str = "a Parquet source has a 'ts' column (datetimes, dates or RFC 3339 \
    text), then one column of numbers per data point, named by the data point's name";

/// The column pandas writes an unnamed index as (`df.to_parquet()` of a
/// frame indexed by time): its `ts`, as the Python API takes such an index.
const PANDAS_INDEX: &str = "__index_level_0__";

/// The line in the file of data row `row` (0-based, after the header line).
fn line(row: usize) -> usize {
    row + 2
}

/// How a file's errors name a row: by its line in a CSV file (the header
/// is line 1), by its row in a Parquet file (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Line,
    Row,
}

impl Place {
    fn word(self) -> &'static str {
        match self {
            Place::Line => "line",
            Place::Row => "row",
        }
    }

    /// The number shown for data row `row` (0-based).
    fn number(self, row: usize) -> usize {
        match self {
            Place::Line => line(row),
            Place::Row => row + 1,
        }
    }

    /// The data row of a shown number.
    fn row(self, number: usize) -> usize {
        match self {
            Place::Line => number - 2,
            Place::Row => number - 1,
        }
    }
}

/// The column of each row's data row number, added to the frame read.
const LINE: &str = "__line";

/// The cells of one line, split at commas outside double quotes, trimmed
/// and unquoted.
fn fields(line: &str) -> Vec<String> {
    let (mut cells, mut cell, mut is_quoted) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match c {
            '"' => is_quoted = !is_quoted,
            ',' if !is_quoted => cells.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    cells.push(cell);
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// How many cells [`fields`] finds in `line`, without splitting it (every
/// line of the file is counted).
fn cell_count(line: &str) -> usize {
    let mut is_quoted = false;
    1 + line
        .chars()
        .filter(|c| {
            if *c == '"' {
                is_quoted = !is_quoted;
            }
            *c == ',' && !is_quoted
        })
        .count()
}

/// Checks the header's names: a `ts` column and at least one other, each
/// named once.
fn check_header(names: &[String], layout: &str) -> std::result::Result<(), String> {
    if let [only] = names
        && let Some(separator) = [';', '\t', '|'].into_iter().find(|s| only.contains(*s))
    {
        let shown = if separator == '\t' {
            "tabs".to_owned()
        } else {
            format!("'{separator}'")
        };
        return Err(format!(
            "the header '{only}' is separated by {shown}, not commas (as spreadsheets write CSV \
             in locales with a decimal comma); write it with ',' between cells and '.' as the \
             decimal point, for example with polars: pl.read_csv(\"FILE\", separator=\"{}\", \
             decimal_comma=True).write_csv(\"FILE.csv\")",
            if separator == '\t' {
                "\\t".to_owned()
            } else {
                separator.to_string()
            }
        ));
    }
    if !names.iter().any(|n| n == TS) {
        return Err(format!(
            "no 'ts' column (the header has: {}); {layout}",
            names.join(", ")
        ));
    }
    if names.len() == 1 {
        return Err(format!("only a 'ts' column; {layout}"));
    }
    if let Some(index) = names.iter().position(String::is_empty) {
        return Err(format!(
            "column {} has no name in the header; name it after its data point",
            index + 1
        ));
    }
    let mut seen = HashSet::new();
    if let Some(twice) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(format!(
            "the header names column '{twice}' twice; give each data point one column"
        ));
    }
    Ok(())
}

/// `frame` with its data row numbers (column [`LINE`]) and without the
/// rows whose every cell is empty (blank lines).
fn without_blank_rows(frame: DataFrame) -> Result<DataFrame> {
    let rows = UInt32Chunked::from_iter_values(LINE.into(), 0..frame.height() as u32);
    let mut is_kept = BooleanChunked::full("kept".into(), false, frame.height());
    for column in frame.columns() {
        let has_text: BooleanChunked = column
            .str()?
            .iter()
            .map(|c| c.is_some_and(|c| !c.trim().is_empty()))
            .collect();
        is_kept = &is_kept | &has_text;
    }
    let mut frame = frame.filter(&is_kept)?;
    frame.with_column(rows.filter(&is_kept)?.into_column())?;
    Ok(frame)
}

/// The `ts` of each data row number as µs since the epoch; each cell is
/// RFC 3339 with an offset, or a local time in `zone`. Two rows at the
/// same instant are an error.
fn parse_ts_column(
    frame: &DataFrame,
    zone: Option<Tz>,
    place: Place,
) -> std::result::Result<HashMap<u32, i64>, String> {
    let text = |e: PolarsError| e.to_string();
    let cells = frame.column(TS).map_err(text)?.str().map_err(text)?;
    let rows = frame.column(LINE).map_err(text)?.u32().map_err(text)?;
    let word = place.word();
    let mut ts = Vec::with_capacity(cells.len());
    for (cell, row) in cells.iter().zip(rows.into_no_null_iter()) {
        let at = place.number(row as usize);
        let cell = cell.map(str::trim).unwrap_or("");
        if cell.is_empty() {
            return Err(format!(
                "{word} {at}: the ts is empty; every {word} needs a time stamp"
            ));
        }
        ts.push((
            parse_ts(cell, zone).map_err(|e| format!("{word} {at}: {e}"))?,
            at,
        ));
    }
    ts.sort_unstable();
    if let Some(pair) = ts.windows(2).find(|p| p[0].0 == p[1].0) {
        return Err(format!(
            "{word}s {} and {} have the same ts {}; keep one {word} per time stamp",
            pair[0].1,
            pair[1].1,
            format_us(pair[0].0)
        ));
    }
    Ok(ts
        .into_iter()
        .map(|(us, at)| (place.row(at) as u32, us))
        .collect())
}

/// One time stamp as µs since the epoch.
fn parse_ts(text: &str, zone: Option<Tz>) -> std::result::Result<i64, String> {
    let finer = || {
        format!(
            "ts '{text}' is finer than a microsecond; time stamps are kept to the microsecond, \
             so round it (it is refused rather than cut)"
        )
    };
    // RFC 3339, or ISO 8601 with a `+0100` offset (as polars writes
    // time-zone-aware datetimes) and a `T` or a space.
    let with_offset = DateTime::parse_from_rfc3339(text).or_else(|_| {
        ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"]
            .iter()
            .find_map(|f| DateTime::parse_from_str(text, f).ok())
            .ok_or(())
    });
    if let Ok(t) = with_offset {
        if t.timestamp_subsec_nanos() % 1000 != 0 {
            return Err(finer());
        }
        return Ok(t.timestamp_micros());
    }
    let Some(local) = parse_local(text) else {
        return Err(format!(
            "ts '{text}' is not a time stamp; write RFC 3339 such as 2026-03-29T01:00:00Z or \
             2026-03-29T01:00:00+01:00, or a local time such as 2026-03-29T01:00:00 with \
             --time-zone"
        ));
    };
    if local.and_utc().timestamp_subsec_nanos() % 1000 != 0 {
        return Err(finer());
    }
    let Some(zone) = zone else {
        return Err(format!(
            "ts '{text}' has no UTC offset, so --time-zone is needed: pass the zone its times \
             are in (such as --time-zone Europe/Berlin or --time-zone UTC), or write every ts \
             with an offset (…Z or …+01:00)"
        ));
    };
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) => Ok(t.timestamp_micros()),
        LocalResult::Ambiguous(early, late) => Err(format!(
            "ts '{text}' happens twice in {zone} (the clocks go back at the DST change); write it \
             with its UTC offset, {} or {}",
            early
                .fixed_offset()
                .to_rfc3339_opts(SecondsFormat::AutoSi, false),
            late.fixed_offset()
                .to_rfc3339_opts(SecondsFormat::AutoSi, false)
        )),
        LocalResult::None => Err(format!(
            "ts '{text}' does not exist in {zone} (the clocks skip it at the DST change); fix \
             or drop that line"
        )),
    }
}

/// A local time without an offset: date and time (`T` or a space between
/// them, seconds optional), or a date alone (its midnight).
fn parse_local(text: &str) -> Option<NaiveDateTime> {
    const FORMATS: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

/// The resolution of time stamps (µs, each with its line): the most common
/// step between consecutive ones (the smallest of equally common steps),
/// so that one stray time stamp cannot make 15-minute data 5-minute data.
/// Gaps (whole steps missing) are fine; a step that is not a multiple of
/// it is a stray time stamp, refused with its line.
fn infer_resolution(
    ts: &HashMap<u32, i64>,
    place: Place,
) -> std::result::Result<Resolution, String> {
    const HINT: &str = "pass --resolution (an ISO 8601 duration such as PT15M, PT1H or P1D)";
    const SECOND_US: i64 = 1_000_000;
    let mut sorted: Vec<(i64, usize)> = ts
        .iter()
        .map(|(row, us)| (*us, place.number(*row as usize)))
        .collect();
    sorted.sort_unstable();
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for pair in sorted.windows(2) {
        *counts.entry(pair[1].0 - pair[0].0).or_default() += 1;
    }
    let Some((step, count)) = counts
        .iter()
        .map(|(step, count)| (*step, *count))
        .max_by_key(|(step, count)| (*count, std::cmp::Reverse(*step)))
    else {
        return Err(format!(
            "the resolution cannot be inferred from a single time stamp; {HINT}"
        ));
    };
    let steps = sorted.len() - 1;
    // A day in a zone with DST is 23 to 25 hours: daily and longer steps
    // follow the calendar, which only --resolution can say.
    if step >= 23 * 3600 * SECOND_US {
        return Err(format!(
            "the time stamps are a day or more apart, so the resolution is a calendar one \
             (days, months) that cannot be inferred; {HINT}"
        ));
    }
    if let Some(odd) = sorted.windows(2).find(|w| (w[1].0 - w[0].0) % step != 0) {
        let word = place.word();
        let most = if count == steps {
            String::new()
        } else {
            format!(" ({count} of {steps} steps)")
        };
        return Err(format!(
            "the time stamps are not evenly spaced: they are {} apart{most}, but {word} {} ({}) \
             comes {} after {word} {} ({}); fix or drop the stray {word}, or {HINT}",
            format_step(step),
            odd[1].1,
            format_us(odd[1].0),
            format_step(odd[1].0 - odd[0].0),
            odd[0].1,
            format_us(odd[0].0),
        ));
    }
    if step % SECOND_US != 0 {
        return Err(format!(
            "the time stamps are {} apart, not a whole number of seconds; {HINT}",
            format_step(step)
        ));
    }
    Ok(Resolution::Seconds(step / SECOND_US))
}

/// A step between time stamps (µs) as people write it: `15 min`, `1 h`,
/// `90 s`, `0.5 s`.
fn format_step(us: i64) -> String {
    const SECOND_US: i64 = 1_000_000;
    match us {
        us if us % (3600 * SECOND_US) == 0 => format!("{} h", us / (3600 * SECOND_US)),
        us if us % (60 * SECOND_US) == 0 => format!("{} min", us / (60 * SECOND_US)),
        us => format!("{} s", us as f64 / SECOND_US as f64),
    }
}

fn format_us(us: i64) -> String {
    DateTime::from_timestamp_micros(us).map_or_else(
        || format!("{us} µs"),
        |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

impl Adapter for CsvAdapter {
    fn data_points(&self, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
        Ok(self
            .points
            .iter()
            .filter(|p| filter.matches(p))
            .cloned()
            .collect())
    }

    fn read(&self, filter: &DataPointFilter) -> Result<DataFrame> {
        read_range(filter)?;
        let points = self.data_points(filter)?;
        let ids: HashSet<i64> = points.iter().map(|p| p.id.0).collect();
        read_samples(filter, &points, |lo, hi| self.fetch(&ids, lo, hi))
    }

    fn write(&self, _: &DataFrame) -> Result<()> {
        self.read_only()
    }

    /// A CSV file measures no flows.
    fn flows(&self, _: &FlowFilter) -> Result<Vec<DataPointConfig>> {
        Ok(Vec::new())
    }

    fn define_data_points(&self, _: &[DataPointConfig]) -> Result<Vec<DataPointConfig>> {
        self.read_only()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_follow_the_zone_and_dst_changes_are_errors() {
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let at = |text: &str| parse_ts(text, Some(berlin)).map(format_us);
        assert_eq!(at("2026-03-29 01:45").unwrap(), "2026-03-29T00:45:00Z");
        assert_eq!(at("2026-03-29T03:00:00").unwrap(), "2026-03-29T01:00:00Z");
        assert_eq!(at("2026-03-29").unwrap(), "2026-03-28T23:00:00Z");
        assert_eq!(at("2026-03-29T02:00:00Z").unwrap(), "2026-03-29T02:00:00Z");
        let skipped = at("2026-03-29T02:30:00").unwrap_err();
        assert!(
            skipped.contains("does not exist in Europe/Berlin"),
            "{skipped}"
        );
        let twice = at("2026-10-25T02:30:00").unwrap_err();
        assert!(
            twice.contains("2026-10-25T02:30:00+02:00 or 2026-10-25T02:30:00+01:00"),
            "{twice}"
        );
        // Offsets as polars (`+0100`) and pandas (a space, `+01:00`) write
        // them, zone or none.
        for text in [
            "2026-03-28T00:00:00.000000+0100",
            "2026-03-28 00:00:00+01:00",
            "2026-03-28 00:00:00+0100",
            "2026-03-27T23:00:00.000000+0000",
        ] {
            assert_eq!(at(text).unwrap(), "2026-03-27T23:00:00Z", "{text}");
            let utc = parse_ts(text, None).map(format_us);
            assert_eq!(utc.unwrap(), "2026-03-27T23:00:00Z", "{text}");
        }
        let no_zone = parse_ts("2026-03-29T01:00:00", None).unwrap_err();
        assert!(no_zone.contains("--time-zone is needed"), "{no_zone}");
        // Kept to the microsecond: finer is refused, not cut.
        assert_eq!(
            at("2026-03-01T00:00:00.000001Z").unwrap(),
            "2026-03-01T00:00:00.000001Z"
        );
        for finer in [
            "2026-03-01T00:00:00.000000999Z",
            "2026-03-01 00:00:00.0000001",
        ] {
            let e = at(finer).unwrap_err();
            assert!(e.contains("finer than a microsecond"), "{finer}: {e}");
        }
    }

    fn infer_resolution_lines(ts: &HashMap<u32, i64>) -> std::result::Result<Resolution, String> {
        infer_resolution(ts, Place::Line)
    }

    #[test]
    fn the_resolution_is_the_most_common_step() {
        // Minutes, in file order (row 0 is line 2).
        let minutes = |m: &[i64]| {
            m.iter()
                .enumerate()
                .map(|(row, m)| (row as u32, m * 60_000_000))
                .collect::<HashMap<_, _>>()
        };
        assert_eq!(
            infer_resolution_lines(&minutes(&[30, 0, 15, 60])),
            Ok(Resolution::Seconds(900))
        );
        assert!(
            infer_resolution_lines(&minutes(&[0]))
                .unwrap_err()
                .contains("--resolution")
        );
        assert!(
            infer_resolution_lines(&minutes(&[0, 1440]))
                .unwrap_err()
                .contains("a day or more apart")
        );
        // Local midnights across a DST change are 23 or 25 hours apart: a
        // calendar day, not a stray time stamp.
        let days = infer_resolution_lines(&minutes(&[0, 1380, 2820])).unwrap_err();
        assert!(
            days.contains("a day or more apart") && days.contains("calendar one"),
            "{days}"
        );
        // One stray reading in 15-minute data is not a 5-minute resolution:
        // it is refused with its line.
        assert_eq!(
            infer_resolution_lines(&minutes(&[0, 15, 30, 45, 50, 60, 75])).unwrap_err(),
            "the time stamps are not evenly spaced: they are 15 min apart (4 of 6 steps), but \
             line 6 (1970-01-01T00:50:00Z) comes 5 min after line 5 (1970-01-01T00:45:00Z); \
             fix or drop the stray line, or pass --resolution (an ISO 8601 duration such as \
             PT15M, PT1H or P1D)"
        );
        // Equally common steps: the smaller one.
        assert_eq!(
            infer_resolution_lines(&minutes(&[0, 5, 10, 20, 30])),
            Ok(Resolution::Seconds(300))
        );
    }
}
