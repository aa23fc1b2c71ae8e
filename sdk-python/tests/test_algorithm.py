"""``@algohost.algorithm``: manifests, params conversion, return values.

These tests call ``AlgorithmSpec.invoke`` directly with a stand-in context;
running decorated functions through the host is in ``test_host.py``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import algohost
import algohost._logging
import numpy as np
import pandas as pd  # type: ignore[import-untyped, unused-ignore]
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pydantic
import pytest
from algohost._algorithm import DEFAULT_FRAME, AlgorithmSpec, spec_of


class FakeContext:
    """Enough of ``algohost.Context`` for ``invoke``: records ``_log`` calls."""

    algorithm = "fake"
    run_id = "run-1"

    def __init__(self) -> None:
        self.records: list[tuple[str, str, str]] = []

    def _log(
        self, level: str, target: str, message: str, handled: bool | None = None
    ) -> None:
        self.records.append((level, target, message))

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger(f"algohost.plugins.{self.algorithm}")


def spec(func: object) -> AlgorithmSpec:
    """The spec of a decorated function (fails the test if there is none)."""
    found = spec_of(func)
    assert found is not None, f"{func!r} is not decorated"
    return found


def invoke(
    func: object, params: Mapping[str, Any] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Invokes a decorated function as the host would."""
    return spec(func).invoke(FakeContext(), params or {})  # type: ignore[arg-type]


class Battery(pydantic.BaseModel):
    """A battery."""

    capacity_kwh: float = pydantic.Field(gt=0, description="Energy capacity in kWh.")
    efficiency: float = 0.9


class Params(pydantic.BaseModel):
    limit_kw: float
    battery: Battery
    window: str = "1h"


# --- schemas ----------------------------------------------------------------


def test_schema_from_a_pydantic_model_is_its_json_schema_closed_to_other_keys() -> None:
    @algohost.algorithm
    def shave(ctx: algohost.Context, params: Params) -> None:
        """Shaves peaks."""

    manifest = spec(shave).manifest
    closed = Params.model_json_schema()
    closed["additionalProperties"] = False
    closed["$defs"]["Battery"]["additionalProperties"] = False
    assert manifest["params_schema"] == closed
    schema = manifest["params_schema"]
    assert schema["required"] == ["limit_kw", "battery"]
    assert schema["properties"]["window"] == {
        "default": "1h",
        "title": "Window",
        "type": "string",
    }
    assert schema["properties"]["battery"] == {"$ref": "#/$defs/Battery"}
    assert (
        schema["$defs"]["Battery"]["properties"]["capacity_kwh"]["exclusiveMinimum"]
        == 0
    )


class Loose(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    window: int = 4


class Ignoring(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="ignore")
    window: int = 4


def test_a_model_refuses_misspelt_keys_unless_its_config_sets_extra() -> None:
    @algohost.algorithm
    def closed(ctx: algohost.Context, params: Params) -> None:
        """Declares no extra keys."""

    @algohost.algorithm
    def loose(ctx: algohost.Context, params: Loose) -> None:
        """Allows extra keys."""

    @algohost.algorithm
    def ignoring(ctx: algohost.Context, params: Ignoring) -> None:
        """Ignores extra keys."""

    host = algohost.Host(algorithms=[closed, loose, ignoring])
    with pytest.raises(algohost.ValidationError) as e:
        host.validate(
            "closed",
            {"limit_kw": 1, "windw": "2h", "battery": {"capacity_kwh": 1, "efficency": 0.8}},
        )
    assert e.value.errors == [
        {
            "pointer": "",
            "message": "Additional properties are not allowed ('windw' was unexpected); "
            "did you mean 'window'?",
        },
        {
            "pointer": "/battery",
            "message": "Additional properties are not allowed ('efficency' was unexpected); "
            "did you mean 'efficiency'?",
        },
    ]
    host.validate("loose", {"windw": 8})
    host.validate("ignoring", {"windw": 8})
    assert host.run("ignoring", {"windw": 8}).status == "succeeded"


def test_model_params_reach_the_function_as_a_model_instance() -> None:
    seen: list[object] = []

    @algohost.algorithm
    def shave(ctx: algohost.Context, params: Params) -> None:
        seen.append(params)

    invoke(shave, {"limit_kw": 5, "battery": {"capacity_kwh": 10}})
    assert seen == [Params(limit_kw=5.0, battery=Battery(capacity_kwh=10.0))]
    assert isinstance(seen[0], Params)


def test_schema_from_a_dict_is_kept_and_the_function_gets_the_dict() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 1}},
        "required": ["n"],
    }
    seen: list[object] = []

    @algohost.algorithm(params=schema)
    def count(ctx: algohost.Context, params: dict[str, Any]) -> None:
        seen.append(params)

    assert spec(count).manifest["params_schema"] == schema
    assert spec(count).manifest["params_schema"] is not schema
    invoke(count, {"n": 3})
    assert seen == [{"n": 3}]


