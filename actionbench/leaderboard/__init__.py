"""The leaderboard: submission bundles, validation, comparison and tables (Markdown, LaTeX, CSV, HTML, terminal).

Typical use::

    board = load_leaderboard("submissions/", index=ProbeSetIndex.from_paths(probes_root="probes/"))
    text = render(board, "md")                         # or "latex", "csv", "html"
"""

from __future__ import annotations

from pathlib import Path

from actionbench.errors import one_line
from actionbench.leaderboard.compare import Comparison, compare_entries
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
    "FORMATS", "Comparison", "Entry", "Leaderboard", "ProbeSetIndex", "Submission", "SubmissionError",
    "ValidationError", "build_leaderboard", "check_mixing", "compare_entries", "load_entries", "load_entry",
    "load_leaderboard", "render", "render_terminal", "validate_entries", "validate_entry",
]


def load_leaderboard(
    roots: list[str | Path] | str | Path,
    *,
    check: bool = True,
    index: ProbeSetIndex | None = None,
    unverified: bool = False,
    allow_mixed: bool = False,
    seed: int = 0,
    bootstrap_size: int = 2000,
) -> Leaderboard:
    """Load every entry under `roots`, validate measured ones (when `check`), and build the table.

    A measured entry is verified against its probe sets (found through `index`) before it is shown; without an
    index that is refused, unless `unverified`, which checks everything else and marks the row "unverified".
    """
    entries = load_entries(roots)
    if check:
        for e in entries:
            if e.measured and index is None:
                if not unverified:
                    raise ValidationError(
                        f"{one_line(e.folder)}: a measured entry is verified against its probe sets before it is "
                        "shown: pass --probes DIR or --probes-root DIR (or --unverified to show it marked unverified)"
                    )
                e.unverified = True
            validate_entry(e, index)
    notes = check_mixing(entries, allow_mixed=allow_mixed)
    return build_leaderboard(entries, seed=seed, bootstrap_size=bootstrap_size, notes=notes)


def render(board: Leaderboard, fmt: str, *, plain: bool = False) -> str:
    """The leaderboard as text in one of FORMATS."""
    from actionbench.leaderboard import formats, html

    if fmt == "md":
        return formats.to_markdown(board, plain=plain)
    if fmt == "latex":
        return formats.to_latex(board, plain=plain)
    if fmt == "csv":
        return formats.to_csv(board)
    if fmt == "html":
        return html.to_html(board, plain=plain)
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")


