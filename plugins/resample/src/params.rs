//! The params of `resample`: which data points, the target resolution, the
//! conversion options and whether to store the result.

use algohost_sdk::chrono::{DateTime, Utc};
use algohost_sdk::data::{self, ResampleOptions};
use algohost_sdk::prelude::*;

/// Convert data points to another resolution, following each one's quantity.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(crate = "algohost_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "algohost_sdk::schemars")]
pub struct Params {
    /// Names of the data points to convert.
    #[schemars(length(min = 1))]
    pub names: Vec<String>,
    /// Target resolution, an ISO 8601 duration such as PT15M, PT1H or P1D.
    pub resolution: Resolution,
    /// Convert samples from this instant on (RFC 3339, inclusive): the rows
    /// start with the first target interval that starts at or after it;
    /// default: the interval of the first sample of any of `names`.
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    /// Convert samples before this instant (RFC 3339, exclusive): the rows
    /// end with the last target interval that starts before it; default: the
    /// interval of the last sample of any of `names`.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    /// Share of a target interval that samples must cover (0 to 1); an
    /// interval covered less is null rather than a made-up value. Power and
    /// price average the covered part; energy sums it and scales the sum to
    /// the whole interval (divides by the covered share).
    #[serde(default = "default_min_coverage")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_coverage: f64,
    /// How state data points (state of charge, temperature) fill a finer resolution.
    #[serde(default)]
    pub state_upsample: StateUpsample,
    /// IANA time zone whose local midnight calendar resolutions (P1D, P1M)
    /// align to; default: each data point's own.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Also store the converted samples, as new data points named
    /// `name + suffix` with the target resolution.
    #[serde(default)]
    pub write_back: bool,
    /// Appended to each name for the stored data points; default: a dot
    /// and the resolution, e.g. "site.load.PT1H".
    #[serde(default)]
    #[schemars(length(min = 1))]
    pub suffix: Option<String>,
}

/// How state data points fill a finer resolution.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(crate = "algohost_sdk::serde", rename_all = "snake_case")]
#[schemars(crate = "algohost_sdk::schemars")]
pub enum StateUpsample {
    /// Repeat the last value.
    #[default]
    Forward,
    /// Interpolate linearly between samples.
    Linear,
}

fn default_min_coverage() -> f64 {
    1.0
}

impl From<StateUpsample> for data::StateUpsample {
    fn from(value: StateUpsample) -> Self {
        match value {
            StateUpsample::Forward => data::StateUpsample::Forward,
            StateUpsample::Linear => data::StateUpsample::Linear,
        }
    }
}

impl Params {
    /// Checks what the schema cannot express; messages name the offending params.
    pub fn validate(&self) -> Result<()> {
        if self.names.is_empty() {
            return Err(invalid(
                "names must list at least one data point".to_owned(),
            ));
        }
        if let Some((i, name)) = self
            .names
            .iter()
            .enumerate()
            .find(|(i, n)| self.names[..*i].contains(n))
        {
            return Err(invalid(format!(
                "names lists '{name}' twice (again at position {i})"
            )));
        }
        if !(0.0..=1.0).contains(&self.min_coverage) {
            return Err(invalid(format!(
                "min_coverage must be between 0 and 1, got {}",
                self.min_coverage
            )));
        }
        if let (Some(start), Some(end)) = (self.start, self.end)
            && start >= end
        {
            return Err(invalid(format!(
                "start ({start}) must be before end ({end})"
            )));
        }
        if let Some(tz) = &self.time_zone {
            data::parse_time_zone(tz)?;
        }
        if self.suffix.as_deref() == Some("") {
            return Err(invalid(
                "suffix must not be empty: the stored data points need names of their own"
                    .to_owned(),
            ));
        }
        Ok(())
    }

    /// The options for [`data::resample`].
    pub fn resample_options(&self) -> ResampleOptions {
        ResampleOptions {
            min_coverage: self.min_coverage,
            state_upsample: self.state_upsample.into(),
            time_zone: self.time_zone.clone(),
            start: self.start,
            end: self.end,
        }
    }

    /// What is appended to each name for write-back: `suffix`, or a dot and
    /// the resolution.
    pub fn suffix(&self) -> String {
        self.suffix
            .clone()
            .unwrap_or_else(|| format!(".{}", self.resolution))
    }

    /// The filter that reads the native samples of `names` in `[start, end)`.
    pub fn filter(&self) -> DataPointFilter {
        let mut filter = DataPointFilter::default().with_names(self.names.clone());
        filter.start = self.start;
        filter.end = self.end;
        filter
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(message)
}
