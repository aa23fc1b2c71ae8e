//! PostgreSQL's binary COPY format for samples rows `(data_point_id int8,
//! ts timestamptz, value float8)`: long frames are encoded for `COPY … FROM
//! STDIN (FORMAT binary)` and `COPY … TO STDOUT (FORMAT binary)` is decoded
//! straight into the long frame's columns, with no per-row values in
//! between.

use algohost_sdk::data::{DATA_POINT_ID, TS, VALUE, sort_long};
use algohost_sdk::{Error, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use polars::prelude::*;

/// The 11 bytes every binary COPY stream starts with.
const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// µs from the Unix epoch (1970) to PostgreSQL's (2000-01-01), both UTC.
const PG_EPOCH_US: i64 = 946_684_800_000_000;
/// Rows per chunk handed to the COPY sink.
pub(super) const ROWS_PER_CHUNK: usize = 32 * 1024;

/// The header of a binary COPY stream: signature, no flags, no extension.
pub(super) fn header() -> Bytes {
    let mut out = BytesMut::with_capacity(19);
    out.put_slice(SIGNATURE);
    out.put_i32(0);
    out.put_i32(0);
    out.freeze()
}

/// The trailer that ends a binary COPY stream.
pub(super) fn trailer() -> Bytes {
    Bytes::from_static(&[0xff, 0xff])
}

/// Encodes the rows of a long frame (already validated) as binary COPY
/// tuples. A `ts` that PostgreSQL's µs-since-2000 cannot hold is an error.
pub(super) fn encode(long: &DataFrame) -> Result<Bytes> {
    let ids = long.column(DATA_POINT_ID)?.i64()?;
    let ts = long
        .column(TS)?
        .datetime()?
        .cast_time_unit(TimeUnit::Microseconds);
    let values = long.column(VALUE)?.f64()?;
    // 2 (field count) + 3 × 4 (lengths) + 3 × 8 (values) bytes per row.
    let mut out = BytesMut::with_capacity(long.height() * 38);
    for ((id, ts), value) in ids
        .into_no_null_iter()
        .zip(ts.physical().into_no_null_iter())
        .zip(values.iter())
    {
        let pg_ts = ts
            .checked_sub(PG_EPOCH_US)
            .ok_or_else(|| out_of_range(ts))?;
        out.put_i16(3);
        out.put_i32(8);
        out.put_i64(id);
        out.put_i32(8);
        out.put_i64(pg_ts);
        match value {
            Some(v) => {
                out.put_i32(8);
                out.put_f64(v);
            }
            None => out.put_i32(-1),
        }
    }
    Ok(out.freeze())
}

fn out_of_range(ts_us: i64) -> Error {
    Error::InvalidInput(format!(
        "ts {ts_us} µs since 1970 is outside the range PostgreSQL stores (4713 BC to 294276 AD)"
    ))
}

/// Decodes a binary COPY stream of samples rows into a long frame, chunk by
/// chunk as they arrive.
#[derive(Debug, Default)]
pub(super) struct Decoder {
    /// Bytes received but not decoded yet (a partial header or row).
    pending: BytesMut,
    is_header_read: bool,
    is_finished: bool,
    ids: Vec<i64>,
    ts: Vec<i64>,
    values: Vec<f64>,
    /// Which values are not null; only kept once a null has been seen.
    validity: Option<Vec<bool>>,
    /// Whether the rows came sorted by (id, ts) so far.
    is_unsorted: bool,
}

impl Decoder {
    /// Decodes the complete rows in `chunk` (with any bytes left over from
    /// the last one).
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        if self.pending.is_empty() {
            let used = self.decode(chunk)?;
            self.pending.extend_from_slice(&chunk[used..]);
        } else {
            self.pending.extend_from_slice(chunk);
            let pending = std::mem::take(&mut self.pending);
            let used = self.decode(&pending)?;
            self.pending = pending;
            self.pending.advance(used);
        }
        Ok(())
    }

    /// The long frame of every decoded row, sorted by (id, ts).
    pub fn finish(self) -> Result<DataFrame> {
        if !self.is_finished || !self.pending.is_empty() {
            return Err(malformed("the stream ended before its trailer"));
        }
        let values = match self.validity {
            None => Float64Chunked::from_vec(VALUE.into(), self.values),
            Some(valid) => Float64Chunked::from_iter_options(
                VALUE.into(),
                self.values
                    .into_iter()
                    .zip(valid)
                    .map(|(v, is_valid)| is_valid.then_some(v)),
            ),
        };
        let ts: Vec<i64> = self.ts.into_iter().map(|t| t + PG_EPOCH_US).collect();
        let frame = DataFrame::new_infer_height(vec![
            Int64Chunked::from_vec(DATA_POINT_ID.into(), self.ids).into_column(),
            Int64Chunked::from_vec(TS.into(), ts)
                .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
                .into_column(),
            values.into_column(),
        ])?;
        if self.is_unsorted {
            sort_long(&frame)
        } else {
            Ok(frame)
        }
    }

    /// Decodes what it can of `bytes`; returns how many bytes it used.
    fn decode(&mut self, bytes: &[u8]) -> Result<usize> {
        let mut used = 0;
        if !self.is_header_read {
            let Some(len) = header_len(bytes)? else {
                return Ok(0);
            };
            used = len;
            self.is_header_read = true;
        }
        while !self.is_finished {
            let rest = &bytes[used..];
            let Some(count) = read_i16(rest, 0) else {
                break;
            };
            if count == -1 {
                self.is_finished = true;
                used += 2;
                break;
            }
            if count != 3 {
                return Err(malformed(&format!("a row has {count} fields, not 3")));
            }
            let Some(row) = row(rest)? else {
                break;
            };
            self.push_row(row.id, row.ts, row.value);
            used += row.len;
        }
        if self.is_finished && used < bytes.len() {
            return Err(malformed("bytes follow the trailer"));
        }
        Ok(used)
    }

    fn push_row(&mut self, id: i64, ts: i64, value: Option<f64>) {
        if let (Some(&last_id), Some(&last_ts)) = (self.ids.last(), self.ts.last())
            && (last_id, last_ts) >= (id, ts)
        {
            self.is_unsorted = true;
        }
        self.ids.push(id);
        self.ts.push(ts);
        match value {
            Some(v) => {
                self.values.push(v);
                if let Some(valid) = &mut self.validity {
                    valid.push(true);
                }
            }
            None => {
                let valid = self
                    .validity
                    .get_or_insert_with(|| vec![true; self.values.len()]);
                valid.push(false);
                self.values.push(0.0);
            }
        }
    }
}

