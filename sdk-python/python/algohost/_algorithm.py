"""``@algohost.algorithm``: a Python function becomes an algorithm.

The decorator builds the algorithm's manifest (name, version, description,
params schema, outputs) when the module is imported, and attaches an
:class:`AlgorithmSpec` to the function as ``__algohost__``. The host's Python
source reads the manifest and calls :meth:`AlgorithmSpec.invoke` for each run;
the function itself stays an ordinary function that tests can call directly.

Three ways to declare params, chosen by the function's signature:

* **a pydantic model**: ``def f(ctx, params: Params)`` where ``Params`` is a
  ``pydantic.BaseModel``; its ``model_json_schema()`` is the params schema and
  the function gets a ``Params`` instance. Keys the model (or a model nested
  in it) does not declare are refused, unless its ``model_config`` sets
  ``extra`` (``"allow"`` or ``"ignore"``).
* **a JSON Schema dict**: ``@algorithm(params={...})`` on ``def f(ctx,
  params)``; the function gets the validated params ``dict``.
* **a plain signature**: ``def f(ctx, limit_kw: float, efficiency: float =
  0.95)``; the parameters after ``ctx`` become the schema's properties
  (required unless they have a default; no others allowed) and the function
  gets them as keyword arguments, converted to their annotated types.
  ``Annotated[float, pydantic.Field(gt=0, description=...)]`` adds
  constraints and descriptions.

A single parameter named ``params`` that is unannotated or annotated as a
``dict``/``Mapping`` takes any JSON object (schema ``{"type": "object"}``).
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import math
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar, overload

import polars as pl
import pydantic
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
import pydantic_core
from pydantic_core import core_schema

from algohost import _logging
from algohost._native import ValidationError, _summary_to_json

if TYPE_CHECKING:
    from algohost._native import Context

__all__ = ["AlgorithmSpec", "ArrowStreamExportable", "Output", "algorithm"]

DEFAULT_FRAME = "result"
"""Name of the frame when an algorithm without declared outputs returns a bare
DataFrame."""

_SNAKE_CASE = re.compile(r"[a-z][a-z0-9_]*")
_SEMVER = re.compile(r"\d+\.\d+\.\d+(?:[-+].*)?")


class ArrowStreamExportable(Protocol):
    """Anything with the Arrow PyCapsule stream interface: polars and pandas
    DataFrames, pyarrow tables and record batch readers, duckdb results."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...


FrameLike = ArrowStreamExportable | pl.LazyFrame
"""What a frame may be: a LazyFrame is collected by the host."""


@dataclass(frozen=True)
class Output:
    """What an algorithm returns: a JSON summary and named frames.

    >>> import polars as pl
    >>> out = Output(summary={"rows": 2}, frames={"schedule": pl.DataFrame({"x": [1.0, 2.0]})})
    >>> out.frames["schedule"].height
    2
    """

    summary: dict[str, Any] | None = None
    """A small JSON object describing the result (shown by ``algohost run``)."""
    frames: Mapping[str, FrameLike] = field(default_factory=dict)
    """Output frames by name, as listed in the algorithm's ``outputs``."""


ParamsMode = Literal["model", "schema", "signature"]


