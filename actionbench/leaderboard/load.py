"""Load a leaderboard: every entry under the roots, validated, checked for mixing, grouped and compared."""

from __future__ import annotations

from pathlib import Path

from actionbench.errors import one_line
from actionbench.leaderboard.submission import load_entries
from actionbench.leaderboard.table import Leaderboard, build_leaderboard
from actionbench.leaderboard.validate import ProbeSetIndex, ValidationError, check_mixing, validate_entry


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
