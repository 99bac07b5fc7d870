"""The result bundle: `results.json` + `predictions.jsonl`, written atomically and read back with checks.

`results.json` is validated against `RESULTS_SCHEMA`, written in a small JSON-schema-like notation that
this module checks itself (no dependency): a Python type, a dict of fields (`Optional` marks a field that
may be absent), `[spec]` for a list, `MapOf(spec)` for a dict with free keys, `Enum(...)`, `Nullable(spec)`
and `Any`. Errors are one line naming the file and the field (or line) at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actionbench.files import atomic_write, malformed_json, read_jsonl
from actionbench.tasks import PROBE_TASKS

SCHEMA_VERSION = "1.0"
RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.jsonl"


class BundleError(ValueError):
    """A result bundle that cannot be read or does not follow the schema."""


# ------------------------------------------------------------------------------ a tiny schema language


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
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, (dict, list)) else type(value).__name__
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


def check(value: Any, spec: Any, file: str | Path) -> None:
    """Raise BundleError naming the file and the first mismatch (and how many more there are)."""
    errors = schema_errors(value, spec)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise BundleError(f"{file}: {errors[0]}{more}")


# ------------------------------------------------------------------------------------------ the schema

TASK_NAMES = PROBE_TASKS  # from the task table
TIE_POLICIES = ("half", "strict", "paper")
Interval = [Number]

TASK_RESULT = {
    "n": int,
    "accuracy": Number,
    "ci95": Interval,
    "ci_method": Enum("wilson", "cluster-bootstrap"),
    "tie_rate": Number,
    "missing": int,
    "temporally_blind": Optional(bool),
}
CONSISTENT_RESULT = {"n": int, "accuracy": Number, "ci95": Interval, "ci_method": Optional(str),
                     "chance": Optional(Number)}
BREAKDOWN_CELL = {"n": int, "accuracy": Number}

RESULTS_SCHEMA = {
    "schema_version": str,
    "protocol_version": str,
    "model": {
        "name": str,
        "args": dict,
        "weights_hash": Nullable(str),
        "preprocess": AnyValue,
        "order_invariant": bool,
        "kind": str,
        "logit_scale": Nullable(Number),
    },
    "frame_spec": AnyValue,
    "decoder": AnyValue,
    "ties": Enum(*TIE_POLICIES),
    "device": str,
    "dtype": str,
    "amp": bool,
    "probesets": [{
        "probeset_id": str,
        "dataset": str,
        "split": str,
        "videos_root": Nullable(str),
        "n_probes": int,
    }],
    "results": MapOf(MapOf(TASK_RESULT)),
    "consistent": MapOf(CONSISTENT_RESULT),
    "breakdowns": MapOf(MapOf(MapOf(BREAKDOWN_CELL))),
    "bootstrap": {"seed": int, "size": int},
    "subset": Nullable({"limit": int, "rule": str}),
    "partial": bool,
    "missing": [AnyValue],
    "command": (str, list),
    "harness_version": str,
    "git_hash": Nullable(str),
    "temporally_blind": bool,
}

PREDICTION_SCHEMA = {
    "probe_id": str,
    "task": Enum(*TASK_NAMES),
    "dataset": str,
    "clip_id": str,
    "source_video": str,
    "group": Nullable(str),
    "s_true": Number,
    "s_foil": Number,
    "decision": Number,
    "tie": bool,
}


def check_results(results: dict[str, Any], file: str | Path = RESULTS_FILE) -> None:
    """Raise BundleError if `results` does not follow RESULTS_SCHEMA (plus the task names it may use)."""
    check(results, RESULTS_SCHEMA, file)
    for section in ("results", "breakdowns"):
        for dataset, tasks in results[section].items():
            names = tasks if section == "results" else {t for g in tasks.values() for t in g}
            for task in names:
                if task not in TASK_NAMES:
                    raise BundleError(f"{file}: {section}.{dataset}: unknown task {task!r}")


# ----------------------------------------------------------------------------------------- read / write


def write_bundle(out_dir: str | Path, results: dict[str, Any], predictions: list[dict[str, Any]]) -> Path:
    """Write `results.json` (pretty, sorted keys) and `predictions.jsonl` (one row a line, by probe_id)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(predictions, key=lambda r: r["probe_id"])
    lines = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n" for r in rows)
    # Predictions first: a crash between the two writes leaves no results.json claiming them.
    atomic_write(out / PREDICTIONS_FILE, lines)
    atomic_write(out / RESULTS_FILE, json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False,
                                                 allow_nan=False) + "\n")
    return out


def read_json(path: Path) -> Any:
    """Parse a JSON file; errors name the file and line."""
    if not path.is_file():
        raise BundleError(f"{path}: missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise BundleError(malformed_json(path, e)) from None
    except UnicodeDecodeError:
        raise BundleError(f"{path}: not UTF-8 text") from None


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Read `predictions.jsonl`, checking every row against PREDICTION_SCHEMA and probe ids for duplicates."""
    if not path.is_file():
        raise BundleError(f"{path}: missing")
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for lineno, row in read_jsonl(path, BundleError):
        errors = schema_errors(row, PREDICTION_SCHEMA)
        if errors:
            raise BundleError(f"{path}:{lineno}: {errors[0]}")
        if row["probe_id"] in seen:
            raise BundleError(
                f"{path}:{lineno}: duplicate probe_id {row['probe_id']} (first on line {seen[row['probe_id']]})"
            )
        seen[row["probe_id"]] = lineno
        rows.append(row)
    return rows


def read_bundle(bundle_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read and check a result bundle folder; returns (results, predictions)."""
    folder = Path(bundle_dir)
    if not folder.is_dir():
        raise BundleError(f"{folder}: not a folder")
    results = read_json(folder / RESULTS_FILE)
    check_results(results, folder / RESULTS_FILE)
    predictions = read_predictions(folder / PREDICTIONS_FILE)
    return results, predictions
