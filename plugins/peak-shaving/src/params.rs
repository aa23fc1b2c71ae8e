//! The params of `peak_shaving`: the limit, the battery, where it may
//! recharge from and which data points to read.
//!
//! The host validates params against the derived schema before a run; the
//! checks the schema cannot express (soc_min ≤ soc_initial ≤ soc_max,
//! start < end) live in [`Params::validate`], which the algorithm calls first.

use algohost_sdk::chrono::{DateTime, Utc};
use algohost_sdk::prelude::*;

/// Keep grid import (load − PV) at or below a limit with a battery.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(crate = "algohost_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "algohost_sdk::schemars")]
pub struct Params {
    /// Grid import limit in kW; the battery discharges whenever load − PV exceeds it.
    #[schemars(range(min = 0.0))]
    pub limit_kw: f64,
    /// The battery that shaves the peaks.
    pub battery: Battery,
    /// Where the battery may recharge from.
    #[serde(default)]
    pub recharge: Recharge,
    /// Name of the site load data point (power, kW).
    #[serde(default = "default_load")]
    #[schemars(length(min = 1))]
    pub load: String,
    /// Name of the PV generation data point (power, kW, positive when
    /// generating); null for a site without PV.
    #[serde(default = "default_pv")]
    pub pv: Option<String>,
    /// Dispatch from this instant on (RFC 3339, inclusive; the start of an interval of the
    /// load); default: the first sample.
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    /// Dispatch up to this instant (RFC 3339, exclusive; the start of an interval of the
    /// load); default: after the last sample.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
}

/// A battery: its size, power limit, losses and allowed state of charge.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(crate = "algohost_sdk::serde", deny_unknown_fields)]
#[schemars(crate = "algohost_sdk::schemars")]
pub struct Battery {
    /// Energy capacity in kWh (state of charge 1.0).
    #[schemars(range(min = 0.0))]
    pub capacity_kwh: f64,
    /// Charge and discharge power limit in kW, at the grid side.
    #[schemars(range(min = 0.0))]
    pub power_kw: f64,
    /// Round-trip efficiency in (0, 1]; charging and discharging each lose
    /// its square root.
    #[serde(default = "default_efficiency")]
    #[schemars(range(max = 1.0), extend("exclusiveMinimum" = 0.0))]
    pub efficiency: f64,
    /// Lowest allowed state of charge, as a fraction of the capacity.
    #[serde(default = "default_soc_min")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub soc_min: f64,
    /// Highest allowed state of charge, as a fraction of the capacity.
    #[serde(default = "default_soc_max")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub soc_max: f64,
    /// State of charge at the start, as a fraction of the capacity; between
    /// soc_min and soc_max.
    #[serde(default = "default_soc_initial")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub soc_initial: f64,
}

/// Where the battery may take the energy it stores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(crate = "algohost_sdk::serde", rename_all = "snake_case")]
#[schemars(crate = "algohost_sdk::schemars")]
pub enum Recharge {
    /// From the grid and from PV surplus, never lifting grid import above
    /// the limit.
    #[default]
    Grid,
    /// Only from PV surplus (PV above load); the battery never imports.
    PvOnly,
}

fn default_load() -> String {
    "site.load".to_owned()
}

fn default_pv() -> Option<String> {
    Some("site.pv".to_owned())
}

fn default_efficiency() -> f64 {
    0.9
}

fn default_soc_min() -> f64 {
    0.1
}

fn default_soc_max() -> f64 {
    0.9
}

fn default_soc_initial() -> f64 {
    0.5
}

impl Params {
    /// Checks what the schema cannot: finite numbers, the order of the SoC
    /// bounds and of start and end. Messages name the offending params.
    pub fn validate(&self) -> Result<()> {
        let b = &self.battery;
        let non_negative = [
            ("limit_kw", self.limit_kw),
            ("battery.capacity_kwh", b.capacity_kwh),
            ("battery.power_kw", b.power_kw),
        ];
        for (name, value) in non_negative {
            if !(value.is_finite() && value >= 0.0) {
                return Err(invalid(format!(
                    "{name} must be a finite number ≥ 0, got {value}"
                )));
            }
        }
        if !(b.efficiency > 0.0 && b.efficiency <= 1.0) {
            return Err(invalid(format!(
                "battery.efficiency must be in (0, 1], got {}",
                b.efficiency
            )));
        }
        let fractions = [
            ("battery.soc_min", b.soc_min),
            ("battery.soc_max", b.soc_max),
            ("battery.soc_initial", b.soc_initial),
        ];
        for (name, value) in fractions {
            if !(0.0..=1.0).contains(&value) {
                return Err(invalid(format!("{name} must be in [0, 1], got {value}")));
            }
        }
        if b.soc_min > b.soc_max {
            return Err(invalid(format!(
                "battery.soc_min ({}) must not exceed battery.soc_max ({})",
                b.soc_min, b.soc_max
            )));
        }
        if !(b.soc_min..=b.soc_max).contains(&b.soc_initial) {
            return Err(invalid(format!(
                "battery.soc_initial ({}) must lie between battery.soc_min ({}) and battery.soc_max ({})",
                b.soc_initial, b.soc_min, b.soc_max
            )));
        }
        if self.load.is_empty() {
            return Err(invalid(
                "load must name a data point, e.g. \"site.load\"".to_owned(),
            ));
        }
        if let (Some(start), Some(end)) = (self.start, self.end)
            && start >= end
        {
            return Err(invalid(format!(
                "start ({start}) must be before end ({end})"
            )));
        }
        Ok(())
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(message)
}
