//! The demo dataset: one site ("demo", Europe/Berlin) over 120 days from
//! 2026-02-01 local midnight, so it crosses the 2026-03-29 DST change. Site
//! load and PV at 15 minutes, the day-ahead price hourly.
//!
//! Every value comes from fixed formulas and a fixed-seed hash, so two runs
//! write the same samples.

use std::path::{Path, PathBuf};

use algohost_sdk::data::{
    DataPointConfig, DataPointFilter, DataPointId, Flow, Quantity, Resolution, TS, VALUE,
    long_frame,
};
use anyhow::Context as _;
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

use crate::adapters::Adapter;
use crate::adapters::files::FilesAdapter;

/// The site name, also the value of every demo data point's `site` tag.
pub const SITE: &str = "demo";
/// The site's time zone.
pub const TIME_ZONE: &str = "Europe/Berlin";
/// The first local day of the dataset.
pub const FIRST_DAY: (i32, u32, u32) = (2026, 2, 1);
/// How many local days the dataset covers.
pub const DAYS: u32 = 120;

/// Name of the site load data point (power, kW, PT15M).
pub const LOAD: &str = "site.load";
/// Name of the PV generation data point (power, kW, PT15M).
pub const PV: &str = "site.pv";
/// Name of the day-ahead price data point (price, EUR/MWh, PT1H).
pub const DAY_AHEAD: &str = "market.day_ahead";

/// The seed of the demo's noise; changing it changes every value.
const SEED: u64 = 0x0A16_0405_DE30_2026;

/// What [`generate`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    /// The data directory (canonical).
    pub dir: PathBuf,
    /// The site's time zone.
    pub time_zone: String,
    /// Start of the first sample (local midnight of the first day).
    pub start: DateTime<Utc>,
    /// End of the last sample (local midnight after the last day).
    pub end: DateTime<Utc>,
    /// Samples written, in all.
    pub samples: usize,
    /// Each data point with what was written for it.
    pub data_points: Vec<DemoDataPoint>,
}

/// One demo data point and its samples' extent.
#[derive(Debug, Clone, Serialize)]
pub struct DemoDataPoint {
    /// Id in the data directory.
    pub id: DataPointId,
    /// Name, e.g. "site.load".
    pub name: String,
    /// Unit of the values.
    pub unit: String,
    /// Native resolution.
    pub resolution: Resolution,
    /// Samples written.
    pub samples: usize,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

/// Writes the demo dataset into `dir` through the files adapter (the
/// directory is created if its parent exists). Running it again rewrites the
/// same values; other data points in the directory are kept.
pub fn generate(dir: &Path) -> anyhow::Result<DemoSummary> {
    let adapter = FilesAdapter::open(dir)
        .with_context(|| format!("cannot open the data directory {}", dir.display()))?;
    let tz: Tz = TIME_ZONE
        .parse()
        .map_err(|e| anyhow::anyhow!("time zone {TIME_ZONE}: {e}"))?;
    let (start, end) = range(tz)?;

    let mut points = adapter
        .define_data_points(&definitions())
        .context("cannot define the demo data points")?;
    points.sort_by_key(|p| p.id);

    let (mut ids, mut ts, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let mut data_points = Vec::with_capacity(points.len());
    for point in &points {
        let series = series(point, tz, start, end)?;
        let (min, max) = series
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, v)| {
                (lo.min(*v), hi.max(*v))
            });
        data_points.push(DemoDataPoint {
            id: point.id,
            name: point.name.clone(),
            unit: point.unit.clone(),
            resolution: point.resolution,
            samples: series.len(),
            min,
            max,
        });
        for (t, v) in series {
            ids.push(point.id.0);
            ts.push(t);
            values.push(Some(v));
        }
    }
    let samples = ts.len();
    let long = long_frame(ids, ts, values).context("cannot build the demo samples frame")?;
    adapter
        .write(&long)
        .context("cannot write the demo samples")?;

    Ok(DemoSummary {
        dir: adapter.dir().to_owned(),
        time_zone: TIME_ZONE.to_owned(),
        start,
        end,
        samples,
        data_points,
    })
}

