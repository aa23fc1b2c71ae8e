//! Between frames and slices: reads load and PV through the context into
//! plain vectors for [`crate::dispatch`], and turns the schedule back into
//! the `schedule` output frame.

use algohost_sdk::chrono::{DateTime, Utc};
use algohost_sdk::data::TS;
use algohost_sdk::polars::prelude::{DataType, TimeUnit, TimeZone};
use algohost_sdk::prelude::*;

use crate::dispatch::Schedule;
use crate::params::Params;

/// Load and PV of the dispatch range, one value per interval.
#[derive(Debug, Clone)]
pub struct Input {
    /// Interval starts, `Datetime[us, UTC]`.
    pub ts: Column,
    /// Site load in kW.
    pub load_kw: Vec<f64>,
    /// PV generation in kW; missing samples are 0.
    pub pv_kw: Vec<f64>,
    /// Interval length in hours.
    pub dt_h: f64,
    /// Runs of intervals without load: between samples, and for `read`
    /// also before the first and after the last up to the params' start and end.
    pub gaps: usize,
    /// Intervals without load, all gaps together.
    pub intervals_missing: usize,
}

/// Reads the load and PV data points named in `params` through `ctx`, at the
/// load's resolution.
pub fn read(ctx: &Context, params: &Params) -> Result<Input> {
    let load = ctx
        .data_point(&params.load)
        .map_err(|e| e.for_param("load"))?;
    let pv = match &params.pv {
        Some(name) => Some(ctx.data_point(name).map_err(|e| e.for_param("pv"))?),
        None => None,
    };
    let seconds = load.resolution.seconds().ok_or_else(|| {
        Error::InvalidInput(format!(
            "load data point '{}' has the calendar resolution {}; peak shaving needs a fixed one such as PT15M",
            load.name, load.resolution
        ))
    })?;
    let step_us = seconds * 1_000_000;
    for (param, at) in [("start", params.start), ("end", params.end)] {
        if let Some(at) = at {
            check_on_grid(param, at, step_us, &load)?;
        }
    }
    let names: Vec<String> = std::iter::once(params.load.clone())
        .chain(params.pv.clone())
        .collect();
    let mut filter = DataPointFilter::default().with_names(names);
    filter.start = params.start;
    filter.end = params.end;
    if pv
        .as_ref()
        .is_some_and(|pv| pv.resolution != load.resolution)
    {
        filter.resolution = Some(load.resolution);
    }
    let dt_h = seconds as f64 / 3600.0;
    let load_factor = kw_factor(&load, dt_h)?;
    let pv_factor = match &pv {
        Some(pv) => kw_factor(pv, dt_h)?,
        None => 1.0,
    };
    let wide = ctx.read(&filter)?;
    let mut input = from_wide(&wide, &params.load, params.pv.as_deref(), dt_h)?;
    input.count_edge_gaps(params.start, params.end)?;
    input.load_kw.iter_mut().for_each(|v| *v *= load_factor);
    input.pv_kw.iter_mut().for_each(|v| *v *= pv_factor);
    Ok(input)
}

/// Refuses a `start` or `end` inside an interval of the load: the
/// schedule is made of whole intervals, and one cut by the window would
/// count as missing.
fn check_on_grid(
    param: &str,
    at: DateTime<Utc>,
    step_us: i64,
    load: &DataPointConfig,
) -> Result<()> {
    let us = at.timestamp_micros();
    let before = us - us.rem_euclid(step_us);
    if before == us {
        return Ok(());
    }
    let show = |us: i64| format_ts(Some(us));
    Err(Error::InvalidInput(format!(
        "{param} ({}) is inside an interval of the load '{}' ({}); give the start of an \
         interval: {} (to include the one it falls in) or {}",
        at.to_rfc3339(),
        load.name,
        load.resolution,
        show(before),
        show(before + step_us)
    )))
}

/// What turns a value of `point` into kW, for intervals of `dt_h` hours:
/// power is read as is and energy per interval as its mean power, both
/// scaled by the unit (W, kW, MW; Wh, kWh, MWh; none means kW or kWh).
fn kw_factor(point: &DataPointConfig, dt_h: f64) -> Result<f64> {
    let per_hour = match point.quantity {
        Quantity::Power => 1.0,
        Quantity::Energy => 1.0 / dt_h,
        other => {
            return Err(Error::InvalidInput(format!(
                "data point '{}' measures {other}; peak shaving reads power (kW) or energy per interval (kWh)",
                point.name
            )));
        }
    };
    let scale = match point.unit.as_str() {
        "W" | "Wh" => 1e-3,
        "kW" | "kWh" | "" => 1.0,
        "MW" | "MWh" => 1e3,
        unit => {
            warn!(
                data_point = point.name.as_str(),
                "data point '{}' has the unit '{unit}'; reading its values as kW", point.name
            );
            1.0
        }
    };
    Ok(per_hour * scale)
}

