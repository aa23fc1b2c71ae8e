//! The wire format of the data API, shared by the server's data routes and
//! the REST adapter: filters as query parameters, samples as Arrow IPC
//! streams.
//!
//! Query parameters: `names` and `ids` repeat for several values
//! (`names=a&names=b`), tags are `tags[KEY]=VALUE` (any key and value,
//! percent-encoded), then `quantity`, `start`, `end` (RFC 3339),
//! `resolution` (ISO 8601) and `time_zone`. Flows: `from`, `to`, `carrier`.
//!
//! Samples: an Arrow IPC stream with columns `data_point_id` (integer),
//! `ts` (timestamp, any unit; UTC when it has no zone) and `value`
//! (number); `data_point_id` is left out where the path names the data
//! point.

use std::io::Cursor;

use algohost_sdk::data::{DATA_POINT_ID, DataPointFilter, FlowFilter, TS, VALUE, validate_long};
use algohost_sdk::polars::prelude::{
    Column, CompatLevel, DataFrame, DataType, IntoColumn, IpcStreamReader, IpcStreamWriter,
    SerReader, SerWriter, TimeUnit, TimeZone,
};
use algohost_sdk::{Error, Result};
use chrono::{DateTime, SecondsFormat, Utc};

/// Media type of the Arrow IPC stream format.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";

/// The id, name, tag and quantity parts of `filter` as query parameters.
pub fn point_query(filter: &DataPointFilter) -> Vec<(String, String)> {
    let mut query = Vec::new();
    query.extend(filter.names.iter().map(|n| ("names".to_owned(), n.clone())));
    query.extend(
        filter
            .ids
            .iter()
            .map(|id| ("ids".to_owned(), id.to_string())),
    );
    query.extend(
        filter
            .tags
            .iter()
            .map(|(k, v)| (format!("tags[{k}]"), v.clone())),
    );
    if let Some(quantity) = filter.quantity {
        query.push(("quantity".to_owned(), quantity.to_string()));
    }
    query
}

/// The whole of `filter` as query parameters, for reading samples. Start
/// and end go to the microsecond, which is where the other adapters cut a
/// finer instant (the server refuses a finer one).
pub fn sample_query(filter: &DataPointFilter) -> Vec<(String, String)> {
    let mut query = point_query(filter);
    let instant = |t: DateTime<Utc>| {
        let micros = DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t);
        micros.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    };
    if let Some(start) = filter.start {
        query.push(("start".to_owned(), instant(start)));
    }
    if let Some(end) = filter.end {
        query.push(("end".to_owned(), instant(end)));
    }
    if let Some(resolution) = filter.resolution {
        query.push(("resolution".to_owned(), resolution.to_string()));
    }
    if let Some(tz) = &filter.time_zone {
        query.push(("time_zone".to_owned(), tz.clone()));
    }
    query
}

/// A flow filter as query parameters.
pub fn flow_query(filter: &FlowFilter) -> Vec<(String, String)> {
    [
        ("from", &filter.from),
        ("to", &filter.to),
        ("carrier", &filter.carrier),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.clone().map(|v| (key.to_owned(), v)))
    .collect()
}

/// A frame as an Arrow IPC stream (readable by every Arrow version).
pub fn encode_arrow(frame: &mut DataFrame) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    IpcStreamWriter::new(&mut out)
        .with_compat_level(CompatLevel::oldest())
        .finish(frame)?;
    Ok(out)
}

/// An Arrow IPC stream of samples as a long frame. With `id`, the stream
/// has only `ts` and `value` and every sample is of data point `id`. The
/// error says what is wrong with the stream.
pub fn decode_arrow(body: &[u8], id: Option<i64>) -> Result<DataFrame, String> {
    let frame = IpcStreamReader::new(Cursor::new(body))
        .finish()
        .map_err(|e| e.to_string())?;
    long_from_frame(&frame, id)
}