def test_schema_from_a_plain_signature() -> None:
    @algohost.algorithm
    def shave(ctx: algohost.Context, limit_kw: float, efficiency: float = 0.95) -> None:
        """Shaves peaks."""

    schema = spec(shave).manifest["params_schema"]
    assert schema == {
        "additionalProperties": False,
        "properties": {
            "limit_kw": {"title": "Limit Kw", "type": "number"},
            "efficiency": {"default": 0.95, "title": "Efficiency", "type": "number"},
        },
        "required": ["limit_kw"],
        "title": "ShaveParams",
        "type": "object",
    }


def test_signature_params_with_annotated_constraints_and_keyword_only() -> None:
    @algohost.algorithm
    def shave(
        ctx: algohost.Context,
        limit_kw: Annotated[float, pydantic.Field(gt=0, description="Import limit.")],
        *,
        names: list[str] | None = None,
        json: bool = False,
    ) -> None:
        pass

    properties = spec(shave).manifest["params_schema"]["properties"]
    assert properties["limit_kw"] == {
        "description": "Import limit.",
        "exclusiveMinimum": 0,
        "title": "Limit Kw",
        "type": "number",
    }
    assert properties["names"]["anyOf"] == [
        {"items": {"type": "string"}, "type": "array"},
        {"type": "null"},
    ]
    assert properties["json"] == {"default": False, "title": "Json", "type": "boolean"}


def test_signature_params_reach_the_function_as_typed_keyword_arguments() -> None:
    seen: list[dict[str, object]] = []

    @algohost.algorithm
    def shave(
        ctx: algohost.Context,
        limit_kw: float,
        battery: Battery,
        efficiency: float = 0.95,
    ) -> None:
        seen.append(
            {"limit_kw": limit_kw, "battery": battery, "efficiency": efficiency}
        )

    invoke(shave, {"limit_kw": 3, "battery": {"capacity_kwh": 2}})
    assert seen == [
        {"limit_kw": 3.0, "battery": Battery(capacity_kwh=2.0), "efficiency": 0.95}
    ]
    assert isinstance(seen[0]["limit_kw"], float)


def test_a_function_without_params_takes_an_empty_object() -> None:
    @algohost.algorithm
    def nothing(ctx: algohost.Context) -> None:
        pass

    schema = spec(nothing).manifest["params_schema"]
    assert schema["properties"] == {}
    assert schema["additionalProperties"] is False
    assert invoke(nothing) == (None, {})


def untyped(ctx, params):  # type: ignore[no-untyped-def]
    return {"got": params}


def typed_dict(ctx: algohost.Context, params: dict[str, Any]) -> dict[str, Any]:
    return {"got": params}


def typed_mapping(ctx: algohost.Context, params: Mapping[str, Any]) -> dict[str, Any]:
    return {"got": dict(params)}


@pytest.mark.parametrize("func", [untyped, typed_dict, typed_mapping])
def test_an_untyped_params_argument_takes_any_object(func: Callable[..., Any]) -> None:
    decorated = algohost.algorithm(name="any_object")(func)
    assert spec(decorated).manifest["params_schema"] == {"type": "object"}
    assert invoke(decorated, {"a": 1}) == ({"got": {"a": 1}}, {})


# --- manifest ---------------------------------------------------------------


