"""Load a leaderboard: every entry under the roots, validated, checked for mixing, grouped and compared."""

from __future__ import annotations

from pathlib import Path

from actionbench.leaderboard.submission import load_entries
from actionbench.leaderboard.table import Leaderboard, build_leaderboard
from actionbench.leaderboard.validate import ProbeSetIndex, check_mixing, validate_entry


def load_leaderboard(
    roots: list[str | Path] | str | Path,
    *,
    check: bool = True,
    index: ProbeSetIndex | None = None,
    allow_mixed: bool = False,
    seed: int = 0,
    bootstrap_size: int = 2000,
) -> Leaderboard:
    """Load every entry under `roots`, validate measured ones (when `check`), and build the table."""
    entries = load_entries(roots)
    if check:
        for e in entries:
            validate_entry(e, index)
    notes = check_mixing(entries, allow_mixed=allow_mixed)
    return build_leaderboard(entries, seed=seed, bootstrap_size=bootstrap_size, notes=notes)