/// [`decode_arrow`] of a frame already read from its stream.
pub fn long_from_frame(frame: &DataFrame, id: Option<i64>) -> Result<DataFrame, String> {
    let frame = frame.clone();
    let height = frame.height();
    let ids = match id {
        Some(id) => Column::new(DATA_POINT_ID.into(), vec![id; height]),
        None => cast(&frame, DATA_POINT_ID, &DataType::Int64, "an integer")?,
    };
    let ts_type = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let ts = cast(&frame, TS, &ts_type, "a timestamp")?;
    let values = cast(&frame, VALUE, &DataType::Float64, "a number")?;
    let long = DataFrame::new(height, vec![ids, ts, values]).map_err(|e| e.to_string())?;
    validate_long(&long).map_err(|e| match e {
        Error::InvalidInput(message) => message,
        other => other.to_string(),
    })?;
    Ok(long)
}

/// Column `name` of `frame` cast to `dtype`.
fn cast(frame: &DataFrame, name: &str, dtype: &DataType, what: &str) -> Result<Column, String> {
    let column = frame.column(name).map_err(|_| {
        let names: Vec<&str> = frame
            .get_column_names()
            .into_iter()
            .map(|n| n.as_str())
            .collect();
        format!(
            "it has no column '{name}' (it has: {}); send {DATA_POINT_ID}, {TS} and {VALUE}",
            names.join(", ")
        )
    })?;
    // A timestamp without zone is taken as UTC.
    let column = match column.dtype() {
        DataType::Datetime(unit, None) if name == TS => {
            let zone = DataType::Datetime(*unit, Some(TimeZone::UTC));
            let physical = column
                .to_physical_repr()
                .take_materialized_series()
                .into_column();
            physical.cast(&zone).map_err(|e| e.to_string())?
        }
        _ => column.clone(),
    };
    let cast = column.strict_cast(dtype).map_err(|_| {
        format!(
            "column '{name}' is {} and cannot be read as {what}",
            column.dtype()
        )
    })?;
    Ok(cast.with_name(name.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use algohost_sdk::data::{DataPointId, Quantity, long_frame};

    #[test]
    fn filters_become_repeated_parameters_and_bracketed_tags() {
        let filter = DataPointFilter::default()
            .with_names(["a,b", "c"])
            .with_ids([DataPointId(3)])
            .with_tag("k=1", "v&w")
            .with_quantity(Quantity::Energy);
        let query = sample_query(&filter);
        let pairs: Vec<(&str, &str)> = query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("names", "a,b"),
                ("names", "c"),
                ("ids", "3"),
                ("tags[k=1]", "v&w"),
                ("quantity", "energy"),
            ]
        );
        let at = |nanos| DateTime::from_timestamp(1_800_000_000, nanos).unwrap();
        let range = sample_query(&DataPointFilter::default().with_range(at(1_999), at(999_999)));
        assert_eq!(
            range,
            [
                ("start".to_owned(), "2027-01-15T08:00:00.000001Z".to_owned()),
                ("end".to_owned(), "2027-01-15T08:00:00.000999Z".to_owned()),
            ]
        );
    }

    #[test]
    fn long_frames_round_trip_and_bad_streams_say_why() {
        let mut long = long_frame(vec![1, 2], vec![0, 900_000_000], vec![Some(1.5), None]).unwrap();
        let bytes = encode_arrow(&mut long).unwrap();
        assert_eq!(decode_arrow(&bytes, None).unwrap(), long);
        let mut samples = long.select([TS, VALUE]).unwrap();
        let bytes = encode_arrow(&mut samples).unwrap();
        let one = decode_arrow(&bytes, Some(7)).unwrap();
        assert_eq!(
            one.column(DATA_POINT_ID).unwrap().i64().unwrap().get(1),
            Some(7)
        );
        let err = decode_arrow(&bytes, None).unwrap_err();
        assert!(err.contains("no column 'data_point_id'"), "{err}");
        assert!(decode_arrow(b"nonsense", None).is_err());
    }
}
