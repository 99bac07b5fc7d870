"""Table 2 of the paper: downstream tasks (retrieval and NExT-QA), as data and as Markdown, LaTeX, CSV and HTML.

The layout follows the paper cell for cell: one retrieval table (SSv2-label R1/R5 both ways, SSv2-template and
Temporal-SSv2 video-to-action R1/R5) and one NExT-QA table (C, T, D and all on the original questions; C, T
and all on ATP-hard). Tasks the paper did not print (Temporal-Kinetics, Moments-in-Time) get a third table
when an entry has them. Rows are the entries with any downstream number, in `table_order`, grouped by
backbone; the backbone row is labelled "<backbone> Backbone" as in the paper. Cells are rounded half-up to one
decimal and the best of each column within a group is bold (unless plain).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from html import escape

from actionbench.downstream_metrics import DOWNSTREAM_DATASETS
from actionbench.leaderboard.submission import BACKBONE_METHOD, Entry
from actionbench.leaderboard.table import Cell, half_up

TITLE = "Table 2 — downstream tasks"
RETRIEVAL_TITLE = ("Video-text retrieval on SSv2-label (R1/R5 v2t, R1/R5 t2v) and video-to-action retrieval on "
                   "SSv2-template and Temporal-SSv2 (R1/R5), %")
QA_TITLE = "NExT-QA accuracy (%) (C = causal, T = temporal, D = descriptive; ATP-hard subset)"
EXTRA_TITLE = "Other video-to-action retrieval tasks (zero-shot), %"


@dataclass(frozen=True)
class Column:
    dataset: str
    metric: str
    label: str  # the header as the paper prints it

    @property
    def key(self) -> str:
        return f"{self.dataset}_{self.metric}"


RETRIEVAL_COLUMNS = (
    Column("ssv2_label", "r1_v2t", "SSv2-label R1 v2t"), Column("ssv2_label", "r5_v2t", "R5 v2t"),
    Column("ssv2_label", "r1_t2v", "R1 t2v"), Column("ssv2_label", "r5_t2v", "R5 t2v"),
    Column("ssv2_template", "r1_v2t", "SSv2-template R1"), Column("ssv2_template", "r5_v2t", "R5"),
    Column("temporal_ssv2", "r1_v2t", "Temporal-SSv2 R1"), Column("temporal_ssv2", "r5_v2t", "R5"),
)
QA_COLUMNS = (
    Column("nextqa", "accuracy_causal", "Original C"), Column("nextqa", "accuracy_temporal", "T"),
    Column("nextqa", "accuracy_descriptive", "D"), Column("nextqa", "accuracy", "all"),
    Column("nextqa_atp_hard", "accuracy_causal", "ATP-hard C"), Column("nextqa_atp_hard", "accuracy_temporal", "T"),
    Column("nextqa_atp_hard", "accuracy", "all"),
)
EXTRA_COLUMNS = (
    Column("temporal_kinetics", "r1_v2t", "Temporal-Kinetics R1"), Column("temporal_kinetics", "r5_v2t", "R5"),
    Column("moments_in_time", "r1_v2t", "Moments-in-Time R1"), Column("moments_in_time", "r5_v2t", "R5"),
)


def _cells(entry: Entry) -> dict:
    """dataset -> task -> cell of the downstream numbers: a reported entry's `results`, a measured bundle's
    `downstream` section."""
    measured = entry.results.get("downstream")
    return measured if measured is not None else entry.results.get("results", {})


def downstream_cell(entry: Entry, column: Column) -> dict | None:
    """The entry's result cell of a downstream dataset (whatever its task), or None."""
    task = DOWNSTREAM_DATASETS.get(column.dataset)
    return _cells(entry).get(column.dataset, {}).get(task)


def has_downstream(entry: Entry) -> bool:
    return any(d in DOWNSTREAM_DATASETS for d in _cells(entry))


def downstream_only(entry: Entry) -> bool:
    """True for an entry whose every number is a downstream one (a Table 2 row with no Table 1 cell)."""
    datasets = list(entry.results.get("results", {}))
    if entry.results.get("downstream"):
        return not datasets
    return bool(datasets) and all(d in DOWNSTREAM_DATASETS for d in datasets)


@dataclass
class Row:
    entry: Entry
    cells: dict[Column, Cell]

    @property
    def backbone(self) -> str:
        return self.entry.submission.backbone

    @property
    def label(self) -> str:
        """'InternVideo Backbone', 'PAXION [VTC+DVDM]'; '(measured)' for a row this harness scored."""
        s = self.entry.submission
        text = f"{s.backbone} {BACKBONE_METHOD}" if s.method == BACKBONE_METHOD else s.method_label
        return f"{text} (measured)" if self.entry.measured else text


