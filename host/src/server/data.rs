//! `/data-points`: the data API over the server's adapter, which the `rest`
//! adapter of another algohost speaks. Samples travel as JSON records
//! (`[{"ts": "…Z", "value": 1.5}]`) or as an Arrow IPC stream with the
//! columns `ts` and `value`, chosen by `Accept` and `Content-Type`.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use algohost_sdk::data::{
    DataPointConfig, DataPointFilter, DataPointId, Quantity, Resolution, TS, VALUE, long_frame,
};
use algohost_sdk::polars::prelude::{
    DataFrame, DataType, IpcStreamReader, SerReader, TimeUnit, TimeZone,
};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{Path, Query, RawBody};
use super::frames::{ARROW_STREAM, Binary, FrameFormat, JSON};
use super::state::AppState;
use crate::adapters::Adapter;

/// What a data point measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuantityView {
    /// A rate (kW).
    Power,
    /// An amount per interval (kWh).
    Energy,
    /// A price per unit.
    Price,
    /// A level (state of charge, temperature).
    State,
}

impl From<Quantity> for QuantityView {
    fn from(q: Quantity) -> Self {
        match q {
            Quantity::Power => Self::Power,
            Quantity::Energy => Self::Energy,
            Quantity::Price => Self::Price,
            Quantity::State => Self::State,
        }
    }
}

impl From<QuantityView> for Quantity {
    fn from(q: QuantityView) -> Self {
        match q {
            QuantityView::Power => Self::Power,
            QuantityView::Energy => Self::Energy,
            QuantityView::Price => Self::Price,
            QuantityView::State => Self::State,
        }
    }
}

/// The physical flow a data point measures.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FlowView {
    /// Where the flow comes from ("grid").
    pub from: String,
    /// Where it goes ("site").
    pub to: String,
    /// What flows ("electricity").
    pub carrier: String,
}

/// A data point: one time series with its metadata.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DataPointView {
    /// Id in the adapter.
    pub id: i64,
    /// Unique name, e.g. "site.load".
    pub name: String,
    /// Unit of the values.
    pub unit: String,
    /// What the values measure.
    pub quantity: QuantityView,
    /// Native resolution, an ISO 8601 duration such as PT15M.
    pub resolution: String,
    /// IANA time zone for calendar resolutions.
    pub time_zone: String,
    /// Free key/value tags.
    pub tags: BTreeMap<String, String>,
    /// The flow it measures, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowView>,
}

impl From<DataPointConfig> for DataPointView {
    fn from(p: DataPointConfig) -> Self {
        Self {
            id: p.id.0,
            name: p.name,
            unit: p.unit,
            quantity: p.quantity.into(),
            resolution: p.resolution.to_string(),
            time_zone: p.time_zone,
            tags: p.tags,
            flow: p.flow.map(|f| FlowView {
                from: f.from,
                to: f.to,
                carrier: f.carrier,
            }),
        }
    }
}

/// Data points, by id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DataPointList {
    /// The data points.
    pub data_points: Vec<DataPointView>,
}

/// Which data points `GET /data-points` lists; every set part must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DataPointQuery {
    /// Names, separated by commas.
    pub names: Option<String>,
    /// Ids, separated by commas.
    pub ids: Option<String>,
    /// Tags as `key=value`, separated by commas.
    pub tags: Option<String>,
    /// Only this quantity.
    pub quantity: Option<QuantityView>,
}

/// Which samples `GET /data-points/{id}/samples` returns.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SampleQuery {
    /// Samples at or after this instant (RFC 3339, e.g. 2026-02-01T00:00:00Z).
    pub start: Option<DateTime<Utc>>,
    /// Samples before this instant.
    pub end: Option<DateTime<Utc>>,
    /// Convert to this resolution (ISO 8601 duration such as PT1H or P1D).
    pub resolution: Option<String>,
    /// Time zone of calendar resolutions; default the data point's.
    pub time_zone: Option<String>,
}