/// For `--force`: removes the data points of `dir` that have a demo data
/// point's name but are another series, so that [`generate`] defines them
/// anew (a data point keeps its definition otherwise).
pub fn replace_other_series(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("catalog.json").is_file() {
        return Ok(());
    }
    let adapter = FilesAdapter::open(dir)
        .with_context(|| format!("cannot open the data directory {}", dir.display()))?;
    let existing = adapter
        .data_points(&DataPointFilter::default())
        .with_context(|| format!("cannot list the data points in {}", dir.display()))?;
    let demo = definitions();
    let other: Vec<&str> = existing
        .iter()
        .filter(|p| {
            demo.iter()
                .any(|d| d.name == p.name && !p.is_same_series(d))
        })
        .map(|p| p.name.as_str())
        .collect();
    adapter
        .remove_data_points(&other)
        .with_context(|| format!("cannot replace data points in {}", dir.display()))?;
    Ok(())
}

/// The names of the data points in `dir` that [`generate`] would change or
/// mix the demo into: every data point that is not one of the demo's, and
/// every demo one whose definition or samples differ from the demo's. Empty
/// for a missing or empty directory, and for one that holds the demo dataset
/// as `generate` wrote it.
pub fn would_change(dir: &Path) -> anyhow::Result<Vec<String>> {
    if !dir.join("catalog.json").is_file() {
        return Ok(Vec::new());
    }
    let adapter = FilesAdapter::open(dir)
        .with_context(|| format!("cannot open the data directory {}", dir.display()))?;
    let existing = adapter
        .data_points(&DataPointFilter::default())
        .with_context(|| format!("cannot list the data points in {}", dir.display()))?;
    let tz: Tz = TIME_ZONE
        .parse()
        .map_err(|e| anyhow::anyhow!("time zone {TIME_ZONE}: {e}"))?;
    let (start, end) = range(tz)?;
    let demo = definitions();
    let mut changed = Vec::new();
    for point in &existing {
        let is_demo = match demo.iter().find(|d| d.name == point.name) {
            Some(definition) => {
                let definition = DataPointConfig {
                    id: point.id,
                    ..definition.clone()
                };
                definition == *point && holds_series(&adapter, point, tz, start, end)?
            }
            None => false,
        };
        if !is_demo {
            changed.push(point.name.clone());
        }
    }
    Ok(changed)
}

/// Whether `point`'s samples are exactly the demo's.
fn holds_series(
    adapter: &FilesAdapter,
    point: &DataPointConfig,
    tz: Tz,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let long = adapter
        .read(&DataPointFilter::default().with_ids([point.id]))
        .with_context(|| format!("cannot read '{}'", point.name))?;
    let expected = series(point, tz, start, end)?;
    if long.height() != expected.len() {
        return Ok(false);
    }
    let ts = long.column(TS)?.datetime()?.physical().clone();
    let values = long.column(VALUE)?.f64()?.clone();
    Ok(ts
        .iter()
        .zip(values.iter())
        .zip(&expected)
        .all(|((t, v), (et, ev))| t == Some(*et) && v == Some(*ev)))
}

/// The demo data points, without ids.
pub fn definitions() -> Vec<DataPointConfig> {
    let electricity = |from: &str| Flow {
        from: from.to_owned(),
        to: SITE.to_owned(),
        carrier: "electricity".to_owned(),
    };
    vec![
        DataPointConfig::new(LOAD, Quantity::Power, "kW", Resolution::Seconds(900))
            .with_time_zone(TIME_ZONE)
            .with_tag("site", SITE)
            .with_flow(electricity("grid")),
        DataPointConfig::new(PV, Quantity::Power, "kW", Resolution::Seconds(900))
            .with_time_zone(TIME_ZONE)
            .with_tag("site", SITE)
            .with_flow(electricity("pv")),
        DataPointConfig::new(
            DAY_AHEAD,
            Quantity::Price,
            "EUR/MWh",
            Resolution::Seconds(3600),
        )
        .with_time_zone(TIME_ZONE)
        .with_tag("site", SITE)
        .with_tag("market", "DE-LU"),
    ]
}

