//! Long and wide frame forms: long (`data_point_id`, `ts`, `value`, sorted by
//! id then ts) for adapters and storage, wide (`ts` plus one column per data
//! point name) for algorithms.

mod columns;

use std::collections::HashMap;
use std::ops::Range;

use polars::prelude::*;
use polars_arrow::bitmap::MutableBitmap;

pub(crate) use self::columns::{LongBuilder, LongColumns, Samples};

use super::{DataPointConfig, DataPointId};
use crate::error::{Error, Result};

/// Column of the data point id in long form.
pub const DATA_POINT_ID: &str = "data_point_id";
/// Column of the interval start (`Datetime[us, UTC]`) in both forms.
pub const TS: &str = "ts";
/// Column of the value in long form.
pub const VALUE: &str = "value";

const LONG_COLUMNS: &str = "data_point_id: Int64, ts: Datetime[us, UTC], value: Float64";

/// The type of the `ts` column: microseconds since the Unix epoch, in UTC.
fn ts_dtype() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

/// Whether `frame` has the long form's columns.
pub fn is_long(frame: &DataFrame) -> bool {
    frame.schema().contains(DATA_POINT_ID) && frame.schema().contains(VALUE)
}

/// Checks that a frame is in long form: exactly the columns
/// `data_point_id: Int64`, `ts: Datetime[us, UTC]` and `value: Float64`, with
/// no null id or ts (values may be null). Sorting is not checked; see [`sort_long`].
pub fn validate_long(frame: &DataFrame) -> Result<()> {
    if let Some(extra) = frame
        .get_column_names()
        .into_iter()
        .find(|n| ![DATA_POINT_ID, TS, VALUE].contains(&n.as_str()))
    {
        return Err(Error::InvalidInput(format!(
            "long frame has an unexpected column '{extra}': a long frame has exactly the columns \
             {LONG_COLUMNS}; drop it, or use the wide form (ts plus one column per data point name)"
        )));
    }
    for (name, dtype, hint) in [
        (DATA_POINT_ID, DataType::Int64, "cast it to Int64"),
        (TS, ts_dtype(), TS_CAST_HINT),
        (VALUE, DataType::Float64, "cast it to Float64"),
    ] {
        let column = require_column(frame, name, LONG_COLUMNS)?;
        if column.dtype() != &dtype {
            return Err(wrong_dtype(name, column.dtype(), hint));
        }
    }
    for name in [DATA_POINT_ID, TS] {
        check_no_nulls(frame, name)?;
    }
    Ok(())
}

const TS_CAST_HINT: &str = "cast it to Datetime[us, UTC] (the same instants; a ts without a \
    time zone needs dt.replace_time_zone first)";

/// `frame` with the types a write takes where the conversion loses
/// nothing: `ts` of any unit and time zone as `Datetime[us, UTC]` (the same
/// instants), an integer `data_point_id` as Int64 and a numeric long `value`
/// as Float64. A `ts` without a time zone is an error: which instants it
/// means depends on a zone only its writer knows.
pub fn normalize_for_write(frame: &DataFrame) -> Result<DataFrame> {
    let mut frame = frame.clone();
    if let Ok(ts) = frame.column(TS) {
        match ts.dtype() {
            DataType::Datetime(_, Some(_)) if ts.dtype() != &ts_dtype() => {
                let utc = ts.cast(&ts_dtype())?;
                frame.with_column(utc)?;
            }
            DataType::Datetime(_, None) => {
                return Err(Error::InvalidInput(format!(
                    "column 'ts' is {} without a time zone, so which instants it means is not \
                     known: set the zone its times are in (dt.replace_time_zone(\"UTC\"), or the \
                     local one such as \"Europe/Berlin\") before writing",
                    ts.dtype()
                )));
            }
            _ => {}
        }
    }
    if is_long(&frame) {
        for (name, dtype) in [(DATA_POINT_ID, DataType::Int64), (VALUE, DataType::Float64)] {
            let column = frame.column(name)?;
            let lossless = match name {
                DATA_POINT_ID => column.dtype().is_integer(),
                _ => column.dtype().is_primitive_numeric(),
            };
            if lossless && column.dtype() != &dtype {
                let cast = column.cast(&dtype)?;
                frame.with_column(cast)?;
            }
        }
    }
    Ok(frame)
}

