//! The dispatch itself: a pure function from load and PV to a battery
//! schedule, with no I/O, so that it can be tested on plain slices.
//!
//! Two passes. Backwards, it computes how much stored energy each interval
//! must start with so that every later peak can be shaved before the next
//! chance to recharge. Forwards, it discharges exactly what keeps grid
//! import at the limit, stores PV surplus when there is room, and recharges
//! from the grid only what upcoming peaks need, as late as possible and never
//! lifting grid import above the limit. A battery that starts with that
//! energy meets the limit whenever any schedule can: every schedule has to
//! discharge at least the peaks' excess and can charge at most the headroom
//! below the limit. When no schedule can, the peaks are shaved as far as the
//! stored energy reaches.
//!
//! Powers are in kW at the grid side, energies in kWh. The round-trip
//! efficiency is split evenly: charging at `p` stores `p·√η·dt`,
//! discharging at `p` takes `p/√η·dt` from storage.

use algohost_sdk::prelude::*;

use crate::params::{Params, Recharge};

/// How many intervals a pass handles between two calls of the step callback.
const STEP: usize = 4096;

/// A battery schedule, one value per interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Battery power in kW at the grid side: positive discharges, negative charges.
    pub battery_kw: Vec<f64>,
    /// Stored energy in kWh at the end of each interval.
    pub soc_kwh: Vec<f64>,
    /// Grid import in kW: load − PV − battery (negative exports).
    pub grid_kw: Vec<f64>,
    /// Totals of the schedule.
    pub summary: Summary,
}

/// Totals of a schedule: the run's JSON summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(crate = "algohost_sdk::serde")]
pub struct Summary {
    /// Highest load − PV in kW, without the battery.
    pub peak_before_kw: f64,
    /// Highest grid import in kW, with the battery.
    pub peak_after_kw: f64,
    /// The limit the dispatch aimed for.
    pub limit_kw: f64,
    /// Whether grid import stays at or below the limit in every interval:
    /// `false` when an interval is above it, `None` (null) when none is but
    /// some intervals have no load ([`Summary::gaps`]), so nobody knows.
    pub limit_met: Option<bool>,
    /// Intervals whose grid import is still above the limit.
    pub intervals_above_limit: usize,
    /// Runs of intervals without load in the range (between samples, and
    /// before or after them up to the `start` and `end` params); the
    /// battery idles through them.
    pub gaps: usize,
    /// Intervals without load in the range, all gaps together.
    pub intervals_missing: usize,
    /// Energy taken in by the battery, at the grid side, in kWh.
    pub energy_charged_kwh: f64,
    /// Energy delivered by the battery, at the grid side, in kWh.
    pub energy_discharged_kwh: f64,
    /// Charged plus discharged energy in kWh (a measure of battery wear).
    pub throughput_kwh: f64,
}

/// Grid import counts as above the limit only beyond this, in kW, so that
/// rounding in `net − (net − limit)` is not reported as a violation.
const TOLERANCE_KW: f64 = 1e-9;

/// Dispatches the battery over intervals of `dt_h` hours.
///
/// `load` and `pv` are in kW and have the same length; `params` must have
/// passed [`Params::validate`].
///
/// ```
/// use algohost_plugin_peak_shaving::{Params, dispatch};
/// let params: Params = algohost_sdk::serde_json::from_value(algohost_sdk::serde_json::json!({
///     "limit_kw": 10.0,
///     "battery": {"capacity_kwh": 20.0, "power_kw": 5.0, "efficiency": 1.0, "soc_initial": 0.1}
/// })).unwrap();
/// let schedule = dispatch(&[5.0, 5.0, 14.0, 12.0], &[0.0; 4], 1.0, &params).unwrap();
/// // One kWh must be stored in hour 0 already: hour 1 alone cannot add the 6 kWh the peaks need.
/// assert_eq!(schedule.grid_kw, [6.0, 10.0, 10.0, 10.0]);
/// assert_eq!(schedule.soc_kwh, [3.0, 8.0, 4.0, 2.0]);
/// assert_eq!(schedule.summary.peak_after_kw, 10.0);
/// ```
pub fn dispatch(load: &[f64], pv: &[f64], dt_h: f64, params: &Params) -> Result<Schedule> {
    dispatch_with(load, pv, dt_h, params, |_| Ok(()))
}

