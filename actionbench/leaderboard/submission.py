"""Submission bundles: a result bundle plus `submission.json`, the metadata a leaderboard row needs.

A submission folder holds:
- `submission.json`: who and what (model, backbone, method, patcher loss, trainable parameters, the frozen
  backbone's loaded parameter count, paper or URL, date, who ran it, `source: measured | reported`);
- `results.json`: for a `measured` entry the full result bundle the runner wrote (with `predictions.jsonl`
  beside it); for a `reported` entry only the numbers a paper printed (`REPORTED_RESULTS_SCHEMA`): an
  `accuracy` per ActionBench dataset x task (Table 1), or the metrics of a downstream task per downstream
  dataset (Table 2: `downstream_metrics.DOWNSTREAM_DATASETS` and `DOWNSTREAM_TASKS`).

A bare result bundle (no `submission.json`, e.g. a demo run) is read as a measured entry whose metadata is
taken from its `results.json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from actionbench.bundle import (
    PREDICTIONS_FILE,
    RESULTS_FILE,
    TASK_NAMES,
    BundleError,
    check,
    check_results,
    read_json,
    read_predictions,
)
from actionbench.errors import one_line
from actionbench.jsonspec import ABSENT_WHEN_NONE, OneOf, spec_of, to_json

SUBMISSION_FILE = "submission.json"
SUBMISSION_SCHEMA_VERSION = "1.0"
SOURCES = ("measured", "reported")
BACKBONE_METHOD = "Backbone"  # the method name of a group's frozen-backbone row
REFERENCE_GROUP = "reference"  # the group of rows that are no model's: chance
REFERENCE_ROWS = {"chance": "chance (random scores)"}
CONTROL_PREFIXES = ("first-frame", "last-frame", "blind")  # harness controls wrap a model: `blind:clip:...`
TEXT_PRIOR = "text-prior"  # the language-prior control (actionbench.models.text_prior)

class SubmissionError(BundleError):
    """A submission folder that is malformed or fails validation."""


@dataclass(frozen=True)
class Submission:
    """The metadata of one leaderboard row."""

    model: str  # display name of the model
    backbone: str  # the group a row belongs to (e.g. "InternVideo"); "Human" for the human study
    method: str | None  # "Backbone" for the frozen backbone itself; null for a human row
    patcher_loss: str | None  # e.g. "VTC+DVDM"
    trainable_params: int | None  # 0 for a frozen backbone, null when not applicable (human)
    backbone_params: int | None  # loaded parameter count of the frozen backbone (for the percentage)
    paper: str | None
    url: str | None
    date: str  # YYYY-MM or YYYY-MM-DD
    ran_by: str
    source: Annotated[str, OneOf(*SOURCES)]
    table_order: int | None = field(default=None, metadata=ABSENT_WHEN_NONE)  # position in the paper's table
    notes: str | None = field(default=None, metadata=ABSENT_WHEN_NONE)
    schema_version: str = SUBMISSION_SCHEMA_VERSION

    @property
    def method_label(self) -> str:
        """'KP-Perceiver [VTC+DVDM]', 'Backbone', or '' for a human row."""
        if self.method is None:
            return ""
        return f"{self.method} [{self.patcher_loss}]" if self.patcher_loss else self.method

    @property
    def trainable_fraction(self) -> float | None:
        """Trainable parameters as a fraction of the frozen backbone's loaded parameters."""
        if not self.trainable_params or not self.backbone_params:
            return None
        return self.trainable_params / self.backbone_params

    def to_dict(self) -> dict[str, Any]:
        d = to_json(self)
        return {"schema_version": d.pop("schema_version"), **d}  # the order submission.json files have


@dataclass
class ReportedResults:
    """`results.json` of a `reported` entry: only the numbers a paper printed."""

    schema_version: str
    source: Literal["reported"]
    # dataset -> task -> metric -> number: `accuracy` for an ActionBench task (Table 1), the metrics of its task for
    # a downstream dataset (Table 2); `check_reported_cells` checks which
    results: dict[str, dict[str, dict[str, float]]]
    ties: str | None = field(default=None, metadata=ABSENT_WHEN_NONE)  # the paper's tie handling, when known
    frame_spec: Any = field(default=None, metadata=ABSENT_WHEN_NONE)