fn require_column<'a>(frame: &'a DataFrame, name: &str, expected: &str) -> Result<&'a Column> {
    frame.column(name).map_err(|_| {
        let found: Vec<&str> = frame
            .get_column_names()
            .iter()
            .map(|n| n.as_str())
            .collect();
        Error::InvalidInput(format!(
            "frame has no column '{name}': expected the columns {expected} (found: {})",
            found.join(", ")
        ))
    })
}

fn wrong_dtype(name: &str, found: &DataType, hint: &str) -> Error {
    let expected = match name {
        DATA_POINT_ID => "Int64",
        TS => "Datetime[us, UTC]",
        _ => "Float64",
    };
    Error::InvalidInput(format!(
        "column '{name}' is {found}: expected {expected}; {hint}"
    ))
}

fn check_no_nulls(frame: &DataFrame, name: &str) -> Result<()> {
    let nulls = frame.column(name)?.null_count();
    if nulls > 0 {
        return Err(Error::InvalidInput(format!(
            "column '{name}' has {nulls} null value(s): every sample needs a data point id and a ts; \
             drop those rows"
        )));
    }
    Ok(())
}

/// The `ts` column of a long or wide frame as microseconds since the Unix
/// epoch; errors if it is missing, not `Datetime[us, UTC]`, or has nulls.
pub fn ts_micros(frame: &DataFrame) -> Result<Vec<i64>> {
    let column = require_column(frame, TS, "ts: Datetime[us, UTC] and the value columns")?;
    if column.dtype() != &ts_dtype() {
        return Err(wrong_dtype(TS, column.dtype(), TS_CAST_HINT));
    }
    check_no_nulls(frame, TS)?;
    let ts = column.datetime()?.physical();
    Ok(ts.into_no_null_iter().collect())
}

/// Builds a long frame from (id, ts in µs since the epoch, value) columns of
/// equal length. Rows are sorted by (id, ts); a repeated (id, ts) is an error.
pub fn long_frame(ids: Vec<i64>, ts_us: Vec<i64>, values: Vec<Option<f64>>) -> Result<DataFrame> {
    if ids.len() != ts_us.len() || ids.len() != values.len() {
        return Err(Error::InvalidInput(format!(
            "long_frame needs columns of equal length, got {} ids, {} ts and {} values",
            ids.len(),
            ts_us.len(),
            values.len()
        )));
    }
    let values = Float64Chunked::from_iter_options(VALUE.into(), values.into_iter());
    sort_long(&build_long(ids, ts_us, values)?)
}

/// Assembles the three long columns without checks.
fn build_long(ids: Vec<i64>, ts_us: Vec<i64>, values: Float64Chunked) -> Result<DataFrame> {
    let ids = Int64Chunked::from_vec(DATA_POINT_ID.into(), ids).into_column();
    let ts = Int64Chunked::from_vec(TS.into(), ts_us)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
        .into_column();
    Ok(DataFrame::new_infer_height(vec![
        ids,
        ts,
        values.with_name(VALUE.into()).into_column(),
    ])?)
}

/// Validates a long frame and returns it sorted by (id, ts) (a cheap clone
/// when it already is). Two samples of one data point at the same ts are an error.
pub fn sort_long(frame: &DataFrame) -> Result<DataFrame> {
    let columns = LongColumns::new(frame)?;
    let (ids, ts) = (columns.ids(), columns.ts());
    let is_sorted = (1..ids.len()).all(|i| (ids[i - 1], ts[i - 1]) < (ids[i], ts[i]));
    if is_sorted {
        return Ok(frame.clone());
    }
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by_key(|&i| (ids[i], ts[i]));
    if let Some(pair) = order
        .windows(2)
        .find(|p| (ids[p[0]], ts[p[0]]) == (ids[p[1]], ts[p[1]]))
    {
        return Err(duplicate_sample(ids[pair[0]], ts[pair[0]]));
    }
    let samples = columns.samples(0..ids.len());
    let mut out = LongBuilder::with_capacity(ids.len());
    for i in order {
        out.push(ids[i], ts[i], samples.value(i));
    }
    out.finish()
}

fn duplicate_sample(id: i64, ts_us: i64) -> Error {
    let at = chrono::DateTime::from_timestamp_micros(ts_us)
        .map_or_else(|| format!("{ts_us} µs"), |t| t.to_rfc3339());
    Error::InvalidInput(format!(
        "data point {id} has more than one sample at {at}: a long frame holds one sample per \
         (data_point_id, ts); drop the duplicates"
    ))
}