@dataclass(frozen=True)
class AlgorithmSpec:
    """A decorated function's manifest and how to call it.

    ``manifest`` holds ``name``, ``version``, ``description``,
    ``params_schema``, ``outputs`` (``[{"name", "columns"}]``) and
    ``idempotent``; the host adds the source.
    """

    manifest: dict[str, Any]
    function: Callable[..., Any]
    params_mode: ParamsMode
    params_model: type[pydantic.BaseModel] | None = None
    """The declared model (``"model"``) or the one built from the signature
    (``"signature"``)."""
    kwarg_fields: tuple[tuple[str, str], ...] = ()
    """For ``"signature"``: (parameter name, model field name) pairs."""

    @property
    def name(self) -> str:
        """The algorithm's name."""
        name: str = self.manifest["name"]
        return name

    def invoke(
        self, ctx: Context, params: Mapping[str, Any]
    ) -> tuple[Any, dict[str, FrameLike]]:
        """Runs the function for one run and returns ``(summary, frames)``.

        ``params`` have passed the JSON Schema already; they are converted to
        what the function declared (a model instance, the dict, or keyword
        arguments) and the function runs with ``ctx`` as the current context,
        so that ``logging`` records are kept on the run.
        """
        _logging.install()
        token = _logging.enter(ctx)
        try:
            if self.params_mode == "schema":
                result = self.function(ctx, dict(params))
            elif self.params_mode == "model":
                result = self.function(ctx, self._validated(params))
            else:
                values = self._validated(params)
                kwargs = {arg: getattr(values, attr) for arg, attr in self.kwarg_fields}
                result = self.function(ctx, **kwargs)
        finally:
            _logging.leave(token)
        return self._normalise(result)

    def _validated(self, params: Mapping[str, Any]) -> pydantic.BaseModel:
        """``params`` as the params model; what its validators refuse (checks
        the JSON Schema cannot express, such as ``soc_min < soc_max``) raises
        :class:`~algohost.ValidationError` with every error at its JSON
        Pointer, so that the run fails as invalid input."""
        assert self.params_model is not None
        try:
            return self.params_model.model_validate(params)
        except pydantic.ValidationError as e:
            raise params_error(self.name, e) from None

    def _normalise(
        self, result: object
    ) -> tuple[Any, dict[str, FrameLike]]:
        """Turns what the function returned into ``(summary, frames)``."""
        if type(result) is dict:
            return self._summary(result), {}
        if isinstance(result, Output):
            return self._summary(result.summary), self._frames(result.frames)
        if _is_series(result):
            raise TypeError(
                f"algorithm `{self.name}` returned a {_series_kind(result)}; return a "
                "DataFrame (series.to_frame())"
            )
        if _is_frame(result):
            outputs = self.manifest["outputs"]
            name = outputs[0]["name"] if outputs else DEFAULT_FRAME
            return None, {name: typing.cast(FrameLike, result)}
        if isinstance(result, Mapping):
            return self._summary(result), {}
        if result is None:
            return None, {}
        raise TypeError(
            f"algorithm `{self.name}` returned {_describe(result)}; return a DataFrame "
            "(or anything with __arrow_c_stream__), a dict summary, "
            "algohost.Output(summary=..., frames={...}) or None"
        )

    def _summary(self, summary: object) -> Any:
        """The summary as plain JSON values, converted as params are (numpy
        scalars become numbers, dates and datetimes with a time zone ISO 8601
        text, tuples lists, int keys strings); a ``TypeError`` lists every
        value that is not JSON (a naive datetime, NaN), each at its JSON
        Pointer."""
        if summary is None:
            return None
        if _is_plain_json(summary, 3):
            return summary
        return _summary_to_json(self.name, summary)

    def _frames(self, frames: object) -> dict[str, FrameLike]:
        """Checks the names and types of ``Output.frames``."""
        if not isinstance(frames, Mapping):
            raise TypeError(
                f"algorithm `{self.name}` returned Output.frames as {_describe(frames)}; "
                "use a dict of frame name to DataFrame"
            )
        checked: dict[str, FrameLike] = {}
        for name, frame in frames.items():
            if not isinstance(name, str) or not name:
                raise TypeError(
                    f"algorithm `{self.name}` returned an output frame named {name!r}; "
                    'frame names are non-empty strings such as "schedule"'
                )
            if _is_series(frame):
                raise TypeError(
                    f"output frame `{name}` of algorithm `{self.name}` is a "
                    f"{_series_kind(frame)}; return a DataFrame (series.to_frame())"
                )
            if not _is_frame(frame):
                raise TypeError(
                    f"output frame `{name}` of algorithm `{self.name}` is {_describe(frame)}; "
                    "use a polars DataFrame or LazyFrame, a pandas DataFrame, a pyarrow "
                    "Table or anything with __arrow_c_stream__"
                )
            checked[name] = typing.cast(FrameLike, frame)
        return checked


