//! Request bodies of samples as long frames: JSON records or an Arrow IPC
//! stream, by `Content-Type`.

use std::io::Cursor;

use algohost_sdk::data::{TS, long_frame};
use algohost_sdk::polars::prelude::{DataFrame, DataType, IpcStreamReader, SerReader};
use axum::http::{HeaderMap, header};

use super::views::{LongSampleView, SampleView};
use crate::adapters::rest::wire::{self, ARROW_STREAM};
use crate::server::ApiError;
use crate::server::frames::JSON;

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
        check_arrow_ts(body)?;
        return wire::decode_arrow(body, id).map_err(|e| {
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

/// Refuses a `ts` that is not instants: a timestamp without a time zone
/// (its zone is known only to the sender; `ctx.write` refuses it alike) or
/// plain numbers (in which unit?). The shared wire decoder takes them as
/// UTC microseconds, which is right only for algohost's own streams.
fn check_arrow_ts(body: &[u8]) -> Result<(), ApiError> {
    let Ok(schema) = IpcStreamReader::new(Cursor::new(body)).schema() else {
        // The decoder says what is wrong with the stream.
        return Ok(());
    };
    let refuse = |what: String| {
        Err(ApiError::BadRequest(format!(
            "column 'ts' is {what}, so which instants it means is not known: send timestamps \
             with a time zone (pyarrow: pa.timestamp(\"us\", tz=\"UTC\"); polars: \
             dt.replace_time_zone(\"UTC\") or the zone the times are in)"
        )))
    };
    match schema.get(TS) {
        Some(DataType::Datetime(_, None)) => refuse(format!(
            "{} without a time zone",
            schema.get(TS).expect("ts")
        )),
        Some(dtype) if dtype.is_integer() => refuse(format!("{dtype}, not a timestamp")),
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
            let rows: Vec<SampleView> = serde_json::from_slice(body)
                .map_err(|e| bad("{\"ts\": RFC 3339, \"value\": number|null}", e))?;
            rows.into_iter()
                .map(|r| (id, r.ts.timestamp_micros(), r.value))
                .collect()
        }
        None => {
            let rows: Vec<LongSampleView> = serde_json::from_slice(body).map_err(|e| {
                bad(
                    "{\"data_point_id\": integer, \"ts\": RFC 3339, \"value\": number|null}",
                    e,
                )
            })?;
            rows.into_iter()
                .map(|r| (r.data_point_id, r.ts.timestamp_micros(), r.value))
                .collect()
        }
    };
    Ok(long_frame(ids, ts, values)?)
}