def test_manifest_fields() -> None:
    @algohost.algorithm(
        name="peak_shaving",
        version="1.2.3-rc.1",
        outputs=["schedule: ts, battery_kw", "peaks"],
        idempotent=True,
    )
    def shave(ctx: algohost.Context, limit_kw: float) -> None:
        """Shaves peaks.

        Keeps grid import below ``limit_kw``.
        """

    manifest = spec(shave).manifest
    assert manifest["name"] == "peak_shaving"
    assert manifest["version"] == "1.2.3-rc.1"
    assert (
        manifest["description"]
        == "Shaves peaks.\n\nKeeps grid import below ``limit_kw``."
    )
    assert manifest["outputs"] == [
        {"name": "schedule", "columns": ["ts", "battery_kw"]},
        {"name": "peaks", "columns": []},
    ]
    assert manifest["idempotent"] is True
    assert set(manifest) == {
        "name",
        "version",
        "description",
        "params_schema",
        "outputs",
        "idempotent",
    }


def test_defaults_name_from_function_and_empty_description() -> None:
    @algohost.algorithm()
    def rolling_mean(ctx: algohost.Context) -> None:
        pass

    manifest = spec(rolling_mean).manifest
    assert manifest["name"] == "rolling_mean"
    assert manifest["version"] == "0.1.0"
    assert manifest["description"] == ""
    assert manifest["outputs"] == []
    assert manifest["idempotent"] is False


def test_outputs_as_a_mapping() -> None:
    @algohost.algorithm(outputs={"schedule": ["ts", "soc_kwh"]})
    def f(ctx: algohost.Context) -> None:
        pass

    assert spec(f).manifest["outputs"] == [
        {"name": "schedule", "columns": ["ts", "soc_kwh"]}
    ]


def test_the_decorated_function_stays_a_plain_function() -> None:
    def double(ctx: object, x: float) -> float:
        return 2 * x

    decorated = algohost.algorithm(double)
    assert decorated is double
    assert decorated(None, 2.0) == 4.0
    assert isinstance(decorated.__algohost__, AlgorithmSpec)  # type: ignore[attr-defined]


def test_spec_of_an_undecorated_object_is_none() -> None:
    def plain(ctx: object) -> None:
        pass

    assert spec_of(plain) is None
    assert spec_of(42) is None


# --- bad declarations -------------------------------------------------------


@pytest.mark.parametrize("name", ["PeakShaving", "peak-shaving", "1peak", "", "_peak"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="must be snake_case") as e:

        @algohost.algorithm(name=name)
        def f(ctx: algohost.Context) -> None:
            pass

    assert repr(name) in str(e.value)


def test_a_bad_function_name_says_to_pass_name() -> None:
    def CamelCase(ctx: object) -> None:
        pass

    with pytest.raises(
        ValueError, match=r"'CamelCase' \(taken from the function name; pass name=...\)"
    ):
        algohost.algorithm(CamelCase)


def test_a_lambda_needs_a_name() -> None:
    with pytest.raises(ValueError, match="'<lambda>'"):
        algohost.algorithm(lambda ctx: None)
    decorated = algohost.algorithm(name="anonymous")(lambda ctx: None)
    assert spec(decorated).name == "anonymous"


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "latest", "1.0.x"])
def test_bad_versions_are_refused(version: str) -> None:
    with pytest.raises(
        ValueError, match=r"must be a semantic version such as \"0.1.0\""
    ):

        @algohost.algorithm(version=version)
        def f(ctx: algohost.Context) -> None:
            pass


def test_a_function_without_a_context_parameter_is_refused() -> None:
    with pytest.raises(
        TypeError, match="must take the run context as its first positional parameter"
    ):

        @algohost.algorithm
        def f() -> None:
            pass


def test_var_arguments_are_refused() -> None:
    with pytest.raises(
        TypeError, match=r"takes `\*\*kwargs`; list each param as its own parameter"
    ):

        @algohost.algorithm
        def f(ctx: algohost.Context, **kwargs: float) -> None:
            pass


def test_positional_only_params_are_refused() -> None:
    with pytest.raises(
        TypeError, match="`limit_kw` of algorithm `f` is positional-only"
    ):

        @algohost.algorithm
        def f(ctx: algohost.Context, limit_kw: float, /) -> None:
            pass


def test_a_schema_dict_needs_a_ctx_params_function() -> None:
    with pytest.raises(TypeError, match=r"must take exactly `\(ctx, params\)`"):

        @algohost.algorithm(params={"type": "object"})
        def f(ctx: algohost.Context, a: int, b: int) -> None:
            pass


