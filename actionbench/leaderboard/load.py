"""Load a leaderboard: every entry under the roots, validated, checked for mixing, grouped and compared."""

from __future__ import annotations

from pathlib import Path

from actionbench.errors import one_line
from actionbench.leaderboard.downstream import DownstreamBoard, build_downstream_board, downstream_only
from actionbench.leaderboard.submission import load_entries
from actionbench.leaderboard.table import Leaderboard, build_leaderboard
from actionbench.leaderboard.validate import ProbeSetIndex, ValidationError, check_mixing, validate_entry

TABLES = (1, 2)  # 1: ActionBench (AA / VR, Object Replacement); 2: the downstream tasks


def load_leaderboard(
    roots: list[str | Path] | str | Path,
    *,
    check: bool = True,
    index: ProbeSetIndex | None = None,
    unverified: bool = False,
    allow_mixed: bool = False,
    seed: int = 0,
    bootstrap_size: int = 2000,
    table: int = 1,
    relations: bool = False,
) -> Leaderboard | DownstreamBoard:
    """Load every entry under `roots`, validate measured ones (when `check`), and build one table: 1 (the
    ActionBench probes, from the entries with probe results; with AA per relation when `relations`) or 2 (the
    downstream tasks).

    A measured entry is verified against its probe sets (found through `index`) before it is shown; without an
    index that is refused, unless `unverified`, which checks everything else and marks the row "unverified".
    """
    if table not in TABLES:
        raise ValueError(f"unknown table {table} (choose from {', '.join(map(str, TABLES))})")
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
    if table == 2:
        return build_downstream_board(entries)
    entries = [e for e in entries if not downstream_only(e)]  # Table 2's rows have no Table 1 cell
    notes = check_mixing(entries, allow_mixed=allow_mixed)
    return build_leaderboard(entries, seed=seed, bootstrap_size=bootstrap_size, notes=notes, relations=relations)
