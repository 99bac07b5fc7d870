"""CLI commands: `actionbench leaderboard validate | render | compare`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.table import Table

from actionbench import tasks
from actionbench.cli import app, console, fail, labelled
from actionbench.errors import one_line
from actionbench.files import atomic_write
from actionbench.tables import print_table

leaderboard_app = typer.Typer(
    help="Validate submission bundles, render leaderboard tables, compare two entries.", no_args_is_help=True
)
app.add_typer(leaderboard_app, name="leaderboard")


class Format(str, Enum):
    md = "md"
    latex = "latex"
    csv = "csv"
    html = "html"


PROBES_HELP = "probe-set folder a measured entry was scored on (repeatable)"
PROBES_ROOT_HELP = "folder searched (recursively) for probe sets by their probeset_id"


@leaderboard_app.command("validate")
def validate_cmd(
    folder: Path = typer.Argument(..., help="a submission folder, or a folder of them (e.g. submissions/)"),
    probes: list[Path] = typer.Option([], "--probes", help=PROBES_HELP),
    probes_root: Path = typer.Option(None, "--probes-root", help=PROBES_ROOT_HELP),
    allow_mixed: bool = typer.Option(False, "--allow-mixed", help="accept measured rows with different sampling "
                                     "specs, tie policies or probe sets in one table"),
) -> None:
    """Check every entry: schema; for measured ones, recompute every metric from predictions.jsonl."""
    from actionbench.errors import InputError
    from actionbench.leaderboard import ProbeSetIndex, check_mixing, load_entry, validate_entries
    from actionbench.leaderboard.submission import find_entry_folders

    index = ProbeSetIndex.from_paths(probes, probes_root)
    entries, outcome = [], {}
    for sub in find_entry_folders(folder):
        try:
            entries.append(load_entry(sub))
        except InputError as e:  # one unreadable entry is reported and the others still validated
            outcome[sub.name] = str(e)
    outcome.update(validate_entries(entries, index))
    for name in sorted(outcome):
        reason = outcome[name]
        if reason is None:
            console.print(labelled("ok     ", "green", name))
        else:
            console.print(labelled("invalid", "red", f"{one_line(name)}: {reason}"))
    bad = sum(r is not None for r in outcome.values())
    valid = [e for e in entries if outcome.get(e.name) is None]
    try:
        for note in check_mixing(valid, allow_mixed=allow_mixed):
            console.print(labelled("note:", "yellow", note))
    except InputError as e:
        fail(e)
    if bad:
        fail(f"{bad} of {len(outcome)} entries invalid")
    console.print(f"{len(outcome)} entries valid")


@leaderboard_app.command("render")
def render_cmd(
    folders: list[Path] = typer.Argument(..., help="submission folders or folders of them"),
    fmt: Format = typer.Option(Format.md, "--format", help="md, latex, csv or html"),
    table: int = typer.Option(1, "--table", help="1: ActionBench (AA / VR, Object Replacement); 2: the downstream "
                              "tasks (retrieval, NExT-QA)"),
    out: Path = typer.Option(None, "--out", help="write here instead of printing"),
    plain: bool = typer.Option(False, "--plain", help="no bold for the best of each group"),
    probes: list[Path] = typer.Option([], "--probes", help=PROBES_HELP + " (measured entries are verified against "
                                      "their probe sets: give --probes, --probes-root or --unverified)"),
    probes_root: Path = typer.Option(None, "--probes-root", help=PROBES_ROOT_HELP),
    unverified: bool = typer.Option(False, "--unverified", help="show measured entries without checking them "
                                    "against their probe sets; their rows are marked (unverified)"),
    allow_mixed: bool = typer.Option(False, "--allow-mixed", help="allow mixed protocols (stated under the table)"),
    seed: int = typer.Option(0, help="seed of the paired bootstraps behind the significance marks"),
    bootstrap_size: int = typer.Option(2000, help="replicates of each paired bootstrap"),
    aa_relations: bool = typer.Option(False, "--aa-relations", help="also show Action Antonym per relation "
                                      "(inverse / outcome / undo) per dataset"),
) -> None:
    """Render the leaderboard in the paper's Table 1 (or, with --table 2, Table 2) layout; entries are validated
    first."""
    from actionbench.leaderboard import ProbeSetIndex, load_leaderboard, render

    index = ProbeSetIndex.from_paths(probes, probes_root) if probes or probes_root else None
    board = load_leaderboard(folders, check=True, index=index, unverified=unverified, allow_mixed=allow_mixed,
                             seed=seed, bootstrap_size=bootstrap_size, table=table, relations=aa_relations)
    text = render(board, fmt.value, plain=plain)
    if out is None:
        print(text, end="")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, text)
    console.print(f"wrote {one_line(out)} ({len(board.rows)} rows)")


@leaderboard_app.command("compare")
def compare_cmd(
    a: Path = typer.Argument(..., help="measured entry A (a bundle or submission folder)"),
    b: Path = typer.Argument(..., help="measured entry B"),
    seed: int = typer.Option(0, help="bootstrap seed"),
    bootstrap_size: int = typer.Option(2000, help="bootstrap replicates"),
    allow_mixed: bool = typer.Option(False, "--allow-mixed", help="compare despite different sampling/tie policy"),
) -> None:
    """Paired comparison A - B per dataset and task, over the probes both scored, and per downstream dataset and
    metric, over the queries or questions both scored (Holm across them all)."""
    from actionbench.leaderboard import compare_entries, load_entry, validate_entry
    from actionbench.leaderboard.table import Column

    ea, eb = load_entry(a), load_entry(b)
    for e in (ea, eb):
        validate_entry(e)
    comparisons = compare_entries(ea, eb, seed=seed, size=bootstrap_size, allow_mixed=allow_mixed)
    table = Table(title=f"{ea.name} vs {eb.name} (paired bootstrap over shared source videos)")
    for name in ("task", "n", "clusters", "A %", "B %", "A - B", "95% interval", "p", "p (Holm)"):
        table.add_column(name, justify="left" if name == "task" else "right")
    for c in comparisons:
        mark = " *" if c.significant else ""
        label = Column(c.dataset, c.task).label if c.metric == "accuracy" and c.task in tasks.PROBE_TASKS \
            else f"{c.dataset} {c.metric}"
        table.add_row(label, str(c.n), str(c.n_clusters), f"{c.accuracy_a:.1f}",
                      f"{c.accuracy_b:.1f}", f"{c.diff:+.1f}{mark}", f"[{c.ci95[0]:+.1f}, {c.ci95[1]:+.1f}]",
                      f"{c.p:.3g}", f"{c.p_holm:.3g}")
    print_table(console, table)
    console.print("* p (Holm) < 0.05")
