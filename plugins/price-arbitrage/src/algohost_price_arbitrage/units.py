"""Units and resolutions as the data model spells them: ISO 8601 durations
(``PT15M``) and price units (``EUR/MWh``), turned into the numbers the
optimisation uses (hours, EUR/MWh)."""

from __future__ import annotations

import re

_FIXED_DURATION = re.compile(r"PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?")

_CURRENCY_IN_EUR = {"EUR": 1.0, "€": 1.0, "ct": 0.01, "EURct": 0.01, "cent": 0.01}
_ENERGY_IN_MWH = {"Wh": 1e-6, "kWh": 1e-3, "MWh": 1.0, "GWh": 1e3}


def resolution_hours(resolution: str) -> float:
    """The length in hours of a fixed ISO 8601 resolution such as ``PT15M``.

    >>> resolution_hours("PT15M"), resolution_hours("PT1H30M")
    (0.25, 1.5)

    Calendar resolutions (``P1D``, ``P1M``) have no fixed length (a DST day
    has 23 or 25 hours) and raise ``ValueError``.
    """
    match = _FIXED_DURATION.fullmatch(resolution)
    if match is None or not any(match.groups()):
        raise ValueError(
            f"resolution {resolution!r} is not a fixed ISO 8601 duration; "
            "price arbitrage needs one such as PT15M or PT1H (not P1D or P1M)"
        )
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours + minutes / 60 + seconds / 3600
    if total <= 0:
        raise ValueError(f"resolution {resolution!r} has zero length; use e.g. PT15M or PT1H")
    return total


def eur_per_mwh_factor(unit: str) -> float:
    """What turns a price in ``unit`` into EUR/MWh.

    >>> eur_per_mwh_factor("EUR/MWh"), eur_per_mwh_factor("EUR/kWh"), eur_per_mwh_factor("ct/kWh")
    (1.0, 1000.0, 10.0)
    """
    currency, slash, energy = unit.replace(" ", "").partition("/")
    if not slash or currency not in _CURRENCY_IN_EUR or energy not in _ENERGY_IN_MWH:
        raise ValueError(
            f"price unit {unit!r} is not supported; use a currency per energy such as "
            "EUR/MWh, EUR/kWh or ct/kWh"
        )
    return _CURRENCY_IN_EUR[currency] / _ENERGY_IN_MWH[energy]
