//! The data model shared by plugins, adapters and Python: data points, their
//! filters, the long and wide frame forms, ISO 8601 resolutions and the
//! quantity-aware [`resample`].

mod frame;
mod read;
mod resample;
mod resolution;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use frame::{
    DATA_POINT_ID, TS, VALUE, id_ranges, is_long, long_frame, normalize_for_write, sort_long,
    to_long, to_wide, ts_micros, validate_long,
};
pub use read::{ReadPlan, read_range, read_samples};
pub use resample::{ResampleOptions, StateUpsample, check_samples, resample};
pub use resolution::Resolution;

/// The id of a data point in its adapter.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(transparent)]
pub struct DataPointId(pub i64);

impl std::fmt::Display for DataPointId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// What a data point measures; it decides how [`resample`] converts it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Quantity {
    /// A rate (kW): time-weighted mean down, repeated up.
    Power,
    /// An amount per interval (kWh): summed down, split by duration up.
    Energy,
    /// A price per unit (EUR/MWh): time-weighted mean down, repeated up.
    Price,
    /// A level (state of charge, temperature): last value down, forward-filled up.
    State,
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Quantity::Power => "power",
            Quantity::Energy => "energy",
            Quantity::Price => "price",
            Quantity::State => "state",
        })
    }
}

/// The physical flow a data point measures: `from` → `to` of a `carrier`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Flow {
    /// Where the flow comes from ("grid").
    pub from: String,
    /// Where the flow goes ("site").
    pub to: String,
    /// What flows ("electricity").
    pub carrier: String,
}

/// A data point: one time series with its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DataPointConfig {
    /// Id in the adapter; `0` in a definition that has no id yet.
    #[serde(default = "unassigned")]
    pub id: DataPointId,
    /// Unique name, e.g. "site.load".
    pub name: String,
    /// Unit of the values, e.g. "kW".
    #[serde(default)]
    pub unit: String,
    /// What the values measure.
    pub quantity: Quantity,
    /// Native resolution of the samples.
    pub resolution: Resolution,
    /// IANA time zone used for calendar resolutions (local midnight).
    #[serde(default = "utc")]
    pub time_zone: String,
    /// Free key/value tags, e.g. `{"site": "demo"}`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The flow it measures, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
}

fn unassigned() -> DataPointId {
    DataPointId(0)
}

fn utc() -> String {
    "UTC".to_owned()
}

impl DataPointConfig {
    /// A definition without an id (the adapter assigns one), in UTC, no tags.
    pub fn new(
        name: impl Into<String>,
        quantity: Quantity,
        unit: impl Into<String>,
        resolution: Resolution,
    ) -> Self {
        Self {
            id: unassigned(),
            name: name.into(),
            unit: unit.into(),
            quantity,
            resolution,
            time_zone: utc(),
            tags: BTreeMap::new(),
            flow: None,
        }
    }

    /// Sets the time zone.
    pub fn with_time_zone(mut self, tz: impl Into<String>) -> Self {
        self.time_zone = tz.into();
        self
    }

    /// Adds a tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Sets the flow.
    pub fn with_flow(mut self, flow: Flow) -> Self {
        self.flow = Some(flow);
        self
    }

