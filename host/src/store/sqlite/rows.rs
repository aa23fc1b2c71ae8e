//! Runs, log records and frames as the store's columns hold them: encoded
//! by the caller before a write (so the write lock covers only SQL), and
//! decoded from rows on the way out.

use algohost_sdk::logging::LogRecord;
use algohost_sdk::polars::prelude::DataFrame;
use chrono::{DateTime, Utc};
use polars::prelude::{
    CompatLevel, IpcCompression, IpcStreamReader, IpcStreamWriter, SerReader, SerWriter,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;
use uuid::Uuid;

use super::{backend, corrupt};
use crate::rfc3339::{self, Fraction};
use crate::runner::{self, Run, RunError};
use crate::store::{Change, Logs, StoreError};

/// The format of stored frames (the `format` column) from
/// [`COMPRESS_FROM_BYTES`] up: an Arrow IPC stream whose buffers are
/// compressed with zstd (Arrow's own buffer compression, as Feather v2 and
/// pyarrow write it), followed by the stream's CRC-32 (little-endian). A
/// time series takes a third or less of its uncompressed size, and decodes
/// exactly as it was. The checksum is checked before decoding: a damaged
/// size of a compressed buffer would make the decoder allocate without
/// bound, and abort the process, where a damaged file must only make that
/// frame unreadable.
const COMPRESSED_FRAME_FORMAT: &str = "arrow_ipc_stream_zstd";

/// The bytes of the checksum after a compressed stream.
const CHECKSUM_BYTES: usize = 4;

/// An uncompressed Arrow IPC stream: every frame algohost stored before it
/// compressed them, and the small frames it still stores this way.
const UNCOMPRESSED_FRAME_FORMAT: &str = "arrow_ipc_stream";

/// Frames smaller than this in memory are stored uncompressed: zstd starts
/// a new context for each column buffer (10-20 µs, whatever its size), which
/// made the end of a run with a few rows of output three times slower to
/// save a few hundred bytes.
const COMPRESS_FROM_BYTES: usize = 8 * 1024;

/// The columns of a run, in the order [`run_from_row`] reads them.
macro_rules! run_columns {
    () => {
        "id, algorithm, version, params, timeout, status, progress, progress_message, \
         created_at, started_at, finished_at, error, summary, frames"
    };
}
pub(super) use run_columns;

const INSERT_RUN: &str = concat!(
    "INSERT INTO runs (",
    run_columns!(),
    ", owner) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"
);

const UPDATE_RUN: &str = "UPDATE runs SET status = ?2, progress = ?3, progress_message = ?4, \
    started_at = ?5, finished_at = ?6, error = ?7, summary = ?8, frames = ?9, timeout = ?10 \
    WHERE id = ?1";

const SELECT_RUN: &str = concat!("SELECT ", run_columns!(), " FROM runs WHERE id = ?1");

pub(super) fn timestamp(t: &DateTime<Utc>) -> String {
    rfc3339::format(t, Fraction::Nanos)
}

pub(super) fn json_text(value: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Backend(format!("encoding JSON: {e}")))
}

/// What a run's record changes as it goes: everything but its identity,
/// params and creation time.
pub(super) struct RunChange {
    id: String,
    status: &'static str,
    progress: f64,
    progress_message: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    error: Option<String>,
    summary: String,
    frames: String,
    timeout: Option<f64>,
}

impl RunChange {
    pub fn of(run: &Run) -> Result<Self, StoreError> {
        Ok(Self {
            id: runner::id_text(run.id),
            status: run.status.as_str(),
            progress: run.progress,
            progress_message: run.progress_message.clone(),
            started_at: run.started_at.as_ref().map(timestamp),
            finished_at: run.finished_at.as_ref().map(timestamp),
            error: run.error.as_ref().map(json_text).transpose()?,
            summary: json_text(&run.summary)?,
            frames: json_text(&run.frames)?,
            timeout: run.timeout,
        })
    }

    /// The run's id, as stored.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Writes the change; an error when there is no such run.
    pub fn update(&self, conn: &Connection) -> Result<(), StoreError> {
        let changed = conn
            .prepare_cached(UPDATE_RUN)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    self.id,
                    self.status,
                    self.progress,
                    self.progress_message,
                    self.started_at,
                    self.finished_at,
                    self.error,
                    self.summary,
                    self.frames,
                    self.timeout,
                ])
            })
            .map_err(backend("updating a run"))?;
        if changed == 0 {
            return Err(StoreError::Backend(format!("no run with id {}", self.id)));
        }
        Ok(())
    }
}

