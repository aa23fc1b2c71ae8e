//! The data API over the server's adapter, which the `rest` adapter of
//! another algohost speaks:
//!
//! ```text
//! GET  /data-points               list (names, ids, tags, quantity)
//! POST /data-points               define by name; returns them as stored
//! GET  /data-points/{id}          one
//! GET  /data-points/{id}/samples  one data point's samples (ts, value)
//! POST /data-points/{id}/samples  write them
//! GET  /flows                     data points by flow (from, to, carrier)
//! GET  /samples                   samples of any data points, long form
//! POST /samples                   write them, all or nothing
//! ```
//!
//! Samples travel as JSON records or as Arrow IPC streams (reads also as
//! Parquet or CSV), chosen by `?format=` or `Accept` and by `Content-Type`;
//! reads convert to a target resolution through the adapter, within the
//! server's samples limit (`limit`). Query parameters are described in
//! `query`.

mod codec;
mod ipc;
mod limit;
mod query;
mod views;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use algohost_sdk::data::{
    DATA_POINT_ID, DataPointConfig, DataPointFilter, DataPointId, FlowFilter, TS, VALUE,
};
use algohost_sdk::polars::prelude::DataFrame;
use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use self::limit::SampleLimit;
pub use self::query::{DataPointQuery, FlowQuery, RangeQuery};
pub use self::views::{
    DataPointDefinition, DataPointDefinitions, DataPointList, DataPointView, FlowView,
    LongSampleView, QuantityView, SampleView, SamplesWritten, WriteSummary,
};
use super::error::{ApiError, Problem};
use super::extract::{JsonBody, NoQuery, Path, Query, RawBody};
use super::frames::{Binary, FrameFormat};
use super::state::AppState;
use crate::adapters::{Adapter, Interrupt};

/// The router of the data API.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_data_points, define_data_points))
        .routes(routes!(get_data_point))
        .routes(routes!(read_point_samples, write_point_samples))
        .routes(routes!(list_flows))
        .routes(routes!(read_samples, write_samples))
}

/// Lists data points.
#[utoipa::path(
    get, path = "/data-points", tag = "data",
    params(DataPointQuery),
    security(("bearer" = ["read"])),
    responses((status = 200, description = "The matching data points, by id", body = DataPointList))
)]
async fn list_data_points(
    State(state): State<AppState>,
    Query(pairs): Query<query::Pairs>,
) -> Result<Json<DataPointList>, ApiError> {
    let filter = DataPointQuery::parse(pairs)?.filter();
    let points = blocking(&state, move |a, _| Ok(a.data_points(&filter)?)).await?;
    Ok(Json(DataPointList::of(points)))
}

/// Defines data points by name and returns them as stored.
///
/// New names get ids. An existing name is returned as stored when the
/// definition matches it: the same quantity and resolution, the same unit
/// when it gives one and the same time zone when it gives one (left out,
/// the stored unit and zone are kept; a new data point without a time zone
/// is in UTC). Any other difference is a 400 naming both definitions; tags
/// and flow may differ (the stored ones stay). All or nothing; a name
/// given twice is one data point (400 if the two differ).
#[utoipa::path(
    post, path = "/data-points", tag = "data",
    request_body = DataPointDefinitions,
    security(("bearer" = ["run"])),
    responses((status = 200, description = "Every data point of the body as stored, in order", body = DataPointList))
)]
async fn define_data_points(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DataPointDefinitions>,
) -> Result<Json<DataPointList>, ApiError> {
    let mut definitions = body
        .data_points
        .into_iter()
        .map(DataPointDefinition::into_config)
        .collect::<Result<Vec<_>, _>>()?;
    given_once(&mut definitions)?;
    let stored = blocking(&state, move |a, _| Ok(a.define_data_points(&definitions)?)).await?;
    Ok(Json(DataPointList::of(stored)))
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
    _: NoQuery,
) -> Result<Json<DataPointView>, ApiError> {
    let point = blocking(&state, move |a, _| existing_point(a, id)).await?;
    Ok(Json(point.into()))
}