def params_error(algorithm_name: str, error: pydantic.ValidationError) -> ValidationError:
    """pydantic's errors as a :class:`~algohost.ValidationError` like the
    host's own params errors: each at its JSON Pointer (``loc`` ``("batteries",
    0)`` is ``/batteries/0``), with the validator's own message (without
    pydantic's "Value error, ").

    >>> class P(pydantic.BaseModel):
    ...     low: float
    ...     @pydantic.field_validator("low")
    ...     @classmethod
    ...     def positive(cls, v: float) -> float:
    ...         if v <= 0:
    ...             raise ValueError("low must be positive")
    ...         return v
    >>> try:
    ...     P.model_validate({"low": -1})
    ... except pydantic.ValidationError as e:
    ...     print(params_error("f", e))
    invalid params for 'f' (1 error):
      /low: low must be positive
    """
    errors = [
        {
            "pointer": "".join(
                "/" + str(part).replace("~", "~0").replace("/", "~1")
                for part in item["loc"]
            ),
            "message": _pydantic_message(item),
        }
        for item in error.errors(include_url=False)
    ]
    lines = "".join(f"\n  {e['pointer'] or '(root)'}: {e['message']}" for e in errors)
    plural = "" if len(errors) == 1 else "s"
    return ValidationError(
        f"invalid params for '{algorithm_name}' ({len(errors)} error{plural}):{lines}",
        errors,
    )


def _pydantic_message(item: pydantic_core.ErrorDetails) -> str:
    """The message of one pydantic error: a validator's own text for the
    ``ValueError`` or ``AssertionError`` it raised, pydantic's otherwise."""
    cause = (item.get("ctx") or {}).get("error")
    if item["type"] in ("value_error", "assertion_error") and str(cause or ""):
        return str(cause)
    return item["msg"]


F = TypeVar("F", bound=Callable[..., Any])

OutputsArg = Sequence[str] | Mapping[str, Sequence[str]] | None


@overload
def algorithm(func: F, /) -> F: ...


@overload
def algorithm(
    *,
    name: str | None = None,
    version: str = "0.1.0",
    outputs: OutputsArg = None,
    idempotent: bool = False,
    params: Mapping[str, Any] | None = None,
) -> Callable[[F], F]: ...


def algorithm(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    version: str = "0.1.0",
    outputs: OutputsArg = None,
    idempotent: bool = False,
    params: Mapping[str, Any] | None = None,
) -> F | Callable[[F], F]:
    """Declares a function ``(ctx, params)`` or ``(ctx, **typed args)`` an
    algorithm; usable bare (``@algorithm``) or with arguments.

    ``name`` defaults to the function's name (snake_case); ``version`` is a
    semantic version; ``outputs`` lists the frames it returns, as
    ``["schedule: ts, battery_kw"]`` (like the Rust macro) or
    ``{"schedule": ["ts", "battery_kw"]}``; ``idempotent`` says running it
    twice with the same params is harmless; ``params`` is a JSON Schema for a
    function ``(ctx, params)`` that takes the params dict. The docstring is
    the description. The function is returned unchanged, with the
    :class:`AlgorithmSpec` as ``__algohost__``.

    >>> @algorithm(outputs=["doubled: x"])
    ... def double(ctx: object, factor: float = 2.0) -> dict[str, float]:
    ...     '''Doubles things.'''
    ...     return {"factor": factor}
    >>> double.__algohost__.manifest["params_schema"]["properties"]["factor"]["default"]
    2.0
    """

    def decorate(f: F) -> F:
        spec = _build_spec(
            f,
            name=name,
            version=version,
            outputs=outputs,
            idempotent=idempotent,
            params=params,
        )
        try:
            setattr(f, "__algohost__", spec)  # noqa: B010  (F declares no such attribute)
        except (AttributeError, TypeError) as e:
            raise TypeError(
                f"@algohost.algorithm cannot mark {f!r}: {e}; decorate a plain `def` function"
            ) from e
        return f

    if func is not None:
        return decorate(func)
    return decorate


