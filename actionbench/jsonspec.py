"""A small JSON schema notation, derived from dataclasses, and its checker (errors: one line per mismatch).

A spec is a Python type (`str`, `int`, `bool`, `dict`, `list`, `NUMBER`), a dict of fields (`MayBeAbsent` marks a
field that may be missing), `[spec]` for a list, `MapOf(spec)` for a dict with free keys, `OneOf(...)`,
`Nullable(spec)` or `ANY`. `spec_of(SomeDataclass)` derives the spec from the type hints, so a record type and
the schema its JSON is checked against are written once:

- `str`, `int`, `bool`, `Any` as themselves (`float` is any number); `X | None` is `Nullable(X)`;
- `list[X]`, `dict[str, X]`, a nested dataclass; `Literal[...]` or `Annotated[str, OneOf(...)]` for a choice;
- a field with `metadata=ABSENT_WHEN_NONE` may be missing from the JSON (and `to_json` leaves it out when None).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ABSENT_WHEN_NONE = {"absent_when_none": True}


@dataclass(frozen=True)
class MayBeAbsent:
    """A field that may be absent."""

    spec: Any


@dataclass(frozen=True)
class Nullable:
    """A value that may be null."""

    spec: Any


@dataclass(frozen=True)
class MapOf:
    """A dict with free string keys and values of one spec."""

    spec: Any


@dataclass(frozen=True)
class OneOf:
    """One of the given values."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", values)


class _AnyValue:
    def __repr__(self) -> str:
        return "Any"


ANY = _AnyValue()
NUMBER = (int, float)
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false", dict: "an object",
               list: "a list", NUMBER: "a number"}


# ------------------------------------------------------------------------------------ from dataclasses


def spec_of(tp: Any) -> Any:
    """The spec of a type hint (a dataclass gives a dict of its fields)."""
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        out: dict[str, Any] = {}
        for f in dataclasses.fields(tp):
            if f.name.startswith("_"):
                continue
            sub = spec_of(hints[f.name])
            if f.metadata.get("absent_when_none"):
                sub = MayBeAbsent(sub.spec if isinstance(sub, Nullable) else sub)
            out[f.name] = sub
        return out
    if tp is Any:
        return ANY
    if tp is float:
        return NUMBER
    if tp in (str, int, bool, dict, list):
        return tp
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return next((a for a in args[1:] if isinstance(a, OneOf)), None) or spec_of(args[0])
    if origin is typing.Literal:
        return OneOf(*args)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = spec_of(rest[0]) if len(rest) == 1 else tuple(typing.get_origin(a) or a for a in rest)
        return Nullable(inner) if len(rest) < len(args) else inner
    if origin is list:
        return [spec_of(args[0])] if args else list
    if origin is dict:
        return MapOf(spec_of(args[1])) if args else dict
    raise TypeError(f"no JSON spec for type {tp!r}")


def to_json(value: Any) -> Any:
    """A dataclass record as JSON-ready dicts and lists (fields marked ABSENT_WHEN_NONE left out when None)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_json(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
            and not (f.metadata.get("absent_when_none") and getattr(value, f.name) is None)
        }
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------ checking


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def schema_errors(value: Any, spec: Any, path: str = "") -> list[str]:
    """Every mismatch between a JSON value and a spec, as `path: problem` strings (empty when valid)."""
    where = path or "(top level)"
    if spec is ANY:
        return []
    if isinstance(spec, Nullable):
        return [] if value is None else schema_errors(value, spec.spec, path)
    if isinstance(spec, OneOf):
        if value in spec.values and type(value) is type(next(v for v in spec.values if v == value)):
            return []
        return [f"{where}: expected one of {', '.join(json.dumps(v) for v in spec.values)}, got {_describe(value)}"]
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {_describe(value)}"]
        errors = []
        for key, sub in spec.items():
            optional = isinstance(sub, MayBeAbsent)
            if key not in value:
                if not optional:
                    errors.append(f"{path + '.' if path else ''}{key}: missing")
                continue
            errors += schema_errors(value[key], sub.spec if optional else sub, f"{path + '.' if path else ''}{key}")
        return errors
    if isinstance(spec, MapOf):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {_describe(value)}"]
        errors = []
        for key in value:
            errors += schema_errors(value[key], spec.spec, f"{path + '.' if path else ''}{key}")
        return errors
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {_describe(value)}"]
        errors = []
        for i, item in enumerate(value):
            errors += schema_errors(item, spec[0], f"{path}[{i}]")
        return errors
    if isinstance(spec, tuple) or spec in (int, float, str, bool, dict, list):
        types_ = spec if isinstance(spec, tuple) else (spec,)
        # bool is an int in Python but not a number in a results file.
        if isinstance(value, bool) and bool not in types_:
            ok = False
        elif float in types_ and not isinstance(value, bool) and isinstance(value, int):
            ok = True
        else:
            ok = isinstance(value, types_)
        if ok:
            return []
        return [f"{where}: expected {_TYPE_NAMES.get(spec, ' or '.join(_TYPE_NAMES[t] for t in types_))}, "
                f"got {_describe(value)}"]
    raise TypeError(f"bad schema spec {spec!r}")


def check(value: Any, spec: Any, file: str | Path, error: type[Exception] = ValueError) -> None:
    """Raise `error` naming the file and the first mismatch (and how many more there are)."""
    errors = schema_errors(value, spec)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise error(f"{file}: {errors[0]}{more}")
