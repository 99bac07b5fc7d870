"""The result bundle: `results.json` + `predictions.jsonl`, written atomically and read back with checks.

`results.json` is validated against `RESULTS_SCHEMA`, written in the notation of `actionbench.schema`.
Errors are one line naming the file and the field (or line) at fault.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from actionbench.errors import InputError, one_line
from actionbench.files import atomic_write, read_jsonl
from actionbench.files import read_json as _read_json
from actionbench.metrics import MetricsError, check_bootstrap_size
from actionbench.schema import AnyValue, Enum, MapOf, Nullable, Number, Optional, schema_errors

__all__ = [  # the schema notation is re-exported: submission schemas are written in it
    "AnyValue", "BundleError", "Enum", "MapOf", "Nullable", "Number", "Optional", "PREDICTIONS_FILE",
    "RESULTS_FILE", "check", "check_results", "read_bundle", "read_json", "read_predictions", "schema_errors",
    "write_bundle",
]
from actionbench.tasks import PROBE_TASKS

SCHEMA_VERSION = "1.0"
RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.jsonl"


class BundleError(InputError):
    """A result bundle that cannot be read or does not follow the schema."""


def check(value: Any, spec: Any, file: str | Path) -> None:
    """Raise BundleError naming the file and the first mismatch (and how many more there are)."""
    errors = schema_errors(value, spec)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise BundleError(f"{one_line(file)}: {errors[0]}{more}")


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
    file = one_line(file)
    for section in ("results", "breakdowns"):
        for dataset, tasks in results[section].items():
            names = tasks if section == "results" else {t for g in tasks.values() for t in g}
            for task in names:
                if task not in TASK_NAMES:
                    raise BundleError(f"{file}: {section}.{one_line(dataset)}: unknown task {one_line(task)!r}")
    try:
        check_bootstrap_size(results["bootstrap"]["size"])
    except MetricsError as e:
        raise BundleError(f"{file}: bootstrap.size: {e}") from None
    for dataset, tasks in results["results"].items():
        for task, cell in tasks.items():
            where = f"{file}: results.{one_line(dataset)}.{task}"
            if cell["n"] < 0 or cell["missing"] < 0:
                raise BundleError(f"{where}: n and missing must not be negative")
            if not 0 <= cell["accuracy"] <= 100 or not 0 <= cell["tie_rate"] <= 1:
                raise BundleError(f"{where}: accuracy must be a percentage and tie_rate a fraction")
            if len(cell["ci95"]) != 2:
                raise BundleError(f"{where}.ci95: expected two numbers")


# ----------------------------------------------------------------------------------------- read / write


def write_bundle(out_dir: str | Path, results: dict[str, Any], predictions: list[dict[str, Any]]) -> Path:
    """Write `results.json` (pretty, sorted keys) and `predictions.jsonl` (one row a line, by probe_id)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(predictions, key=lambda r: r["probe_id"])
    # Both files are serialised before either is written: a value JSON cannot hold (NaN) fails before anything on
    # disk changes, so an existing bundle is never left with new predictions beside its old results.json.
    try:
        lines = "".join(json.dumps(r, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n" for r in rows)
        text = json.dumps(results, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError as e:
        raise BundleError(f"{one_line(out)}: the results cannot be written as JSON ({e})") from None
    # Predictions first: a crash between the two writes leaves no results.json claiming them.
    atomic_write(out / PREDICTIONS_FILE, lines)
    atomic_write(out / RESULTS_FILE, text)
    return out


def read_json(path: Path) -> Any:
    """Parse a JSON file strictly (no duplicate keys, NaN or overflowing numbers); errors name the file and line."""
    if not path.is_file():
        raise BundleError(f"{one_line(path)}: missing")
    return _read_json(path, BundleError)


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Read `predictions.jsonl`, checking every row against PREDICTION_SCHEMA and probe ids for duplicates."""
    if not path.is_file():
        raise BundleError(f"{one_line(path)}: missing")
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for lineno, row in read_jsonl(path, BundleError):
        errors = schema_errors(row, PREDICTION_SCHEMA)
        if errors:
            raise BundleError(f"{one_line(path)}:{lineno}: {errors[0]}")
        if row["probe_id"] in seen:
            raise BundleError(f"{one_line(path)}:{lineno}: duplicate probe_id {one_line(row['probe_id'])} "
                              f"(first on line {seen[row['probe_id']]})")
        seen[row["probe_id"]] = lineno
        rows.append(row)
    return rows


def read_bundle(bundle_dir: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read and check a result bundle folder; returns (results, predictions)."""
    folder = Path(bundle_dir)
    if not folder.is_dir():
        raise BundleError(f"{one_line(folder)}: not a folder")
    results = read_json(folder / RESULTS_FILE)
    check_results(results, folder / RESULTS_FILE)
    predictions = read_predictions(folder / PREDICTIONS_FILE)
    return results, predictions
