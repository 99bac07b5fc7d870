"""A tiny JSON-schema-like notation that the readers check records against (no dependency).

A spec is a Python type, a dict of fields (`Optional` marks a field that may be absent), `[spec]` for a list,
`MapOf(spec)` for a dict with free keys, `Enum(...)`, `Nullable(spec)` and `AnyValue`. `schema_errors` lists
every mismatch as `path: problem`, one line each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from actionbench.errors import one_line


@dataclass(frozen=True)
class Optional:
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
class Enum:
    """One of the given values."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", values)


class _AnyValue:
    def __repr__(self) -> str:
        return "Any"


AnyValue = _AnyValue()
Number = (int, float)
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true/false", dict: "an object",
               list: "a list", Number: "a number"}


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def schema_errors(value: Any, spec: Any, path: str = "") -> list[str]:
    """Every mismatch between a JSON value and a spec, as `path: problem` strings (empty when valid)."""
    where = path or "(top level)"
    if spec is AnyValue:
        return []
    if isinstance(spec, Nullable):
        return [] if value is None else schema_errors(value, spec.spec, path)
    if isinstance(spec, Enum):
        if value in spec.values and type(value) is type(next(v for v in spec.values if v == value)):
            return []
        return [f"{where}: expected one of {', '.join(json.dumps(v) for v in spec.values)}, got {_describe(value)}"]
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {_describe(value)}"]
        errors = []
        for key, sub in spec.items():
            optional = isinstance(sub, Optional)
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
            errors += schema_errors(value[key], spec.spec, f"{path + '.' if path else ''}{one_line(key)}")
        return errors
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {_describe(value)}"]
        errors = []
        for i, item in enumerate(value):
            errors += schema_errors(item, spec[0], f"{path}[{i}]")
        return errors
    if isinstance(spec, tuple) or spec in (int, float, str, bool, dict, list):
        types = spec if isinstance(spec, tuple) else (spec,)
        # bool is an int in Python but not a number in a results file.
        if isinstance(value, bool) and bool not in types:
            ok = False
        elif float in types and not isinstance(value, bool) and isinstance(value, int):
            ok = True
        else:
            ok = isinstance(value, types)
        if ok:
            return []
        return [f"{where}: expected {_TYPE_NAMES.get(spec, ' or '.join(_TYPE_NAMES[t] for t in types))}, "
                f"got {_describe(value)}"]
    raise TypeError(f"bad schema spec {spec!r}")