def spec_of(obj: object) -> AlgorithmSpec | None:
    """The spec of a decorated function, or None for anything else."""
    spec = getattr(obj, "__algohost__", None)
    return spec if isinstance(spec, AlgorithmSpec) else None


def _build_spec(
    func: Callable[..., Any],
    *,
    name: str | None,
    version: str,
    outputs: OutputsArg,
    idempotent: bool,
    params: Mapping[str, Any] | None,
) -> AlgorithmSpec:
    """Checks the decorator's arguments and the function, and builds the spec."""
    if not callable(func):
        raise TypeError(
            f"@algohost.algorithm decorates a function, got {_describe(func)}; "
            "write @algohost.algorithm or @algohost.algorithm(...) above a `def`"
        )
    algorithm_name = name if name is not None else getattr(func, "__name__", "")
    if not isinstance(algorithm_name, str) or not _SNAKE_CASE.fullmatch(algorithm_name):
        hint = (
            "" if name is not None else " (taken from the function name; pass name=...)"
        )
        raise ValueError(
            f"algorithm name {algorithm_name!r}{hint} must be snake_case: lowercase "
            'letters, digits and `_`, starting with a letter, e.g. "peak_shaving"'
        )
    if not isinstance(version, str) or not _SEMVER.fullmatch(version):
        raise ValueError(
            f"version {version!r} of algorithm `{algorithm_name}` must be a semantic "
            'version such as "0.1.0"'
        )
    if not isinstance(idempotent, bool):
        raise TypeError(
            f"idempotent of algorithm `{algorithm_name}` must be True or False, "
            f"got {_describe(idempotent)}"
        )
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        raise TypeError(
            f"algorithm `{algorithm_name}` is an async function; algorithms run on the "
            "host's executor threads, so define it with a plain `def`"
        )
    doc = getattr(func, "__doc__", None)
    description = inspect.cleandoc(doc) if isinstance(doc, str) else ""
    mode, schema, model, kwarg_fields = _params(func, algorithm_name, params)
    manifest: dict[str, Any] = {
        "name": algorithm_name,
        "version": version,
        "description": description,
        "params_schema": schema,
        "outputs": _outputs(outputs, algorithm_name),
        "idempotent": idempotent,
    }
    return AlgorithmSpec(
        manifest=manifest,
        function=func,
        params_mode=mode,
        params_model=model,
        kwarg_fields=kwarg_fields,
    )


def _params(
    func: Callable[..., Any], algorithm_name: str, params: Mapping[str, Any] | None
) -> tuple[
    ParamsMode,
    dict[str, Any],
    type[pydantic.BaseModel] | None,
    tuple[tuple[str, str], ...],
]:
    """Works out how the function takes its params: mode, schema, model and
    keyword-argument mapping."""
    where = f"algorithm `{algorithm_name}`"
    try:
        signature = inspect.signature(func, eval_str=True)
    except NameError as e:
        raise TypeError(
            f"cannot resolve the annotations of {where}: {e}; define the names used "
            "in annotations at module level"
        ) from e
    except ValueError as e:
        raise TypeError(f"cannot read the signature of {where}: {e}") from e

    parameters = list(signature.parameters.values())
    positional = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    )
    if not parameters or parameters[0].kind not in positional:
        raise TypeError(
            f"{where} must take the run context as its first positional parameter, "
            "e.g. `def f(ctx, params)` or `def f(ctx, limit_kw: float)`"
        )
    rest = parameters[1:]
    single = rest[0] if len(rest) == 1 and rest[0].kind in positional else None

    if params is not None:
        if single is None:
            raise TypeError(
                f"{where} declares params=<JSON Schema>, so it must take exactly "
                "`(ctx, params)` and gets the params dict"
            )
        if _is_model(single.annotation):
            raise TypeError(
                f"{where} declares both a pydantic model ({single.annotation.__name__}) "
                "and params=<JSON Schema>; keep one of them"
            )
        return "schema", _schema_dict(params, where), None, ()

    if single is not None and _is_model(single.annotation):
        model: type[pydantic.BaseModel] = single.annotation
        return "model", _model_schema(model, where), model, ()

    if (
        single is not None
        and single.name == "params"
        and _is_plain_mapping(single.annotation)
    ):
        return "schema", {"type": "object"}, None, ()

    return _signature_params(rest, algorithm_name, where)


