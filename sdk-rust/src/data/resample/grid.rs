//! A resolution laid on the time line: where its intervals start and end.
//! Fixed resolutions align to multiples of their length since the Unix epoch
//! (UTC); calendar ones to local midnight in a time zone.

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::data::Resolution;
use crate::error::{Error, Result};

const MICROS_PER_SECOND: i64 = 1_000_000;

/// The intervals of one resolution, in microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Grid {
    /// Fixed-length intervals of this many µs.
    Fixed(i64),
    /// Runs of this many local days; weeks (multiples of 7) start on Monday.
    Days(u32, Tz),
    /// Runs of this many calendar months; years (12) start in January.
    Months(u32, Tz),
}

impl Grid {
    /// The grid of `resolution`; `tz` is asked for only by calendar resolutions.
    pub(super) fn new(resolution: Resolution, tz: impl FnOnce() -> Result<Tz>) -> Result<Self> {
        Ok(match resolution {
            Resolution::Seconds(s) => {
                let len = s.checked_mul(MICROS_PER_SECOND).filter(|&l| l > 0).ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "resolution of {s} seconds is not usable: use a positive duration such as PT15M"
                    ))
                })?;
                Grid::Fixed(len)
            }
            Resolution::Days(n) if n > 0 => Grid::Days(n, tz()?),
            Resolution::Months(n) if n > 0 => Grid::Months(n, tz()?),
            _ => {
                return Err(Error::InvalidInput(format!(
                    "resolution {resolution} is not usable: use a positive duration such as P1D"
                )));
            }
        })
    }

    /// The start of the interval that contains `ts`.
    pub(super) fn floor(&self, ts: i64) -> Result<i64> {
        match *self {
            Grid::Fixed(len) => Ok(ts - ts.rem_euclid(len)),
            Grid::Days(n, tz) => {
                let date = local_date(ts, tz)?;
                // 0001-01-01 (day 1 of the common era) was a Monday.
                let into_run = (date.num_days_from_ce() - 1).rem_euclid(n as i32) as u64;
                local_midnight(date - Days::new(into_run), tz)
            }
            Grid::Months(n, tz) => {
                let date = local_date(ts, tz)?;
                let month = date.year() * 12 + date.month0() as i32;
                let first = month - month.rem_euclid(n as i32);
                let start = NaiveDate::from_ymd_opt(
                    first.div_euclid(12),
                    first.rem_euclid(12) as u32 + 1,
                    1,
                )
                .ok_or_else(|| out_of_range(ts))?;
                local_midnight(start, tz)
            }
        }
    }

    /// The end of the interval that starts at `start`: one step later (for
    /// calendar grids, local midnight `n` days or months after `start`'s date).
    pub(super) fn next(&self, start: i64) -> Result<i64> {
        match *self {
            Grid::Fixed(len) => start.checked_add(len).ok_or_else(|| out_of_range(start)),
            Grid::Days(n, tz) => {
                let date = local_date(start, tz)?;
                local_midnight(
                    date.checked_add_days(Days::new(n.into()))
                        .ok_or_else(|| out_of_range(start))?,
                    tz,
                )
            }
            Grid::Months(n, tz) => {
                let date = local_date(start, tz)?;
                local_midnight(
                    date.checked_add_months(Months::new(n))
                        .ok_or_else(|| out_of_range(start))?,
                    tz,
                )
            }
        }
    }
}

fn out_of_range(ts: i64) -> Error {
    Error::InvalidInput(format!(
        "timestamp {ts} µs since the epoch is outside the supported calendar range"
    ))
}

/// The local calendar date of `ts` in `tz`.
fn local_date(ts: i64, tz: Tz) -> Result<NaiveDate> {
    let utc = DateTime::<Utc>::from_timestamp_micros(ts).ok_or_else(|| out_of_range(ts))?;
    Ok(utc.with_timezone(&tz).date_naive())
}

/// The first instant of `date` in `tz`: local midnight, the earlier one when
/// it occurs twice, or the end of the gap when a DST change skips it.
fn local_midnight(date: NaiveDate, tz: Tz) -> Result<i64> {
    let midnight = date.and_time(NaiveTime::MIN);
    (0..=24 * 60)
        .find_map(|minutes| {
            let local = midnight + chrono::Duration::minutes(minutes);
            tz.from_local_datetime(&local).earliest()
        })
        .map(|t| t.timestamp_micros())
        .ok_or_else(|| Error::InvalidInput(format!("no local midnight on {date} in {tz}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_micros()
    }

    fn berlin() -> Result<Tz> {
        Ok(chrono_tz::Europe::Berlin)
    }

    #[test]
    fn fixed_grid_aligns_to_the_epoch() {
        let grid = Grid::new(Resolution::Seconds(900), berlin).unwrap();
        assert_eq!(
            grid.floor(micros("2026-03-29T10:20:00Z")).unwrap(),
            micros("2026-03-29T10:15:00Z")
        );
        assert_eq!(
            grid.next(micros("2026-03-29T10:15:00Z")).unwrap(),
            micros("2026-03-29T10:30:00Z")
        );
        assert_eq!(grid.floor(-1).unwrap(), -900_000_000);
    }

    #[test]
    fn days_follow_local_midnight_across_dst() {
        let grid = Grid::new(Resolution::Days(1), berlin).unwrap();
        let start = grid.floor(micros("2026-03-29T12:00:00Z")).unwrap();
        assert_eq!(start, micros("2026-03-29T00:00:00+01:00"));
        assert_eq!(
            grid.next(start).unwrap() - start,
            23 * 3600 * MICROS_PER_SECOND
        );
        let start = grid.floor(micros("2026-10-25T12:00:00Z")).unwrap();
        assert_eq!(
            grid.next(start).unwrap() - start,
            25 * 3600 * MICROS_PER_SECOND
        );
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let week = Grid::new(Resolution::Days(7), berlin).unwrap();
        // 2026-04-02 is a Thursday; its week starts on Monday 2026-03-30.
        assert_eq!(
            week.floor(micros("2026-04-02T12:00:00Z")).unwrap(),
            micros("2026-03-30T00:00:00+02:00")
        );
        let quarter = Grid::new(Resolution::Months(3), berlin).unwrap();
        let start = quarter.floor(micros("2026-05-17T12:00:00Z")).unwrap();
        assert_eq!(start, micros("2026-04-01T00:00:00+02:00"));
        assert_eq!(
            quarter.next(start).unwrap(),
            micros("2026-07-01T00:00:00+02:00")
        );
    }

    #[test]
    fn a_midnight_skipped_by_dst_starts_the_day_at_the_gap_end() {
        // Santiago moved clocks from 00:00 to 01:00 on 2026-09-06.
        let grid = Grid::new(Resolution::Days(1), || Ok(chrono_tz::America::Santiago)).unwrap();
        let start = grid.floor(micros("2026-09-06T12:00:00Z")).unwrap();
        assert_eq!(start, micros("2026-09-06T01:00:00-03:00"));
    }

    #[test]
    fn rejects_empty_resolutions() {
        let err = Grid::new(Resolution::Seconds(0), berlin).unwrap_err();
        assert!(err.to_string().contains("positive duration"), "{err}");
    }
}