/// A whole run record, for inserting.
pub(super) struct NewRun {
    change: RunChange,
    algorithm: String,
    version: String,
    params: String,
    created_at: String,
}

impl NewRun {
    pub fn of(run: &Run) -> Result<Self, StoreError> {
        Ok(Self {
            change: RunChange::of(run)?,
            algorithm: run.algorithm.clone(),
            version: run.version.clone(),
            params: json_text(&run.params)?,
            created_at: timestamp(&run.created_at),
        })
    }

    /// The run's id, as stored.
    pub fn id(&self) -> &str {
        self.change.id()
    }

    /// Inserts the run, held by the node `owner`.
    pub fn insert(&self, conn: &Connection, owner: &str) -> Result<(), StoreError> {
        let c = &self.change;
        conn.prepare_cached(INSERT_RUN)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    c.id,
                    self.algorithm,
                    self.version,
                    self.params,
                    c.timeout,
                    c.status,
                    c.progress,
                    c.progress_message,
                    self.created_at,
                    c.started_at,
                    c.finished_at,
                    c.error,
                    c.summary,
                    c.frames,
                    owner,
                ])
            })
            .map_err(backend("inserting a run"))?;
        Ok(())
    }
}

/// Log records, encoded.
pub(super) fn encode_logs(logs: &[LogRecord]) -> Result<Vec<String>, StoreError> {
    logs.iter().map(json_text).collect()
}

/// Appends encoded log records after the run's last one.
pub(super) fn append_logs(
    conn: &Connection,
    id: &str,
    records: &[String],
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    let next: i64 = conn
        .prepare_cached("SELECT COALESCE(MAX(seq) + 1, 0) FROM logs WHERE run_id = ?1")
        .and_then(|mut stmt| stmt.query_row([id], |row| row.get(0)))
        .map_err(backend("appending logs"))?;
    let mut insert = conn
        .prepare_cached("INSERT INTO logs (run_id, seq, record) VALUES (?1, ?2, ?3)")
        .map_err(backend("appending logs"))?;
    for (seq, record) in (next..).zip(records) {
        insert
            .execute(params![id, seq, record])
            .map_err(backend("appending logs"))?;
    }
    Ok(())
}

/// An output frame, encoded.
pub(super) struct EncodedFrame {
    run_id: String,
    name: String,
    format: &'static str,
    bytes: Vec<u8>,
}

impl EncodedFrame {
    pub fn of(run_id: Uuid, name: &str, frame: &DataFrame) -> Result<Self, StoreError> {
        let (format, compression) = if frame.estimated_size() < COMPRESS_FROM_BYTES {
            (UNCOMPRESSED_FRAME_FORMAT, None)
        } else {
            let zstd = IpcCompression::ZSTD(Default::default());
            (COMPRESSED_FRAME_FORMAT, Some(zstd))
        };
        let mut bytes = Vec::new();
        let mut frame = frame.clone();
        IpcStreamWriter::new(&mut bytes)
            .with_compat_level(CompatLevel::newest())
            .with_compression(compression)
            .finish(&mut frame)
            .map_err(|e| StoreError::Backend(format!("encoding a frame: {e}")))?;
        if format == COMPRESSED_FRAME_FORMAT {
            let checksum = crc32fast::hash(&bytes);
            bytes.extend_from_slice(&checksum.to_le_bytes());
        }
        Ok(Self {
            run_id: run_id.to_string(),
            name: name.to_owned(),
            format,
            bytes,
        })
    }

    pub fn put(&self, conn: &Connection) -> Result<(), StoreError> {
        conn.prepare_cached(
            "INSERT OR REPLACE INTO frames (run_id, name, format, data) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut stmt| stmt.execute(params![self.run_id, self.name, self.format, self.bytes]))
        .map_err(backend("storing a frame"))?;
        Ok(())
    }
}

/// A [`Change`], encoded: the work a write lock need not cover is done.
pub(super) enum EncodedChange {
    Insert(NewRun),
    Update(RunChange),
    AppendLogs {
        run_id: String,
        records: Vec<String>,
    },
    PutFrame(EncodedFrame),
}

impl EncodedChange {
    pub fn of(change: &Change<'_>) -> Result<Self, StoreError> {
        Ok(match *change {
            Change::Insert(run) => Self::Insert(NewRun::of(run)?),
            Change::Update(run) => Self::Update(RunChange::of(run)?),
            Change::AppendLogs(id, logs) => Self::AppendLogs {
                run_id: id.to_string(),
                records: encode_logs(logs)?,
            },
            Change::PutFrame(id, name, frame) => Self::PutFrame(EncodedFrame::of(id, name, frame)?),
        })
    }

