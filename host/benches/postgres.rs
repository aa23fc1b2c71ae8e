//! PostgreSQL adapter throughput on 10 million samples (100 data points ×
//! 100 000 quarter-hours), each beside a baseline measured in the same run
//! on the same server and table:
//!
//! - write: `PostgresAdapter::write` of the long frame into an empty
//!   `samples` table vs a raw `COPY samples FROM STDIN (FORMAT binary)` of
//!   the same rows through tokio-postgres, encoded from plain `Vec` columns;
//! - read: `PostgresAdapter::read` of every data point over all time into a
//!   long frame vs a raw `COPY (SELECT … ORDER BY data_point_id, ts) TO
//!   STDOUT (FORMAT binary)` decoded into three `Vec`s (ids, µs, values),
//!   and vs `pandas.read_sql` of the same query (`benches/pandas_read.py`,
//!   run with the Python of `ALGOHOST_BENCH_PYTHON`;
//!   `ALGOHOST_BENCH_PANDAS_MISSING` says why there is none).
//!
//! The server is the tests' (`host/tests/it/pg_server.rs`: `initdb` and
//! `pg_ctl` on a temporary directory, stopped when this process ends), with
//! their settings (fsync off, 32 MB shared buffers). Ours and the baseline
//! take turns, `ALGOHOST_BENCH_PG_REPETITIONS` times each (default 3) after
//! one warm-up read each; the table is truncated and checkpointed before
//! every write. Prints the medians and writes every time as JSON
//! (`ALGOHOST_BENCH_POSTGRES_OUT`, default `<target dir>/bench-postgres.json`)
//! for `benches/report.py`. `ALGOHOST_BENCH_PG_POINTS` and
//! `ALGOHOST_BENCH_PG_SAMPLES` (per data point) change the size;
//! `ALGOHOST_BENCH_PG_ADAPTER_PARAMS` adds URL parameters to the adapter's
//! connection (`options=-c%20jit%3Doff`), to try server settings. Without
//! `--bench` (`cargo test --benches`) it only checks, on a few thousand
//! samples, that every path reads back what was written, and writes nothing.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use algohost::adapters::Adapter;
use algohost::adapters::postgres::PostgresAdapter;
use algohost::sdk::data::{DataPointConfig, DataPointFilter, Quantity, Resolution, long_frame};
use algohost::sdk::polars::prelude::DataFrame;
use anyhow::{Context, Result, ensure};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::{SinkExt, TryStreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio_postgres::{Client, NoTls};

// The tests' server, shared rather than copied; the bench uses part of it.
#[allow(dead_code)]
#[path = "../tests/it/pg_server.rs"]
mod pg_server;

/// The raw write baseline.
const RAW_COPY_IN: &str = "COPY samples (data_point_id, ts, value) FROM STDIN (FORMAT binary)";
/// The raw read baseline; `benches/pandas_read.py` runs the same query.
const RAW_COPY_OUT: &str = "COPY (SELECT data_point_id, ts, value FROM samples ORDER BY data_point_id, ts) TO STDOUT (FORMAT binary)";
/// The 11 bytes every binary COPY stream starts with.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// µs from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// 2024-01-01 00:00 UTC, the first sample, in µs since 1970.
const FIRST_TS_US: i64 = 1_704_067_200_000_000;
const QUARTER_HOUR_US: i64 = 900_000_000;
/// Rows per chunk the raw write hands to the COPY sink (the adapter's too).
const ROWS_PER_CHUNK: usize = 32 * 1024;

/// How much data and how many timed repetitions.
#[derive(Debug, Clone, Copy, Serialize)]
struct Scale {
    points: usize,
    samples_per_point: usize,
    rows: usize,
    repetitions: usize,
}

impl Scale {
    fn from_env(is_bench: bool) -> Result<Self> {
        let var = |name: &str, bench: usize, check: usize| -> Result<usize> {
            match std::env::var(name) {
                Ok(text) => text
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .with_context(|| format!("{name}={text}: give a positive whole number")),
                Err(_) => Ok(if is_bench { bench } else { check }),
            }
        };
        let points = var("ALGOHOST_BENCH_PG_POINTS", 100, 3)?;
        let samples_per_point = var("ALGOHOST_BENCH_PG_SAMPLES", 100_000, 1000)?;
        Ok(Self {
            points,
            samples_per_point,
            rows: points * samples_per_point,
            repetitions: var("ALGOHOST_BENCH_PG_REPETITIONS", 3, 1)?,
        })
    }
}

/// The samples as plain columns, the form a hand-written client holds.
#[derive(Debug, Default, PartialEq)]
struct Columns {
    ids: Vec<i64>,
    /// µs since 1970.
    ts: Vec<i64>,
    values: Vec<f64>,
}

/// Seconds of each timed repetition and their median.
#[derive(Debug, Serialize)]
struct Timings {
    seconds: Vec<f64>,
    median_s: f64,
}

impl Timings {
    fn new(seconds: Vec<f64>) -> Self {
        let mut sorted = seconds.clone();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median_s = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        };
        Self { seconds, median_s }
    }
}

