"""pandas DataFrames as algohost takes them (``ctx.write``, output frames,
``algohost.resample``): converted to polars, as pandas users mean them.

* NaN stays NaN, as in a polars frame, and ``ctx.write`` refuses it
  (pyarrow's ``from_pandas`` would make it null, "no sample", keeping the
  value stored before unsaid). pandas stores a missing float as NaN: drop
  such rows (``df.dropna()``) or use a nullable dtype (``"Float64"``), whose
  ``pd.NA`` is null, as ``NaT`` is.
* A named index becomes a column of its name; an unnamed ``DatetimeIndex``
  the column ``ts``; any other unnamed index (the row numbers) is dropped.
* A column of dtype ``object`` whose values Arrow cannot give one type (a
  number beside a string, say) is refused naming the column.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from algohost._native import AlgohostError

__all__ = ["from_pandas"]


def from_pandas(frame: Any) -> pl.DataFrame:
    """``frame`` (a pandas DataFrame) as a polars DataFrame.

    >>> import pandas as pd
    >>> index = pd.date_range("2026-03-01", periods=2, freq="h", tz="UTC")
    >>> from_pandas(pd.DataFrame({"site.load": [1.0, float("nan")]}, index=index))
    shape: (2, 2)
    ┌─────────────────────────┬───────────┐
    │ ts                      ┆ site.load │
    │ ---                     ┆ ---       │
    │ datetime[μs, UTC]       ┆ f64       │
    ╞═════════════════════════╪═══════════╡
    │ 2026-03-01 00:00:00 UTC ┆ 1.0       │
    │ 2026-03-01 01:00:00 UTC ┆ NaN       │
    └─────────────────────────┴───────────┘
    """
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    index = frame.index
    is_named = any(name is not None for name in index.names)
    if not is_named and isinstance(index, pd.DatetimeIndex):
        if "ts" in frame.columns:
            raise AlgohostError(
                "the pandas DataFrame has both a column 'ts' and an unnamed DatetimeIndex; "
                "drop the index (df.reset_index(drop=True)) or make it the ts "
                '(df.drop(columns="ts").rename_axis("ts"))'
            )
        frame = frame.rename_axis("ts")
        is_named = True
    try:
        return pl.from_pandas(frame, nan_to_null=False, include_index=is_named)
    except Exception as e:  # pyarrow's ArrowInvalid or ArrowTypeError, mostly
        column = _unconvertible_column(frame)
        if column is None:
            raise
        raise AlgohostError(
            f"column {column!r} of the pandas DataFrame (dtype object) holds values that "
            f"make no one column type: {e}; make them one: "
            f'pd.to_numeric(df[{column!r}], errors="coerce").astype("Float64") for numbers '
            f"(what is not one becomes null), df[{column!r}].astype(str) for text"
        ) from e


def _unconvertible_column(frame: Any) -> Any:
    """The first column of dtype ``object`` that polars cannot convert on its
    own, or None."""
    for position, (name, dtype) in enumerate(frame.dtypes.items()):
        if dtype != object:
            continue
        try:
            pl.from_pandas(frame.iloc[:, position], nan_to_null=False)
        except Exception:  # noqa: BLE001  (any failure names this column)
            return name
    return None
