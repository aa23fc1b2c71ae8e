//! One data point's samples: `samples/<id>.parquet` with columns
//! `ts: Datetime[us, UTC]` and `value: Float64`, sorted by `ts`.

use std::fs::File;
use std::path::Path;

use algohost_sdk::data::{DATA_POINT_ID, TS, VALUE};
use algohost_sdk::{Error, Result};
use polars::prelude::*;

use super::Staged;

/// Samples of one data point, sorted by `ts` (µs since the epoch, UTC),
/// each `ts` at most once.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Samples {
    pub ts: Vec<i64>,
    pub values: Vec<Option<f64>>,
}

impl Samples {
    /// Builds samples from pairs that may be unsorted; a `ts` given twice is an error.
    pub fn from_pairs(
        mut pairs: Vec<(i64, Option<f64>)>,
        what: impl Fn(i64) -> String,
    ) -> Result<Self> {
        pairs.sort_by_key(|(ts, _)| *ts);
        if let Some(pair) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(Error::InvalidInput(format!(
                "{} appears more than once; give each (data point, ts) one value",
                what(pair[0].0)
            )));
        }
        let (ts, values) = pairs.into_iter().unzip();
        Ok(Self { ts, values })
    }

    /// How many samples there are.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// The index range of samples with `lo <= ts < hi`.
    pub fn range(&self, lo: i64, hi: i64) -> std::ops::Range<usize> {
        let start = self.ts.partition_point(|t| *t < lo);
        let end = self.ts.partition_point(|t| *t < hi).max(start);
        start..end
    }

    /// `self` with `newer` merged in: a `ts` in both takes the newer value.
    pub fn merged(self, newer: Samples) -> Samples {
        let mut out = Samples {
            ts: Vec::with_capacity(self.len() + newer.len()),
            values: Vec::with_capacity(self.len() + newer.len()),
        };
        let (mut i, mut j) = (0, 0);
        while i < self.len() || j < newer.len() {
            let take_old = j == newer.len() || (i < self.len() && self.ts[i] < newer.ts[j]);
            if take_old {
                out.ts.push(self.ts[i]);
                out.values.push(self.values[i]);
                i += 1;
            } else {
                if i < self.len() && self.ts[i] == newer.ts[j] {
                    i += 1;
                }
                out.ts.push(newer.ts[j]);
                out.values.push(newer.values[j]);
                j += 1;
            }
        }
        out
    }

    /// Reads a samples file; a missing file has no samples.
    ///
    /// Files written by other tools are accepted when `ts` is a Datetime of
    /// any unit (no time zone means UTC) and `value` is numeric.
    pub fn load(path: &Path) -> Result<Self> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(Error::Data(format!(
                    "cannot open samples file {}: {e}",
                    path.display()
                )));
            }
        };
        let bad = |what: String| {
            Error::Data(format!(
                "samples file {} is not valid: {what}; it needs columns ts (Datetime) and value (Float64)",
                path.display()
            ))
        };
        let frame = ParquetReader::new(file)
            .finish()
            .map_err(|e| bad(format!("cannot read it as Parquet ({e})")))?;
        let ts_column = frame
            .column(TS)
            .map_err(|_| bad("no column 'ts'".to_owned()))?;
        let ts_chunked = ts_column
            .datetime()
            .map_err(|_| {
                bad(format!(
                    "column 'ts' is {}, not Datetime",
                    ts_column.dtype()
                ))
            })?
            .cast_time_unit(TimeUnit::Microseconds);
        let value_column = frame
            .column(VALUE)
            .map_err(|_| bad("no column 'value'".to_owned()))?;
        if !value_column.dtype().is_primitive_numeric() && !value_column.dtype().is_null() {
            // A cast would turn what is not a number into null, silently.
            return Err(bad(format!(
                "column 'value' is {}, not numbers",
                value_column.dtype()
            )));
        }
        let value_column = value_column
            .cast(&DataType::Float64)
            .map_err(|e| bad(format!("column 'value' is not numeric ({e})")))?;
        let values_chunked = value_column.f64().map_err(|e| bad(e.to_string()))?;
        let ts = ts_chunked
            .physical()
            .iter()
            .map(|ts| ts.ok_or_else(|| bad("column 'ts' has nulls".to_owned())))
            .collect::<Result<Vec<i64>>>()?;
        let values: Vec<Option<f64>> = values_chunked.iter().collect();
        // Files this adapter writes are sorted, each ts once: taken as they
        // are, without a copy into pairs; others are sorted and checked.
        if ts.windows(2).all(|w| w[0] < w[1]) {
            return Ok(Self { ts, values });
        }
        Self::from_pairs(ts.into_iter().zip(values).collect(), |ts| {
            format!("in {}, ts {}", path.display(), format_ts(ts))
        })
        .map_err(|e| bad(e.to_string()))
    }

    /// Writes the samples to a temporary file beside `path`, to be renamed
    /// over `path` when every file of the write is ready.
    pub fn stage(&self, path: &Path) -> Result<Staged> {
        let mut frame = self.to_frame()?;
        Staged::create(path, |file| {
            ParquetWriter::new(file)
                .with_compression(ParquetCompression::Zstd(None))
                .finish(&mut frame)
                .map(|_| ())
                .map_err(std::io::Error::other)
        })
    }

    /// The frame stored on disk: `ts`, `value`.
    fn to_frame(&self) -> Result<DataFrame> {
        let ts = Int64Chunked::from_vec(TS.into(), self.ts.clone())
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            .into_column();
        let values = Float64Chunked::from_iter_options(VALUE.into(), self.values.iter().copied())
            .into_column();
        Ok(DataFrame::new_infer_height(vec![ts, values])?)
    }
}