/// Runs `work` and returns its result and how long it took.
fn timed<T>(work: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let out = work()?;
    Ok((out, start.elapsed().as_secs_f64()))
}

/// `points` quarter-hourly power data points; the adapter gives their ids.
fn define(adapter: &PostgresAdapter, points: usize) -> Result<Vec<DataPointConfig>> {
    let definitions: Vec<DataPointConfig> = (0..points)
        .map(|i| {
            DataPointConfig::new(
                format!("bench.p{i:04}"),
                Quantity::Power,
                "kW",
                Resolution::Seconds(900),
            )
        })
        .collect();
    Ok(adapter.define_data_points(&definitions)?)
}

/// `per_point` consecutive quarter-hours of every data point, as the long
/// frame the adapter writes and as the columns the raw write sends.
fn samples(points: &[DataPointConfig], per_point: usize) -> Result<(DataFrame, Columns)> {
    let rows = points.len() * per_point;
    let mut columns = Columns {
        ids: Vec::with_capacity(rows),
        ts: Vec::with_capacity(rows),
        values: Vec::with_capacity(rows),
    };
    for point in points {
        for i in 0..per_point {
            columns.ids.push(point.id.0);
            columns.ts.push(FIRST_TS_US + i as i64 * QUARTER_HOUR_US);
            columns
                .values
                .push(point.id.0 as f64 + (i % 96) as f64 * 0.25);
        }
    }
    let frame = long_frame(
        columns.ids.clone(),
        columns.ts.clone(),
        columns.values.iter().map(|v| Some(*v)).collect(),
    )?;
    Ok((frame, columns))
}

/// Empties `samples` and writes its dirty pages out, so that every write
/// starts from the same state.
async fn reset(client: &Client) -> Result<()> {
    client.batch_execute("TRUNCATE samples; CHECKPOINT").await?;
    Ok(())
}

/// The write baseline: the rows encoded as binary COPY tuples, a chunk at a
/// time, straight into `samples`.
async fn raw_write(client: &Client, rows: &Columns) -> Result<()> {
    let sink = client.copy_in::<_, Bytes>(RAW_COPY_IN).await?;
    futures_util::pin_mut!(sink);
    let mut header = BytesMut::with_capacity(19);
    header.put_slice(SIGNATURE);
    header.put_i32(0);
    header.put_i32(0);
    sink.send(header.freeze()).await?;
    let len = rows.ids.len();
    for start in (0..len).step_by(ROWS_PER_CHUNK) {
        let end = (start + ROWS_PER_CHUNK).min(len);
        let mut out = BytesMut::with_capacity((end - start) * 38);
        for i in start..end {
            out.put_i16(3);
            out.put_i32(8);
            out.put_i64(rows.ids[i]);
            out.put_i32(8);
            out.put_i64(rows.ts[i] - PG_EPOCH_US);
            out.put_i32(8);
            out.put_f64(rows.values[i]);
        }
        sink.send(out.freeze()).await?;
    }
    sink.send(Bytes::from_static(&[0xff, 0xff])).await?;
    let written = sink.as_mut().finish().await?;
    ensure!(
        written == len as u64,
        "raw COPY wrote {written} of {len} rows"
    );
    Ok(())
}

/// The read baseline: every row through binary COPY, decoded as it arrives.
async fn raw_read(client: &Client) -> Result<Columns> {
    let stream = client.copy_out(RAW_COPY_OUT).await?;
    futures_util::pin_mut!(stream);
    let mut decoder = RawDecoder::default();
    while let Some(chunk) = stream.try_next().await? {
        decoder.push(&chunk)?;
    }
    ensure!(
        decoder.is_done && decoder.pending.is_empty(),
        "the COPY stream ended early"
    );
    Ok(decoder.columns)
}

