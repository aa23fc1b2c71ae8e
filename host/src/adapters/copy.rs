//! Copying data points and their samples from one adapter to another (demo
//! files into PostgreSQL, a remote server into a directory, …): the data
//! points are defined in the target by name (ids there are the target's
//! own), then each data point's samples are read and written in chunks.
//!
//! Writes are upserts, so copying again replaces the samples it copied
//! before and keeps the others. Each data point's samples (in the filter's
//! range) are read at once, then written `chunk_size` at a time (as the
//! target takes them: a directory takes each data point whole, see
//! [`Adapter::copy_chunk_size`]).

use std::collections::BTreeMap;

use algohost_sdk::data::{
    DATA_POINT_ID, DataPointConfig, DataPointFilter, DataPointId, Resolution,
};
use algohost_sdk::polars::prelude::{Column, DataFrame};
use algohost_sdk::{Error, Result};
use serde::Serialize;

use super::Adapter;
use super::files::unknown_names_error;

/// Samples per write when the options give no other number.
pub const DEFAULT_CHUNK_SIZE: usize = 50_000;

/// What [`copy`] copies.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyOptions {
    /// Which data points (ids, names, tags, quantity) and which of their
    /// samples (`[start, end)`; `resolution` converts them, and the target's
    /// data points get that resolution). Every name listed must exist.
    pub filter: DataPointFilter,
    /// Samples per write (at least 1), where the target writes in chunks.
    pub chunk_size: usize,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            filter: DataPointFilter::default(),
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

/// What [`copy`] reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum CopyProgress<'a> {
    /// The data points are defined in the target; their samples come next.
    Defined {
        /// How many data points will be copied.
        data_points: usize,
    },
    /// The samples of a data point were read and will be written.
    Read {
        /// The data point, as the source has it.
        point: &'a DataPointConfig,
        /// How many samples were read.
        samples: usize,
    },
    /// A chunk of them was written.
    Written {
        /// The data point, as the source has it.
        point: &'a DataPointConfig,
        /// How many samples this chunk had.
        samples: usize,
    },
}

/// What [`copy`] did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CopySummary {
    /// Each data point copied, in the source's order.
    pub data_points: Vec<CopiedDataPoint>,
    /// Samples written, in all.
    pub samples: usize,
}

/// One data point [`copy`] copied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CopiedDataPoint {
    /// Its name, the same in both adapters.
    pub name: String,
    /// Its id in the source.
    pub from_id: DataPointId,
    /// Its id in the target.
    pub to_id: DataPointId,
    /// Samples written.
    pub samples: usize,
    /// What it is in the target, as [`describe`] says.
    pub definition: String,
}

/// A data point's quantity, unit, resolution and time zone, as in
/// `power in kW at PT15M (Europe/Berlin)`.
pub fn describe(point: &DataPointConfig) -> String {
    format!(
        "{} in {} at {} ({})",
        point.quantity, point.unit, point.resolution, point.time_zone
    )
}

