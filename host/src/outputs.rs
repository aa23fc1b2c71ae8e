//! Output frames as the host hands them on, from every source alike: a
//! `ts` column is `datetime[μs, UTC]` (README: every `ts` that comes back
//! is), and values are numbers or null, never NaN or infinite (JSON has no
//! NaN, and the data API refuses it on the way in).
//!
//! A `ts` with another unit or zone is converted (the instants are kept;
//! a frame that already conforms is not touched, so nothing is copied); a
//! `ts` without a zone, or a NaN, fails the run, naming the frame, column
//! and row.

use algohost_sdk::polars::prelude::{Column, DataFrame, DataType, PlSmallStr, TimeUnit, TimeZone};
use algohost_sdk::{Error, Output, Result};

/// The `ts` type every output frame carries.
fn ts_type() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

/// Checks and converts every frame of `output` (see the module docs).
pub(crate) fn conform(mut output: Output) -> Result<Output> {
    for (name, frame) in &mut output.frames {
        conform_ts(name, frame)?;
        refuse_non_finite(name, frame)?;
    }
    Ok(output)
}

fn conform_ts(name: &str, frame: &mut DataFrame) -> Result<()> {
    let Ok(ts) = frame.column("ts") else {
        return Ok(());
    };
    match ts.dtype() {
        DataType::Datetime(_, None) => Err(Error::msg(format!(
            "the algorithm's frame '{name}' has a ts without a time zone ({}), so its instants \
             are unknown; give it the zone its times are in (.dt.replace_time_zone(\"UTC\") in \
             polars, .dt.tz_localize(\"UTC\") in pandas, chrono's Utc in Rust)",
            ts.dtype()
        ))),
        DataType::Datetime(unit, Some(zone))
            if *unit == TimeUnit::Microseconds && *zone == TimeZone::UTC =>
        {
            Ok(())
        }
        DataType::Datetime(..) => {
            let converted = ts.cast(&ts_type()).map_err(|e| {
                Error::msg(format!(
                    "the algorithm's frame '{name}': converting its ts to UTC microseconds \
                     failed: {e}"
                ))
            })?;
            frame
                .replace(&PlSmallStr::from("ts"), converted)
                .map(|_| ())
                .map_err(|e| Error::msg(format!("the algorithm's frame '{name}': {e}")))
        }
        _ => Ok(()),
    }
}

fn refuse_non_finite(name: &str, frame: &DataFrame) -> Result<()> {
    for column in frame.columns() {
        if !matches!(column.dtype(), DataType::Float32 | DataType::Float64) {
            continue;
        }
        let Some((row, value)) = first_non_finite(column) else {
            continue;
        };
        let at = frame
            .column("ts")
            .ok()
            .and_then(|ts| ts.get(row).ok())
            .map(|ts| format!(" (ts {ts})"))
            .unwrap_or_default();
        return Err(Error::msg(format!(
            "the algorithm's frame '{name}' has {value} in column '{}' at row {row}{at}, which \
             is not a value: output values are numbers or null; write null for a missing value \
             (fill_nan(None) in polars, None or pd.NA in pandas, None in Rust)",
            column.name()
        )));
    }
    Ok(())
}

/// The first row holding NaN or an infinity, with the value.
fn first_non_finite(column: &Column) -> Option<(usize, f64)> {
    let values = column.cast(&DataType::Float64).ok()?;
    let values = values.f64().ok()?;
    values
        .iter()
        .enumerate()
        .find_map(|(row, v)| v.filter(|v| !v.is_finite()).map(|v| (row, v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use algohost_sdk::polars::prelude::{IntoColumn, NamedFrom, Series};

    fn frame(ts: Series, values: &[Option<f64>]) -> Output {
        let df = DataFrame::new_infer_height(vec![
            ts.into_column(),
            Series::new("value".into(), values).into_column(),
        ])
        .unwrap();
        let mut output = Output::new();
        output.frames.insert("f".to_owned(), df);
        output
    }

    fn ts(unit: TimeUnit, zone: Option<TimeZone>, values: &[i64]) -> Series {
        Series::new("ts".into(), values)
            .cast(&DataType::Datetime(unit, zone))
            .unwrap()
    }

    #[test]
    fn a_ts_in_another_unit_or_zone_becomes_utc_microseconds_at_the_same_instants() {
        let berlin = TimeZone::opt_try_new(Some("Europe/Berlin")).unwrap();
        let output = frame(
            ts(TimeUnit::Milliseconds, berlin, &[0, 900_000]),
            &[Some(1.0), None],
        );
        let output = conform(output).unwrap();
        let ts = output.frames["f"].column("ts").unwrap();
        assert_eq!(ts.dtype(), &ts_type());
        let micros: Vec<Option<i64>> = ts
            .cast(&DataType::Int64)
            .unwrap()
            .i64()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(micros, vec![Some(0), Some(900_000_000)]);
    }

    #[test]
    fn a_ts_without_a_zone_or_a_nan_value_fails_naming_frame_column_and_row() {
        let naive = frame(ts(TimeUnit::Microseconds, None, &[0]), &[Some(1.0)]);
        let e = conform(naive).unwrap_err().to_string();
        assert!(e.contains("frame 'f' has a ts without a time zone"), "{e}");
        assert!(e.contains("replace_time_zone"), "{e}");

        let nan = frame(
            ts(
                TimeUnit::Microseconds,
                Some(TimeZone::UTC),
                &[0, 900_000_000],
            ),
            &[Some(1.0), Some(f64::INFINITY)],
        );
        let e = conform(nan).unwrap_err().to_string();
        assert_eq!(
            e,
            "the algorithm's frame 'f' has inf in column 'value' at row 1 \
             (ts 1970-01-01 00:15:00 UTC), which is not a value: output values are numbers or \
             null; write null for a missing value (fill_nan(None) in polars, None or pd.NA in \
             pandas, None in Rust)"
        );
    }
}
