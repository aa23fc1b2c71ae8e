"""The params of ``naive_forecast``: which series, which day, how many days back."""

from __future__ import annotations

import datetime

from pydantic import BaseModel, ConfigDict, Field


class Params(BaseModel):
    """Forecast one series for a day as the same time on the days before."""

    model_config = ConfigDict(extra="forbid")

    series: str = Field(
        default="site.load", min_length=1, description="Name of the data point to forecast."
    )
    days: int = Field(
        default=1,
        ge=1,
        le=366,
        description="Average the same wall-clock time over this many days before the forecast day "
        "(1: tomorrow equals today).",
    )
    day: datetime.date | None = Field(
        default=None,
        description="The calendar day to forecast (YYYY-MM-DD, in time_zone); default: the first "
        "day after the last sample.",
    )
    time_zone: str | None = Field(
        default=None,
        description="Time zone whose days and wall-clock times are matched; default: the data "
        "point's own (use UTC for UTC days).",
    )