/// Copies the data points `options.filter` selects in `from`, and their
/// samples, into `to`; `on_progress` hears of each step.
///
/// A data point whose name exists in `to` keeps its id there, but must
/// have the same quantity, unit, resolution and time zone (else nothing is
/// copied).
pub fn copy(
    from: &dyn Adapter,
    to: &dyn Adapter,
    options: &CopyOptions,
    on_progress: &mut dyn FnMut(CopyProgress<'_>),
) -> Result<CopySummary> {
    let sources = selected_points(from, &options.filter)?;
    let targets = define_in_target(to, &sources, options.filter.resolution)?;
    on_progress(CopyProgress::Defined {
        data_points: sources.len(),
    });
    let chunk_size = to.copy_chunk_size(options.chunk_size).max(1);
    let mut summary = CopySummary::default();
    for (source, target) in sources.iter().zip(&targets) {
        let samples_filter = DataPointFilter {
            ids: vec![source.id],
            names: Vec::new(),
            tags: BTreeMap::new(),
            quantity: None,
            ..options.filter.clone()
        };
        let long = from
            .read(&samples_filter)
            .map_err(|e| context(e, &format!("cannot read '{}' from the source", source.name)))?;
        let long = with_id(long, target.id)?;
        on_progress(CopyProgress::Read {
            point: source,
            samples: long.height(),
        });
        let mut offset = 0;
        while offset < long.height() {
            let chunk = long.slice(offset as i64, chunk_size);
            to.write(&chunk).map_err(|e| {
                context(e, &format!("cannot write '{}' to the target", source.name))
            })?;
            offset += chunk.height();
            on_progress(CopyProgress::Written {
                point: source,
                samples: chunk.height(),
            });
        }
        summary.samples += long.height();
        summary.data_points.push(CopiedDataPoint {
            name: source.name.clone(),
            from_id: source.id,
            to_id: target.id,
            samples: long.height(),
            definition: describe(target),
        });
    }
    Ok(summary)
}

/// The source's data points the filter selects; a listed name that does
/// not exist is an error (a typo would otherwise copy nothing, silently).
fn selected_points(from: &dyn Adapter, filter: &DataPointFilter) -> Result<Vec<DataPointConfig>> {
    let list = |filter: &DataPointFilter| {
        from.data_points(filter)
            .map_err(|e| context(e, "cannot list the source's data points"))
    };
    let points = list(filter)?;
    if filter.names.is_empty() {
        return Ok(points);
    }
    let named = list(&DataPointFilter::default().with_names(filter.names.clone()))?;
    let unknown: Vec<&str> = filter
        .names
        .iter()
        .filter(|n| !named.iter().any(|p| &p.name == *n))
        .map(String::as_str)
        .collect();
    if unknown.is_empty() {
        return Ok(points);
    }
    let all = list(&DataPointFilter::default())?;
    let known: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    Err(unknown_names_error(&unknown, &known))
}

/// Defines `sources` in `to` (at `resolution` when converting) and returns
/// them as `to` stores them, after checking that the names `to` has
/// already agree in quantity and resolution.
fn define_in_target(
    to: &dyn Adapter,
    sources: &[DataPointConfig],
    resolution: Option<Resolution>,
) -> Result<Vec<DataPointConfig>> {
    let definitions: Vec<DataPointConfig> = sources
        .iter()
        .map(|p| DataPointConfig {
            id: DataPointId(0),
            resolution: resolution.unwrap_or(p.resolution),
            ..p.clone()
        })
        .collect();
    if definitions.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = definitions.iter().map(|p| p.name.as_str()).collect();
    let existing = to
        .data_points(&DataPointFilter::default().with_names(names))
        .map_err(|e| context(e, "cannot list the target's data points"))?;
    for stored in &existing {
        let Some(wanted) = definitions.iter().find(|d| d.name == stored.name) else {
            continue;
        };
        if stored.quantity != wanted.quantity
            || stored.resolution != wanted.resolution
            || stored.unit != wanted.unit
            || stored.time_zone != wanted.time_zone
        {
            return Err(Error::InvalidInput(format!(
                "data point '{}' exists in the target as {}, not {}; copying would mix them: \
                 copy into another target, convert the values first, or leave it out",
                stored.name,
                describe(stored),
                describe(wanted)
            )));
        }
    }
    to.define_data_points(&definitions)
        .map_err(|e| context(e, "cannot define the data points in the target"))
}

/// `long` with every sample given to data point `id`.
fn with_id(mut long: DataFrame, id: DataPointId) -> Result<DataFrame> {
    let ids = Column::new(DATA_POINT_ID.into(), vec![id.0; long.height()]);
    long.with_column(ids)?;
    Ok(long)
}

/// `e` with what was being done in front, of the same kind.
fn context(e: Error, what: &str) -> Error {
    match e {
        Error::InvalidInput(m) => Error::InvalidInput(format!("{what}: {m}")),
        Error::Data(m) => Error::Data(format!("{what}: {m}")),
        other => Error::Data(format!("{what}: {other}")),
    }
}
