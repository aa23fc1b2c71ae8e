"""The params of ``price_arbitrage``: the battery and which price to read.

Field names match the battery of the Rust ``peak_shaving`` plugin, so one
battery description fits both algorithms. Checks the JSON Schema cannot
express (soc_min ≤ soc_initial ≤ soc_max, start < end) are model validators,
so they run wherever the model is built.
"""

from __future__ import annotations

import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Battery(BaseModel):
    """A battery: its size, power limits, losses and allowed state of charge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    capacity_kwh: float = Field(
        gt=0, allow_inf_nan=False, description="Energy capacity in kWh (state of charge 1.0)."
    )
    power_kw: float = Field(
        ge=0,
        allow_inf_nan=False,
        description="Charge and discharge power limit in kW, at the grid side.",
    )
    charge_kw: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Charge power limit in kW when it differs from power_kw.",
    )
    discharge_kw: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        description="Discharge power limit in kW when it differs from power_kw.",
    )
    efficiency: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Round-trip efficiency in (0, 1]; charging and discharging each lose its square root.",
    )
    soc_min: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Lowest allowed state of charge, as a fraction of the capacity.",
    )
    soc_max: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="Highest allowed state of charge, as a fraction of the capacity.",
    )
    soc_initial: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="State of charge at the start, as a fraction of the capacity; between soc_min and soc_max.",
    )

    @model_validator(mode="after")
    def _check_soc_order(self) -> Battery:
        if self.soc_min > self.soc_max:
            raise ValueError(f"soc_min ({self.soc_min}) must not exceed soc_max ({self.soc_max})")
        if not self.soc_min <= self.soc_initial <= self.soc_max:
            raise ValueError(
                f"soc_initial ({self.soc_initial}) must lie between soc_min ({self.soc_min}) and soc_max ({self.soc_max})"
            )
        return self

    @property
    def max_charge_kw(self) -> float:
        """The charge limit in kW: ``charge_kw``, else ``power_kw``."""
        return self.power_kw if self.charge_kw is None else self.charge_kw

    @property
    def max_discharge_kw(self) -> float:
        """The discharge limit in kW: ``discharge_kw``, else ``power_kw``."""
        return self.power_kw if self.discharge_kw is None else self.discharge_kw


class Params(BaseModel):
    """Schedule a battery against a price series to maximise trading revenue."""

    model_config = ConfigDict(extra="forbid")

    battery: Battery = Field(description="The battery to schedule.")
    price: str = Field(
        default="market.day_ahead",
        min_length=1,
        description="Name of the price data point (quantity price, e.g. EUR/MWh).",
    )
    resolution: str | None = Field(
        default=None,
        description="Schedule at this fixed ISO 8601 resolution, e.g. PT15M; default: the price's own.",
    )
    start: datetime.datetime | None = Field(
        default=None,
        description="Schedule from this instant on (RFC 3339, inclusive); default: the first price.",
    )
    end: datetime.datetime | None = Field(
        default=None,
        description="Schedule up to this instant (RFC 3339, exclusive); default: after the last price.",
    )
    end_soc_at_least_initial: bool = Field(
        default=True,
        description="Require the state of charge at the end to be at least the initial one, so that "
        "revenue is not earned by emptying the battery.",
    )

    @model_validator(mode="after")
    def _check_range(self) -> Params:
        for name, value in (("start", self.start), ("end", self.end)):
            if value is not None and value.tzinfo is None:
                raise ValueError(
                    f"{name} ({value.isoformat()}) needs a UTC offset, e.g. 2026-03-01T00:00:00Z"
                )
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValueError(
                f"start ({self.start.isoformat()}) must be before end ({self.end.isoformat()})"
            )
        return self
