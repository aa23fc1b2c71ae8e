//! The `samples` table: bulk reads and writes with binary COPY.
//!
//! A read binds its ids and range with `set_config` (transaction-local
//! settings) and runs one `COPY (SELECT …) TO STDOUT (FORMAT binary)` that
//! reads them back with `current_setting`: COPY takes no bind parameters,
//! and this way its text is a constant — no value, not even an integer, is
//! ever formatted into SQL (the one exception is the server's own snapshot
//! id in a two-stream read, checked to be hex digits and dashes). A write copies straight into `samples` when it
//! replaces nothing, and otherwise into a temporary table to upsert from,
//! in the caller's transaction.

use algohost_sdk::data::{DataPointConfig, long_frame};
use algohost_sdk::{Error, Result};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use deadpool_postgres::Object;
use futures_util::{SinkExt, TryStreamExt};
use polars::prelude::DataFrame;
use tokio_postgres::error::SqlState;
use tokio_postgres::{IsolationLevel, Transaction};

use super::copy::{Decoder, ROWS_PER_CHUNK, encode, header, trailer};
use super::db_error;

/// Binds the read's ids and range for [`COPY_OUT`] (`$1` ids, `$2` start,
/// `$3` end; a null bound is open). For this transaction only, it also
/// turns off bitmap scans and JIT: with them PostgreSQL plans a long read as
/// a bitmap heap scan plus a sort per data point, which spills to disk and
/// takes about 1.5× as long as the ordered index scans the query is built
/// for (measured in `make bench`).
const BIND_READ: &str = "SELECT set_config('algohost.read_ids', $1::int8[]::text, true), set_config('algohost.read_start', coalesce($2::timestamptz, '-infinity')::text, true), set_config('algohost.read_end', coalesce($3::timestamptz, 'infinity')::text, true), set_config('enable_bitmapscan', 'off', true), set_config('jit', 'off', true)";

/// The samples of the bound ids in the bound range, one index range scan
/// per id, in (id, ts) order.
const COPY_OUT: &str = "COPY (SELECT s.data_point_id, s.ts, s.value FROM unnest(current_setting('algohost.read_ids')::int8[]) AS p (id) CROSS JOIN LATERAL (SELECT data_point_id, ts, value FROM samples WHERE data_point_id = p.id AND ts >= current_setting('algohost.read_start')::timestamptz AND ts < current_setting('algohost.read_end')::timestamptz ORDER BY ts) AS s) TO STDOUT (FORMAT binary)";

/// Makes writers of the same data points ($1, sorted) take turns until
/// their transactions end.
const LOCK_WRITERS: &str = "SELECT pg_advisory_xact_lock(w.id) FROM unnest($1::int8[]) AS w (id)";

/// Whether any stored sample of the ids ($1) lies between their first ($2)
/// and last ($3) ts to write.
const OVERLAPS: &str = "SELECT EXISTS (SELECT 1 FROM unnest($1::int8[], $2::timestamptz[], $3::timestamptz[]) AS w (id, first, last) WHERE EXISTS (SELECT 1 FROM samples WHERE data_point_id = w.id AND ts >= coalesce(w.first, '-infinity') AND ts <= coalesce(w.last, 'infinity')))";

const COPY_IN_SAMPLES: &str = "COPY samples (data_point_id, ts, value) FROM STDIN (FORMAT binary)";

const CREATE_STAGING: &str = "CREATE TEMPORARY TABLE algohost_staging (data_point_id int8 NOT NULL, ts timestamptz NOT NULL, value float8) ON COMMIT DROP";

const COPY_IN_STAGING: &str =
    "COPY algohost_staging (data_point_id, ts, value) FROM STDIN (FORMAT binary)";

const UPSERT: &str = "INSERT INTO samples (data_point_id, ts, value) SELECT data_point_id, ts, value FROM algohost_staging ON CONFLICT (data_point_id, ts) DO UPDATE SET value = EXCLUDED.value";

/// The long frame of the samples of `points` with `lo <= ts < hi` (µs since
/// the epoch), sorted by (id, ts).
pub(super) async fn read(
    tx: &Transaction<'_>,
    points: &[DataPointConfig],
    lo: i64,
    hi: i64,
) -> Result<DataFrame> {
    if points.is_empty() {
        return long_frame(Vec::new(), Vec::new(), Vec::new());
    }
    let fail = |e| db_error("cannot read the samples", e);
    let mut ids: Vec<i64> = points.iter().map(|p| p.id.0).collect();
    ids.sort_unstable();
    let (start, end) = (bound(lo), bound(hi));
    tx.execute(BIND_READ, &[&ids, &start, &end])
        .await
        .map_err(fail)?;
    let stream = tx.copy_out(COPY_OUT).await.map_err(fail)?;
    futures_util::pin_mut!(stream);
    let mut decoder = Decoder::default();
    while let Some(chunk) = stream.try_next().await.map_err(fail)? {
        decoder.push(&chunk)?;
    }
    decoder.finish()
}

/// Starts a read: a read-only transaction whose snapshot holds for all its
/// statements (data points and samples agree).
pub(super) async fn begin_read(client: &mut Object) -> Result<deadpool_postgres::Transaction<'_>> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| db_error("cannot start a read", e))
}