/// Samples of a data point in `[start, end)`, optionally converted to
/// another resolution, as JSON records or an Arrow IPC stream (also
/// Parquet or CSV) by `?format=` or `Accept`. A read of more samples than
/// the server's limit (`max_samples`) is a 400 that says how to narrow it.
#[utoipa::path(
    get, path = "/data-points/{id}/samples", tag = "data",
    params(("id" = i64, Path, description = "Data point id"), RangeQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Columns `ts` and `value`, sorted by ts", content(
            (Vec<SampleView> = "application/json"),
            (Binary = "application/vnd.apache.arrow.stream"),
            (Binary = "application/vnd.apache.parquet"),
            (String = "text/csv"),
        ), headers(("Vary" = String, description = "`accept`"))),
        (status = 404, description = "No such data point", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "None of the accepted media types is available",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn read_point_samples(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(pairs): Query<query::Pairs>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let range = RangeQuery::parse(pairs)?;
    let format = FrameFormat::choose(range.format, &headers)?;
    let filter = range.apply(one_point(id));
    let limit = SampleLimit {
        max: state.max_samples,
        selects_points: false,
    };
    let body = blocking(&state, move |a, gone| {
        let point = existing_point(a, id)?;
        let long = limit.read(a, &filter, &[point], gone)?;
        select(long, &[TS, VALUE])
    })
    .await?;
    Ok(format.streamed(body))
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
    )
)]
async fn write_point_samples(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<WriteSummary>, ApiError> {
    let long = codec::decode(&headers, &body, Some(id))?;
    let written = long.height();
    blocking(&state, move |a, _| {
        existing_point(a, id)?;
        Ok(a.write(&long)?)
    })
    .await?;
    Ok(Json(WriteSummary {
        data_point_id: id,
        written,
    }))
}

/// Lists the data points whose flow matches (those without a flow never do).
#[utoipa::path(
    get, path = "/flows", tag = "data",
    params(FlowQuery),
    security(("bearer" = ["read"])),
    responses((status = 200, description = "The data points of the matching flows, by id", body = DataPointList))
)]
async fn list_flows(
    State(state): State<AppState>,
    Query(query): Query<FlowQuery>,
) -> Result<Json<DataPointList>, ApiError> {
    let filter = FlowFilter::from(query);
    let points = blocking(&state, move |a, _| Ok(a.flows(&filter)?)).await?;
    Ok(Json(DataPointList::of(points)))
}

/// Samples of the data points the parameters select (all without any) in
/// `[start, end)`, optionally converted to another resolution, in long
/// form, by `?format=` or `Accept`. A listed name or id that does not exist
/// is a 400 naming it. A read of more samples than the server's limit
/// (`max_samples`) is a 400 that says how to narrow it.
#[utoipa::path(
    get, path = "/samples", tag = "data",
    params(DataPointQuery, RangeQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Columns `data_point_id`, `ts` and `value`, sorted by data point and ts", content(
            (Vec<LongSampleView> = "application/json"),
            (Binary = "application/vnd.apache.arrow.stream"),
            (Binary = "application/vnd.apache.parquet"),
            (String = "text/csv"),
        ), headers(("Vary" = String, description = "`accept`"))),
        (status = 406, description = "None of the accepted media types is available",
         body = Problem, content_type = "application/problem+json"),
    )
)]
async fn read_samples(
    State(state): State<AppState>,
    Query(pairs): Query<query::Pairs>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (filter, format) = query::samples_filter(pairs)?;
    let format = FrameFormat::choose(format, &headers)?;
    let limit = SampleLimit {
        max: state.max_samples,
        selects_points: true,
    };
    let body = blocking(&state, move |a, gone| {
        let points = a.data_points(&filter)?;
        let long = limit.read(a, &filter, &points, gone)?;
        select(long, &[])
    })
    .await?;
    Ok(format.streamed(body))
}

/// Writes samples of any data points, replacing those at the same data
/// point and ts; all or nothing. The body is JSON records or an Arrow IPC
/// stream with columns `data_point_id`, `ts` and `value`.
#[utoipa::path(
    post, path = "/samples", tag = "data",
    request_body(content(
        (Vec<LongSampleView> = "application/json"),
        (Binary = "application/vnd.apache.arrow.stream"),
    )),
    security(("bearer" = ["run"])),
    responses((status = 200, description = "The samples were written", body = SamplesWritten))
)]
async fn write_samples(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<SamplesWritten>, ApiError> {
    let long = codec::decode(&headers, &body, None)?;
    let written = long.height();
    blocking(&state, move |a, _| {
        defined_ids(a, &long)?;
        Ok(a.write(&long)?)
    })
    .await?;
    Ok(Json(SamplesWritten { written }))
}

/// Runs adapter work on the blocking pool (adapters block). The work is
/// told (as an [`Interrupt`]) when the request is gone: cut off by the
/// request timeout, or left by its client.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&dyn Adapter, &dyn Interrupt) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let adapter: Arc<dyn Adapter> = state.service.adapter().clone();
    let gone = Arc::new(RequestGone::default());
    let _on_drop = MarkGone(gone.clone());
    tokio::task::spawn_blocking(move || f(adapter.as_ref(), gone.as_ref())).await?
}