def test_a_model_and_a_schema_dict_together_are_refused() -> None:
    with pytest.raises(
        TypeError, match=r"both a pydantic model \(Params\) and params=<JSON Schema>"
    ):

        @algohost.algorithm(params={"type": "object"})
        def f(ctx: algohost.Context, params: Params) -> None:
            pass


def test_a_schema_dict_that_is_not_json_is_refused() -> None:
    with pytest.raises(
        TypeError, match="the params schema of algorithm `f` is not JSON"
    ):

        @algohost.algorithm(params={"type": "object", "default": object()})
        def f(ctx: algohost.Context, params: dict[str, Any]) -> None:
            pass


class Opaque:
    """A class pydantic has no schema for."""


def test_an_annotation_without_a_schema_is_refused() -> None:
    with pytest.raises(
        TypeError,
        match="cannot build a params schema from the signature of algorithm `f`",
    ):

        @algohost.algorithm
        def f(ctx: algohost.Context, thing: Opaque) -> None:
            pass


def test_an_annotation_that_does_not_resolve_is_refused() -> None:
    class Local(pydantic.BaseModel):
        x: int

    # this module uses `from __future__ import annotations`: `Local` is a string
    with pytest.raises(
        TypeError,
        match="cannot resolve the annotations of algorithm `f`: name 'Local' is not defined",
    ):

        @algohost.algorithm
        def f(ctx: algohost.Context, params: Local) -> None:
            pass


def test_async_functions_are_refused() -> None:
    with pytest.raises(TypeError, match="is an async function; .* plain `def`"):

        @algohost.algorithm
        async def f(ctx: algohost.Context) -> None:
            pass


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ("schedule", "must be a list such as"),
        (
            ["Schedule"],
            "output frame name 'Schedule' of algorithm `f` must be snake_case",
        ),
        (["a", "a: x"], "output frame `a` of algorithm `f` is declared twice"),
        ([1], "must be strings such as"),
        (
            {"a": "x, y"},
            "the columns of output frame `a` of algorithm `f` must be a list of names",
        ),
    ],
)
def test_bad_outputs_are_refused(outputs: Any, message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):

        @algohost.algorithm(outputs=outputs)
        def f(ctx: algohost.Context) -> None:
            pass


# --- return values ----------------------------------------------------------


def test_a_dataframe_becomes_the_default_frame() -> None:
    frame = pl.DataFrame({"x": [1.0]})

    @algohost.algorithm
    def f(ctx: algohost.Context) -> pl.DataFrame:
        return frame

    assert DEFAULT_FRAME == "result"
    summary, frames = invoke(f)
    assert summary is None
    assert frames == {"result": frame}
    assert frames["result"] is frame


def test_a_dataframe_takes_the_first_declared_output_name() -> None:
    table = pa.table({"x": [1.0]})

    @algohost.algorithm(outputs=["schedule: x", "other"])
    def f(ctx: algohost.Context) -> pa.Table:
        return table

    assert invoke(f) == (None, {"schedule": table})


def test_a_dict_becomes_the_summary_as_plain_json() -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> dict[Any, Any]:
        return {"peak": 4.5, "ok": True, "pair": (1, 2), 3: None}

    assert invoke(f) == ({"peak": 4.5, "ok": True, "pair": [1, 2], "3": None}, {})


def test_an_output_gives_summary_and_frames() -> None:
    a = pl.DataFrame({"x": [1]})
    b = pa.table({"y": [2]})

    @algohost.algorithm
    def f(ctx: algohost.Context) -> algohost.Output:
        return algohost.Output(summary={"rows": 1}, frames={"a": a, "b": b})

    summary, frames = invoke(f)
    assert summary == {"rows": 1}
    assert frames["a"] is a and frames["b"] is b


def test_an_empty_output_and_none_are_empty() -> None:
    @algohost.algorithm
    def empty(ctx: algohost.Context) -> algohost.Output:
        return algohost.Output()

    @algohost.algorithm
    def nothing(ctx: algohost.Context) -> None:
        return None

    assert invoke(empty) == (None, {})
    assert invoke(nothing) == (None, {})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (42, "algorithm `f` returned an int; return a DataFrame"),
        ([1, 2], "algorithm `f` returned a list; return a DataFrame"),
        ("done", "algorithm `f` returned a str; return a DataFrame"),
        (pl.DataFrame, "algorithm `f` returned a type; return a DataFrame"),
    ],
)
def test_other_return_values_are_refused(value: object, message: str) -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> object:
        return value

    with pytest.raises(TypeError, match=message) as e:
        invoke(f)
    assert "algohost.Output(summary=..., frames={...}) or None" in str(e.value)