/// `[start, end)` of the dataset: local midnight of the first day to local
/// midnight after the last.
pub fn range(tz: Tz) -> anyhow::Result<(DateTime<Utc>, DateTime<Utc>)> {
    let (y, m, d) = FIRST_DAY;
    let first = NaiveDate::from_ymd_opt(y, m, d).context("first day")?;
    let last = first + chrono::Days::new(u64::from(DAYS));
    let midnight = |day: NaiveDate| {
        tz.from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
            .single()
            .map(|t| t.with_timezone(&Utc))
            .with_context(|| format!("local midnight of {day} in {tz}"))
    };
    Ok((midnight(first)?, midnight(last)?))
}

/// One data point's samples as (ts µs, value), every native interval in `[start, end)`.
fn series(
    point: &DataPointConfig,
    tz: Tz,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<(i64, f64)>> {
    let step = point
        .resolution
        .seconds()
        .with_context(|| format!("demo data point {} needs a fixed resolution", point.name))?;
    let step_us = step * 1_000_000;
    let value: fn(&Instant) -> f64 = match point.name.as_str() {
        LOAD => load_kw,
        PV => pv_kw,
        DAY_AHEAD => price_eur_mwh,
        other => anyhow::bail!("no demo formula for data point {other}"),
    };
    let first_day =
        NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).context("first day")?;
    let mut out = Vec::new();
    let mut t = start.timestamp_micros();
    while t < end.timestamp_micros() {
        let mid =
            DateTime::from_timestamp_micros(t + step_us / 2).context("timestamp out of range")?;
        out.push((t, value(&Instant::new(mid, tz, first_day, t))));
        t += step_us;
    }
    Ok(out)
}

/// The middle of one sample's interval, seen in UTC and in local time.
struct Instant {
    /// Middle of the interval.
    utc: DateTime<Utc>,
    /// Local hour of day with fraction (0..24).
    hour: f64,
    /// Local weekday.
    weekday: Weekday,
    /// Local days since the first day.
    day: i64,
    /// Start of the interval in µs, the key of its noise.
    key: u64,
}

impl Instant {
    fn new(utc: DateTime<Utc>, tz: Tz, first_day: NaiveDate, start_us: i64) -> Self {
        let local = utc.with_timezone(&tz);
        Self {
            utc,
            hour: f64::from(local.hour()) + f64::from(local.minute()) / 60.0,
            weekday: local.weekday(),
            day: (local.date_naive() - first_day).num_days(),
            key: start_us.cast_unsigned(),
        }
    }

    fn is_weekend(&self) -> bool {
        matches!(self.weekday, Weekday::Sat | Weekday::Sun)
    }

    /// Share of the way from February (0) to the end of May (1).
    fn season(&self) -> f64 {
        (self.day as f64 / f64::from(DAYS)).clamp(0.0, 1.0)
    }

    /// How clear the sky is that day (0.25 overcast … 1 clear), shared by PV
    /// and price; spring days are clear more often.
    fn clearness(&self) -> f64 {
        let u = unit(noise_bits(SEED ^ 0xC10D, self.day.cast_unsigned()));
        let clear_bias = 0.3 + 0.5 * self.season();
        0.25 + 0.75 * u.powf(1.0 - clear_bias * 0.8)
    }
}

/// Site load: a base of ~25 kW, business hours on weekdays up to ~75 kW, a
/// short Saturday shift, a little more in winter, and noise; within 20..80 kW.
fn load_kw(at: &Instant) -> f64 {
    let h = at.hour;
    let business = match at.weekday {
        Weekday::Sat => 14.0 * bump(h, 8.0, 14.0, 1.0),
        Weekday::Sun => 0.0,
        _ => 44.0 * bump(h, 6.5, 18.5, 1.5) - 6.0 * gauss(h, 12.5, 0.6),
    };
    let heating = 7.0 * (1.0 - at.season()) * (1.0 + 0.5 * gauss(h, 7.0, 2.0));
    let daily = 1.0 + 0.04 * signed(noise_bits(SEED ^ 0x10AD, at.day.cast_unsigned()));
    let jitter = 2.5 * signed(noise_bits(SEED ^ 0x10AD_0015, at.key));
    round_to((24.0 + business + heating) * daily + jitter, 1e3).clamp(20.0, 80.0)
}

