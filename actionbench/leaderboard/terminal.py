"""The leaderboard as a rich table, for the terminal (the demo ends with one)."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from actionbench.leaderboard.formats import SIG_MARK, legend
from actionbench.leaderboard.table import Cell, Leaderboard
from actionbench.leaderboard.validate import ProbeSetIndex


def _cell(cell: Cell) -> Text:
    text = Text(cell.text, style="bold" if cell.best else "")
    if cell.significant:
        text.append(SIG_MARK, style="red")
    return text


def to_rich(board: Leaderboard, title: str = "ActionBench leaderboard (accuracy %, chance = 50)") -> Table:
    """Table 1 layout with a Source column and Object Replacement columns at the right."""
    notes = [line for line in legend(board) if "(measured)" not in line]  # the Source column says it here
    table = Table(title=title, caption=Text("\n".join(notes)), caption_justify="left")
    for name in ("Backbone", "Method [patcher loss]", "Trainable params", "Source"):
        table.add_column(name)
    for c in board.columns:
        table.add_column(c.label, justify="right")
    table.add_column("Avg", justify="right")
    for c in board.or_columns + board.relation_columns:
        table.add_column(c.label, justify="right", style="dim")
    for gi, group in enumerate(board.groups):
        for i, r in enumerate(group.rows):
            table.add_row(  # Text, not str: names and ids from submission folders are never read as markup
                Text(r.backbone if i == 0 else ""), Text(r.method), Text(r.params),
                Text("measured", style="green") if r.entry.measured else Text("reported"),
                *[_cell(r.cells[c]) for c in board.columns], _cell(r.avg),
                *[_cell(r.cells[c]) for c in board.or_columns + board.relation_columns],
                end_section=i == len(group.rows) - 1 and gi < len(board.groups) - 1,
            )
    return table


def render_terminal(bundle_dirs: list[str | Path] | str | Path, *, check: bool = True, seed: int = 0,
                    bootstrap_size: int = 2000, index: ProbeSetIndex | None = None) -> Table:
    """Load result bundles or submission folders and return the leaderboard as a rich Table.

    With `check`, measured entries are validated first (complete run, decisions follow from scores,
    metrics recompute from predictions); a failure raises ValidationError. Without `index` (the probe sets the
    runs were scored on) measured rows are marked "(unverified)".
    """
    from actionbench.leaderboard.load import load_leaderboard

    board = load_leaderboard(bundle_dirs, check=check, index=index, unverified=index is None, allow_mixed=True,
                             seed=seed, bootstrap_size=bootstrap_size)
    return to_rich(board)