def _signature_params(
    rest: list[inspect.Parameter], algorithm_name: str, where: str
) -> tuple[
    ParamsMode, dict[str, Any], type[pydantic.BaseModel], tuple[tuple[str, str], ...]
]:
    """Builds a pydantic model from the parameters after ``ctx``."""
    fields: dict[str, Any] = {}
    kwarg_fields: list[tuple[str, str]] = []
    for i, parameter in enumerate(rest):
        if parameter.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            stars = "*" if parameter.kind == inspect.Parameter.VAR_POSITIONAL else "**"
            raise TypeError(
                f"{where} takes `{stars}{parameter.name}`; list each param as its own parameter "
                "(or take a pydantic model or params=<JSON Schema>)"
            )
        if parameter.kind == inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(
                f"parameter `{parameter.name}` of {where} is positional-only; params "
                "are passed by keyword, so remove the `/`"
            )
        annotation = (
            Any
            if parameter.annotation is inspect.Parameter.empty
            else parameter.annotation
        )
        default = (
            ... if parameter.default is inspect.Parameter.empty else parameter.default
        )
        attr = f"p{i}"
        fields[attr] = (
            typing.Annotated[annotation, pydantic.Field(alias=parameter.name)],
            default,
        )
        kwarg_fields.append((parameter.name, attr))
    title = "".join(part.capitalize() for part in algorithm_name.split("_")) + "Params"
    try:
        model = pydantic.create_model(
            title,
            __config__=pydantic.ConfigDict(
                extra="forbid", arbitrary_types_allowed=False
            ),
            **fields,
        )
    except (
        pydantic.PydanticUserError,
        pydantic.PydanticSchemaGenerationError,
        TypeError,
    ) as e:
        raise TypeError(
            f"cannot build a params schema from the signature of {where}: {e}"
        ) from e
    return "signature", _model_schema(model, where), model, tuple(kwarg_fields)