    /// What its samples are: `power in kW at PT15M (Europe/Berlin)`
    /// (`power at PT15M (UTC)` without a unit).
    pub fn series(&self) -> String {
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" in {}", self.unit)
        };
        format!(
            "{}{unit} at {} ({})",
            self.quantity, self.resolution, self.time_zone
        )
    }

    /// Whether `other` defines the same series: the same quantity,
    /// resolution and time zone, and the same unit unless `other` gives
    /// none.
    pub fn is_same_series(&self, other: &DataPointConfig) -> bool {
        self.quantity == other.quantity
            && (other.unit.is_empty() || self.unit == other.unit)
            && self.resolution == other.resolution
            && self.time_zone == other.time_zone
    }

    /// Checks `wanted`, a definition of this stored data point's name (as
    /// given to `define_data_points`), against it: a data point keeps the
    /// quantity, unit, resolution and time zone it was defined with, so
    /// that samples written for one definition are never read as another
    /// (tags and flow may differ: they describe it). An empty unit asks
    /// for none in particular.
    pub fn check_redefinition(&self, wanted: &DataPointConfig) -> crate::Result<()> {
        if self.is_same_series(wanted) {
            return Ok(());
        }
        Err(crate::Error::InvalidInput(format!(
            "data point '{}' exists as {} (id {}), not {}; a data point keeps the quantity, unit, \
             resolution and time zone it was defined with: use another name, or convert the \
             values to its definition",
            self.name,
            self.series(),
            self.id,
            wanted.series()
        )))
    }

    /// Checks `again`, a second definition of this data point's name in
    /// the same call to `define_data_points`, against this first one: a
    /// name given twice must define one series.
    pub fn check_repeated(&self, again: &DataPointConfig) -> crate::Result<()> {
        if self.is_same_series(again) {
            return Ok(());
        }
        Err(crate::Error::InvalidInput(format!(
            "data point '{}' is defined twice, as {} and as {}; give each name one definition",
            again.name,
            self.series(),
            again.series()
        )))
    }

    /// The time zone, parsed.
    pub fn tz(&self) -> crate::Result<chrono_tz::Tz> {
        parse_time_zone(&self.time_zone)
    }
}

/// Parses an IANA time zone name, with an error that says what to use.
pub fn parse_time_zone(name: &str) -> crate::Result<chrono_tz::Tz> {
    name.parse().map_err(|_| {
        crate::Error::InvalidInput(format!(
            "unknown time zone '{name}': use an IANA name such as 'Europe/Berlin' or 'UTC'"
        ))
    })
}

/// Selects data points and, for reads, a time range and target resolution.
/// Every field is optional; set fields must all match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DataPointFilter {
    /// Only these ids.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<DataPointId>,
    /// Only these names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// Only data points carrying all of these tags.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Only data points of this quantity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    /// Samples at or after this instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// Samples before this instant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// Convert samples to this resolution when reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Time zone for calendar resolutions; defaults to each data point's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

impl DataPointFilter {
    /// Only these names.
    pub fn with_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.names = names.into_iter().map(Into::into).collect();
        self
    }

    /// Only these ids.
    pub fn with_ids(mut self, ids: impl IntoIterator<Item = DataPointId>) -> Self {
        self.ids = ids.into_iter().collect();
        self
    }

    /// Only data points with this tag.
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Only this quantity.
    pub fn with_quantity(mut self, quantity: Quantity) -> Self {
        self.quantity = Some(quantity);
        self
    }

    /// Samples in `[start, end)`.
    pub fn with_range(mut self, start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        self.start = Some(start);
        self.end = Some(end);
        self
    }

    /// Convert to this resolution when reading.
    pub fn with_resolution(mut self, resolution: Resolution) -> Self {
        self.resolution = Some(resolution);
        self
    }

    /// Whether a data point passes the id, name, tag and quantity parts.
    pub fn matches(&self, point: &DataPointConfig) -> bool {
        (self.ids.is_empty() || self.ids.contains(&point.id))
            && (self.names.is_empty() || self.names.iter().any(|n| n == &point.name))
            && self
                .tags
                .iter()
                .all(|(k, v)| point.tags.get(k).is_some_and(|pv| pv == v))
            && self.quantity.is_none_or(|q| q == point.quantity)
    }
}

/// Selects data points by the flow they measure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FlowFilter {
    /// Flow source.
    pub from: Option<String>,
    /// Flow destination.
    pub to: Option<String>,
    /// Carrier.
    pub carrier: Option<String>,
}

impl FlowFilter {
    /// Whether a data point's flow passes the filter (points without a flow never do).
    pub fn matches(&self, point: &DataPointConfig) -> bool {
        point.flow.as_ref().is_some_and(|f| {
            self.from.as_ref().is_none_or(|x| x == &f.from)
                && self.to.as_ref().is_none_or(|x| x == &f.to)
                && self.carrier.as_ref().is_none_or(|x| x == &f.carrier)
        })
    }
}