@dataclass
class DownstreamBoard:
    """Table 2: its rows (grouped by backbone, in table order) and the columns any row has."""

    rows: list[Row]
    retrieval: list[Column]
    qa: list[Column]
    extra: list[Column]
    notes: list[str] = field(default_factory=list)

    @property
    def several_backbones(self) -> bool:
        return len({r.backbone for r in self.rows}) > 1

    def tables(self) -> list[tuple[str, list[Column]]]:
        return [(t, c) for t, c in ((RETRIEVAL_TITLE, self.retrieval), (QA_TITLE, self.qa), (EXTRA_TITLE, self.extra))
                if c]


def _cell(entry: Entry, column: Column) -> Cell:
    raw = downstream_cell(entry, column)
    if raw is None or column.metric not in raw:
        return Cell(None)
    ci = (raw.get("ci95") or {}).get(column.metric) if isinstance(raw.get("ci95"), dict) else None
    value = float(raw[column.metric])
    return Cell(value=half_up(value), exact=value, ci95=(float(ci[0]), float(ci[1])) if ci else None)


def build_downstream_board(entries: list[Entry], notes: list[str] | None = None) -> DownstreamBoard:
    """Table 2 from the entries with downstream numbers (the others are left to Table 1)."""
    chosen = [e for e in entries if has_downstream(e)]
    order = {}
    for e in sorted(chosen, key=lambda e: (e.submission.table_order is None, e.submission.table_order or 0,
                                           e.submission.method != BACKBONE_METHOD, e.name)):
        order.setdefault(e.submission.backbone, []).append(e)
    ordered = [e for group in order.values() for e in group]

    def present(columns: tuple[Column, ...]) -> list[Column]:
        return [c for c in columns if any(_cell(e, c).value is not None for e in ordered)]

    retrieval, qa, extra = present(RETRIEVAL_COLUMNS), present(QA_COLUMNS), present(EXTRA_COLUMNS)
    rows = [Row(e, {c: _cell(e, c) for c in retrieval + qa + extra}) for e in ordered]
    for backbone in order:  # bold the best of each column within a group of two or more rows
        group = [r for r in rows if r.backbone == backbone]
        if len(group) < 2:
            continue
        for c in retrieval + qa + extra:
            values = [r.cells[c].value for r in group if r.cells[c].value is not None]
            for r in group:
                r.cells[c].best = bool(values) and r.cells[c].value == max(values)
    return DownstreamBoard(rows, retrieval, qa, extra, list(notes or []))


def _head(board: DownstreamBoard, first: str) -> list[str]:
    return (["Backbone"] if board.several_backbones else []) + [first]


def _lead(board: DownstreamBoard, row: Row) -> list[str]:
    return ([row.backbone] if board.several_backbones else []) + [row.label]


def _first_header(columns: list[Column]) -> str:
    return "Method" if columns and columns[0].dataset.startswith("nextqa") else "Method [patcher loss]"


def legend(board: DownstreamBoard) -> list[str]:
    lines = ["Numbers are percentages rounded half-up to one decimal; the best of each column within a backbone "
             "group is bold.",
             "Rows marked (measured) were scored by this harness; the others are reported by their paper."]
    return lines + board.notes


def _rows_of(board: DownstreamBoard, columns: list[Column]) -> list[Row]:
    return [r for r in board.rows if any(r.cells[c].value is not None for c in columns)]


def _md_cell(cell: Cell, plain: bool) -> str:
    return f"**{cell.text}**" if cell.best and not plain else cell.text


def _fmt_ci(cell: Cell) -> str:
    return "-" if cell.ci95 is None else f"[{cell.ci95[0]:.1f}, {cell.ci95[1]:.1f}]"


def to_markdown(board: DownstreamBoard, *, plain: bool = False) -> str:
    out = ["# ActionBench leaderboard", "", f"## {TITLE}"]
    if not board.rows:
        out += ["", "No entry reports a downstream task."]
    for title, columns in board.tables():
        header = _head(board, _first_header(columns)) + [c.label for c in columns]
        out += ["", f"### {title}", "", "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        out += ["| " + " | ".join(_lead(board, r) + [_md_cell(r.cells[c], plain) for c in columns]) + " |"
                for r in _rows_of(board, columns)]
        ci_rows = [r for r in _rows_of(board, columns) if any(r.cells[c].ci95 for c in columns)]
        if ci_rows:
            out += ["", "95% intervals:", "", "| " + " | ".join(header) + " |",
                    "|" + "|".join("---" for _ in header) + "|"]
            out += ["| " + " | ".join(_lead(board, r) + [_fmt_ci(r.cells[c]) for c in columns]) + " |"
                    for r in ci_rows]
    out += [""] + [f"- {line}" for line in legend(board)]
    return "\n".join(out) + "\n"


