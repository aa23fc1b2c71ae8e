//! The JSON shapes of the data API: data points, their definitions and
//! samples.

use std::collections::BTreeMap;

use algohost_sdk::data::{DataPointConfig, DataPointId, Flow, Quantity, Resolution};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::server::ApiError;
use crate::server::extract::BodyShape;

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
#[serde(deny_unknown_fields)]
pub struct FlowView {
    /// Where the flow comes from ("grid").
    pub from: String,
    /// Where it goes ("site").
    pub to: String,
    /// What flows ("electricity").
    pub carrier: String,
}

impl From<FlowView> for Flow {
    fn from(f: FlowView) -> Self {
        Flow {
            from: f.from,
            to: f.to,
            carrier: f.carrier,
        }
    }
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

impl DataPointList {
    /// The list of `points`.
    pub fn of(points: Vec<DataPointConfig>) -> Self {
        Self {
            data_points: points.into_iter().map(Into::into).collect(),
        }
    }
}

/// A data point to define: like a data point, without (or ignoring) its id.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataPointDefinition {
    /// Ignored: the adapter assigns ids (an existing name keeps its own).
    #[serde(default)]
    pub id: Option<i64>,
    /// Unique name, e.g. "site.load".
    pub name: String,
    /// Unit of the values. Left out (or empty), an existing data point
    /// keeps its unit and a new one has none.
    #[serde(default)]
    pub unit: String,
    /// What the values measure.
    pub quantity: QuantityView,
    /// Native resolution, an ISO 8601 duration such as PT15M.
    pub resolution: String,
    /// IANA time zone for calendar resolutions. Left out (or empty), an
    /// existing data point keeps the zone it was defined with and a new one
    /// is in UTC.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Free key/value tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The flow it measures, if any.
    #[serde(default)]
    pub flow: Option<FlowView>,
}

impl DataPointDefinition {
    /// The definition for the adapter (id 0: not assigned yet; an empty
    /// time zone when none is given, which the adapter fills in).
    pub fn into_config(self) -> Result<DataPointConfig, ApiError> {
        let resolution: Resolution = self.resolution.parse().map_err(|e| {
            ApiError::BadRequest(format!("data point '{}': resolution: {e}", self.name))
        })?;
        Ok(DataPointConfig {
            id: DataPointId(0),
            name: self.name,
            unit: self.unit,
            quantity: self.quantity.into(),
            resolution,
            time_zone: self.time_zone.unwrap_or_default(),
            tags: self.tags,
            flow: self.flow.map(Into::into),
        })
    }
}

/// The body of `POST /data-points`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataPointDefinitions {
    /// The data points to define, in order.
    pub data_points: Vec<DataPointDefinition>,
}

impl BodyShape for DataPointDefinitions {
    const FIELDS: Option<&'static str> =
        Some("data_points (required): an array of {name, quantity, resolution, …}");
}

/// One sample of a data point: the start of its interval and its value.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SampleView {
    /// Start of the interval, RFC 3339.
    pub ts: DateTime<Utc>,
    /// The value; null where it is unknown.
    pub value: Option<f64>,
}

/// One sample of any data point (long form).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LongSampleView {
    /// The data point's id.
    pub data_point_id: i64,
    /// Start of the interval, RFC 3339.
    pub ts: DateTime<Utc>,
    /// The value; null where it is unknown.
    pub value: Option<f64>,
}

/// What a write of one data point's samples did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WriteSummary {
    /// The data point written to.
    pub data_point_id: i64,
    /// Samples written (replacing those at the same ts).
    pub written: usize,
}

/// What a write of samples of any data points did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SamplesWritten {
    /// Samples written (replacing those at the same data point and ts).
    pub written: usize,
}