SUBMISSION_SCHEMA = spec_of(Submission)  # derived from the dataclass: one definition of the fields
REPORTED_RESULTS_SCHEMA = spec_of(ReportedResults)


@dataclass
class Entry:
    """A leaderboard row as loaded from its folder."""

    name: str  # folder name, the row's id
    folder: Path
    submission: Submission
    results: dict[str, Any]  # the whole results.json
    predictions: list[dict[str, Any]] = field(default_factory=list)  # measured entries only
    unverified: bool = False  # measured, but shown without checking its probe ids against its probe sets

    @property
    def measured(self) -> bool:
        return self.submission.source == "measured"

    def accuracy(self, dataset: str, task: str) -> float | None:
        """Accuracy (%) of one dataset x task, or None when the entry has no such number."""
        cell = self.results.get("results", {}).get(dataset, {}).get(task)
        return None if cell is None else float(cell["accuracy"])

    def cell(self, dataset: str, task: str) -> dict[str, Any] | None:
        return self.results.get("results", {}).get(dataset, {}).get(task)

    def datasets(self) -> list[str]:
        return list(self.results.get("results", {}))

    def predictions_for(self, dataset: str, task: str) -> list[dict[str, Any]]:
        return [r for r in self.predictions if r["dataset"] == dataset and r["task"] == task]


def scoring_tag(results: dict[str, Any]) -> str | None:
    """'[likelihood, prompt 1a2b3c4d]' for a generative model's bundle: its mode and prompt make it another entry."""
    details = (results.get("model") or {}).get("details") or {}
    scoring = details.get("scoring") if isinstance(details, dict) else None
    if not isinstance(scoring, dict) or not scoring.get("mode"):
        return None
    mode = str(scoring["mode"])
    if scoring.get("normalize") not in (None, "sum"):
        mode += f"/{scoring['normalize']}"
    prompt = str(scoring.get("prompt_hash") or "")[:8]
    return f"[{mode}, prompt {prompt}]" if prompt else f"[{mode}]"


def with_scoring_tag(submission: Submission, results: dict[str, Any]) -> Submission:
    """Generative rows show their mode and prompt hash, and bundles that differ in either never share a row label
    or a backbone group (so one is never ranked or compared as the other)."""
    tag = scoring_tag(results)
    if tag is None or tag in submission.model:
        return submission
    backbone = f"{submission.backbone} {tag}" if submission.backbone == submission.model else submission.backbone
    return replace(submission, model=f"{submission.model} {tag}", backbone=backbone)


def submission_from_results(results: dict[str, Any]) -> Submission:
    """Metadata for a bare result bundle: controls (`blind:clip:...`) are grouped under the model they wrap."""
    name = results["model"]["name"]
    prefix, _, rest = name.partition(":")
    if prefix in CONTROL_PREFIXES and rest:
        backbone, method = rest, f"{prefix} control"
    elif prefix == TEXT_PRIOR:  # sees no video at all: a control of its own, not of a backbone
        backbone, method = "Text prior (no video)", f"{TEXT_PRIOR} control"
    elif name in REFERENCE_ROWS:  # not a backbone: a reference line of its own
        backbone, method = REFERENCE_GROUP, REFERENCE_ROWS[name]
    else:
        backbone, method = name, BACKBONE_METHOD
    return Submission(
        model=name, backbone=backbone, method=method, patcher_loss=None, trainable_params=None,
        backbone_params=None, paper=None, url=None, date="", ran_by="", source="measured",
    )


def load_submission(path: Path) -> Submission:
    data = read_json(path)
    check(data, SUBMISSION_SCHEMA, path)
    date = data["date"]
    parts = date.split("-")
    if not (len(parts) in (2, 3) and all(p.isdigit() for p in parts) and len(parts[0]) == 4):
        raise SubmissionError(f"{one_line(path)}: date: expected YYYY-MM or YYYY-MM-DD, got {one_line(date)!r}")
    for key in ("trainable_params", "backbone_params"):
        if data[key] is not None and data[key] < 0:
            raise SubmissionError(f"{one_line(path)}: {key}: must not be negative")
    if data["url"] is not None:
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(data["url"])
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.netloc \
                or not data["url"].isprintable():
            raise SubmissionError(f"{one_line(path)}: url: expected an http(s) address, got {one_line(data['url'])!r}")
    return Submission(**data)


