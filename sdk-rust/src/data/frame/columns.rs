//! Contiguous access to the columns of a long frame, and a builder for new
//! ones: the slices that conversions loop over without per-row allocations.

use std::borrow::Cow;
use std::ops::Range;

use polars::prelude::*;
use polars_arrow::bitmap::{Bitmap, MutableBitmap};

use super::{DATA_POINT_ID, TS, VALUE, build_long, validate_long};
use crate::data::DataPointId;
use crate::error::Result;

/// The columns of a validated long frame, each as one contiguous array.
pub(crate) struct LongColumns<'a> {
    ids: Cow<'a, Int64Chunked>,
    ts: Cow<'a, Int64Chunked>,
    values: Cow<'a, Float64Chunked>,
}

impl<'a> LongColumns<'a> {
    /// Validates `frame` with [`validate_long`] and rechunks its columns if needed.
    pub(crate) fn new(frame: &'a DataFrame) -> Result<Self> {
        validate_long(frame)?;
        Ok(Self {
            ids: contiguous(frame.column(DATA_POINT_ID)?.i64()?),
            ts: contiguous(frame.column(TS)?.datetime()?.physical()),
            values: contiguous(frame.column(VALUE)?.f64()?),
        })
    }

    /// The ids, one per row.
    pub(crate) fn ids(&self) -> &[i64] {
        values_of(&self.ids)
    }

    /// The interval starts in µs since the epoch, one per row.
    pub(crate) fn ts(&self) -> &[i64] {
        values_of(&self.ts)
    }

    /// The rows in `range` as a [`Samples`] view.
    pub(crate) fn samples(&self, range: Range<usize>) -> Samples<'_> {
        let validity = self
            .values
            .downcast_iter()
            .next()
            .and_then(|a| a.validity());
        Samples {
            ts: &self.ts()[range.clone()],
            values: &values_of(&self.values)[range.clone()],
            validity,
            offset: range.start,
        }
    }

    /// The row range of each run of equal ids, in order (ids must be sorted).
    pub(crate) fn runs(&self) -> Vec<(DataPointId, Range<usize>)> {
        let ids = self.ids();
        let mut runs = Vec::new();
        let mut start = 0;
        while start < ids.len() {
            let id = ids[start];
            let end = start + ids[start..].partition_point(|&x| x == id);
            runs.push((DataPointId(id), start..end));
            start = end;
        }
        runs
    }
}

/// The array as a single chunk, borrowed when it already is one.
fn contiguous<T: PolarsNumericType>(ca: &ChunkedArray<T>) -> Cow<'_, ChunkedArray<T>> {
    if ca.chunks().len() <= 1 {
        Cow::Borrowed(ca)
    } else {
        ca.rechunk()
    }
}

/// The values buffer of a single-chunk array (null slots hold arbitrary values).
fn values_of<T: PolarsNumericType>(ca: &ChunkedArray<T>) -> &[T::Native] {
    ca.downcast_iter()
        .next()
        .map_or(&[], |a| a.values().as_slice())
}

/// The samples of one data point: interval starts and values as slices.
pub(crate) struct Samples<'a> {
    /// Interval starts in µs since the epoch, ascending.
    pub(crate) ts: &'a [i64],
    values: &'a [f64],
    validity: Option<&'a Bitmap>,
    offset: usize,
}

impl Samples<'_> {
    /// Number of samples.
    pub(crate) fn len(&self) -> usize {
        self.ts.len()
    }

    /// The value of sample `i`, `None` when null.
    pub(crate) fn value(&self, i: usize) -> Option<f64> {
        let is_valid = self.validity.is_none_or(|b| b.get_bit(self.offset + i));
        is_valid.then(|| self.values[i])
    }
}

/// Collects long rows and builds the frame at the end.
pub(crate) struct LongBuilder {
    ids: Vec<i64>,
    ts: Vec<i64>,
    values: Vec<f64>,
    valid: MutableBitmap,
}

impl LongBuilder {
    /// An empty builder with room for `rows` rows.
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Self {
            ids: Vec::with_capacity(rows),
            ts: Vec::with_capacity(rows),
            values: Vec::with_capacity(rows),
            valid: MutableBitmap::with_capacity(rows),
        }
    }

    /// Appends one row.
    pub(crate) fn push(&mut self, id: i64, ts_us: i64, value: Option<f64>) {
        self.ids.push(id);
        self.ts.push(ts_us);
        self.values.push(value.unwrap_or(0.0));
        self.valid.push(value.is_some());
    }

    /// The rows as a long frame, in the order pushed.
    pub(crate) fn finish(self) -> Result<DataFrame> {
        let values =
            Float64Chunked::from_vec_validity(VALUE.into(), self.values, Some(self.valid.freeze()));
        build_long(self.ids, self.ts, values)
    }
}