/// The row range of each data point in a long frame sorted by (id, ts), in
/// order; slice the frame with them to work on one data point at a time.
pub fn id_ranges(long: &DataFrame) -> Result<Vec<(DataPointId, Range<usize>)>> {
    let columns = LongColumns::new(long)?;
    if !columns.ids().is_sorted() {
        return Err(Error::InvalidInput(
            "long frame is not sorted by data_point_id: sort it with sort_long first".to_owned(),
        ));
    }
    Ok(columns.runs())
}

/// Long → wide: `ts` (the union of all timestamps, sorted) plus one Float64
/// column per data point in the order of `points`, null where a data point
/// has no sample. Every id in `long` must be among `points`.
pub fn to_wide(long: &DataFrame, points: &[DataPointConfig]) -> Result<DataFrame> {
    let long = sort_long(long)?;
    let columns = LongColumns::new(&long)?;
    let slots = point_slots(points)?;
    let mut ranges: Vec<Option<Range<usize>>> = vec![None; points.len()];
    for (id, range) in columns.runs() {
        let slot = slots.get(&id.0).ok_or_else(|| unknown_id(id, points))?;
        ranges[*slot] = Some(range);
    }
    let mut grid = columns.ts().to_vec();
    grid.sort_unstable();
    grid.dedup();
    let mut out = Vec::with_capacity(points.len() + 1);
    for (point, range) in points.iter().zip(ranges) {
        let samples = range.map(|r| columns.samples(r));
        out.push(wide_column(&point.name, &grid, samples.as_ref()).into_column());
    }
    let ts = Int64Chunked::from_vec(TS.into(), grid)
        .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC));
    out.insert(0, ts.into_column());
    Ok(DataFrame::new_infer_height(out)?)
}

/// Maps each data point id to its position, rejecting repeated ids or names
/// and a name that clashes with the `ts` column.
fn point_slots(points: &[DataPointConfig]) -> Result<HashMap<i64, usize>> {
    let mut slots = HashMap::with_capacity(points.len());
    for (i, point) in points.iter().enumerate() {
        if point.name == TS {
            return Err(Error::InvalidInput(format!(
                "data point {} is named '{TS}', which clashes with the ts column of the wide form; \
                 rename it",
                point.id
            )));
        }
        if let Some(other) = points[..i]
            .iter()
            .find(|p| p.id == point.id || p.name == point.name)
        {
            return Err(Error::InvalidInput(format!(
                "data points '{}' (id {}) and '{}' (id {}) share an id or a name: pass each data \
                 point once",
                other.name, other.id, point.name, point.id
            )));
        }
        slots.insert(point.id.0, i);
    }
    Ok(slots)
}

/// The error for an id in a frame that no given data point has.
pub(crate) fn unknown_id(id: DataPointId, points: &[DataPointConfig]) -> Error {
    let known: Vec<String> = points
        .iter()
        .map(|p| format!("{} ({})", p.id, p.name))
        .collect();
    Error::InvalidInput(format!(
        "data point id {id} in the frame is not among the given data points (known: {}): pass \
         its DataPointConfig too, or filter it out",
        known.join(", ")
    ))
}

/// One wide column: the samples of a data point placed on the `grid` of timestamps.
fn wide_column(name: &str, grid: &[i64], samples: Option<&Samples<'_>>) -> Float64Chunked {
    let mut values = vec![0.0; grid.len()];
    let mut valid = MutableBitmap::from_len_zeroed(grid.len());
    if let Some(s) = samples {
        let mut g = 0;
        for i in 0..s.len() {
            g += grid[g..].partition_point(|&t| t < s.ts[i]);
            if let Some(v) = s.value(i) {
                values[g] = v;
                valid.set(g, true);
            }
        }
    }
    Float64Chunked::from_vec_validity(name.into(), values, Some(valid.freeze()))
}