/// Decodes binary COPY rows `(int8, timestamptz, float8)` into [`Columns`]
/// (a null value becomes NaN: the benchmark writes none).
#[derive(Debug, Default)]
struct RawDecoder {
    /// The start of a row that has not all arrived.
    pending: Vec<u8>,
    is_header_read: bool,
    is_done: bool,
    columns: Columns,
}

impl RawDecoder {
    fn push(&mut self, chunk: &[u8]) -> Result<()> {
        if self.pending.is_empty() {
            let used = self.decode(chunk)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            let mut bytes = std::mem::take(&mut self.pending);
            bytes.extend_from_slice(chunk);
            let used = self.decode(&bytes)?;
            bytes.drain(..used);
            self.pending = bytes;
        }
        Ok(())
    }

    /// Decodes the complete rows of `bytes`; returns the bytes used.
    fn decode(&mut self, bytes: &[u8]) -> Result<usize> {
        let i16_at = |at: usize| i16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let i32_at =
            |at: usize| i32::from_be_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        let i64_at =
            |at: usize| i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let mut at = 0;
        if !self.is_header_read {
            if bytes.len() < 19 {
                return Ok(0);
            }
            ensure!(&bytes[..11] == SIGNATURE, "not a binary COPY stream");
            let extension = usize::try_from(i32_at(15))?;
            if bytes.len() < 19 + extension {
                return Ok(0);
            }
            at = 19 + extension;
            self.is_header_read = true;
        }
        // Fields: count (2), id length (4) + id (8), ts length (4) + ts (8),
        // value length (4) + value (8, absent when null).
        while !self.is_done && at + 2 <= bytes.len() {
            let count = i16_at(at);
            if count == -1 {
                self.is_done = true;
                at += 2;
                break;
            }
            ensure!(count == 3, "a row has {count} fields, not 3");
            if at + 30 > bytes.len() {
                break;
            }
            ensure!(
                i32_at(at + 2) == 8 && i32_at(at + 14) == 8,
                "a null or odd-sized id or ts"
            );
            let (value, len) = match i32_at(at + 26) {
                -1 => (f64::NAN, 30),
                8 if at + 38 <= bytes.len() => (f64::from_bits(i64_at(at + 30) as u64), 38),
                8 => break,
                other => anyhow::bail!("a value of {other} bytes"),
            };
            self.columns.ids.push(i64_at(at + 6));
            self.columns.ts.push(i64_at(at + 18) + PG_EPOCH_US);
            self.columns.values.push(value);
            at += len;
        }
        Ok(at)
    }
}

