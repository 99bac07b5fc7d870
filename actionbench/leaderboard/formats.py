"""Text renderings of a Leaderboard: Markdown, LaTeX (booktabs) and CSV.

The first Markdown table is the paper's Table 1 layout cell for cell; measured rows say so in their method
cell, and a dagger marks a cell that differs significantly from its group's backbone row.
"""

from __future__ import annotations

import csv
import io

from actionbench.errors import one_line
from actionbench.leaderboard.table import Cell, Column, Leaderboard, Row, entry_details

SIG_MARK = "†"
MAIN_TITLE = "Table 1 — ActionBench accuracy (%), chance = 50"
OR_TITLE = "Object Replacement accuracy (%): the object-centric control (chance = 50)"
RELATION_TITLE = ("Action Antonym accuracy (%) per relation: inverse (the reversed video shows the foil), "
                  "outcome (same action, contrary outcome), undo (another action undoes the result)")


def method_text(row: Row) -> str:
    return f"{row.method} (measured)" if row.entry.measured else row.method


def legend(board: Leaderboard) -> list[str]:
    lines = [
        "Avg is the mean of the AA and VR accuracies, rounded half-up to one decimal; trainable parameters are "
        "shown with their share of the frozen backbone's loaded parameters.",
        "Rows marked (measured) were scored by this harness from their predictions; the others are reported "
        "by their paper.",
    ]
    if any(r.entry.unverified for r in board.rows):
        lines.append("Rows marked (unverified) were shown with --unverified: their predictions were not checked "
                     "against their probe sets, so they may cover a hand-picked subset of probes.")
    if board.comparisons:
        lines.append(f"{SIG_MARK}: differs from its group's measured backbone row (paired bootstrap over shared "
                     "source videos, Holm-corrected within the table, p < 0.05).")
    if any(c.temporally_blind for r in board.rows for c in r.cells.values()):
        lines.append("blind: the model is declared frame-order invariant, so Video Reversal is 50% by construction "
                     "(counted as 50 in Avg).")
    lines += board.notes
    return lines


# ------------------------------------------------------------------------------------------- Markdown


def _md_cell(cell: Cell, plain: bool) -> str:
    text = cell.text
    if cell.best and not plain:
        text = f"**{text}**"
    if cell.significant:
        text += SIG_MARK
    return text


_MD_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "\n": " ", "\r": " "}


def md_escape(text: str) -> str:
    """Text from a submission as one Markdown table cell or list item: no raw HTML, no `|` that splits a cell, no
    newline that ends the table."""
    return "".join(_MD_ESCAPES.get(ch, ch if ch.isprintable() else " ") for ch in str(text))


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(md_escape(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows]
    return out


def _fmt_interval(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:.1f}, {ci[1]:.1f}]"


def interval_rows(board: Leaderboard) -> tuple[list[Column], list[tuple[Row, list[str]]]]:
    """The 95% intervals of every row that has any (measured rows), as text per column."""
    columns = board.columns + board.or_columns
    rows = [(r, ["blind" if r.cells[c].temporally_blind else _fmt_interval(r.cells[c].ci95) for c in columns])
            for r in board.rows if any(r.cells[c].ci95 for c in columns)]
    return columns, rows


def to_markdown(board: Leaderboard, *, plain: bool = False) -> str:
    """The leaderboard as Markdown: Table 1, Object Replacement, intervals, comparisons, entries, legend."""
    out = ["# ActionBench leaderboard", "", f"### {MAIN_TITLE}", ""]
    header = ["Backbone", "Method [patcher loss]", "Trainable params", *[c.label for c in board.columns], "Avg"]
    rows = [[r.backbone, method_text(r), r.params, *[_md_cell(r.cells[c], plain) for c in board.columns],
             _md_cell(r.avg, plain)] for r in board.rows]
    out += _md_table(header, rows)

    out += ["", f"### {OR_TITLE}", ""]
    or_rows = [r for r in board.rows if any(r.cells[c].value is not None for c in board.or_columns)]
    if or_rows:
        out += _md_table(["Backbone", "Method [patcher loss]", *[c.label for c in board.or_columns]],
                         [[r.backbone, method_text(r), *[_md_cell(r.cells[c], plain) for c in board.or_columns]]
                          for r in or_rows])
    else:
        out.append("No entry reports Object Replacement.")

    if board.relation_columns:
        out += ["", f"### {RELATION_TITLE}", ""]
        rel_rows = [r for r in board.rows if any(r.cells[c].value is not None for c in board.relation_columns)]
        out += _md_table(["Backbone", "Method [patcher loss]", *[c.label for c in board.relation_columns]],
                         [[r.backbone, method_text(r), *[_md_cell(r.cells[c], plain) for c in board.relation_columns]]
                          for r in rel_rows])

    columns, ci_rows = interval_rows(board)
    if ci_rows:
        out += ["", "### 95% intervals", ""]
        out += _md_table(["Backbone", "Method [patcher loss]", *[c.label for c in columns]],
                         [[r.backbone, method_text(r), *texts] for r, texts in ci_rows])

    if board.comparisons:
        out += ["", "### Differences from the backbone row (paired bootstrap, Holm-corrected)", ""]
        by_name = {r.entry.name: r for r in board.rows}
        out += _md_table(
            ["Backbone", "Method [patcher loss]", "Task", "Δ (points)", "95% interval", "p", "p (Holm)", "n"],
            [[by_name[c.a].backbone, method_text(by_name[c.a]), Column(c.dataset, c.task).label, f"{c.diff:+.1f}",
              _fmt_interval(c.ci95), f"{c.p:.3g}", f"{c.p_holm:.3g}", str(c.n)] for c in board.comparisons],
        )

    out += ["", "### Entries", ""]
    details = [entry_details(r.entry) for r in board.rows]
    out += _md_table(["Entry", "Source", "Model", "Reference", "Run by", "Date", "Ties", "Frames"],
                     [[d["entry"], d["source"], d["model"], d["reference"], d["ran_by"], d["date"], d["ties"],
                       d["frames"]] for d in details])
    out += [""] + [f"- {md_escape(line)}" for line in legend(board)]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------- LaTeX