/// Wide → long: each column other than `ts` is mapped by name to its data
/// point's id. Null cells are dropped (a missing sample, not a null one); the
/// result is sorted by (id, ts).
pub fn to_long(wide: &DataFrame, points: &[DataPointConfig]) -> Result<DataFrame> {
    let ts = ts_micros(wide)?;
    let mut columns = Vec::with_capacity(wide.width());
    for column in wide.columns().iter().filter(|c| c.name().as_str() != TS) {
        let point = points
            .iter()
            .find(|p| p.name == column.name().as_str())
            .ok_or_else(|| unknown_column(column.name(), points))?;
        if !column.dtype().is_primitive_numeric() {
            return Err(Error::InvalidInput(format!(
                "column '{}' is {}: expected Float64 values for data point '{}'",
                column.name(),
                column.dtype(),
                point.name
            )));
        }
        columns.push((point.id.0, column.cast(&DataType::Float64)?));
    }
    columns.sort_by_key(|(id, _)| *id);
    let rows = columns.iter().map(|(_, c)| c.len() - c.null_count()).sum();
    let mut out = LongBuilder::with_capacity(rows);
    for (id, column) in &columns {
        for (t, v) in ts.iter().zip(column.f64()?.iter()) {
            if let Some(v) = v {
                out.push(*id, *t, Some(v));
            }
        }
    }
    sort_long(&out.finish()?)
}

