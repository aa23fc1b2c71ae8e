//! Output frames as the host hands them on, from every source alike: a
//! `ts` column is `datetime[μs, UTC]` (README: every `ts` that comes back
//! is).
//!
//! A `ts` with another unit or zone is converted (the instants are kept;
//! a frame that already conforms is not touched, so nothing is copied and
//! the hand-off stays O(columns)); a `ts` without a zone fails the run,
//! naming the frame. Values are not scanned (that would cost O(rows) at
//! every run's end): NaN stays NaN, as polars has it.

use algohost_sdk::polars::prelude::{DataFrame, DataType, PlSmallStr, TimeUnit, TimeZone};
use algohost_sdk::{Error, Output, Result};

/// The `ts` type every output frame carries.
fn ts_type() -> DataType {
    DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC))
}

/// Checks and converts every frame of `output` (see the module docs).
pub(crate) fn conform(mut output: Output) -> Result<Output> {
    for (name, frame) in &mut output.frames {
        conform_ts(name, frame)?;
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
    fn a_ts_without_a_zone_fails_naming_the_frame() {
        let naive = frame(ts(TimeUnit::Microseconds, None, &[0]), &[Some(1.0)]);
        let e = conform(naive).unwrap_err().to_string();
        assert!(e.contains("frame 'f' has a ts without a time zone"), "{e}");
        assert!(e.contains("replace_time_zone"), "{e}");
    }
}