/// The length of the stream header at the start of `bytes`, `None` when it
/// has not all arrived.
fn header_len(bytes: &[u8]) -> Result<Option<usize>> {
    if bytes.len() < 19 {
        return Ok(None);
    }
    if &bytes[..11] != SIGNATURE {
        return Err(malformed(
            "it does not start with the binary COPY signature",
        ));
    }
    let flags = read_i32(bytes, 11).unwrap_or_default();
    if flags & (1 << 16) != 0 {
        return Err(malformed("rows carry OIDs"));
    }
    let extension = usize::try_from(read_i32(bytes, 15).unwrap_or_default())
        .map_err(|_| malformed("negative header extension length"))?;
    let len = 19 + extension;
    Ok((bytes.len() >= len).then_some(len))
}

/// One decoded row of the stream.
struct Row {
    id: i64,
    /// µs since 2000-01-01 UTC.
    ts: i64,
    value: Option<f64>,
    /// Bytes it took, field count included.
    len: usize,
}

/// The complete row at the start of `bytes` (field count already checked);
/// `None` when it has not all arrived.
fn row(bytes: &[u8]) -> Result<Option<Row>> {
    let mut at = 2;
    let mut fields = [None; 3];
    for (i, field) in fields.iter_mut().enumerate() {
        let Some(len) = read_i32(bytes, at) else {
            return Ok(None);
        };
        at += 4;
        match len {
            -1 => {}
            8 => {
                let Some(raw) = bytes.get(at..at + 8) else {
                    return Ok(None);
                };
                *field = Some(<[u8; 8]>::try_from(raw).unwrap_or_default());
                at += 8;
            }
            other => {
                return Err(malformed(&format!("field {i} has {other} bytes, not 8")));
            }
        }
    }
    let [Some(id), Some(ts), value] = fields else {
        return Err(malformed("a row has a null data_point_id or ts"));
    };
    Ok(Some(Row {
        id: i64::from_be_bytes(id),
        ts: i64::from_be_bytes(ts),
        value: value.map(f64::from_be_bytes),
        len: at,
    }))
}