def to_latex(board: DownstreamBoard, *, plain: bool = False) -> str:
    from actionbench.leaderboard.formats import latex_escape

    out = ["% Requires \\usepackage{booktabs}."]
    for title, columns in board.tables():
        lead = len(_head(board, ""))
        header = _head(board, _first_header(columns)) + [c.label for c in columns]
        out += ["", r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(title)}}}",
                r"\begin{tabular}{" + "l" * lead + "r" * len(columns) + "}", r"\toprule",
                " & ".join(latex_escape(h) for h in header) + r" \\", r"\midrule"]
        for r in _rows_of(board, columns):
            cells = []
            for c in columns:
                text = latex_escape(r.cells[c].text)
                cells.append(rf"\textbf{{{text}}}" if r.cells[c].best and not plain else text)
            out.append(" & ".join([latex_escape(x) for x in _lead(board, r)] + cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    out += ["", *[f"% {line}" for line in legend(board)]]
    return "\n".join(out) + "\n"


def to_csv(board: DownstreamBoard) -> str:
    """One line per entry: metadata, then each downstream number (one decimal, half-up) with its interval."""
    columns = board.retrieval + board.qa + board.extra
    header = ["entry", "source", "model", "backbone", "method", "patcher_loss"]
    for c in columns:
        header += [c.key, f"{c.key}_ci_lo", f"{c.key}_ci_hi"]
    header += ["reference"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in board.rows:
        s = r.entry.submission
        line = [r.entry.name, s.source, s.model, s.backbone, s.method or "", s.patcher_loss or ""]
        for c in columns:
            cell = r.cells[c]
            line += ["" if cell.value is None else str(cell.value),
                     "" if cell.ci95 is None else f"{cell.ci95[0]:.2f}",
                     "" if cell.ci95 is None else f"{cell.ci95[1]:.2f}"]
        writer.writerow(line + [s.paper or s.url or ""])
    return buf.getvalue()


def to_html(board: DownstreamBoard, *, plain: bool = False) -> str:
    """Table 2 as one self-contained HTML page (the Table 1 page's style)."""
    from actionbench.leaderboard.html import STYLE

    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f"<title>{escape(TITLE)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{escape(TITLE)}</h1>"]
    for n, (title, columns) in enumerate(board.tables()):
        header = _head(board, _first_header(columns)) + [c.label for c in columns]
        lead = len(header) - len(columns)
        out += [f"<h2>{escape(title)}</h2>", f'<table id="downstream-{n}">', "<thead><tr>"
                + "".join(f'<th class="{"text" if i < lead else "num"}">{escape(h)}</th>' for i, h in enumerate(header))
                + "</tr></thead>", "<tbody>"]
        for r in _rows_of(board, columns):
            tds = "".join(f'<td class="text">{escape(x)}</td>' for x in _lead(board, r))
            for c in columns:
                cell = r.cells[c]
                cls = ' class="best"' if cell.best and not plain else ""
                title_attr = f' title="95% interval {cell.ci95[0]:.1f}–{cell.ci95[1]:.1f}"' if cell.ci95 else ""
                tds += f"<td{cls}{title_attr}>{escape(cell.text)}</td>"
            out.append(f'<tr class="entry" data-entry="{escape(r.entry.name)}" '
                       f'data-source="{escape(r.entry.submission.source)}">{tds}</tr>')
        out += ["</tbody>", "</table>"]
    out += ['<ul class="legend">', *[f"<li>{escape(line)}</li>" for line in legend(board)], "</ul>",
            "</body>", "</html>"]
    return "\n".join(out) + "\n"


def render_downstream(board: DownstreamBoard, fmt: str, *, plain: bool = False) -> str:
    if fmt == "md":
        return to_markdown(board, plain=plain)
    if fmt == "latex":
        return to_latex(board, plain=plain)
    if fmt == "csv":
        return to_csv(board)
    if fmt == "html":
        return to_html(board, plain=plain)
    raise ValueError(f"unknown format {fmt!r} (choose from md, latex, csv, html)")