/// [`dispatch`], calling `on_step(fraction_done)` every few thousand
/// intervals so that a caller can report progress and stop early: an error
/// from `on_step` ends the dispatch with that error.
pub fn dispatch_with(
    load: &[f64],
    pv: &[f64],
    dt_h: f64,
    params: &Params,
    mut on_step: impl FnMut(f64) -> Result<()>,
) -> Result<Schedule> {
    check_inputs(load, pv, dt_h)?;
    params.validate()?;
    let n = load.len();
    let limit = params.limit_kw;
    let b = &params.battery;
    let eta = b.efficiency.sqrt();
    let e_min = b.soc_min * b.capacity_kwh;
    let e_max = b.soc_max * b.capacity_kwh;
    let usable = e_max - e_min;
    let net: Vec<f64> = load.iter().zip(pv).map(|(l, p)| l - p).collect();

    // What the battery must deliver to bring grid import down to the limit,
    // and what it may take without lifting grid import above the limit.
    let need_kw: Vec<f64> = net
        .iter()
        .map(|x| (x - limit).clamp(0.0, b.power_kw))
        .collect();
    let room_kw: Vec<f64> = net
        .iter()
        .map(|x| match params.recharge {
            Recharge::Grid => (limit - x).clamp(0.0, b.power_kw),
            Recharge::PvOnly => (-x).clamp(0.0, b.power_kw),
        })
        .collect();

    // required[t]: energy above e_min needed at the start of interval t.
    let mut required = vec![0.0; n + 1];
    for t in (0..n).rev() {
        let after = required[t + 1] + need_kw[t] / eta * dt_h - room_kw[t] * eta * dt_h;
        required[t] = after.clamp(0.0, usable);
        if t % STEP == 0 {
            on_step(0.5 * (n - t) as f64 / n as f64)?;
        }
    }

    let mut battery_kw = Vec::with_capacity(n);
    let mut soc_kwh = Vec::with_capacity(n);
    let mut grid_kw = Vec::with_capacity(n);
    let mut stored = b.soc_initial * b.capacity_kwh;
    for t in 0..n {
        let power = if need_kw[t] > 0.0 {
            let available_kw = (stored - e_min).max(0.0) * eta / dt_h;
            let p = need_kw[t].min(available_kw);
            stored = (stored - p / eta * dt_h).max(e_min);
            p
        } else {
            let surplus_kw = (-net[t]).clamp(0.0, room_kw[t]);
            let wanted_kw = (e_min + required[t + 1] - stored).max(0.0) / (eta * dt_h);
            let fits_kw = (e_max - stored).max(0.0) / (eta * dt_h);
            let p = wanted_kw.max(surplus_kw).min(room_kw[t]).min(fits_kw);
            stored = (stored + p * eta * dt_h).min(e_max);
            if p > 0.0 { -p } else { 0.0 }
        };
        battery_kw.push(power);
        soc_kwh.push(stored);
        grid_kw.push(net[t] - power);
        if (t + 1) % STEP == 0 {
            on_step(0.5 + 0.5 * (t + 1) as f64 / n as f64)?;
        }
    }
    on_step(1.0)?;

    let summary = summarise(&net, &battery_kw, &grid_kw, dt_h, limit);
    Ok(Schedule {
        battery_kw,
        soc_kwh,
        grid_kw,
        summary,
    })
}

