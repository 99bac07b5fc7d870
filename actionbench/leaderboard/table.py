"""The leaderboard as data: rows grouped by backbone, cells rounded half-up, best-of-group and significance.

Every output format (Markdown, LaTeX, CSV, HTML, the terminal) renders this one structure, so they agree.
The main table has the paper's Table 1 layout: AA and VR per dataset (Ego4D first, then SSv2, then any
other dataset), their average, and trainable parameters; Object Replacement gets its own table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from actionbench import tasks
from actionbench.leaderboard.compare import Comparison, compare_cells
from actionbench.leaderboard.submission import BACKBONE_METHOD, Entry

DATASET_ORDER = ("ego4d", "ssv2")
DATASET_LABELS = {"ego4d": "Ego4d", "ssv2": "SSv2"}  # spelled as in the paper's Table 1
MAIN_TASKS = tasks.action_ids()
CONTROL_TASK = next(t.id for t in tasks.all_tasks() if t.control)
TASK_SHORT = {t: tasks.short(t) for t in tasks.PROBE_TASKS}
CHANCE = tasks.get(MAIN_TASKS[0]).chance
ONE_DECIMAL = Decimal("0.1")


def half_up(value: float | Decimal) -> Decimal:
    """Round to one decimal, halves away from zero (60.45 -> 60.5), on the value as written (no binary noise)."""
    d = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return d.quantize(ONE_DECIMAL, rounding=ROUND_HALF_UP)


def format_count(count: int) -> str:
    """8_400_000 -> '8.4M' (half-up, one decimal)."""
    for scale, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= scale:
            return f"{half_up(Decimal(count) / scale)}{suffix}"
    return str(count)


def format_params(entry: Entry) -> str:
    """'4.2M (0.9%)' with the percentage of the frozen backbone's loaded parameters; '-' for none."""
    s = entry.submission
    if s.method is None and s.trainable_params is None:
        return ""  # a human row has no parameters at all
    if not s.trainable_params:
        return "-"
    text = format_count(s.trainable_params)
    if s.backbone_params:
        pct = half_up(Decimal(s.trainable_params) * 100 / Decimal(s.backbone_params))
        text += f" ({pct}%)"
    return text


@dataclass(frozen=True)
class Column:
    dataset: str
    task: str
    relation: str | None = None  # Action Antonym restricted to foils of one relation (inverse / outcome / undo)

    @property
    def label(self) -> str:
        task = TASK_SHORT[self.task] + (f" {self.relation}" if self.relation else "")
        return f"{task} {DATASET_LABELS.get(self.dataset, self.dataset)}"

    @property
    def key(self) -> str:
        relation = f"_{self.relation}" if self.relation else ""
        return f"{TASK_SHORT[self.task].lower()}{relation}_{self.dataset}"


@dataclass
class Cell:
    """One accuracy of one row."""

    value: Decimal | None  # rounded half-up to one decimal; None when the entry has no such number
    exact: float | None = None
    ci95: tuple[float, float] | None = None
    temporally_blind: bool = False
    best: bool = False
    comparison: Comparison | None = None  # against the group's backbone row, when both are measured

    @property
    def significant(self) -> bool:
        return self.comparison is not None and self.comparison.significant

    @property
    def text(self) -> str:
        if self.value is None:
            return "-"
        return "blind" if self.temporally_blind else str(self.value)


@dataclass
class Row:
    entry: Entry
    cells: dict[Column, Cell]
    avg: Cell
    params: str

    @property
    def backbone(self) -> str:
        return self.entry.submission.backbone

    @property
    def method(self) -> str:
        """The method label, with "(unverified)" for a measured row not checked against its probe sets."""
        label = self.entry.submission.method_label
        return f"{label} (unverified)".strip() if self.entry.unverified else label

    @property
    def source(self) -> str:
        return self.entry.submission.source


@dataclass
class Group:
    backbone: str
    rows: list[Row]
    baseline: Row | None  # the measured backbone row the others are compared with


@dataclass
class Leaderboard:
    columns: list[Column]  # AA / VR per dataset
    or_columns: list[Column]  # Object Replacement per dataset
    groups: list[Group]
    comparisons: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    relation_columns: list[Column] = field(default_factory=list)  # AA per relation, when asked for

    @property
    def rows(self) -> list[Row]:
        return [r for g in self.groups for r in g.rows]


def _dataset_order(datasets: set[str]) -> list[str]:
    return [d for d in DATASET_ORDER if d in datasets] + sorted(datasets - set(DATASET_ORDER))


def _columns(entries: list[Entry], tasks: tuple[str, ...]) -> list[Column]:
    present = {(d, t) for e in entries for d in e.datasets() for t in tasks if e.cell(d, t) is not None}
    datasets = _dataset_order({d for d, _ in present})
    return [Column(d, t) for d in datasets for t in tasks if (d, t) in present]


def _relation_columns(entries: list[Entry]) -> list[Column]:
    """AA per relation, per dataset, for the relations any entry reports."""
    present = {(d, rel) for e in entries for d, rels in (e.results.get("relations") or {}).items() for rel in rels}
    return [Column(d, "action_antonym", rel) for d in _dataset_order({d for d, _ in present})
            for rel in sorted(r for dd, r in present if dd == d)]