_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text: str) -> str:
    """Text as LaTeX source that typesets it literally, on one line (a newline could start a new command)."""
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in one_line(text))


def _tex_cell(cell: Cell, plain: bool) -> str:
    text = latex_escape(cell.text)
    if cell.best and not plain:
        text = rf"\textbf{{{text}}}"
    if cell.significant:
        text += r"$^\dagger$"
    return text


def _tex_rows(board: Leaderboard, columns: list[Column], plain: bool, with_params: bool, with_avg: bool) -> list[str]:
    lines = []
    for gi, group in enumerate(board.groups):
        rows = [r for r in group.rows if with_avg or any(r.cells[c].value is not None for c in columns)]
        if not rows:
            continue
        if gi and lines:
            lines.append(r"\midrule")
        for i, r in enumerate(rows):
            cells = [latex_escape(r.backbone) if i == 0 else "", latex_escape(method_text(r))]
            if with_params:
                cells.append(latex_escape(r.params))
            cells += [_tex_cell(r.cells[c], plain) for c in columns]
            if with_avg:
                cells.append(_tex_cell(r.avg, plain))
            lines.append(" & ".join(cells) + r" \\")
    return lines


def to_latex(board: Leaderboard, *, plain: bool = False) -> str:
    """Two booktabs tables (Table 1 layout and Object Replacement); needs \\usepackage{booktabs}."""
    cols = board.columns
    out = [
        "% Requires \\usepackage{booktabs}.",
        r"\begin{table}[t]", r"\centering",
        rf"\caption{{{latex_escape(MAIN_TITLE.replace('Table 1 — ', ''))}. {latex_escape(legend(board)[0])}}}",
        r"\begin{tabular}{lll" + "r" * (len(cols) + 1) + "}", r"\toprule",
        " & ".join(["Backbone", "Method [patcher loss]", "Trainable params", *[latex_escape(c.label) for c in cols],
                    "Avg"]) + r" \\",
        r"\midrule",
        *_tex_rows(board, cols, plain, with_params=True, with_avg=True),
        r"\bottomrule", r"\end{tabular}", r"\end{table}",
    ]
    if board.or_columns:
        out += [
            "", r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(OR_TITLE)}}}",
            r"\begin{tabular}{ll" + "r" * len(board.or_columns) + "}", r"\toprule",
            " & ".join(["Backbone", "Method [patcher loss]", *[latex_escape(c.label) for c in board.or_columns]])
            + r" \\",
            r"\midrule",
            *_tex_rows(board, board.or_columns, plain, with_params=False, with_avg=False),
            r"\bottomrule", r"\end{tabular}", r"\end{table}",
        ]
    if board.relation_columns:
        rc = board.relation_columns
        out += [
            "", r"\begin{table}[t]", r"\centering", rf"\caption{{{latex_escape(RELATION_TITLE)}}}",
            r"\begin{tabular}{ll" + "r" * len(rc) + "}", r"\toprule",
            " & ".join(["Backbone", "Method [patcher loss]", *[latex_escape(c.label) for c in rc]]) + r" \\",
            r"\midrule",
            *_tex_rows(board, rc, plain, with_params=False, with_avg=False),
            r"\bottomrule", r"\end{tabular}", r"\end{table}",
        ]
    out += ["", *[f"% {latex_escape(line)}" for line in legend(board)]]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------ CSV


def to_csv(board: Leaderboard) -> str:
    """One line per entry: metadata, each accuracy (one decimal, half-up) with its interval and mark, Avg."""
    columns = board.columns + board.or_columns + board.relation_columns
    header = ["entry", "source", "model", "backbone", "method", "patcher_loss", "trainable_params",
              "backbone_params", "trainable_params_text"]
    for c in columns:
        header += [c.key, f"{c.key}_ci_lo", f"{c.key}_ci_hi", f"{c.key}_significant"]
    header += ["avg", "ties", "reference"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([csv_text(h) for h in header])
    for r in board.rows:
        s = r.entry.submission
        line = [r.entry.name, s.source, s.model, s.backbone, s.method or "", s.patcher_loss or "",
                "" if s.trainable_params is None else s.trainable_params,
                "" if s.backbone_params is None else s.backbone_params, r.params]
        for c in columns:
            cell = r.cells[c]
            line += ["" if cell.value is None else ("blind" if cell.temporally_blind else str(cell.value)),
                     "" if cell.ci95 is None else f"{cell.ci95[0]:.2f}",
                     "" if cell.ci95 is None else f"{cell.ci95[1]:.2f}",
                     "" if cell.comparison is None else str(cell.significant).lower()]
        line += ["" if r.avg.value is None else str(r.avg.value), r.entry.results.get("ties", ""),
                 s.paper or s.url or ""]
        writer.writerow([csv_text(v) for v in line])
    return buf.getvalue()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: object) -> object:
    """A text cell that a spreadsheet shows as text: one starting like a formula (`=`, `+`, `-`, `@`) is prefixed
    with an apostrophe (OWASP's advice against CSV injection). Numbers pass as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    if text == "-":  # the "no trainable parameters" mark
        return True
    try:
        return abs(float(text)) < float("inf")
    except ValueError:
        return False
