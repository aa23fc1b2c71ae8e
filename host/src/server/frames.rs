//! Frames on the wire: the media type chosen from `Accept` and the frame
//! encoded in it (Arrow IPC stream, Parquet, CSV or JSON records).

use std::io::{self, Write};

use algohost_sdk::polars::prelude::{
    Column, CompatLevel, CsvWriter, DataFrame, DataType, IntoColumn, IpcStreamWriter, JsonFormat,
    JsonWriter, ParquetWriter, PolarsResult, SerWriter,
};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::error::ApiError;

/// Binary content (Arrow IPC, Parquet) in the OpenAPI document: a string
/// of raw bytes, as OpenAPI 3.1 describes non-JSON bodies.
#[derive(Debug)]
pub struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .content_media_type("application/octet-stream")
            .description(Some("Raw bytes of the media type"))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// A frame encoding a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFormat {
    /// An array of row objects; the default.
    Json,
    /// Arrow IPC streaming format.
    ArrowStream,
    /// Apache Parquet.
    Parquet,
    /// CSV with a header row.
    Csv,
}

/// Media type of the Arrow IPC stream format.
pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
/// Media type of Parquet.
pub const PARQUET: &str = "application/vnd.apache.parquet";
/// Media type of CSV.
pub const CSV: &str = "text/csv";
/// Media type of JSON.
pub const JSON: &str = "application/json";

/// Media types also accepted for a format in `Accept` (answered with the
/// format's own media type): the names Parquet goes by besides the
/// registered `application/vnd.apache.parquet`.
const ALIASES: [(&str, FrameFormat); 2] = [
    ("application/parquet", FrameFormat::Parquet),
    ("application/x-parquet", FrameFormat::Parquet),
];

/// Time stamps in CSV, as in JSON: RFC 3339 with the offset, fractional
/// seconds only when there are some.
const CSV_DATETIME: &str = "%Y-%m-%dT%H:%M:%S%.f%:z";
/// Time stamps without a time zone in CSV.
const CSV_NAIVE_DATETIME: &str = "%Y-%m-%dT%H:%M:%S%.f";

/// `?format=`: a frame format by name, instead of `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FormatName {
    /// `application/json`.
    Json,
    /// `text/csv`.
    Csv,
    /// `application/vnd.apache.parquet`.
    Parquet,
    /// `application/vnd.apache.arrow.stream`.
    Arrow,
}

impl FormatName {
    /// Parses a name; the error lists the names.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        serde_json::from_value(serde_json::Value::String(text.trim().to_owned())).map_err(|_| {
            ApiError::BadRequest(format!(
                "format: '{text}' is not one of json, csv, parquet, arrow"
            ))
        })
    }
}

impl From<FormatName> for FrameFormat {
    fn from(name: FormatName) -> Self {
        match name {
            FormatName::Json => FrameFormat::Json,
            FormatName::Csv => FrameFormat::Csv,
            FormatName::Parquet => FrameFormat::Parquet,
            FormatName::Arrow => FrameFormat::ArrowStream,
        }
    }
}