def test_a_summary_takes_what_params_take() -> None:
    # As params: numpy scalars and arrays, dates, datetimes with a time zone
    # (a pandas Timestamp too), as pydantic's model_dump(mode="json") has them.
    @algohost.algorithm
    def f(ctx: algohost.Context) -> dict[Any, Any]:
        return {
            "peak": np.float64(3.25),
            "n": np.int64(4),
            "ok": np.bool_(True),
            "values": np.array([1.5, 2.0]),
            "at": pd.Timestamp("2026-05-20", tz="Europe/Berlin"),
            "when": datetime.datetime(2026, 5, 20, 12, tzinfo=datetime.timezone.utc),
            "day": datetime.date(2026, 5, 20),
            "nested": [{"n": np.int32(1)}],
            3: None,
        }

    assert invoke(f) == (
        {
            "peak": 3.25,
            "n": 4,
            "ok": True,
            "values": [1.5, 2.0],
            "at": "2026-05-20T00:00:00+02:00",
            "when": "2026-05-20T12:00:00+00:00",
            "day": "2026-05-20",
            "nested": [{"n": 1}],
            "3": None,
        },
        {},
    )


@pytest.mark.parametrize(
    ("summary", "errors"),
    [
        (
            {"when": object()},
            "  /when: an object is not a JSON value; a summary holds dicts, lists, str, "
            "int, float, bool and None",
        ),
        ({"x": float("nan")}, "  /x: NaN is not allowed: NaN/inf are not JSON numbers"),
        (
            {"at": pd.Timestamp("2026-05-20")},
            "  /at: a pandas.Timestamp without a time zone (2026-05-20T00:00:00) is "
            'ambiguous; give it one, e.g. datetime(2026, 3, 1, tzinfo=ZoneInfo("Europe/Berlin")) '
            "or value.replace(tzinfo=timezone.utc)",
        ),
        (
            {"ids": {1, 2}, "n": [np.float64("inf")], (1, 2): "pair"},
            "  /ids: a set is not a JSON value; use a list\n"
            "  /n/0: inf is not allowed: NaN/inf are not JSON numbers\n"
            "  (root): the key (1, 2) is a tuple; keys of JSON objects are str (an int key "
            "becomes its text)",
        ),
    ],
)
def test_a_summary_that_is_not_json_is_refused_at_each_pointer(
    summary: dict[Any, Any], errors: str
) -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> dict[Any, Any]:
        return summary

    with pytest.raises(TypeError) as e:
        invoke(f)
    count = errors.count("\n") + 1
    assert str(e.value) == (
        f"the summary of algorithm `f` is not JSON-serialisable "
        f"({count} error{'' if count == 1 else 's'}):\n{errors}"
    )


@pytest.mark.parametrize(
    ("series", "kind"),
    [(pl.Series("x", [1.0]), "polars"), (pd.Series([1.0], name="x"), "pandas")],
)
def test_a_series_is_refused_with_how_to_make_it_a_frame(series: object, kind: str) -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> object:
        return series

    with pytest.raises(TypeError) as e:
        invoke(f)
    assert str(e.value) == (
        f"algorithm `f` returned a {kind} Series; return a DataFrame (series.to_frame())"
    )

    @algohost.algorithm
    def g(ctx: algohost.Context) -> algohost.Output:
        return algohost.Output(frames={"x": series})  # type: ignore[dict-item]

    with pytest.raises(TypeError) as e:
        invoke(g)
    assert str(e.value) == (
        f"output frame `x` of algorithm `g` is a {kind} Series; return a DataFrame "
        "(series.to_frame())"
    )


def test_an_output_frame_that_is_not_a_frame_is_refused() -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> algohost.Output:
        return algohost.Output(frames={"schedule": [1, 2, 3]})  # type: ignore[dict-item]

    with pytest.raises(
        TypeError,
        match="output frame `schedule` of algorithm `f` is a list; use a polars",
    ):
        invoke(f)


