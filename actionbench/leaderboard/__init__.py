"""The leaderboard: submission bundles, validation, comparison and tables (Markdown, LaTeX, CSV, HTML, terminal).

Typical use::

    board = load_leaderboard("submissions/", index=ProbeSetIndex.from_paths(probes_root="probes/"))
    text = render(board, "md")                         # or "latex", "csv", "html"
    table2 = load_leaderboard("submissions/", table=2) # the paper's Table 2: downstream tasks
"""

from __future__ import annotations

from actionbench.leaderboard.compare import Comparison, compare_entries
from actionbench.leaderboard.downstream import DownstreamBoard
from actionbench.leaderboard.load import TABLES, load_leaderboard
from actionbench.leaderboard.submission import Entry, Submission, SubmissionError, load_entries, load_entry
from actionbench.leaderboard.table import Leaderboard, build_leaderboard
from actionbench.leaderboard.terminal import render_terminal
from actionbench.leaderboard.validate import (
    ProbeSetIndex,
    ValidationError,
    check_mixing,
    validate_entries,
    validate_entry,
)

FORMATS = ("md", "latex", "csv", "html")

__all__ = [
    "FORMATS", "TABLES", "Comparison", "DownstreamBoard", "Entry", "Leaderboard", "ProbeSetIndex", "Submission",
    "SubmissionError", "ValidationError", "build_leaderboard", "check_mixing", "compare_entries", "load_entries", "load_entry",
    "load_leaderboard", "render", "render_terminal", "validate_entries", "validate_entry",
]


def render(board: Leaderboard | DownstreamBoard, fmt: str, *, plain: bool = False) -> str:
    """The leaderboard (Table 1) or the downstream board (Table 2) as text in one of FORMATS."""
    from actionbench.leaderboard import formats, html

    if isinstance(board, DownstreamBoard):
        from actionbench.leaderboard.downstream import render_downstream

        return render_downstream(board, fmt, plain=plain)
    if fmt == "md":
        return formats.to_markdown(board, plain=plain)
    if fmt == "latex":
        return formats.to_latex(board, plain=plain)
    if fmt == "csv":
        return formats.to_csv(board)
    if fmt == "html":
        return html.to_html(board, plain=plain)
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