/// One sample: the start of its interval and its value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SampleView {
    /// Start of the interval, RFC 3339.
    pub ts: DateTime<Utc>,
    /// The value; null where it is unknown.
    pub value: Option<f64>,
}

/// What a write did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WriteSummary {
    /// The data point written to.
    pub data_point_id: i64,
    /// Samples written (replacing those at the same ts).
    pub written: usize,
}

/// The router of `/data-points`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_data_points))
        .routes(routes!(get_data_point))
        .routes(routes!(read_samples, write_samples))
}

/// Lists data points.
#[utoipa::path(
    get, path = "/data-points", tag = "data",
    params(DataPointQuery),
    security(("bearer" = ["read"])),
    responses((status = 200, description = "The matching data points", body = DataPointList))
)]
async fn list_data_points(
    State(state): State<AppState>,
    Query(query): Query<DataPointQuery>,
) -> Result<Json<DataPointList>, ApiError> {
    let filter = point_filter(&query)?;
    let points = blocking(&state, move |a| a.data_points(&filter)).await?;
    let data_points = points.into_iter().map(Into::into).collect();
    Ok(Json(DataPointList { data_points }))
}

/// One data point.
#[utoipa::path(
    get, path = "/data-points/{id}", tag = "data",
    params(("id" = i64, Path, description = "Data point id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The data point", body = DataPointView),
        (status = 404, description = "No such data point", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_data_point(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<DataPointView>, ApiError> {
    let point = blocking(&state, move |a| Ok(existing_point(a, id))).await??;
    Ok(Json(point.into()))
}

/// Samples of a data point in `[start, end)`, optionally converted to
/// another resolution, as JSON records or an Arrow IPC stream (also
/// Parquet or CSV) by `Accept`.
#[utoipa::path(
    get, path = "/data-points/{id}/samples", tag = "data",
    params(("id" = i64, Path, description = "Data point id"), SampleQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Columns `ts` and `value`, sorted by ts", content(
            (Vec<SampleView> = "application/json"),
            (Binary = "application/vnd.apache.arrow.stream"),
            (Binary = "application/vnd.apache.parquet"),
            (String = "text/csv"),
        )),
        (status = 404, description = "No such data point", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "None of the accepted media types is available",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn read_samples(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<SampleQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let format = FrameFormat::negotiate(&headers)?;
    let filter = sample_filter(id, query)?;
    let body = blocking(&state, move |a| Ok(encoded_samples(a, id, &filter, format))).await??;
    Ok(format.response(body))
}

/// Writes samples of a data point, replacing those at the same ts. The body
/// is JSON records or an Arrow IPC stream with columns `ts` and `value`.
#[utoipa::path(
    post, path = "/data-points/{id}/samples", tag = "data",
    params(("id" = i64, Path, description = "Data point id")),
    request_body(content(
        (Vec<SampleView> = "application/json"),
        (Binary = "application/vnd.apache.arrow.stream"),
    )),
    security(("bearer" = ["run"])),
    responses(
        (status = 200, description = "The samples were written", body = WriteSummary),
        (status = 404, description = "No such data point", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is neither JSON nor an Arrow IPC stream",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn write_samples(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<WriteSummary>, ApiError> {
    let long = decode_samples(id, content_type(&headers), &body)?;
    let written = long.height();
    blocking(&state, move |a| {
        Ok(existing_point(a, id).and_then(|_| a.write(&long).map_err(ApiError::from)))
    })
    .await??;
    Ok(Json(WriteSummary {
        data_point_id: id,
        written,
    }))
}

/// Runs adapter work on the blocking pool.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn Adapter) -> algohost_sdk::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let adapter: Arc<dyn Adapter> = state.service.adapter().clone();
    Ok(tokio::task::spawn_blocking(move || f(adapter.as_ref())).await??)
}

fn existing_point(adapter: &dyn Adapter, id: i64) -> Result<DataPointConfig, ApiError> {
    let filter = DataPointFilter::default().with_ids([DataPointId(id)]);
    adapter
        .data_points(&filter)?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("no data point with id {id}")))
}

fn encoded_samples(
    adapter: &dyn Adapter,
    id: i64,
    filter: &DataPointFilter,
    format: FrameFormat,
) -> Result<Vec<u8>, ApiError> {
    existing_point(adapter, id)?;
    let long = adapter.read(filter)?;
    let mut samples = long.select([TS, VALUE]).map_err(|e| {
        ApiError::internal(format!(
            "the adapter returned a frame without ts/value: {e}"
        ))
    })?;
    format.encode(&mut samples).map_err(ApiError::internal)
}

fn split_list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.into_iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn point_filter(query: &DataPointQuery) -> Result<DataPointFilter, ApiError> {
    let ids = split_list(query.ids.as_deref())
        .map(|s| {
            s.parse::<i64>()
                .map(DataPointId)
                .map_err(|_| ApiError::BadRequest(format!("ids: '{s}' is not a whole number")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut filter = DataPointFilter::default()
        .with_ids(ids)
        .with_names(split_list(query.names.as_deref()));
    for tag in split_list(query.tags.as_deref()) {
        let (k, v) = tag
            .split_once('=')
            .ok_or_else(|| ApiError::BadRequest(format!("tags: '{tag}' is not key=value")))?;
        filter = filter.with_tag(k.trim(), v.trim());
    }
    filter.quantity = query.quantity.map(Into::into);
    Ok(filter)
}

fn sample_filter(id: i64, query: SampleQuery) -> Result<DataPointFilter, ApiError> {
    let mut filter = DataPointFilter::default().with_ids([DataPointId(id)]);
    filter.start = query.start;
    filter.end = query.end;
    filter.resolution = query
        .resolution
        .map(|r| r.parse::<Resolution>())
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    filter.time_zone = query.time_zone;
    Ok(filter)
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map_or("", str::trim)
}

/// The body as a long frame of data point `id`.
fn decode_samples(id: i64, content_type: &str, body: &[u8]) -> Result<DataFrame, ApiError> {
    let (ts, values) = if content_type.eq_ignore_ascii_case(JSON) {
        let rows: Vec<SampleView> = serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the body is not a JSON array of {{\"ts\": RFC 3339, \"value\": number|null}}: {e}"
            ))
        })?;
        rows.into_iter()
            .map(|r| (r.ts.timestamp_micros(), r.value))
            .unzip()
    } else if content_type.eq_ignore_ascii_case(ARROW_STREAM) {
        arrow_samples(body)?
    } else {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send samples as {JSON} or {ARROW_STREAM}, not '{content_type}'"
        )));
    };
    Ok(long_frame(vec![id; values.len()], ts, values)?)
}

fn arrow_samples(body: &[u8]) -> Result<(Vec<i64>, Vec<Option<f64>>), ApiError> {
    let bad = |e: &dyn std::fmt::Display| {
        ApiError::BadRequest(format!(
            "the body is not an Arrow IPC stream with columns ts (timestamp) and value (number): {e}"
        ))
    };
    let frame = IpcStreamReader::new(Cursor::new(body))
        .finish()
        .map_err(|e| bad(&e))?;
    let ts_type = DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    let ts = frame
        .column(TS)
        .and_then(|c| c.cast(&ts_type))
        .map_err(|e| bad(&e))?;
    let ts: Vec<i64> = ts
        .datetime()
        .map_err(|e| bad(&e))?
        .physical()
        .iter()
        .map(|t| t.ok_or_else(|| bad(&"a ts is null")))
        .collect::<Result<_, _>>()?;
    let values = frame
        .column(VALUE)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(|e| bad(&e))?;
    let values = values.f64().map_err(|e| bad(&e))?.iter().collect();
    Ok((ts, values))
}