fn read_i16(bytes: &[u8], at: usize) -> Option<i16> {
    let raw = bytes.get(at..at + 2)?;
    Some(i16::from_be_bytes([raw[0], raw[1]]))
}

fn read_i32(bytes: &[u8], at: usize) -> Option<i32> {
    let raw = bytes.get(at..at + 4)?;
    Some(i32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

fn malformed(what: &str) -> Error {
    Error::Data(format!(
        "PostgreSQL sent samples in an unexpected binary COPY format: {what}"
    ))
}

#[cfg(test)]
mod tests {
    use algohost_sdk::data::{long_frame, ts_micros};

    use super::*;

    fn sample() -> DataFrame {
        long_frame(
            vec![1, 1, 2],
            vec![0, 900_000_000, -PG_EPOCH_US],
            vec![Some(1.5), None, Some(-2.0)],
        )
        .unwrap()
    }

    fn stream(frame: &DataFrame) -> Vec<u8> {
        [header(), encode(frame).unwrap(), trailer()].concat()
    }

    #[test]
    fn a_frame_survives_encoding_and_decoding_in_any_chunking() {
        let frame = sample();
        let bytes = stream(&frame);
        for size in [1, 2, 7, 19, 30, bytes.len()] {
            let mut decoder = Decoder::default();
            for chunk in bytes.chunks(size) {
                decoder.push(chunk).unwrap();
            }
            let back = decoder.finish().unwrap();
            assert!(back.equals_missing(&frame), "chunks of {size}: {back}");
        }
    }

    #[test]
    fn the_epoch_moves_to_2000_and_unsorted_rows_are_sorted() {
        let frame = sample();
        let bytes = encode(&frame).unwrap();
        // Rows take 38 bytes, 30 with a null value; the third row's ts
        // (1970-01-01 minus 2000-01-01) starts after its count, the id
        // field and the ts length.
        let at = 38 + 30 + 2 + 12 + 4;
        let third_ts = i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
        assert_eq!(third_ts, -2 * PG_EPOCH_US);
        let reversed = frame.reverse();
        let mut decoder = Decoder::default();
        let mut all = header().to_vec();
        for i in 0..reversed.height() {
            all.extend_from_slice(&encode(&reversed.slice(i as i64, 1)).unwrap());
        }
        all.extend_from_slice(&trailer());
        decoder.push(&all).unwrap();
        let back = decoder.finish().unwrap();
        assert_eq!(ts_micros(&back).unwrap(), ts_micros(&frame).unwrap());
    }

    #[test]
    fn broken_streams_are_errors() {
        let bytes = stream(&sample());
        let mut cut = Decoder::default();
        cut.push(&bytes[..bytes.len() - 2]).unwrap();
        assert!(
            cut.finish()
                .unwrap_err()
                .to_string()
                .contains("before its trailer")
        );
        let mut wrong = Decoder::default();
        let err = wrong
            .push(b"PGCOPY\n\xff\r\n\x01\0\0\0\0\0\0\0\0")
            .unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
        let frame = long_frame(vec![1], vec![i64::MIN + 1], vec![None]).unwrap();
        let err = encode(&frame).unwrap_err().to_string();
        assert!(err.contains("outside the range PostgreSQL stores"), "{err}");
    }
}