def _cell(entry: Entry, column: Column) -> Cell:
    if column.relation is not None:
        raw = ((entry.results.get("relations") or {}).get(column.dataset) or {}).get(column.relation)
    else:
        raw = entry.cell(column.dataset, column.task)
    if raw is None:
        return Cell(None)
    ci = raw.get("ci95")
    return Cell(
        value=half_up(raw["accuracy"]),
        exact=float(raw["accuracy"]),
        ci95=(float(ci[0]), float(ci[1])) if ci else None,
        temporally_blind=bool(raw.get("temporally_blind", False)),
    )


def _average(cells: list[Cell]) -> Cell:
    """Mean of the exact accuracies, rounded half-up; a temporally blind VR counts as its 50% by construction."""
    if not cells or any(c.value is None for c in cells):
        return Cell(None)
    values = [Decimal(repr(CHANCE)) if c.temporally_blind else Decimal(repr(c.exact)) for c in cells]
    mean = sum(values, Decimal(0)) / len(values)
    return Cell(value=half_up(mean), exact=float(mean))


def _row_key(entry: Entry) -> tuple:
    order = entry.submission.table_order
    return (0 if order is not None else 1, order or 0, entry.submission.method != BACKBONE_METHOD, entry.name)


def _mark_best(group: Group, columns: list[Column]) -> None:
    """Bold the best value of each column (and Avg) within a group of two or more rows."""
    if len(group.rows) < 2:
        return
    for getter in [lambda r, c=c: r.cells[c] for c in columns] + [lambda r: r.avg]:
        cells = [getter(r) for r in group.rows]
        values = [c.value for c in cells if c.value is not None and not c.temporally_blind]
        if not values:
            continue
        best = max(values)
        for c in cells:
            c.best = c.value == best and not c.temporally_blind


def build_leaderboard(
    entries: list[Entry], *, seed: int = 0, bootstrap_size: int = 2000, notes: list[str] | None = None,
    relations: bool = False,
) -> Leaderboard:
    """Arrange entries into the paper's layout and compare measured rows with their group's backbone row.

    With `relations`, the board also holds Action Antonym per relation (inverse / outcome / undo) per dataset,
    from each bundle's `relations` section (rows without one show "-")."""
    columns = _columns(entries, MAIN_TASKS)
    or_columns = _columns(entries, (CONTROL_TASK,))
    relation_columns = _relation_columns(entries) if relations else []
    ordered = sorted(entries, key=_row_key)
    by_backbone: dict[str, list[Entry]] = {}
    for e in ordered:  # groups appear in the order of their first row
        by_backbone.setdefault(e.submission.backbone, []).append(e)
    groups = []
    for backbone, members in by_backbone.items():
        rows = []
        for e in members:
            cells = {c: _cell(e, c) for c in columns + or_columns + relation_columns}
            rows.append(Row(e, cells, _average([cells[c] for c in columns]), format_params(e)))
        baseline = next((r for r in rows if r.entry.measured and r.entry.submission.method == BACKBONE_METHOD
                         and r.entry.predictions), None)
        groups.append(Group(backbone, rows, baseline))

    # One family of tests for the whole table: Holm across every (row, cell) compared.
    pairs: list[tuple[Entry, Entry, str, str]] = []
    targets: dict[tuple[str, str, str], Cell] = {}
    for g in groups:
        if g.baseline is None:
            continue
        for r in g.rows:
            if r is g.baseline or not r.entry.measured or not r.entry.predictions:
                continue
            for c in columns + or_columns:
                mine, base = r.cells[c], g.baseline.cells[c]
                # A temporally blind VR is 50% by construction: there is nothing to test.
                if mine.value is not None and base.value is not None and not (mine.temporally_blind
                                                                              or base.temporally_blind):
                    pairs.append((r.entry, g.baseline.entry, c.dataset, c.task))
                    targets[(r.entry.name, c.dataset, c.task)] = r.cells[c]
    comparisons = compare_cells(pairs, seed=seed, size=bootstrap_size) if pairs else []
    for comp in comparisons:
        targets[(comp.a, comp.dataset, comp.task)].comparison = comp
    for g in groups:
        _mark_best(g, columns)
        _mark_best_or(g, or_columns)
        _mark_best_or(g, relation_columns)
    return Leaderboard(columns, or_columns, groups, comparisons, list(notes or []), relation_columns)


def _mark_best_or(group: Group, columns: list[Column]) -> None:
    if len(group.rows) < 2:
        return
    for c in columns:
        values = [r.cells[c].value for r in group.rows if r.cells[c].value is not None]
        if values:
            best = max(values)
            for r in group.rows:
                r.cells[c].best = r.cells[c].value == best


def entry_details(entry: Entry) -> dict[str, Any]:
    """The provenance shown beside a table: source, reference, who ran it, protocol."""
    s, r = entry.submission, entry.results
    frames = r.get("frame_spec")
    if isinstance(frames, dict):
        frames = frames.get("num_frames", frames)
    return {
        "entry": entry.name,
        "model": s.model,
        "source": s.source,
        "reference": s.paper or s.url or "",
        "url": s.url or "",
        "ran_by": s.ran_by,
        "date": s.date,
        "ties": r.get("ties", ""),
        "frames": "" if frames is None else str(frames),
    }
