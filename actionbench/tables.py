"""Tables for people and for logs: a rich table where it fits the terminal, plain aligned text everywhere else.

A number must never be cut. Rich shrinks a table to the terminal and ends cut cells with "…"; so a table goes out
as rich only when stdout is a terminal wide enough for every cell whole, and otherwise (a pipe, a log, an
80-column terminal) as plain text: the same title, columns, rows and caption, aligned, every value whole.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

GAP = "  "


def cell_text(cell: Any) -> str:
    """A cell's text without markup or styles, on one line."""
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        text = Text.from_markup(cell).plain
    else:
        text = str(cell)
    return " ".join(text.split("\n"))


def table_rows(table: Table) -> tuple[list[str], list[list[str]]]:
    """(headers, rows) of a rich table as plain strings."""
    headers = [cell_text(c.header) for c in table.columns]
    cells = [list(c.cells) for c in table.columns]
    rows = [[cell_text(col[i]) if i < len(col) else "" for col in cells] for i in range(table.row_count)]
    return headers, rows


def to_plain(table: Table) -> str:
    """The table as aligned plain text (title, header, a rule, rows, caption); nothing is cut or wrapped."""
    headers, rows = table_rows(table)
    shown = headers if table.show_header else [""] * len(headers)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(shown)]
    right = [c.justify == "right" for c in table.columns]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)]
        return GAP.join(parts).rstrip()

    out = []
    if table.title:
        out.append(cell_text(table.title))
    if table.show_header:
        out += [line(headers), GAP.join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    if table.caption:
        caption = table.caption.plain if isinstance(table.caption, Text) else Text.from_markup(str(table.caption)).plain
        out += caption.splitlines()
    return "\n".join(out) + "\n"


def fits(table: Table, console: Console) -> bool:
    """Whether `console` is a terminal that shows every cell of `table` whole."""
    if not console.is_terminal:
        return False
    unbounded = console.options.update_width(1_000_000)  # measured at any width: what the table wants
    return Measurement.get(console, unbounded, table).maximum <= console.width


def print_table(console: Console, table: Table) -> None:
    """A rich table where it fits the terminal whole, else the same table as plain aligned text."""
    if fits(table, console):
        console.print(table)
    else:
        console.print(to_plain(table), end="", markup=False, highlight=False, soft_wrap=True)