/// `pandas.read_sql` of every sample, `repetitions` times, in a Python
/// process; the reason instead when there is no Python with pandas.
fn pandas_reads(url: &str, repetitions: usize, rows: usize) -> Value {
    let Some(python) = std::env::var_os("ALGOHOST_BENCH_PYTHON").filter(|p| !p.is_empty()) else {
        return missing(
            std::env::var("ALGOHOST_BENCH_PANDAS_MISSING").unwrap_or_else(|_| {
                "ALGOHOST_BENCH_PYTHON is not set (benches/run.sh installs pandas into a venv)"
                    .to_owned()
            }),
        );
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../benches/pandas_read.py");
    let out = match Command::new(&python)
        .arg(&script)
        .arg(url)
        .arg(repetitions.to_string())
        .output()
    {
        Ok(out) => out,
        Err(e) => return missing(format!("cannot run {}: {e}", python.to_string_lossy())),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
        return missing(format!(
            "pandas_read.py failed: {}",
            last.unwrap_or("no message")
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let parsed: Option<(Vec<f64>, usize, String)> = stdout
        .lines()
        .next_back()
        .and_then(|line| serde_json::from_str::<Value>(line).ok())
        .and_then(|v| {
            Some((
                serde_json::from_value(v["seconds"].clone()).ok()?,
                usize::try_from(v["rows"].as_u64()?).ok()?,
                v["versions"].as_str()?.to_owned(),
            ))
        });
    match parsed {
        Some((seconds, read, versions)) if read == rows && !seconds.is_empty() => {
            let mut timings = json!(Timings::new(seconds));
            timings["versions"] = versions.into();
            timings
        }
        Some((_, read, _)) if read != rows => {
            missing(format!("pandas read {read} rows, not {rows}"))
        }
        _ => missing(format!("pandas_read.py printed no timings: {stdout}")),
    }
}

fn missing(reason: String) -> Value {
    eprintln!("pandas baseline missing: {reason}");
    json!({ "missing": reason })
}

fn output_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ALGOHOST_BENCH_POSTGRES_OUT") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("bench executable");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("<target>/<profile>/deps/<exe>");
    target.join("bench-postgres.json")
}

fn main() -> Result<()> {
    let is_bench = std::env::args().any(|a| a == "--bench");
    let scale = Scale::from_env(is_bench)?;
    let server = pg_server::server();
    let db = pg_server::database("bench");
    let version = server.psql("postgres", "SHOW server_version");
    println!(
        "PostgreSQL {version}: {} data points × {} samples = {} rows, {} repetition(s)",
        scale.points, scale.samples_per_point, scale.rows, scale.repetitions
    );
    // The default statement timeout (60 s) is too short for a slow machine.
    let mut adapter_url = format!("{}&statement_timeout=1h", db.url);
    if let Ok(params) = std::env::var("ALGOHOST_BENCH_PG_ADAPTER_PARAMS")
        && !params.is_empty()
    {
        println!("adapter URL parameters: {params}");
        adapter_url = format!("{adapter_url}&{params}");
    }
    let adapter = PostgresAdapter::connect(&adapter_url)?;
    let points = define(&adapter, scale.points)?;
    let (frame, columns) = samples(&points, scale.samples_per_point)?;
    let runtime = Runtime::new()?;
    let client = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&db.url, NoTls).await?;
        tokio::spawn(connection);
        anyhow::Ok(client)
    })?;

    // Writes: ours and raw take turns, each into an empty table.
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for repetition in 0..scale.repetitions {
        for is_ours in [repetition % 2 == 0, repetition % 2 == 1] {
            runtime.block_on(reset(&client))?;
            if is_ours {
                ours.push(timed(|| Ok(adapter.write(&frame)?))?.1);
            } else {
                raw.push(timed(|| runtime.block_on(raw_write(&client, &columns)))?.1);
            }
        }
    }
    let write = json!({ "adapter": Timings::new(ours), "raw_copy": Timings::new(raw) });
    runtime.block_on(client.batch_execute("VACUUM ANALYZE samples"))?;

    // Reads, after one of each to warm the caches; both must give every row.
    let filter = DataPointFilter::default();
    let read = adapter.read(&filter)?;
    ensure!(
        read.equals_missing(&frame),
        "the adapter read back other samples than it wrote"
    );
    ensure!(
        runtime.block_on(raw_read(&client))? == columns,
        "the raw COPY read back other samples than were written"
    );
    drop(read);
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..scale.repetitions {
        let (frame, seconds) = timed(|| Ok(adapter.read(&filter)?))?;
        ensure!(
            frame.height() == scale.rows,
            "the adapter read {} rows",
            frame.height()
        );
        ours.push(seconds);
        drop(frame);
        let (rows, seconds) = timed(|| runtime.block_on(raw_read(&client)))?;
        ensure!(
            rows.ids.len() == scale.rows,
            "raw COPY read {} rows",
            rows.ids.len()
        );
        raw.push(seconds);
    }
    let pandas = if is_bench {
        pandas_reads(&db.url, scale.repetitions, scale.rows)
    } else {
        json!({ "missing": "not run without --bench" })
    };
    let read = json!({
        "adapter": Timings::new(ours),
        "raw_copy": Timings::new(raw),
        "pandas": pandas,
    });

    for (what, figures) in [("write", &write), ("read", &read)] {
        for (side, timings) in figures.as_object().into_iter().flatten() {
            match timings.get("median_s").and_then(Value::as_f64) {
                Some(median) => println!(
                    "{what} {side}: median {median:.3} s, {:.2} M samples/s",
                    scale.rows as f64 / median / 1e6
                ),
                None => println!("{what} {side}: {}", timings["missing"]),
            }
        }
    }
    if is_bench {
        let out = output_path();
        let report = json!({
            "server": format!("PostgreSQL {version}"),
            "scale": scale,
            "write": write,
            "read": read,
        });
        std::fs::write(&out, serde_json::to_string_pretty(&report)? + "\n")?;
        println!("wrote {}", out.display());
    }
    Ok(())
}
