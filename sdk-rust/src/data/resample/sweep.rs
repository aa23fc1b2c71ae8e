//! One pass over a data point's samples that computes each target interval's
//! value from the samples overlapping it, weighted by overlap.

use super::grid::Grid;
use crate::data::Quantity;
use crate::data::frame::{LongBuilder, Samples};
use crate::error::Result;

/// How one data point is converted: its quantity and both grids.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    /// Id written to the output rows.
    pub id: i64,
    /// Decides the rule: mean, sum or last.
    pub quantity: Quantity,
    /// Native grid of the samples; gives each sample's end.
    pub source: Grid,
    /// Grid of the output intervals.
    pub target: Grid,
    /// Minimum covered share of a target interval (0..=1).
    pub min_coverage: f64,
    /// Interpolate state values linearly when an interval lies inside one sample.
    pub is_linear: bool,
}

/// Reusable buffers, so that points do not allocate per row.
#[derive(Default)]
pub(super) struct Scratch {
    ends: Vec<i64>,
}

/// The target intervals one data point gets a row for: those starting at
/// `first` (an interval start of the target grid) and on, before `stop` (µs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Rows {
    pub first: i64,
    pub stop: i64,
}

/// Appends the rows of one data point at the target grid to `out`: one per
/// interval of `rows`, null where its samples cover too little of it.
pub(super) fn sweep(
    plan: &Plan,
    samples: &Samples<'_>,
    rows: Rows,
    scratch: &mut Scratch,
    out: &mut LongBuilder,
) -> Result<()> {
    let ends = &mut scratch.ends;
    ends.clear();
    for &ts in samples.ts {
        ends.push(plan.source.next(ts)?);
    }
    let n = samples.len();
    let (mut start, mut j) = (rows.first, 0);
    while start < rows.stop {
        let end = plan.target.next(start)?;
        while j < n && ends[j] <= start {
            j += 1;
        }
        out.push(
            plan.id,
            start,
            interval_value(plan, samples, ends, j, start..end),
        );
        start = end;
    }
    Ok(())
}

/// The value of the target interval `span`, from samples `j..` that start before
/// its end; `None` when they cover less than the minimum share.
fn interval_value(
    plan: &Plan,
    samples: &Samples<'_>,
    ends: &[i64],
    j: usize,
    span: std::ops::Range<i64>,
) -> Option<f64> {
    let mut acc = Accumulator::default();
    let mut k = j;
    while k < samples.len() && samples.ts[k] < span.end {
        let overlap = ends[k].min(span.end) - samples.ts[k].max(span.start);
        if let (Some(value), true) = (samples.value(k), overlap > 0) {
            acc.add(plan.quantity, value, overlap, ends[k] - samples.ts[k], k);
        }
        k += 1;
    }
    let length = span.end - span.start;
    if acc.covered == 0 || (acc.covered as f64) < plan.min_coverage * length as f64 {
        return None;
    }
    if plan.is_linear && acc.count == 1 && acc.covered == length {
        return Some(interpolate(
            samples,
            ends,
            acc.last_index,
            acc.last,
            span.start,
        ));
    }
    Some(acc.value(plan.quantity, length))
}

/// Running totals over the samples of one target interval.
#[derive(Default)]
struct Accumulator {
    /// µs of the interval covered by non-null samples.
    covered: i64,
    /// Σ value × overlap µs (mean) or Σ value × overlap share (sum).
    total: f64,
    count: u32,
    last: f64,
    last_index: usize,
}

impl Accumulator {
    /// Adds sample `index` with `value`, overlapping the interval by `overlap`
    /// µs out of its own `length` µs.
    fn add(&mut self, quantity: Quantity, value: f64, overlap: i64, length: i64, index: usize) {
        self.total += match quantity {
            Quantity::Energy if overlap == length => value,
            Quantity::Energy => value * overlap as f64 / length as f64,
            Quantity::Power | Quantity::Price | Quantity::State => value * overlap as f64,
        };
        self.covered += overlap;
        self.count += 1;
        self.last = value;
        self.last_index = index;
    }

    /// Time-weighted mean (power, price), sum (energy) or last value (state)
    /// of an interval `length` µs long. Energy over a partly covered interval
    /// is the covered sum scaled to the whole interval (`1 / coverage`): the
    /// energy that the mean power over the covered part gives for all of it,
    /// as power's mean over the covered part is its value.
    fn value(&self, quantity: Quantity, length: i64) -> f64 {
        match quantity {
            Quantity::Energy if self.covered >= length => self.total,
            Quantity::Energy => self.total * length as f64 / self.covered as f64,
            Quantity::State => self.last,
            Quantity::Power | Quantity::Price if self.count == 1 => self.last,
            Quantity::Power | Quantity::Price => self.total / self.covered as f64,
        }
    }
}

/// The state at `at` inside sample `k` (of `value`), on the line to the next
/// sample when it follows without a gap and is not null; otherwise `value`.
fn interpolate(samples: &Samples<'_>, ends: &[i64], k: usize, value: f64, at: i64) -> f64 {
    let next = k + 1;
    match (next < samples.len())
        .then(|| samples.value(next))
        .flatten()
    {
        Some(next_value) if samples.ts[next] == ends[k] => {
            let share = (at - samples.ts[k]) as f64 / (samples.ts[next] - samples.ts[k]) as f64;
            value + (next_value - value) * share
        }
        _ => value,
    }
}