def check_reported_cells(results: dict[str, Any], path: Path) -> None:
    """A reported ActionBench cell holds `accuracy`; a reported downstream cell (Table 2) holds only the
    metrics of its dataset's task, under that task's name."""
    from actionbench.downstream_metrics import DOWNSTREAM_DATASETS, DOWNSTREAM_TASKS

    for dataset, tasks in results.items():
        for task, cell in tasks.items():
            where = f"{path}: results.{dataset}.{task}"
            if task in TASK_NAMES:
                if "accuracy" not in cell:
                    raise SubmissionError(f"{where}.accuracy: missing")
                continue
            if task not in DOWNSTREAM_TASKS:
                raise SubmissionError(f"{path}: results.{dataset}: unknown task {task!r}")
            if DOWNSTREAM_DATASETS.get(dataset) != task:
                expected = DOWNSTREAM_DATASETS.get(dataset)
                raise SubmissionError(f"{where}: {dataset!r} is not a {task} dataset"
                                      + (f" (it is {expected})" if expected else ""))
            unknown = sorted(set(cell) - set(DOWNSTREAM_TASKS[task]))
            if unknown:
                raise SubmissionError(f"{where}: unknown metric {unknown[0]!r} (expected some of "
                                      f"{', '.join(DOWNSTREAM_TASKS[task])})")
            if not cell:
                raise SubmissionError(f"{where}: no metric")


def load_entry(folder: str | Path) -> Entry:
    """Read a submission folder (or a bare result bundle); errors are one line naming the file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SubmissionError(f"{folder}: not a folder")
    results_path = folder / RESULTS_FILE
    results = read_json(results_path)
    meta_path = folder / SUBMISSION_FILE
    if meta_path.is_file():
        submission = load_submission(meta_path)
    else:
        check_results(results, results_path)
        submission = submission_from_results(results)
    if submission.source == "reported":
        check(results, REPORTED_RESULTS_SCHEMA, results_path)
        check_reported_cells(results["results"], results_path)
        if (folder / PREDICTIONS_FILE).exists():
            raise SubmissionError(f"{folder}: a reported entry has no {PREDICTIONS_FILE} (mark it measured)")
        return Entry(folder.name, folder, submission, results)
    if results.get("source") == "reported":
        raise SubmissionError(f"{results_path}: holds reported numbers but {SUBMISSION_FILE} says measured")
    check_results(results, results_path)
    predictions = read_predictions(folder / PREDICTIONS_FILE)
    return Entry(folder.name, folder, with_scoring_tag(submission, results), results, predictions)


def find_entry_folders(root: str | Path) -> list[Path]:
    """The submission folders under `root`: `root` itself when it holds a results.json, else its
    sub-folders that do (sorted by name)."""
    root = Path(root)
    if not root.is_dir():
        raise SubmissionError(f"{root}: not a folder")
    if (root / RESULTS_FILE).is_file():
        return [root]
    folders = sorted(p for p in root.iterdir() if p.is_dir() and (p / RESULTS_FILE).is_file())
    if not folders:
        raise SubmissionError(f"{root}: no submission folders (sub-folders with {RESULTS_FILE})")
    return folders


def load_entries(roots: list[str | Path] | str | Path) -> list[Entry]:
    """Every entry under one or more roots (see find_entry_folders); duplicate folder names are refused."""
    if isinstance(roots, (str, Path)):
        roots = [roots]
    entries: list[Entry] = []
    seen: dict[str, Path] = {}
    for root in roots:
        for folder in find_entry_folders(root):
            entry = load_entry(folder)
            if entry.name in seen:
                raise SubmissionError(f"{folder}: entry name {entry.name!r} also used by {seen[entry.name]}")
            seen[entry.name] = folder
            entries.append(entry)
    return entries
