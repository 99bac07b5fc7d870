"""Rich tables for a terminal: a probe set's counts and a run's results (the CLI and the demo print them)."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text  # cells are Text: the CLI's consoles read no markup (names come from data files)

from actionbench import tasks

TASK_COLUMNS = tuple((t, tasks.short(t)) for t in tasks.PROBE_TASKS)


def results_table(results: dict[str, Any]) -> Table:
    """One row per dataset: accuracy and 95% interval per task, the consistent score, ties and missing."""
    model = results["model"]["name"]
    title = f"{model} · ties={results['ties']}"
    if results.get("subset"):
        title += f" · subset of {results['subset']['limit']} probes"
    if results.get("partial"):
        title += " · PARTIAL"
    table = Table(title=title, title_justify="left")
    table.add_column("dataset")
    for _, short in TASK_COLUMNS:
        table.add_column(short, justify="right")
    table.add_column("consistent", justify="right")
    table.add_column("n", justify="right")
    table.add_column("ties", justify="right")
    table.add_column("missing", justify="right")
    for dataset, cells in sorted(results["results"].items()):
        row = [dataset]
        for task, _ in TASK_COLUMNS:
            cell = cells.get(task)
            if cell is None or cell["n"] == 0:
                row.append("-")
            elif task == tasks.VR and cell.get("temporally_blind"):
                row.append(Text("temporally blind", style="dim"))
            else:
                lo, hi = cell["ci95"]
                row.append(Text.assemble(f"{cell['accuracy']:.1f} ", (f"({lo:.1f}-{hi:.1f})", "dim")))
        cons = results.get("consistent", {}).get(dataset)
        row.append("-" if cons is None or results.get("temporally_blind") else f"{cons['accuracy']:.1f}")
        n = sum(c["n"] for c in cells.values())
        ties = sum(c["tie_rate"] * c["n"] for c in cells.values())
        row.append(str(n))
        row.append(f"{100 * ties / n:.1f}%" if n else "-")
        row.append(str(sum(c.get("missing", 0) for c in cells.values())))
        table.add_row(*row)
    return table


def counts_table(rows: list[tuple[str, dict[str, int]]], title: str = "Probe counts") -> Table:
    t = Table(title=title)
    t.add_column("probe set")
    for col in ("clips", *tasks.PROBE_TASKS):
        t.add_column(col, justify="right")
    for name, counts in rows:
        t.add_row(name, *[str(counts.get(c, 0)) for c in ("clips", *tasks.PROBE_TASKS)])
    return t