/// Whether the request that started some blocking work is gone.
#[derive(Debug, Default)]
struct RequestGone(AtomicBool);

impl Interrupt for RequestGone {
    fn is_interrupted(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Marks the request gone when its handler ends or is dropped.
struct MarkGone(Arc<RequestGone>);

impl Drop for MarkGone {
    fn drop(&mut self) {
        self.0.0.store(true, Ordering::Relaxed);
    }
}

/// 400 for a name given twice in one request as different series (the
/// adapter would take the first and call the second a conflict with an
/// existing data point). The same name twice is one data point: one that
/// leaves out the time zone takes the zone another of its name gives.
fn given_once(definitions: &mut [DataPointConfig]) -> Result<(), ApiError> {
    let mut zones: HashMap<String, String> = HashMap::new();
    for definition in definitions.iter().filter(|d| !d.time_zone.is_empty()) {
        zones
            .entry(definition.name.clone())
            .or_insert_with(|| definition.time_zone.clone());
    }
    for definition in definitions.iter_mut() {
        if let Some(zone) = zones.get(&definition.name)
            && definition.time_zone.is_empty()
        {
            definition.time_zone = zone.clone();
        }
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, definition) in definitions.iter().enumerate() {
        let first = *seen.entry(definition.name.as_str()).or_insert(i);
        if !definitions[first].is_same_series(definition) {
            return Err(ApiError::BadRequest(format!(
                "data point '{}' is given twice in the request as different series \
                 (data_points[{first}]: {}, data_points[{i}]: {}); give each name once",
                definition.name,
                given_series(&definitions[first]),
                given_series(definition),
            )));
        }
    }
    Ok(())
}

/// [`DataPointConfig::series`] of a definition, which may leave out its
/// time zone.
fn given_series(definition: &DataPointConfig) -> String {
    if definition.time_zone.is_empty() {
        let mut shown = definition.clone();
        shown.time_zone = "time zone not given".to_owned();
        return shown.series();
    }
    definition.series()
}

/// 400 naming the data point ids of `long` that do not exist.
fn defined_ids(adapter: &dyn Adapter, long: &DataFrame) -> Result<(), ApiError> {
    let ids: BTreeSet<i64> = long
        .column(DATA_POINT_ID)
        .and_then(|c| c.i64().map(|ids| ids.into_no_null_iter().collect()))
        .map_err(ApiError::internal)?;
    let filter = DataPointFilter::default().with_ids(ids.iter().copied().map(DataPointId));
    let known: BTreeSet<i64> = adapter
        .data_points(&filter)?
        .into_iter()
        .map(|p| p.id.0)
        .collect();
    let unknown: Vec<String> = ids.difference(&known).map(i64::to_string).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(ApiError::BadRequest(format!(
        "unknown data point id(s) {}; define the data points first (POST /data-points, or \
         define_data_points of the rest adapter) and write with the ids it returns",
        unknown.join(", ")
    )))
}

fn one_point(id: i64) -> DataPointFilter {
    DataPointFilter::default().with_ids([DataPointId(id)])
}

fn existing_point(adapter: &dyn Adapter, id: i64) -> Result<DataPointConfig, ApiError> {
    adapter
        .data_points(&one_point(id))?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::NotFound(format!("no data point with id {id}")))
}

/// The `columns` of a long frame (all when empty).
fn select(long: DataFrame, columns: &[&str]) -> Result<DataFrame, ApiError> {
    let frame = if columns.is_empty() {
        long
    } else {
        long.select(columns.iter().copied()).map_err(|e| {
            ApiError::internal(format!(
                "the adapter returned a frame without {columns:?}: {e}"
            ))
        })?
    };
    Ok(frame)
}