/// PV generation: the sun's elevation over Berlin (from the UTC time, so
/// DST does not move it), scaled to a ~60 kW peak at midsummer, times the
/// day's clearness and some passing clouds; 0 at night.
fn pv_kw(at: &Instant) -> f64 {
    const LATITUDE: f64 = 52.5;
    const LONGITUDE: f64 = 13.4;
    const MIDSUMMER_SIN: f64 = 0.874; // sin(90° - 52.5° + 23.44°)
    let day_of_year = f64::from(at.utc.ordinal());
    let declination =
        23.44_f64.to_radians() * (std::f64::consts::TAU * (284.0 + day_of_year) / 365.0).sin();
    let utc_hours = f64::from(at.utc.hour()) + f64::from(at.utc.minute()) / 60.0;
    let hour_angle = (15.0 * (utc_hours + LONGITUDE / 15.0 - 12.0)).to_radians();
    let lat = LATITUDE.to_radians();
    let sin_elevation =
        lat.sin() * declination.sin() + lat.cos() * declination.cos() * hour_angle.cos();
    if sin_elevation <= 0.0 {
        return 0.0;
    }
    let clear_sky = 60.0 * (sin_elevation / MIDSUMMER_SIN).powf(1.2);
    let clearness = at.clearness();
    // Passing clouds: steady on clear days, flickering on mixed ones.
    let flicker = (1.0 - clearness) * 0.6 * signed(noise_bits(SEED ^ 0x0050_1A12, at.key));
    let sky = (clearness + flicker).clamp(0.05, 1.0);
    round_to(clear_sky * sky, 1e3).clamp(0.0, 60.0)
}

/// Day-ahead price: morning and evening peaks, a night trough, a midday dip
/// that deepens with spring sun (negative on clear spring weekends), lower
/// on weekends, and noise.
fn price_eur_mwh(at: &Instant) -> f64 {
    let h = at.hour;
    let weekend = if at.is_weekend() { 1.0 } else { 0.0 };
    let base = 88.0 - 12.0 * at.season() - 15.0 * weekend;
    let peaks = 32.0 * gauss(h, 8.0, 1.5) + 55.0 * gauss(h, 19.0, 2.0) - 18.0 * gauss(h, 3.0, 2.0);
    let sun = 140.0 * at.season().powf(1.5) * at.clearness() * (1.0 + 0.25 * weekend);
    let dip = sun * gauss(h, 13.0, 2.5);
    let jitter = 6.0 * signed(noise_bits(SEED ^ 0x00DA_A4EA, at.key));
    round_to(base + peaks - dip + jitter, 1e2)
}

/// 1 between `from` and `to`, easing in and out over `ramp` hours.
fn bump(h: f64, from: f64, to: f64, ramp: f64) -> f64 {
    smoothstep((h - from) / ramp + 0.5) * smoothstep((to - h) / ramp + 0.5)
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

fn gauss(h: f64, centre: f64, width: f64) -> f64 {
    (-0.5 * ((h - centre) / width).powi(2)).exp()
}

fn round_to(x: f64, scale: f64) -> f64 {
    (x * scale).round() / scale
}

/// splitmix64 of `seed` and `key`: well-mixed bits, the same for the same inputs.
fn noise_bits(seed: u64, key: u64) -> u64 {
    let mut z = seed.wrapping_add(key.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Bits as a number in `[0, 1)`.
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Bits as a number in `[-1, 1)`.
fn signed(bits: u64) -> f64 {
    2.0 * unit(bits) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_crosses_the_dst_change() {
        let (start, end) = range(chrono_tz::Europe::Berlin).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-01-31T23:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-05-31T22:00:00+00:00");
        // 120 days of 24 hours, minus the hour lost on 2026-03-29.
        assert_eq!((end - start).num_hours(), 120 * 24 - 1);
    }

    #[test]
    fn noise_is_fixed_and_in_range() {
        assert_eq!(noise_bits(1, 2), noise_bits(1, 2));
        assert_ne!(noise_bits(1, 2), noise_bits(1, 3));
        for k in 0..1000 {
            let s = signed(noise_bits(SEED, k));
            assert!((-1.0..1.0).contains(&s));
        }
    }
}