/// Like [`read`], in two COPY streams at once: the first half of the data
/// points on `tx`, the second on a transaction of `helper` that sees the
/// same snapshot (`pg_export_snapshot`), so the result is the one a single
/// stream would give — in twice the server processes, which is where a
/// large read spends its time.
pub(super) async fn read_in_two(
    tx: &Transaction<'_>,
    helper: &mut Object,
    points: &[DataPointConfig],
    lo: i64,
    hi: i64,
) -> Result<DataFrame> {
    let fail = |e| db_error("cannot read the samples", e);
    let snapshot: String = tx
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .map_err(fail)?
        .get(0);
    // A server-made id such as 00000003-0000001B-1; checked anyway, as it
    // is the one value written into a statement.
    if snapshot.is_empty() || !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::Data(format!(
            "PostgreSQL exported an unexpected snapshot id {snapshot:?}"
        )));
    }
    let other = begin_read(helper).await?;
    other
        .batch_execute(&format!("SET TRANSACTION SNAPSHOT '{snapshot}'"))
        .await
        .map_err(fail)?;
    let mut sorted = points.to_vec();
    sorted.sort_unstable_by_key(|p| p.id);
    let (first, second) = sorted.split_at(sorted.len() / 2);
    let (a, b) =
        futures_util::future::try_join(read(tx, first, lo, hi), read(&other, second, lo, hi))
            .await?;
    other
        .commit()
        .await
        .map_err(|e| db_error("cannot end a read", e))?;
    a.vstack(&b).map_err(Error::from)
}

/// One data point's part of a write: its id and the first and last ts (µs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub id: i64,
    pub first: i64,
    pub last: i64,
}

/// Upserts the rows of a validated long frame sorted by (id, ts) whose ids
/// all exist (`spans` lists them, sorted): a sample at an existing (data
/// point, ts) replaces it.
///
/// Writers of the same data point take turns (an advisory lock per id, in
/// id order). When no stored sample lies within the spans, the rows are
/// copied straight into `samples`; otherwise through a temporary table and
/// `INSERT … ON CONFLICT DO UPDATE`.
pub(super) async fn write(tx: &Transaction<'_>, long: &DataFrame, spans: &[Span]) -> Result<()> {
    let fail = write_error;
    let ids: Vec<i64> = spans.iter().map(|s| s.id).collect();
    let firsts: Vec<Option<DateTime<Utc>>> = spans.iter().map(|s| bound(s.first)).collect();
    let lasts: Vec<Option<DateTime<Utc>>> = spans.iter().map(|s| bound(s.last)).collect();
    tx.execute(LOCK_WRITERS, &[&ids]).await.map_err(fail)?;
    let overlaps: bool = tx
        .query_one(OVERLAPS, &[&ids, &firsts, &lasts])
        .await
        .map_err(fail)?
        .get(0);
    if !overlaps {
        return copy_in(tx, COPY_IN_SAMPLES, long).await;
    }
    tx.batch_execute(CREATE_STAGING).await.map_err(fail)?;
    copy_in(tx, COPY_IN_STAGING, long).await?;
    tx.execute(UPSERT, &[]).await.map_err(fail)?;
    Ok(())
}

/// Streams the rows of `long` into the `COPY … FROM STDIN (FORMAT binary)`
/// statement `copy`, a chunk of rows at a time.
async fn copy_in(tx: &Transaction<'_>, copy: &str, long: &DataFrame) -> Result<()> {
    let fail = write_error;
    let sink = tx.copy_in::<_, Bytes>(copy).await.map_err(fail)?;
    futures_util::pin_mut!(sink);
    sink.send(header()).await.map_err(fail)?;
    let height = long.height();
    let mut offset = 0;
    while offset < height {
        let len = ROWS_PER_CHUNK.min(height - offset);
        // Offsets fit i64: a frame has fewer rows than that.
        let chunk = encode(&long.slice(offset as i64, len))?;
        sink.send(chunk).await.map_err(fail)?;
        offset += len;
    }
    sink.send(trailer()).await.map_err(fail)?;
    sink.as_mut().finish().await.map_err(fail)?;
    Ok(())
}

/// A µs bound as a `timestamptz` parameter; `None` (open) where it is
/// beyond what PostgreSQL or chrono hold.
fn bound(us: i64) -> Option<DateTime<Utc>> {
    /// 4713-11-24 BC 00:00 UTC, PostgreSQL's earliest timestamp, in µs since 1970.
    const PG_MIN_US: i64 = -210_866_803_200_000_000;
    if us <= PG_MIN_US {
        return None;
    }
    DateTime::from_timestamp_micros(us)
}

/// The error of a failed write, saying what to fix when the data is at fault.
fn write_error(e: tokio_postgres::Error) -> Error {
    if e.code() != Some(&SqlState::DATETIME_VALUE_OUT_OF_RANGE) {
        return db_error("cannot write the samples", e);
    }
    let message = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned());
    Error::InvalidInput(format!(
        "a ts is outside the range PostgreSQL stores (4713 BC to 294276 AD); nothing was \
         written ({message})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_beyond_postgres_are_open() {
        assert_eq!(bound(i64::MIN), None);
        assert_eq!(bound(i64::MAX), None);
        assert_eq!(bound(0), DateTime::from_timestamp_micros(0));
    }
}