/// An instant in µs as RFC 3339 text, for messages.
pub(super) fn format_ts(ts_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts_us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format!("{ts_us} µs"))
}

/// The samples of a long frame, grouped by data point id, each group sorted
/// by `ts`. A (data point, ts) given twice is an error.
pub(super) fn split_long(long: &DataFrame) -> Result<Vec<(i64, Samples)>> {
    let ids = long.column(DATA_POINT_ID)?.i64()?;
    let ts = long
        .column(TS)?
        .datetime()?
        .cast_time_unit(TimeUnit::Microseconds);
    let values = long.column(VALUE)?.f64()?;
    let mut groups: std::collections::BTreeMap<i64, Vec<(i64, Option<f64>)>> = Default::default();
    for ((id, ts), value) in ids.iter().zip(ts.physical().iter()).zip(values.iter()) {
        let id = id.ok_or_else(|| {
            Error::InvalidInput(format!(
                "column '{DATA_POINT_ID}' has nulls; give every sample its data point id"
            ))
        })?;
        let ts = ts.ok_or_else(|| {
            Error::InvalidInput(format!(
                "column '{TS}' has nulls; give every sample its interval start"
            ))
        })?;
        groups.entry(id).or_default().push((ts, value));
    }
    groups
        .into_iter()
        .map(|(id, pairs)| {
            Samples::from_pairs(pairs, |ts| {
                format!("sample (data point {id}, ts {})", format_ts(ts))
            })
            .map(|s| (id, s))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(pairs: &[(i64, f64)]) -> Samples {
        Samples {
            ts: pairs.iter().map(|p| p.0).collect(),
            values: pairs.iter().map(|p| Some(p.1)).collect(),
        }
    }

    #[test]
    fn merged_replaces_equal_ts_and_keeps_the_rest() {
        let old = samples(&[(1, 1.0), (2, 2.0), (4, 4.0)]);
        let new = samples(&[(0, 0.5), (2, 20.0), (3, 30.0), (5, 50.0)]);
        assert_eq!(
            old.merged(new),
            samples(&[
                (0, 0.5),
                (1, 1.0),
                (2, 20.0),
                (3, 30.0),
                (4, 4.0),
                (5, 50.0)
            ])
        );
    }

    #[test]
    fn range_is_half_open() {
        let s = samples(&[(10, 1.0), (20, 2.0), (30, 3.0)]);
        assert_eq!(s.range(10, 30), 0..2);
        assert_eq!(s.range(11, 31), 1..3);
        assert_eq!(s.range(40, 50), 3..3);
        assert_eq!(s.range(30, 10), 2..2);
    }

    #[test]
    fn from_pairs_sorts_and_rejects_duplicates() {
        let s = Samples::from_pairs(vec![(2, Some(2.0)), (1, None)], |t| t.to_string()).unwrap();
        assert_eq!(s.ts, vec![1, 2]);
        let err = Samples::from_pairs(vec![(1, None), (1, Some(1.0))], |t| format!("ts {t}"))
            .unwrap_err();
        assert!(
            err.to_string().contains("ts 1 appears more than once"),
            "{err}"
        );
    }
}