fn unknown_column(name: &str, points: &[DataPointConfig]) -> Error {
    let mut known: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
    known.sort_unstable();
    Error::InvalidInput(format!(
        "column '{name}' is not a known data point (known: {}): define it first or drop the column",
        known.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Quantity, Resolution};

    const H: i64 = 3_600_000_000;

    fn point(id: i64, name: &str) -> DataPointConfig {
        let mut p = DataPointConfig::new(name, Quantity::Power, "kW", Resolution::Seconds(3600));
        p.id = DataPointId(id);
        p
    }

    fn values(frame: &DataFrame, name: &str) -> Vec<Option<f64>> {
        frame.column(name).unwrap().f64().unwrap().iter().collect()
    }

    fn ids(frame: &DataFrame) -> Vec<i64> {
        frame
            .column(DATA_POINT_ID)
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    }

    fn message(result: Result<impl std::fmt::Debug>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn long_frame_sorts_by_id_then_ts_and_has_the_long_types() {
        let frame = long_frame(
            vec![2, 1, 1],
            vec![0, H, 0],
            vec![Some(3.0), None, Some(1.0)],
        )
        .unwrap();
        validate_long(&frame).unwrap();
        assert_eq!(ids(&frame), [1, 1, 2]);
        assert_eq!(ts_micros(&frame).unwrap(), [0, H, 0]);
        assert_eq!(values(&frame, VALUE), [Some(1.0), None, Some(3.0)]);
        assert_eq!(frame.column(TS).unwrap().dtype(), &ts_dtype());
    }

    #[test]
    fn long_frame_rejects_uneven_columns_and_duplicates() {
        let err = message(long_frame(vec![1, 2], vec![0], vec![None, None]));
        assert!(err.contains("2 ids, 1 ts and 2 values"), "{err}");
        let err = message(long_frame(
            vec![1, 1],
            vec![H, H],
            vec![Some(1.0), Some(2.0)],
        ));
        assert!(
            err.contains("data point 1 has more than one sample at 1970-01-01T01:00:00+00:00"),
            "{err}"
        );
    }

    #[test]
    fn validate_long_says_what_is_wrong_and_what_to_do() {
        let frame = long_frame(vec![1], vec![0], vec![Some(1.0)]).unwrap();
        let err = message(validate_long(&frame.drop(VALUE).unwrap()));
        assert!(
            err.contains("no column 'value'") && err.contains("found: data_point_id, ts"),
            "{err}"
        );

        let mut ns = frame.clone();
        let berlin = DataType::Datetime(
            TimeUnit::Nanoseconds,
            TimeZone::opt_try_new(Some("Europe/Berlin")).unwrap(),
        );
        ns.apply(TS, |c| c.cast(&berlin).unwrap()).unwrap();
        let err = message(validate_long(&ns));
        assert!(
            err.contains("column 'ts' is datetime[ns, Europe/Berlin]: expected Datetime[us, UTC]"),
            "{err}"
        );
        assert!(
            err.contains("; cast it to Datetime[us, UTC] (the same instants"),
            "{err}"
        );

        let mut extra = frame.clone();
        extra
            .with_column(Column::new("unit".into(), ["kW"]))
            .unwrap();
        let err = message(validate_long(&extra));
        assert!(err.contains("unexpected column 'unit'"), "{err}");

        let null_ids = DataFrame::new_infer_height(vec![
            Column::new(DATA_POINT_ID.into(), [None::<i64>]),
            frame.column(TS).unwrap().clone(),
            frame.column(VALUE).unwrap().clone(),
        ])
        .unwrap();
        let err = message(validate_long(&null_ids));
        assert!(
            err.contains("column 'data_point_id' has 1 null value(s)"),
            "{err}"
        );
    }

    #[test]
    fn to_wide_orders_columns_as_given_and_fills_nulls() {
        let long = long_frame(
            vec![1, 1, 2, 2],
            vec![0, 2 * H, H, 2 * H],
            vec![Some(1.0), Some(3.0), Some(20.0), None],
        )
        .unwrap();
        let points = [point(2, "b"), point(3, "empty"), point(1, "a")];
        let wide = to_wide(&long, &points).unwrap();
        let names: Vec<&str> = wide.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["ts", "b", "empty", "a"]);
        assert_eq!(ts_micros(&wide).unwrap(), [0, H, 2 * H]);
        assert_eq!(values(&wide, "a"), [Some(1.0), None, Some(3.0)]);
        assert_eq!(values(&wide, "b"), [None, Some(20.0), None]);
        assert_eq!(values(&wide, "empty"), [None, None, None]);
    }

    #[test]
    fn to_wide_rejects_an_id_without_a_data_point() {
        let long = long_frame(vec![1, 7], vec![0, 0], vec![Some(1.0), Some(2.0)]).unwrap();
        let err = message(to_wide(&long, &[point(1, "a")]));
        assert!(
            err.contains("data point id 7") && err.contains("known: 1 (a)"),
            "{err}"
        );
        let err = message(to_wide(&long, &[point(1, "a"), point(7, "a")]));
        assert!(err.contains("share an id or a name"), "{err}");
    }

    #[test]
    fn to_long_drops_null_cells_and_sorts_by_id_then_ts() {
        let ts = Int64Chunked::from_vec(TS.into(), vec![H, 0])
            .into_datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
            .into_column();
        let wide = DataFrame::new_infer_height(vec![
            ts,
            Column::new("b".into(), [Some(2.5), None]),
            Column::new("a".into(), [Some(1i32), Some(2)]),
        ])
        .unwrap();
        let long = to_long(&wide, &[point(1, "a"), point(2, "b")]).unwrap();
        assert_eq!(ids(&long), [1, 1, 2]);
        assert_eq!(ts_micros(&long).unwrap(), [0, H, H]);
        assert_eq!(values(&long, VALUE), [Some(2.0), Some(1.0), Some(2.5)]);
    }

    #[test]
    fn to_long_names_an_unknown_column_and_the_known_ones() {
        let wide = to_wide(
            &long_frame(vec![1], vec![0], vec![Some(1.0)]).unwrap(),
            &[point(1, "x")],
        )
        .unwrap();
        let err = message(to_long(
            &wide,
            &[point(1, "site.pv"), point(2, "site.load")],
        ));
        assert!(
            err.contains("column 'x' is not a known data point (known: site.load, site.pv)"),
            "{err}"
        );
    }

    #[test]
    fn wide_and_long_round_trip_with_nulls() {
        let long = long_frame(
            vec![1, 1, 1, 2, 2],
            vec![0, H, 3 * H, H, 2 * H],
            vec![Some(1.0), Some(-2.5), Some(4.0), Some(0.1), Some(7.0)],
        )
        .unwrap();
        let points = [point(1, "a"), point(2, "b")];
        let wide = to_wide(&long, &points).unwrap();
        assert_eq!(values(&wide, "a"), [Some(1.0), Some(-2.5), None, Some(4.0)]);
        assert_eq!(values(&wide, "b"), [None, Some(0.1), Some(7.0), None]);
        let back = to_long(&wide, &points).unwrap();
        assert!(back.equals_missing(&long), "{back}");
        assert!(to_wide(&back, &points).unwrap().equals_missing(&wide));
    }

    #[test]
    fn id_ranges_and_sort_long_slice_by_data_point() {
        let long = long_frame(
            vec![5, 3, 5],
            vec![0, 0, H],
            vec![None, Some(1.0), Some(2.0)],
        )
        .unwrap();
        let ranges = id_ranges(&long).unwrap();
        assert_eq!(ranges, [(DataPointId(3), 0..1), (DataPointId(5), 1..3)]);
        let unsorted = long.slice(1, 2).vstack(&long.slice(0, 1)).unwrap();
        let err = message(id_ranges(&unsorted));
        assert!(err.contains("sort it with sort_long"), "{err}");
        assert!(sort_long(&unsorted).unwrap().equals_missing(&long));
    }
}
