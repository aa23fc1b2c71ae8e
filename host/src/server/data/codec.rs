//! Request bodies of samples as long frames: JSON records or an Arrow IPC
//! stream, by `Content-Type`.

use std::io::Cursor;

use algohost_sdk::data::{DATA_POINT_ID, TS, VALUE, long_frame};
use algohost_sdk::polars::prelude::{
    DataFrame, DataType, IpcStreamReader, PolarsError, SerReader, TimeUnit,
};
use axum::http::{HeaderMap, header};
use chrono::{DateTime, NaiveDate, NaiveDateTime};

use crate::adapters::rest::wire::{self, ARROW_STREAM};
use crate::server::ApiError;
use crate::server::frames::JSON;

use super::ipc;

/// How an Arrow IPC file (not a stream) starts.
const ARROW_FILE_MAGIC: &[u8] = b"ARROW1";

/// The body as a long frame. With `id`, the samples are of that data point
/// and have only `ts` and `value`; without, each names its data point.
pub fn decode(headers: &HeaderMap, body: &[u8], id: Option<i64>) -> Result<DataFrame, ApiError> {
    let content_type = content_type(headers);
    if content_type.eq_ignore_ascii_case(JSON) {
        return json_samples(body, id);
    }
    if content_type.eq_ignore_ascii_case(ARROW_STREAM) {
        let columns = if id.is_some() {
            "ts (timestamp) and value (number)"
        } else {
            "data_point_id (integer), ts (timestamp) and value (number)"
        };
        if body.starts_with(ARROW_FILE_MAGIC) {
            return Err(ApiError::BadRequest(format!(
                "the body is an Arrow IPC file; send the stream format ({ARROW_STREAM}) with \
                 columns {columns} (pyarrow: pa.ipc.new_stream, polars: write_ipc_stream)"
            )));
        }
        ipc::check_stream(body).map_err(|refusal| refusal.into_error(columns))?;
        let not_arrow = |e: PolarsError| {
            ApiError::BadRequest(format!(
                "the body is not an Arrow IPC stream with columns {columns}: {}",
                without_debug(&e.to_string())
            ))
        };
        let mut reader = IpcStreamReader::new(Cursor::new(body));
        let schema = reader.arrow_schema().map_err(not_arrow)?;
        if let Some((column, dtype)) = crate::arrow_types::unreadable_column(&schema) {
            return Err(ApiError::BadRequest(format!(
                "the Arrow IPC stream's {}",
                crate::arrow_types::refusal(&column, &dtype)
            )));
        }
        let frame = reader.finish().map_err(not_arrow)?;
        check_arrow_columns(&frame, id)?;
        check_arrow_ts(&frame)?;
        return wire::long_from_frame(&frame, id).map_err(|e| {
            // The decoder's hint names the columns of the long form; this
            // message names those of this endpoint.
            let e = e.split("; send ").next().unwrap_or(&e);
            ApiError::BadRequest(format!(
                "the body is not an Arrow IPC stream with columns {columns}: {e}"
            ))
        });
    }
    Err(ApiError::UnsupportedMediaType(format!(
        "send samples as {JSON} or {ARROW_STREAM}, not '{content_type}'"
    )))
}

/// A decoder's error without the `Debug` dump some of its messages end in
/// (`Unable to get root as message: Error { source_location: …,
/// error_kind: InvalidOffset }`): its human part, and the kind of problem
/// when the dump names one (`…: invalid offset`).
fn without_debug(message: &str) -> String {
    let Some(dump) = message.find('{') else {
        return message.to_owned();
    };
    let human = message[..dump].trim_end();
    let human = human.strip_suffix("Error").unwrap_or(human);
    let human = human.trim_end_matches([' ', ':', '(']);
    let kind = message[dump..]
        .split_once("error_kind: ")
        .map(|(_, rest)| {
            let name: String = rest
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            words(&name)
        })
        .filter(|kind| !kind.is_empty());
    match kind {
        Some(kind) => format!("{human}: {kind}"),
        None => human.to_owned(),
    }
}