def test_output_frames_need_string_names() -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> algohost.Output:
        return algohost.Output(frames={"": pl.DataFrame()})

    with pytest.raises(TypeError, match="returned an output frame named ''"):
        invoke(f)


def test_exceptions_of_the_function_propagate() -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> None:
        raise ZeroDivisionError("on purpose")

    with pytest.raises(ZeroDivisionError, match="on purpose"):
        invoke(f)


# --- logging during invoke --------------------------------------------------


def test_logging_during_invoke_is_forwarded_to_the_context() -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> None:
        ctx.log.info("from ctx.log")
        ctx.log.debug("debug too")
        logging.getLogger("somewhere.else").warning("from %s", "logging")
        logging.getLogger("somewhere.else").info("below the default level")
        logging.getLogger("algohost.runner").warning(
            "a forwarded Rust event", extra={"algohost_rust": True}
        )

    ctx = FakeContext()
    spec(f).invoke(ctx, {})  # type: ignore[arg-type]
    assert ctx.records == [
        ("info", "algohost.plugins.fake", "from ctx.log"),
        ("debug", "algohost.plugins.fake", "debug too"),
        ("warning", "somewhere.else", "from logging"),
    ]


def test_logging_outside_a_run_is_not_forwarded() -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> None:
        pass

    ctx = FakeContext()
    spec(f).invoke(ctx, {})  # type: ignore[arg-type]
    logging.getLogger("somewhere.else").warning("after the run")
    assert ctx.records == []


def test_a_runs_own_records_emitted_by_the_host_are_not_forwarded_again() -> None:
    # Host.run emits the run's records to logging, marked algohost_run: they
    # are on the run already.
    @algohost.algorithm
    def f(ctx: algohost.Context) -> None:
        logging.getLogger("algohost.run.fake").warning(
            "a record of the run", extra={"algohost_run": True}
        )
        ctx.log.warning("kept")

    ctx = FakeContext()
    spec(f).invoke(ctx, {})  # type: ignore[arg-type]
    assert ctx.records == [("warning", "algohost.plugins.fake", "kept")]


def test_the_context_hears_whether_the_applications_handlers_had_a_record() -> None:
    # So that Host.run shows the record (on stderr, by default) only if none did.
    class HearingContext(FakeContext):
        def __init__(self) -> None:
            super().__init__()
            self.handled: list[bool | None] = []

        def _log(
            self, level: str, target: str, message: str, handled: bool | None = None
        ) -> None:
            self.handled.append(handled)

    @algohost.algorithm
    def f(ctx: algohost.Context) -> None:
        logging.getLogger("test_algorithm.alone").warning("no handler")
        logging.getLogger("test_algorithm.heard").warning("a handler")

    # Only the run-log handler on the root logger (not pytest's).
    root = logging.getLogger()
    kept = root.handlers[:]
    root.handlers = [algohost._logging.install()]
    heard = logging.NullHandler()
    logging.getLogger("test_algorithm.heard").addHandler(heard)
    ctx = HearingContext()
    try:
        spec(f).invoke(ctx, {})  # type: ignore[arg-type]
    finally:
        root.handlers = kept
        logging.getLogger("test_algorithm.heard").removeHandler(heard)
    assert ctx.handled == [False, True]


def test_records_emitted_while_forwarding_are_not_forwarded_again() -> None:
    class LoggingContext(FakeContext):
        def _log(
            self, level: str, target: str, message: str, handled: bool | None = None
        ) -> None:
            super()._log(level, target, message)
            logging.getLogger("inside.forwarding").warning("would recurse")

    @algohost.algorithm
    def f(ctx: algohost.Context) -> None:
        ctx.log.info("once")

    ctx = LoggingContext()
    spec(f).invoke(ctx, {})  # type: ignore[arg-type]
    assert ctx.records == [("info", "algohost.plugins.fake", "once")]


def test_exceptions_logged_keep_their_traceback() -> None:
    @algohost.algorithm
    def f(ctx: algohost.Context) -> None:
        try:
            raise KeyError("missing")
        except KeyError:
            ctx.log.exception("lookup failed")

    ctx = FakeContext()
    spec(f).invoke(ctx, {})  # type: ignore[arg-type]
    [(level, _, message)] = ctx.records
    assert level == "error"
    assert message.startswith("lookup failed\nTraceback (most recent call last):")
    assert "KeyError: 'missing'" in message