    /// Writes the change; a run it inserts is held by the node `owner`.
    pub fn write(&self, conn: &Connection, owner: &str) -> Result<(), StoreError> {
        match self {
            Self::Insert(run) => run.insert(conn, owner),
            Self::Update(change) => change.update(conn),
            Self::AppendLogs { run_id, records } => append_logs(conn, run_id, records),
            Self::PutFrame(frame) => frame.put(conn),
        }
    }
}

/// A stored frame, from its `format` and bytes.
pub(super) fn decode_frame(format: &str, mut bytes: Vec<u8>) -> Result<DataFrame, StoreError> {
    match format {
        UNCOMPRESSED_FRAME_FORMAT => {}
        COMPRESSED_FRAME_FORMAT => {
            let Some(at) = bytes.len().checked_sub(CHECKSUM_BYTES) else {
                return Err(corrupt("frame: too short to be one"));
            };
            let stored = bytes.split_off(at);
            if stored != crc32fast::hash(&bytes).to_le_bytes() {
                return Err(corrupt(
                    "frame: its bytes do not match their checksum (the store file is damaged)",
                ));
            }
        }
        _ => return Err(corrupt(format!("unknown frame format '{format}'"))),
    }
    // Both are read alike: each record batch's header says whether and how
    // its buffers are compressed.
    IpcStreamReader::new(std::io::Cursor::new(bytes))
        .finish()
        .map_err(|e| corrupt(format!("frame: {e}")))
}

/// A run from a row of [`run_columns!`] (without its logs).
pub(super) fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Run, StoreError>> {
    let id: String = row.get(0)?;
    let params: String = row.get(3)?;
    let status: String = row.get(5)?;
    let created_at: String = row.get(8)?;
    let started_at: Option<String> = row.get(9)?;
    let finished_at: Option<String> = row.get(10)?;
    let error: Option<String> = row.get(11)?;
    let summary: String = row.get(12)?;
    let frames: String = row.get(13)?;
    let (algorithm, version, timeout, progress, progress_message) = (
        row.get(1)?,
        row.get(2)?,
        row.get(4)?,
        row.get(6)?,
        row.get(7)?,
    );
    Ok((|| {
        let time = |t: &str| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt(format!("timestamp '{t}': {e}")))
        };
        let json = |what: &str, text: &str| {
            serde_json::from_str::<Value>(text)
                .map_err(|e| corrupt(format!("{what} of run {id}: {e}")))
        };
        Ok(Run {
            id: Uuid::parse_str(&id).map_err(|e| corrupt(format!("run id '{id}': {e}")))?,
            algorithm,
            version,
            params: json("params", &params)?,
            timeout,
            status: status
                .parse()
                .map_err(|_| corrupt(format!("status '{status}' of run {id}")))?,
            progress,
            progress_message,
            created_at: time(&created_at)?,
            started_at: started_at.as_deref().map(time).transpose()?,
            finished_at: finished_at.as_deref().map(time).transpose()?,
            error: error
                .as_deref()
                .map(|e| {
                    serde_json::from_str::<RunError>(e)
                        .map_err(|e| corrupt(format!("error of run {id}: {e}")))
                })
                .transpose()?,
            summary: json("summary", &summary)?,
            frames: serde_json::from_str(&frames)
                .map_err(|e| corrupt(format!("frame names of run {id}: {e}")))?,
            logs: Vec::new(),
        })
    })())
}

/// One run with its logs, through either connection.
pub(super) fn load_run(conn: &Connection, id: &str) -> Result<Option<Run>, StoreError> {
    read_run(conn, id, Logs::All)
}

/// One run with the log records `logs` selects, through either connection.
pub(super) fn read_run(conn: &Connection, id: &str, logs: Logs) -> Result<Option<Run>, StoreError> {
    let Some(run) = conn
        .prepare_cached(SELECT_RUN)
        .and_then(|mut stmt| stmt.query_row([id], run_from_row).optional())
        .map_err(backend("reading a run"))?
    else {
        return Ok(None);
    };
    let mut run = run?;
    // A run's records are numbered from 0 with no gaps (`append_logs`):
    // those after the first n start at n, which the key finds.
    let first = match logs {
        Logs::None => return Ok(Some(run)),
        Logs::All => 0,
        Logs::After(n) => i64::try_from(n).unwrap_or(i64::MAX),
    };
    let mut stmt = conn
        .prepare_cached("SELECT record FROM logs WHERE run_id = ?1 AND seq >= ?2 ORDER BY seq")
        .map_err(backend("reading logs"))?;
    let records = stmt
        .query_map(params![id, first], |row| row.get::<_, String>(0))
        .map_err(backend("reading logs"))?;
    for record in records {
        let record = record.map_err(backend("reading logs"))?;
        run.logs.push(
            serde_json::from_str(&record).map_err(|e| corrupt(format!("log of run {id}: {e}")))?,
        );
    }
    Ok(Some(run))
}