class _ClosedModels(GenerateJsonSchema):
    """JSON Schemas in which a model refuses keys it does not declare
    (``additionalProperties: false``, as ``extra="forbid"`` gives) unless its
    config sets ``extra`` itself: pydantic's default, ignoring them, would
    run a misspelt param (``{"windw": 8}``) with its default silently."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        json_schema = super().model_schema(schema)
        if "extra" not in schema["cls"].model_config and json_schema.get("type") == "object":
            json_schema.setdefault("additionalProperties", False)
        return json_schema


def _model_schema(model: type[pydantic.BaseModel], where: str) -> dict[str, Any]:
    """The params schema of ``model`` (its ``model_json_schema()``, with
    unknown keys refused: see :class:`_ClosedModels`), with a clear error when
    it has none."""
    try:
        return model.model_json_schema(schema_generator=_ClosedModels)
    except (pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError) as e:
        raise TypeError(f"cannot build the params schema of {where}: {e}") from e


def _schema_dict(params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A copy of a JSON Schema given as ``params=``, checked to be JSON."""
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params of {where} must be a JSON Schema dict such as "
            f'{{"type": "object", "properties": {{...}}}}, got {_describe(params)}'
        )
    try:
        schema: dict[str, Any] = json.loads(json.dumps(params, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise TypeError(f"the params schema of {where} is not JSON: {e}") from e
    return schema


def _outputs(outputs: OutputsArg, algorithm_name: str) -> list[dict[str, Any]]:
    """Parses ``outputs=`` into ``[{"name", "columns"}]``."""
    if outputs is None:
        return []
    where = f"algorithm `{algorithm_name}`"
    if isinstance(outputs, str):
        raise TypeError(
            f'outputs of {where} must be a list such as ["schedule: ts, battery_kw"], '
            f"not the string {outputs!r}"
        )
    pairs: list[tuple[object, object]]
    if isinstance(outputs, Mapping):
        pairs = list(outputs.items())
    else:
        pairs = []
        for entry in outputs:
            if not isinstance(entry, str):
                raise TypeError(
                    f'outputs of {where} must be strings such as "schedule: ts, battery_kw", '
                    f"got {_describe(entry)}"
                )
            head, _, tail = entry.partition(":")
            pairs.append(
                (head.strip(), [c.strip() for c in tail.split(",") if c.strip()])
            )
    parsed: list[dict[str, Any]] = []
    for frame, columns in pairs:
        if not isinstance(frame, str) or not _SNAKE_CASE.fullmatch(frame):
            raise ValueError(
                f"output frame name {frame!r} of {where} must be snake_case"
            )
        if (
            isinstance(columns, str)
            or not isinstance(columns, Sequence)
            or not all(isinstance(c, str) for c in columns)
        ):
            raise TypeError(
                f"the columns of output frame `{frame}` of {where} must be a list of names"
            )
        if any(o["name"] == frame for o in parsed):
            raise ValueError(f"output frame `{frame}` of {where} is declared twice")
        parsed.append({"name": frame, "columns": list(columns)})
    return parsed


def _is_model(annotation: object) -> typing.TypeGuard[type[pydantic.BaseModel]]:
    """Whether an annotation is a pydantic model class."""
    return isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel)


def _is_plain_mapping(annotation: object) -> bool:
    """Whether an annotation says "any dict": none, ``dict``, ``Mapping``."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return True
    origin = typing.get_origin(annotation) or annotation
    return origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _is_frame(value: object) -> bool:
    """Whether a value exports an Arrow C stream or is a polars LazyFrame
    (collected by the host), and is not a class."""
    if isinstance(value, type):
        return False
    return hasattr(value, "__arrow_c_stream__") or isinstance(value, pl.LazyFrame)


def _is_series(value: object) -> bool:
    """Whether a value is a polars or pandas Series (a column, not a frame)."""
    cls = type(value)
    return cls.__name__ == "Series" and cls.__module__.split(".")[0] in (
        "polars",
        "pandas",
    )


def _series_kind(value: object) -> str:
    """``polars Series`` / ``pandas Series``."""
    return f"{type(value).__module__.split('.')[0]} Series"


def _describe(value: object) -> str:
    """``a list`` / ``an int``: a value's type, for error messages."""
    type_name = type(value).__qualname__
    module = type(value).__module__
    if module not in ("builtins", None):
        type_name = f"{module}.{type_name}"
    article = "an" if type_name[:1].lower() in "aeiou" else "a"
    return f"{article} {type_name}"


_SCALARS = (str, int, bool, type(None))


def _is_plain_json(value: object, depth: int) -> bool:
    """Whether ``value`` is already plain JSON (str keys; str, int, bool,
    None, finite float; dicts and lists of those, ``depth`` levels deep), so
    that the summary need not be round-tripped through ``json``."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth == 0:
        return False
    if type(value) is dict:
        return all(
            type(k) is str and _is_plain_json(v, depth - 1) for k, v in value.items()
        )
    if type(value) is list:
        return all(_is_plain_json(v, depth - 1) for v in value)
    return False
