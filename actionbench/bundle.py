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
from actionbench.tasks import DOWNSTREAM_TASKS, PROBE_TASKS, RETRIEVAL_METHODS
from actionbench.tasks import get as get_task

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
class DownstreamSetRef:
    """A downstream set (`build-downstream`) the run scored: its id is recomputed from its files on load."""

    set_id: str
    dataset: str
    task: str
    kind: Literal["retrieval", "multiple_choice"]
    split: str
    videos_root: str | None
    n_items: int  # retrieval: videos; multiple choice: questions


@dataclass
class TypeResult:
    """Multiple-choice accuracy on one question type (NExT-QA: CW, CH, TN, TC, TP, DC, DL, DO)."""

    n: int
    accuracy: float
    ci95: list[float]


@dataclass
class DownstreamResult:
    """One downstream dataset x task cell: the metrics of its task (as a paper's Table 2 prints them) with a 95%
    interval per metric, its counts and its scoring option. Retrieval cells hold the recall fields, multiple-choice
    cells the accuracy fields; `leaderboard validate` recomputes every number from the prediction rows."""

    method: Annotated[str, OneOf(*RETRIEVAL_METHODS)]
    ci95: dict[str, list[float]]  # metric -> [low, high] (%)
    missing: int  # items (videos or questions) not scored because their video is missing or unreadable
    # retrieval (R@K in %, both ways, and their mean)
    r1_v2t: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    r5_v2t: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    r10_v2t: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    r1_t2v: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    r5_t2v: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    r10_t2v: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    mean_recall: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    n_videos: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    n_texts: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    texts_without_videos: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    top_k: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)  # two_step_independent's first-stage depth
    # multiple choice (accuracy in %, overall and per group present in the set, and per question type)
    n: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    accuracy: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    accuracy_causal: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    accuracy_temporal: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    accuracy_descriptive: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    types: dict[str, TypeResult] | None = field(default=None, metadata=ABSENT_WHEN_NONE)


@dataclass
class BackboneInfo:
    """The second model of an `ensemble_with_backbone` / `two_step_independent` run."""

    name: str
    args: dict
    weights_hash: str | None
    kind: str
    logit_scale: float | None


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
    # Downstream sets (the paper's Table 2) scored in this run, their cells (dataset -> task -> cell), and the backbone
    # of a non-default retrieval method (absent in bundles of probe sets alone)
    downstream_sets: list[DownstreamSetRef] | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    downstream: dict[str, dict[str, DownstreamResult]] | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    backbone: BackboneInfo | None = field(default=None, metadata=ABSENT_WHEN_NONE)


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


@dataclass
class DownstreamPrediction:
    """One downstream row of `predictions.jsonl` (what `downstream_metrics.score_*_set` returns, with its dataset
    and task). Retrieval: one row per query (`direction` v2t: a video, `query` its item id; t2v: a text with a
    correct video, `query` the text) with where its best correct candidate ranks. Multiple choice: one row per
    question with its choice scores, the chosen index and the credit (tied best choices share it)."""

    dataset: str
    task: Annotated[str, OneOf(*DOWNSTREAM_TASKS)]
    direction: Annotated[str, OneOf("v2t", "t2v")] | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    query: str | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    above: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    tied_wrong: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    tied_right: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    item_id: str | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    type: str | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    answer: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    scores: list[float] | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    prediction: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    credit: float | None = field(default=None, metadata=ABSENT_WHEN_NONE)


RESULTS_SCHEMA = spec_of(Results)
PREDICTION_SCHEMA = spec_of(Prediction)
DOWNSTREAM_PREDICTION_SCHEMA = spec_of(DownstreamPrediction)
RETRIEVAL_ROW_FIELDS = ("direction", "query", "above", "tied_wrong", "tied_right")
CHOICE_ROW_FIELDS = ("item_id", "type", "answer", "scores", "prediction", "credit")
RETRIEVAL_CELL_FIELDS = ("r1_v2t", "r5_v2t", "r10_v2t", "r1_t2v", "r5_t2v", "r10_t2v", "mean_recall", "n_videos",
                         "n_texts", "texts_without_videos")
CHOICE_CELL_FIELDS = ("n", "accuracy", "types")


def is_probe_row(row: dict[str, Any]) -> bool:
    """A probe row (`probe_id`) rather than a downstream row."""
    return "probe_id" in row


def probe_rows(predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in predictions if is_probe_row(r)]


def downstream_rows(predictions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in predictions if not is_probe_row(r)]


def row_key(row: dict[str, Any]) -> tuple[str, ...]:
    """What identifies a row within a bundle: its probe id; a downstream row's dataset, direction and query (or
    question id)."""
    if is_probe_row(row):
        return (row["probe_id"],)
    if row.get("direction") is not None:
        return (row["dataset"], row["direction"], row["query"])
    return (row["dataset"], row.get("item_id") or "")


def _task_kind(task: str) -> str:
    return get_task(task).kind


def downstream_cell(cell: DownstreamResult | dict[str, Any], task: str) -> DownstreamResult:
    """A downstream cell (as `downstream_metrics.score_*_set` gives it) as a typed record."""
    if isinstance(cell, DownstreamResult):
        return cell
    d = dict(cell)
    if "types" in d and d["types"] is not None:
        d["types"] = {t: TypeResult(**c) for t, c in d["types"].items()}
    return DownstreamResult(**{"method": "default", **d})


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
    for dataset, tasks in (results.get("downstream") or {}).items():
        for task, cell in tasks.items():
            where = f"{file}: downstream.{one_line(dataset)}.{one_line(task)}"
            if task not in DOWNSTREAM_TASKS:
                raise BundleError(f"{file}: downstream.{one_line(dataset)}: unknown task {one_line(task)!r}")
            need = RETRIEVAL_CELL_FIELDS if _task_kind(task) == "retrieval" else CHOICE_CELL_FIELDS
            absent = [k for k in need if cell.get(k) is None]
            if absent:
                raise BundleError(f"{where}.{absent[0]}: missing")
            if cell["missing"] < 0:
                raise BundleError(f"{where}: missing must not be negative")
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
    """Write `results.json` (pretty, sorted keys) and `predictions.jsonl` (one row a line: probe rows by probe_id,
    then downstream rows)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Probe rows by probe id, then downstream rows in the order given (each set's own order)
    rows = sorted(probe_rows(predictions), key=lambda r: r["probe_id"]) + downstream_rows(predictions)
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
    """Read `predictions.jsonl`, checking every row against PREDICTION_SCHEMA (probe rows) or
    DOWNSTREAM_PREDICTION_SCHEMA (downstream rows, with the fields of their task's kind), and for duplicates."""
    if not path.is_file():
        raise BundleError(f"{one_line(path)}: missing")
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], int] = {}
    for lineno, row in read_jsonl(path, BundleError):
        probe = isinstance(row, dict) and is_probe_row(row)
        errors = jsonspec.schema_errors(row, PREDICTION_SCHEMA if probe else DOWNSTREAM_PREDICTION_SCHEMA)
        if not errors and not probe:
            need = RETRIEVAL_ROW_FIELDS if _task_kind(row["task"]) == "retrieval" else CHOICE_ROW_FIELDS
            errors = [f"{k}: missing" for k in need if row.get(k) is None]
        if errors:
            raise BundleError(f"{one_line(path)}:{lineno}: {errors[0]}")
        key = row_key(row)
        if key in seen:
            what = f"probe_id {one_line(key[0])}" if probe else f"row {one_line(' '.join(key))}"
            raise BundleError(f"{one_line(path)}:{lineno}: duplicate {what} (first on line {seen[key]})")
        seen[key] = lineno
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