/// Takes the load and PV columns out of a wide frame with intervals of
/// `dt_h` hours. A missing load value is an error that names its interval;
/// missing PV values count as 0 kW, with a warning.
pub fn from_wide(wide: &DataFrame, load: &str, pv: Option<&str>, dt_h: f64) -> Result<Input> {
    let no_samples = || {
        Error::InvalidInput(format!(
            "no samples of load data point '{load}' in the selected range; check start and end"
        ))
    };
    if wide.height() == 0 {
        return Err(no_samples());
    }
    let ts = wide
        .column(TS)
        .map_err(|_| Error::Data(format!("the input frame has no '{TS}' column")))?
        .cast(&DataType::Datetime(
            TimeUnit::Microseconds,
            Some(TimeZone::UTC),
        ))?;
    let ts_us: Vec<Option<i64>> = ts.datetime()?.physical().iter().collect();
    let (gaps, intervals_missing) = check_times(&ts_us, dt_h)?;

    let load_column = wide.column(load).map_err(|_| no_samples())?;
    let load_kw = values(load_column)?;
    let missing_load = load_kw.iter().filter(|v| v.is_none()).count();
    if let Some(i) = load_kw.iter().position(Option::is_none) {
        return Err(Error::InvalidInput(format!(
            "load data point '{load}' has no value at {} ({missing_load} of {} intervals missing); fill the gaps or narrow start and end",
            format_ts(ts_us[i]),
            load_kw.len()
        )));
    }
    let load_kw: Vec<f64> = load_kw.into_iter().flatten().collect();

    let pv_kw = match pv {
        None => vec![0.0; load_kw.len()],
        Some(name) => {
            let pv_values = match wide.column(name) {
                Ok(column) => values(column)?,
                Err(_) => vec![None; load_kw.len()],
            };
            let missing = pv_values.iter().filter(|v| v.is_none()).count();
            if missing > 0 {
                warn!(
                    data_point = name,
                    missing,
                    "PV data point '{name}' has no value in {missing} of {} intervals; counting them as 0 kW",
                    pv_values.len()
                );
            }
            pv_values.into_iter().map(|v| v.unwrap_or(0.0)).collect()
        }
    };
    Ok(Input {
        ts,
        load_kw,
        pv_kw,
        dt_h,
        gaps,
        intervals_missing,
    })
}

fn values(column: &Column) -> Result<Vec<Option<f64>>> {
    Ok(column.cast(&DataType::Float64)?.f64()?.iter().collect())
}

/// Interval starts must be present and strictly increasing; gaps are
/// allowed (the battery idles through them). Returns how many gaps there are
/// and how many intervals they miss.
fn check_times(ts_us: &[Option<i64>], dt_h: f64) -> Result<(usize, usize)> {
    let step_us = step_us(dt_h);
    let (mut gaps, mut missing) = (0, 0);
    for (i, pair) in ts_us.windows(2).enumerate() {
        let (Some(a), Some(b)) = (pair[0], pair[1]) else {
            return Err(Error::Data(format!(
                "the input frame has a null 'ts' near row {i}"
            )));
        };
        if b <= a {
            return Err(Error::Data(format!(
                "interval starts must increase, but {} follows {}",
                format_ts(Some(b)),
                format_ts(Some(a))
            )));
        }
        if b - a != step_us {
            gaps += 1;
            missing += intervals_in(b - a - step_us, step_us);
        }
    }
    if ts_us.first().is_some_and(Option::is_none) {
        return Err(Error::Data(
            "the input frame has a null 'ts' in row 0".to_owned(),
        ));
    }
    Ok((gaps, missing))
}

fn step_us(dt_h: f64) -> i64 {
    (dt_h * 3_600_000_000.0).round() as i64
}

/// The intervals of `step_us` that `span_us` holds, a part of one counted whole.
fn intervals_in(span_us: i64, step_us: i64) -> usize {
    usize::try_from((span_us + step_us - 1) / step_us).unwrap_or(0)
}

fn format_ts(ts_us: Option<i64>) -> String {
    ts_us
        .and_then(DateTime::from_timestamp_micros)
        .map_or_else(|| "an unknown time".to_owned(), |t| t.to_rfc3339())
}

impl Input {
    /// Counts the intervals without load between `start` and the first
    /// interval and between the last one and `end` as gaps too.
    fn count_edge_gaps(
        &mut self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let ts = self.ts.datetime()?.physical();
        let (Some(first), Some(last)) = (ts.first(), ts.last()) else {
            return Ok(());
        };
        let step_us = step_us(self.dt_h);
        let before = start.map_or(0, |s| first - s.timestamp_micros());
        let after = end.map_or(0, |e| e.timestamp_micros() - (last + step_us));
        for span in [before, after] {
            if span > 0 {
                self.gaps += 1;
                self.intervals_missing += intervals_in(span, step_us);
            }
        }
        Ok(())
    }

    /// The `schedule` output frame: ts, load_kw, pv_kw, battery_kw, soc_kwh, grid_kw.
    pub fn schedule_frame(&self, schedule: &Schedule) -> Result<DataFrame> {
        let ts = self.ts.clone().with_name(TS.into());
        Ok(DataFrame::new_infer_height(vec![
            ts,
            Column::new("load_kw".into(), &self.load_kw),
            Column::new("pv_kw".into(), &self.pv_kw),
            Column::new("battery_kw".into(), &schedule.battery_kw),
            Column::new("soc_kwh".into(), &schedule.soc_kwh),
            Column::new("grid_kw".into(), &schedule.grid_kw),
        ])?)
    }
}