#[cfg(test)]
mod tests {
    use polars::prelude::*;

    use super::*;

    /// `rows` rows of the kinds of values output frames hold: a UTC `ts`,
    /// nulls, NaN, small integers, text, categories, dates.
    fn mixed(rows: usize) -> DataFrame {
        let rows = i64::try_from(rows).unwrap();
        let ts = (0..rows).map(|i| (i % 7 != 3).then_some(1_704_067_200_000_000 + i * 900_000_000));
        let ts = Int64Chunked::from_iter_options("ts".into(), ts)
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            .into_column();
        let value: Vec<Option<f64>> = (0..rows)
            .map(|i| match i % 5 {
                0 => Some(f64::NAN),
                1 => None,
                _ => Some(i as f64 / 4.0),
            })
            .collect();
        let step: Vec<Option<i8>> = (0..rows).map(|i| (i % 3 != 0).then_some(i as i8)).collect();
        let site: Vec<Option<String>> = (0..rows)
            .map(|i| (i % 4 != 0).then(|| format!("site {}", i % 10)))
            .collect();
        let site = Column::new("site".into(), site);
        let kind = site
            .cast(&DataType::from_categories(Categories::global()))
            .unwrap()
            .with_name("kind".into());
        let day = Int32Chunked::from_iter_values("day".into(), (0..rows).map(|i| (i / 96) as i32))
            .into_date()
            .into_column();
        let on = Column::new(
            "on".into(),
            (0..rows).map(|i| i % 2 == 0).collect::<Vec<_>>(),
        );
        DataFrame::new_infer_height(vec![
            ts,
            Column::new("value".into(), value),
            Column::new("step".into(), step),
            site,
            kind,
            day,
            on,
        ])
        .unwrap()
    }

    fn stored(frame: &DataFrame) -> EncodedFrame {
        EncodedFrame::of(Uuid::now_v7(), "out", frame).unwrap()
    }

    #[test]
    fn frames_come_back_as_they_were_whether_compressed_or_not() {
        for (rows, format) in [
            (0, UNCOMPRESSED_FRAME_FORMAT),
            (3, UNCOMPRESSED_FRAME_FORMAT),
            (5_000, COMPRESSED_FRAME_FORMAT),
        ] {
            let frame = mixed(rows);
            let encoded = stored(&frame);
            assert_eq!(encoded.format, format, "{rows} rows");
            let got = decode_frame(encoded.format, encoded.bytes).unwrap();
            assert_eq!(got.schema(), frame.schema(), "{rows} rows");
            assert!(got.equals_missing(&frame), "{rows} rows: {got}");
            let nan = |f: &DataFrame| -> Vec<Option<bool>> {
                let value = f.column("value").unwrap().f64().unwrap();
                value.iter().map(|v| v.map(f64::is_nan)).collect()
            };
            assert_eq!(nan(&got), nan(&frame), "{rows} rows");
        }
        // A frame with no columns too.
        let empty = stored(&DataFrame::empty());
        assert_eq!(decode_frame(empty.format, empty.bytes).unwrap().width(), 0);
    }

    #[test]
    fn a_frame_of_an_unknown_format_or_damaged_is_corrupt_data() {
        let message =
            |format: &str, bytes: Vec<u8>| decode_frame(format, bytes).unwrap_err().to_string();
        let frame = stored(&mixed(5_000));
        assert_eq!(
            message("parquet", frame.bytes.clone()),
            "run store: corrupt data: unknown frame format 'parquet'"
        );
        // Any byte of a compressed frame damaged: refused before decoding.
        let compressed = stored(&mixed(5_000));
        assert_eq!(compressed.format, COMPRESSED_FRAME_FORMAT);
        for at in 0..compressed.bytes.len() {
            let mut damaged = compressed.bytes.clone();
            damaged[at] ^= 0x10;
            assert_eq!(
                message(COMPRESSED_FRAME_FORMAT, damaged),
                "run store: corrupt data: frame: its bytes do not match their checksum (the \
                 store file is damaged)"
            );
        }
        for damaged in [
            b"not a frame".to_vec(),
            frame.bytes[..frame.bytes.len() / 2].to_vec(),
            Vec::new(),
        ] {
            let err = message(COMPRESSED_FRAME_FORMAT, damaged);
            assert!(err.starts_with("run store: corrupt data: frame: "), "{err}");
        }
    }
}