impl FrameFormat {
    /// Every format, in the order the server prefers them on a tie.
    pub const ALL: [FrameFormat; 4] = [
        FrameFormat::Json,
        FrameFormat::ArrowStream,
        FrameFormat::Parquet,
        FrameFormat::Csv,
    ];

    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            FrameFormat::Json => JSON,
            FrameFormat::ArrowStream => ARROW_STREAM,
            FrameFormat::Parquet => PARQUET,
            FrameFormat::Csv => CSV,
        }
    }

    /// The file name extension.
    pub fn extension(self) -> &'static str {
        match self {
            FrameFormat::Json => "json",
            FrameFormat::ArrowStream => "arrow",
            FrameFormat::Parquet => "parquet",
            FrameFormat::Csv => "csv",
        }
    }

    /// The format `?format=` names, else the one `Accept` asks for.
    pub fn choose(name: Option<FormatName>, headers: &HeaderMap) -> Result<FrameFormat, ApiError> {
        match name {
            Some(name) => Ok(name.into()),
            None => Self::negotiate(headers),
        }
    }

    /// The format `Accept` asks for (JSON when it is absent); 406 when it
    /// accepts none of them.
    pub fn negotiate(headers: &HeaderMap) -> Result<FrameFormat, ApiError> {
        let accept: Vec<&str> = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let ranges: Vec<(String, f32)> = accept
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(media_range)
            .collect();
        // No header, or one of empty list elements only (RFC 9110 §5.6.1
        // says to ignore those): no preference.
        if ranges.is_empty()
            && accept
                .iter()
                .all(|v| v.split(',').all(|r| r.trim().is_empty()))
        {
            return Ok(FrameFormat::Json);
        }
        let mut best: Option<(FrameFormat, f32)> = None;
        for format in Self::ALL {
            let q = format.quality(&ranges);
            if q > 0.0 && best.is_none_or(|(_, b)| q > b) {
                best = Some((format, q));
            }
        }
        best.map(|(f, _)| f).ok_or_else(|| ApiError::NotAcceptable {
            accept: accept.join(", "),
            available: Self::ALL.map(Self::offered).join(", "),
        })
    }

    /// The media type with the aliases `Accept` also takes for it, for the
    /// 406 message: `application/vnd.apache.parquet (also application/parquet, …)`.
    fn offered(self) -> String {
        let aliases: Vec<&str> = ALIASES
            .iter()
            .filter(|(_, f)| *f == self)
            .map(|(media_type, _)| *media_type)
            .collect();
        match aliases.is_empty() {
            true => self.media_type().to_owned(),
            false => format!("{} (also {})", self.media_type(), aliases.join(", ")),
        }
    }

    /// The quality `ranges` give this format: its media type's, or an
    /// alias's when that is named exactly.
    fn quality(self, ranges: &[(String, f32)]) -> f32 {
        let alias = ALIASES
            .iter()
            .filter(|(_, f)| *f == self)
            .find_map(|(media_type, _)| ranges.iter().find(|(r, _)| r == media_type));
        match alias {
            Some((_, q)) if quality(ranges, self.media_type()) == 0.0 => *q,
            _ => quality(ranges, self.media_type()),
        }
    }

    /// Encodes a frame into `out`, as it goes: CSV a slice of rows at a
    /// time, so that its text time stamps are never all in memory at once.
    pub(crate) fn encode_into(
        self,
        frame: &mut DataFrame,
        out: &mut impl Write,
    ) -> PolarsResult<()> {
        match self {
            FrameFormat::Json => JsonWriter::new(out)
                .with_json_format(JsonFormat::Json)
                .finish(frame)?,
            FrameFormat::ArrowStream => IpcStreamWriter::new(out)
                .with_compat_level(CompatLevel::oldest())
                .finish(frame)?,
            FrameFormat::Parquet => {
                ParquetWriter::new(out).finish(frame)?;
            }
            FrameFormat::Csv => {
                let mut offset = 0;
                loop {
                    let slice = frame.slice(offset as i64, CSV_ROWS);
                    CsvWriter::new(&mut *out)
                        .include_header(offset == 0)
                        .finish(&mut with_text_timestamps(&slice)?)?;
                    offset += slice.height();
                    if slice.height() < CSV_ROWS {
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// A 200 response with `frame` encoded as its body, streamed while it
    /// is encoded (on the blocking pool): the first bytes go out at once,
    /// and the encoded frame is never held whole. It varies with `Accept`.
    pub fn streamed(self, mut frame: DataFrame) -> Response {
        let (sender, receiver) = mpsc::channel::<io::Result<Bytes>>(STREAM_CHUNKS);
        tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter {
                buffer: Vec::with_capacity(STREAM_CHUNK),
                sender: sender.clone(),
            };
            let encoded = self
                .encode_into(&mut frame, &mut out)
                .map_err(io::Error::other)
                .and_then(|()| out.send());
            let Err(e) = encoded else {
                return;
            };
            // A client that went away stops the encoder (its writes fail,
            // and polars wraps that error in its own): nothing went wrong.
            if sender.is_closed() {
                tracing::debug!(
                    "the client went away while a frame was sent as {}",
                    self.media_type()
                );
                return;
            }
            // The status is sent: the client sees the body cut short.
            tracing::error!("encoding a frame as {} failed: {e}", self.media_type());
            let _ = sender.blocking_send(Err(e));
        });
        let chunks = tokio_stream::wrappers::ReceiverStream::new(receiver);
        (
            [
                (header::CONTENT_TYPE, self.media_type()),
                (header::VARY, "accept"),
            ],
            Body::from_stream(chunks),
        )
            .into_response()
    }
}

/// Rows of a CSV body encoded at once.
const CSV_ROWS: usize = 64 * 1024;

/// The size of the chunks a streamed body is sent in.
const STREAM_CHUNK: usize = 256 * 1024;

/// Chunks encoded ahead of the client.
const STREAM_CHUNKS: usize = 4;

/// Writes into a streamed body, a chunk at a time; once the client is gone,
/// every write fails (`BrokenPipe`), which stops the encoder.
struct ChannelWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<io::Result<Bytes>>,
}

impl ChannelWriter {
    /// Sends what is buffered.
    fn send(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(STREAM_CHUNK));
        self.sender
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= STREAM_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `frame` with its time stamps as RFC 3339 text (polars' CSV writer has
/// one format for every datetime column, and writes `+0000`).
fn with_text_timestamps(frame: &DataFrame) -> PolarsResult<DataFrame> {
    let columns = frame
        .columns()
        .iter()
        .map(|column| match column.dtype() {
            DataType::Datetime(_, zone) => {
                let format = if zone.is_some() {
                    CSV_DATETIME
                } else {
                    CSV_NAIVE_DATETIME
                };
                let text = column
                    .as_materialized_series()
                    .datetime()?
                    .to_string(format)?;
                Ok(text.into_column())
            }
            _ => Ok(column.clone()),
        })
        .collect::<PolarsResult<Vec<Column>>>()?;
    DataFrame::new(frame.height(), columns)
}

/// `type/subtype;q=0.5` → (`type/subtype`, 0.5).
fn media_range(text: &str) -> Option<(String, f32)> {
    let mut parts = text.split(';');
    let range = parts.next()?.trim().to_ascii_lowercase();
    if range.is_empty() {
        return None;
    }
    let q = parts
        .filter_map(|p| p.trim().strip_prefix("q="))
        .find_map(|q| q.trim().parse::<f32>().ok())
        .unwrap_or(1.0);
    Some((range, q.clamp(0.0, 1.0)))
}

/// The quality of `media_type` under the most specific matching range.
fn quality(ranges: &[(String, f32)], media_type: &str) -> f32 {
    let major = media_type.split('/').next().unwrap_or("");
    let exact = ranges.iter().find(|(r, _)| r == media_type);
    let wildcard = format!("{major}/*");
    let by_type = ranges.iter().find(|(r, _)| *r == wildcard);
    let any = ranges.iter().find(|(r, _)| r == "*/*");
    exact.or(by_type).or(any).map_or(0.0, |(_, q)| *q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use algohost_sdk::data::long_frame;

    fn accept(value: &str) -> Result<FrameFormat, ApiError> {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().unwrap());
        FrameFormat::negotiate(&h)
    }

    #[test]
    fn accept_picks_the_best_format() {
        assert_eq!(
            FrameFormat::negotiate(&HeaderMap::new()).unwrap(),
            FrameFormat::Json
        );
        assert_eq!(accept("*/*").unwrap(), FrameFormat::Json);
        assert_eq!(accept(ARROW_STREAM).unwrap(), FrameFormat::ArrowStream);
        assert_eq!(accept("text/*").unwrap(), FrameFormat::Csv);
        assert_eq!(
            accept("application/json;q=0.5, application/vnd.apache.parquet").unwrap(),
            FrameFormat::Parquet
        );
        assert_eq!(
            accept("application/json;q=0, */*").unwrap(),
            FrameFormat::ArrowStream
        );
        assert_eq!(
            accept("application/x-parquet").unwrap(),
            FrameFormat::Parquet
        );
        assert_eq!(accept("application/parquet").unwrap(), FrameFormat::Parquet);
        assert_eq!(
            accept("application/x-parquet;q=0.2, application/json;q=0.1").unwrap(),
            FrameFormat::Parquet
        );
        // Empty list elements only: no preference (RFC 9110 §5.6.1).
        assert_eq!(accept(",,,").unwrap(), FrameFormat::Json);
        assert_eq!(accept(" ").unwrap(), FrameFormat::Json);
        let err = accept("image/png").unwrap_err();
        assert!(matches!(err, ApiError::NotAcceptable { .. }));
        assert!(err.to_string().contains("text/csv"), "{err}");
    }

    #[test]
    fn timestamps_are_readable_in_json_and_csv() {
        let mut frame =
            long_frame(vec![1, 1], vec![0, 900_000_000], vec![Some(1.5), None]).unwrap();
        let encode = |format: FrameFormat, frame: &mut DataFrame| {
            let mut out = Vec::new();
            format.encode_into(frame, &mut out).unwrap();
            out
        };
        let json = encode(FrameFormat::Json, &mut frame);
        let rows: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(rows[0]["value"], 1.5);
        assert!(rows[1]["value"].is_null());
        let csv = String::from_utf8(encode(FrameFormat::Csv, &mut frame)).unwrap();
        assert_eq!(
            csv,
            "data_point_id,ts,value\n1,1970-01-01T00:00:00+00:00,1.5\n1,1970-01-01T00:15:00+00:00,\n"
        );
        assert_eq!(
            rows[1]["ts"], "1970-01-01T00:15:00+00:00",
            "JSON and CSV agree"
        );
        // A CSV longer than a slice has one header and every row, in order.
        let n = CSV_ROWS + 3;
        let ts = (0..n as i64).map(|i| i * 900_000_000).collect();
        let mut long = long_frame(vec![1; n], ts, vec![Some(2.0); n]).unwrap();
        let csv = String::from_utf8(encode(FrameFormat::Csv, &mut long)).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), n + 1);
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with("data_point_id"))
                .count(),
            1
        );
        let last =
            algohost_sdk::chrono::DateTime::from_timestamp_micros((n as i64 - 1) * 900_000_000)
                .unwrap()
                .to_rfc3339_opts(algohost_sdk::chrono::SecondsFormat::Secs, false);
        assert_eq!(lines[n], format!("1,{last},2.0"));
    }
}
