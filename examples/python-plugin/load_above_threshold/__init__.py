"""An algohost plugin written from the README: how often a load exceeds a threshold."""

import algohost
import polars as pl


@algohost.algorithm(version="0.1.0", idempotent=True)
def load_above_threshold(
    ctx: algohost.Context, threshold_kw: float, series: str = "site.load"
) -> dict[str, object]:
    """Share of intervals in which a load series (kW) is above `threshold_kw`."""
    frame: pl.DataFrame = ctx.read(algohost.DataPointFilter(names=[series]))
    if series not in frame.columns:
        raise ValueError(f"no samples of data point '{series}'; set series to a load data point")
    load = frame.get_column(series).drop_nulls()
    above = int((load > threshold_kw).sum())
    ctx.log.info("%d of %d intervals above %s kW", above, load.len(), threshold_kw)
    return {
        "series": series,
        "threshold_kw": threshold_kw,
        "intervals": load.len(),
        "intervals_above": above,
        "share_above": round(above / load.len(), 6) if load.len() else 0.0,
        "peak_kw": load.max() if load.len() else None,
    }
