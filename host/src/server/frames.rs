//! Frames on the wire: the media type chosen from `Accept` and the frame
//! encoded in it (Arrow IPC stream, Parquet, CSV or JSON records).

use std::io::Cursor;

use algohost_sdk::polars::prelude::{
    Column, CompatLevel, CsvWriter, DataFrame, DataType, IntoColumn, IpcStreamWriter, JsonFormat,
    JsonWriter, ParquetWriter, PolarsResult, SerWriter,
};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
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
        if accept.is_empty() {
            return Ok(FrameFormat::Json);
        }
        let ranges: Vec<(String, f32)> = accept
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(media_range)
            .collect();
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

    /// Encodes a frame.
    pub fn encode(self, frame: &mut DataFrame) -> PolarsResult<Vec<u8>> {
        let mut out = Vec::new();
        match self {
            FrameFormat::Json => JsonWriter::new(&mut out)
                .with_json_format(JsonFormat::Json)
                .finish(frame)?,
            FrameFormat::ArrowStream => IpcStreamWriter::new(&mut out)
                .with_compat_level(CompatLevel::oldest())
                .finish(frame)?,
            FrameFormat::Parquet => {
                ParquetWriter::new(Cursor::new(&mut out)).finish(frame)?;
            }
            FrameFormat::Csv => CsvWriter::new(&mut out)
                .include_header(true)
                .finish(&mut with_text_timestamps(frame)?)?,
        }
        Ok(out)
    }

    /// A 200 response with the encoded frame; it varies with `Accept`.
    pub fn response(self, body: Vec<u8>) -> Response {
        (
            [
                (header::CONTENT_TYPE, self.media_type()),
                (header::VARY, "accept"),
            ],
            body,
        )
            .into_response()
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
        let err = accept("image/png").unwrap_err();
        assert!(matches!(err, ApiError::NotAcceptable { .. }));
        assert!(err.to_string().contains("text/csv"), "{err}");
    }

    #[test]
    fn timestamps_are_readable_in_json_and_csv() {
        let mut frame =
            long_frame(vec![1, 1], vec![0, 900_000_000], vec![Some(1.5), None]).unwrap();
        let json = FrameFormat::Json.encode(&mut frame).unwrap();
        let rows: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(rows[0]["value"], 1.5);
        assert!(rows[1]["value"].is_null());
        let csv = String::from_utf8(FrameFormat::Csv.encode(&mut frame).unwrap()).unwrap();
        assert_eq!(
            csv,
            "data_point_id,ts,value\n1,1970-01-01T00:00:00+00:00,1.5\n1,1970-01-01T00:15:00+00:00,\n"
        );
        assert_eq!(
            rows[1]["ts"], "1970-01-01T00:15:00+00:00",
            "JSON and CSV agree"
        );
    }
}