/// `InvalidOffset` as `invalid offset`.
fn words(camel: &str) -> String {
    let mut out = String::new();
    for c in camel.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Refuses columns the endpoint does not read (a misnamed `values` would
/// otherwise be dropped unseen).
fn check_arrow_columns(frame: &DataFrame, id: Option<i64>) -> Result<(), ApiError> {
    let known: &[&str] = match id {
        Some(_) => &[TS, VALUE],
        None => &[DATA_POINT_ID, TS, VALUE],
    };
    let names: Vec<&str> = frame
        .get_column_names()
        .into_iter()
        .map(|n| n.as_str())
        .collect();
    let unknown: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !known.contains(n))
        .collect();
    // A missing column is said by the decoder, with the columns there are.
    if unknown.is_empty() || !known.iter().all(|k| names.contains(k)) {
        return Ok(());
    }
    let hint = match id {
        Some(id) if unknown == [DATA_POINT_ID] => format!(
            "; the samples of this endpoint are all of data point {id}: leave that column out, \
             or POST them to /samples"
        ),
        _ => String::new(),
    };
    Err(ApiError::BadRequest(format!(
        "the body has column(s) {} that a write does not take; send only {}{hint}",
        quoted(&unknown),
        quoted(known)
    )))
}

fn quoted(names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    names.join(", ")
}

/// Refuses a `ts` that is not instants: a timestamp without a time zone
/// (its zone is known only to the sender; `ctx.write` refuses it alike) or
/// plain numbers (in which unit?), and one finer than the microseconds
/// algohost keeps (it would be stored rounded).
fn check_arrow_ts(frame: &DataFrame) -> Result<(), ApiError> {
    let Ok(ts) = frame.column(TS) else {
        // The decoder says what is missing.
        return Ok(());
    };
    let refuse = |what: String| {
        Err(ApiError::BadRequest(format!(
            "column 'ts' is {what}, so which instants it means is not known: send timestamps \
             with a time zone (pyarrow: pa.timestamp(\"us\", tz=\"UTC\"); polars: \
             dt.replace_time_zone(\"UTC\") or the zone the times are in)"
        )))
    };
    match ts.dtype() {
        DataType::Datetime(_, None) => refuse(format!("{} without a time zone", ts.dtype())),
        dtype if dtype.is_integer() => refuse(format!("{dtype}, not a timestamp")),
        DataType::Datetime(TimeUnit::Nanoseconds, Some(_)) => {
            let nanos = ts
                .to_physical_repr()
                .i64()
                .map_err(|e| ApiError::BadRequest(e.to_string()))?
                .clone();
            match nanos.iter().position(|n| n.is_some_and(|n| n % 1000 != 0)) {
                Some(row) => Err(ApiError::BadRequest(format!(
                    "row {row}: ts has a fraction of a microsecond, finer than the microseconds \
                     algohost keeps; round the timestamps to whole microseconds (polars: \
                     dt.cast_time_unit(\"us\") after checking nothing is lost)"
                ))),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map_or("", str::trim)
}

fn json_samples(body: &[u8], id: Option<i64>) -> Result<DataFrame, ApiError> {
    let bad = |shape: &str, e: serde_json::Error| {
        ApiError::BadRequest(format!("the body is not a JSON array of {shape}: {e}"))
    };
    let (ids, ts, values): (Vec<i64>, Vec<i64>, Vec<Option<f64>>) = match id {
        Some(id) => {
            let rows: Vec<SampleIn> = serde_json::from_slice(body)
                .map_err(|e| bad("{\"ts\": RFC 3339, \"value\": number|null}", e))?;
            rows.into_iter()
                .enumerate()
                .map(|(i, r)| Ok((id, micros(i, &r.ts)?, r.value)))
                .collect::<Result<_, ApiError>>()?
        }
        None => {
            let rows: Vec<LongSampleIn> = serde_json::from_slice(body).map_err(|e| {
                bad(
                    "{\"data_point_id\": integer, \"ts\": RFC 3339, \"value\": number|null}",
                    e,
                )
            })?;
            rows.into_iter()
                .enumerate()
                .map(|(i, r)| Ok((r.data_point_id, micros(i, &r.ts)?, r.value)))
                .collect::<Result<_, ApiError>>()?
        }
    };
    Ok(long_frame(ids, ts, values)?)
}

/// A sample of a JSON body ([`super::views::SampleView`] with its `ts` as sent, so that
/// a bad one gets an error that says what is wrong with it).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SampleIn {
    ts: String,
    value: Option<f64>,
}

/// A sample of a JSON body in long form ([`super::views::LongSampleView`]).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LongSampleIn {
    data_point_id: i64,
    ts: String,
    value: Option<f64>,
}

/// Microseconds since the epoch of sample `index`'s `ts`: an RFC 3339
/// instant with its offset, to the microsecond.
fn micros(index: usize, ts: &str) -> Result<i64, ApiError> {
    let bad = |what: &str| {
        ApiError::BadRequest(format!(
            "sample {index}: ts '{ts}' {what}; give an RFC 3339 instant with its offset, such as \
             2026-02-01T00:00:00Z or 2026-02-01T01:00:00+01:00"
        ))
    };
    let Ok(instant) = DateTime::parse_from_rfc3339(ts.trim()) else {
        let is_local = [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%d %H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .any(|format| NaiveDateTime::parse_from_str(ts.trim(), format).is_ok());
        if is_local {
            return Err(bad(
                "has no UTC offset, so which instant it means is not known",
            ));
        }
        if NaiveDate::parse_from_str(ts.trim(), "%Y-%m-%d").is_ok() {
            return Err(bad("is a date, not an instant"));
        }
        return Err(bad("is not an instant"));
    };
    if instant.timestamp_subsec_nanos() % 1000 != 0 {
        return Err(bad(
            "has a fraction of a microsecond, finer than the microseconds algohost keeps",
        ));
    }
    Ok(instant.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoder_errors_lose_their_debug_dump_but_keep_the_kind() {
        assert_eq!(
            without_debug(
                "out-of-spec: Unable to get root as message: Error { source_location: \
                 ErrorLocation { type_: \"[MessageRef]\", method: \"read_as_root\", \
                 byte_offset: 0 }, error_kind: InvalidOffset }"
            ),
            "out-of-spec: Unable to get root as message: invalid offset"
        );
        assert_eq!(
            without_debug(
                "out-of-spec: InvalidBuffer { length: 5, type_name: \"i64\", \
                 required_number_of_bytes: 40, buffer_length: 8 }"
            ),
            "out-of-spec: InvalidBuffer"
        );
        assert_eq!(
            without_debug(
                "out-of-spec: InvalidFlatbufferMessage(Error { source_location: ErrorLocation \
                 { type_: \"Message\", method: \"header\", byte_offset: 8 }, error_kind: \
                 InvalidLength })"
            ),
            "out-of-spec: InvalidFlatbufferMessage: invalid length"
        );
        assert_eq!(
            without_debug("io error: failed to fill whole buffer"),
            "io error: failed to fill whole buffer"
        );
    }
}
