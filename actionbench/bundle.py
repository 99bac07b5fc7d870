"""The result bundle: `results.json` + `predictions.jsonl`, written atomically and read back with checks.

`results.json` and each prediction row are typed records (`Results`, `Prediction`); their schemas
(`RESULTS_SCHEMA`, `PREDICTION_SCHEMA`) are derived from those types by `actionbench.jsonspec`, and checked on
reading. Errors are one line naming the file and the field (or line) at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from actionbench import files, jsonspec
from actionbench.errors import InputError, one_line
from actionbench.files import atomic_write, read_jsonl
from actionbench.jsonspec import ABSENT_WHEN_NONE, OneOf, spec_of
from actionbench.metrics import MetricsError, check_bootstrap_size
from actionbench.tasks import PROBE_TASKS

SCHEMA_VERSION = "1.0"
RESULTS_FILE = "results.json"
PREDICTIONS_FILE = "predictions.jsonl"


class BundleError(InputError):
    """A result bundle that cannot be read or does not follow the schema."""


def check(value: Any, spec: Any, file: str | Path) -> None:
    """Raise BundleError naming the file and the first mismatch (and how many more there are)."""
    jsonspec.check(value, spec, file, BundleError)


# ---------------------------------------------------------------------------- the typed records

TASK_NAMES = PROBE_TASKS  # from the task table
TIE_POLICIES = ("half", "strict", "paper")


@dataclass
class ModelInfo:
    name: str
    args: dict
    weights_hash: str | None
    preprocess: Any
    order_invariant: bool
    kind: str
    logit_scale: float | None
    # What the model says of itself (hf: / vlm:): its processor config, scoring mode, prompt templates and hash.
    details: dict | None = field(default=None, metadata=ABSENT_WHEN_NONE)


@dataclass
class ProbeSetRef:
    probeset_id: str
    dataset: str
    split: str
    videos_root: str | None
    n_probes: int


@dataclass
class TaskResult:
    """One dataset x task cell: accuracy (%), its 95% interval and how it was computed."""

    n: int
    accuracy: float
    ci95: list[float]
    ci_method: Literal["wilson", "cluster-bootstrap"]
    tie_rate: float
    missing: int
    temporally_blind: bool | None = field(default=None, metadata=ABSENT_WHEN_NONE)


@dataclass
class ConsistentResult:
    """A clip counts when AA and VR are both right (chance 25%)."""

    n: int
    accuracy: float
    ci95: list[float]
    ci_method: str | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    chance: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)


@dataclass
class BreakdownCell:
    n: int
    accuracy: float


@dataclass
class RelationResult:
    """Action Antonym on the foils of one relation (inverse / outcome / undo; see actionbench.lexicon)."""

    n: int
    accuracy: float
    ci95: list[float]
    ci_method: Literal["wilson", "cluster-bootstrap"]


@dataclass
class Bootstrap:
    seed: int
    size: int


@dataclass
class Subset:
    limit: int
    rule: str


@dataclass
class Results:
    """`results.json`: everything a leaderboard row needs, and how the run went (`run`, not part of the scores)."""

    schema_version: str
    protocol_version: str
    model: ModelInfo
    frame_spec: Any
    decoder: Any
    ties: Annotated[str, OneOf(*TIE_POLICIES)]
    device: str
    dtype: str
    amp: bool
    probesets: list[ProbeSetRef]
    results: dict[str, dict[str, TaskResult]]
    consistent: dict[str, ConsistentResult]
    breakdowns: dict[str, dict[str, dict[str, BreakdownCell]]]
    bootstrap: Bootstrap
    subset: Subset | None
    partial: bool
    missing: list[Any]
    command: str | list
    harness_version: str
    git_hash: str | None
    temporally_blind: bool
    run: dict | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    # dataset -> relation -> AA accuracy (recomputed by `leaderboard validate`; absent in older bundles)
    relations: dict[str, dict[str, RelationResult]] | None = field(default=None, metadata=ABSENT_WHEN_NONE)


@dataclass
class Prediction:
    """One row of `predictions.jsonl`."""

    probe_id: str
    task: Annotated[str, OneOf(*TASK_NAMES)]
    dataset: str
    clip_id: str
    source_video: str
    group: str | None
    s_true: float
    s_foil: float
    decision: float
    tie: bool
    relation: str | None = field(default=None, metadata=ABSENT_WHEN_NONE)  # AA: what the foil contrasts


RESULTS_SCHEMA = spec_of(Results)
PREDICTION_SCHEMA = spec_of(Prediction)


def task_cells(cells: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, TaskResult]]:
    """Per dataset x task cells (as `metrics.summarize` gives them) as typed records."""
    return {d: {t: TaskResult(**c) for t, c in tasks.items()} for d, tasks in cells.items()}


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
    """Parse a JSON file; errors (BundleError) name the file and line."""
    return files.read_json(path, BundleError)


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Read `predictions.jsonl`, checking every row against PREDICTION_SCHEMA and probe ids for duplicates."""
    if not path.is_file():
        raise BundleError(f"{one_line(path)}: missing")
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for lineno, row in read_jsonl(path, BundleError):
        errors = jsonspec.schema_errors(row, PREDICTION_SCHEMA)
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