/// The lowest limit the battery of `params` can keep grid import at or
/// below over these intervals, to a millionth of a kW, when `params.limit_kw` is too
/// low for it (`None` when that limit is met). `on_step` is called between
/// dispatches, as in [`dispatch_with`].
///
/// ```
/// use algohost_plugin_peak_shaving::{Params, lowest_feasible_limit};
/// let params: Params = algohost_sdk::serde_json::from_value(algohost_sdk::serde_json::json!({
///     "limit_kw": 5.0,
///     "battery": {"capacity_kwh": 4.0, "power_kw": 10.0, "efficiency": 1.0,
///                 "soc_min": 0.0, "soc_max": 1.0, "soc_initial": 1.0}
/// })).unwrap();
/// // 4 kWh shave the 14 kW hour to 10 kW; no lower limit can hold.
/// let lowest = lowest_feasible_limit(&[8.0, 14.0], &[0.0; 2], 1.0, &params, |_| Ok(())).unwrap();
/// assert!((lowest.unwrap() - 10.0).abs() < 1e-6);
/// ```
pub fn lowest_feasible_limit(
    load: &[f64],
    pv: &[f64],
    dt_h: f64,
    params: &Params,
    mut on_step: impl FnMut(f64) -> Result<()>,
) -> Result<Option<f64>> {
    let holds = |limit: f64| -> Result<bool> {
        let mut trial = params.clone();
        trial.limit_kw = limit;
        let schedule = dispatch(load, pv, dt_h, &trial)?;
        Ok(schedule.summary.intervals_above_limit == 0)
    };
    if holds(params.limit_kw)? {
        return Ok(None);
    }
    // Without the battery the peak itself holds; the given limit does not.
    let peak = load
        .iter()
        .zip(pv)
        .map(|(l, p)| l - p)
        .fold(f64::NEG_INFINITY, f64::max);
    let (mut low, mut high) = (params.limit_kw, peak);
    const PRECISION_KW: f64 = 1e-6;
    let rounds = ((high - low) / PRECISION_KW).log2().ceil().max(1.0);
    let mut round = 0.0;
    while high - low > PRECISION_KW {
        let middle = 0.5 * (low + high);
        if holds(middle)? {
            high = middle;
        } else {
            low = middle;
        }
        round += 1.0;
        on_step((round / rounds).min(1.0))?;
    }
    Ok(Some(high))
}

fn check_inputs(load: &[f64], pv: &[f64], dt_h: f64) -> Result<()> {
    if load.len() != pv.len() {
        return Err(Error::InvalidInput(format!(
            "load and PV must have one value per interval, got {} load and {} PV values",
            load.len(),
            pv.len()
        )));
    }
    if !(dt_h.is_finite() && dt_h > 0.0) {
        return Err(Error::InvalidInput(format!(
            "the interval length must be a positive number of hours, got {dt_h}"
        )));
    }
    for (what, values) in [("load", load), ("PV", pv)] {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidInput(format!(
                "{what} value {} at interval {i} is not a finite number",
                values[i]
            )));
        }
    }
    Ok(())
}

fn summarise(net: &[f64], battery_kw: &[f64], grid_kw: &[f64], dt_h: f64, limit: f64) -> Summary {
    let peak = |xs: &[f64]| xs.iter().copied().reduce(f64::max).unwrap_or(0.0);
    // `+ 0.0`: no energy at all is 0, not the -0.0 a float sum starts from.
    let energy_charged_kwh = battery_kw.iter().map(|p| (-p).max(0.0) * dt_h).sum::<f64>() + 0.0;
    let energy_discharged_kwh = battery_kw.iter().map(|p| p.max(0.0) * dt_h).sum::<f64>() + 0.0;
    let intervals_above_limit = grid_kw
        .iter()
        .filter(|g| **g > limit + TOLERANCE_KW)
        .count();
    Summary {
        peak_before_kw: peak(net),
        peak_after_kw: peak(grid_kw),
        limit_kw: limit,
        limit_met: Some(intervals_above_limit == 0),
        intervals_above_limit,
        gaps: 0,
        intervals_missing: 0,
        energy_charged_kwh,
        energy_discharged_kwh,
        throughput_kwh: energy_charged_kwh + energy_discharged_kwh,
    }
}

impl Summary {
    /// The summary of a schedule whose input lacks load in `intervals_missing`
    /// intervals, in `gaps` runs: the limit is not known to be met there.
    pub fn with_gaps(mut self, gaps: usize, intervals_missing: usize) -> Self {
        self.gaps = gaps;
        self.intervals_missing = intervals_missing;
        if intervals_missing > 0 && self.limit_met == Some(true) {
            self.limit_met = None;
        }
        self
    }
}
