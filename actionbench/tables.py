"""Tables for people and for logs: the CLI's and the demo's tables (a probe set's counts, a run's results), and
how they are printed.

A number must never be cut. Rich shrinks a table to the terminal and ends cut cells with "…"; so a table goes out
as rich only when stdout is a terminal wide enough for every cell whole, and otherwise (a pipe, a log, an
80-column terminal) as plain text: the same title, columns, rows and caption, aligned, every value whole.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text  # cells are Text: the CLI's consoles read no markup (names come from data files)

from actionbench import tasks

GAP = "  "
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


def missing_count(missing: list[dict[str, Any]]) -> str:
    """'N probes of K clips', 'M downstream items of K clips' or both, from a bundle's `missing` list."""
    n_probes = sum(len(m.get("probe_ids", [])) for m in missing)
    n_items = sum(len(m.get("item_ids", [])) for m in missing)
    parts = ([f"{n_probes} probes"] if n_probes or not n_items else []) + (
        [f"{n_items} downstream items"] if n_items else [])
    return f"{' and '.join(parts)} of {len(missing)} clips"


def _with_interval(cell: dict[str, Any], metric: str) -> Text:
    lo, hi = cell["ci95"][metric]
    return Text.assemble(f"{cell[metric]:.1f} ", (f"({lo:.1f}-{hi:.1f})", "dim"))


def downstream_tables(results: dict[str, Any]) -> list[Table]:
    """A run's downstream cells: one retrieval table (R@1/5/10 both ways, per dataset) and one multiple-choice
    table (accuracy overall, per group and per question type), each with 95% intervals."""
    from actionbench.tasks import get

    cells = [(d, t, c) for d, by_task in sorted((results.get("downstream") or {}).items()) for t, c in by_task.items()]
    model = results["model"]["name"]
    out = []
    retrieval = [(d, c) for d, t, c in cells if get(t).kind == "retrieval"]
    if retrieval:
        metrics_ = ("r1_v2t", "r5_v2t", "r10_v2t", "r1_t2v", "r5_t2v", "r10_t2v")
        table = Table(title=f"{model} · retrieval recall (%)", title_justify="left")
        for col in ("dataset", "method", *(m.replace("_", " ") for m in metrics_), "videos", "texts", "missing"):
            table.add_column(col, justify="left" if col in ("dataset", "method") else "right")
        for d, c in retrieval:
            table.add_row(d, c["method"], *(_with_interval(c, m) for m in metrics_), str(c["n_videos"]),
                          str(c["n_texts"]), str(c["missing"]))
        out.append(table)
    for d, _, c in cells:
        if "accuracy" not in c:
            continue
        table = Table(title=f"{model} · {d} accuracy (%)", title_justify="left")
        table.add_column("questions")
        table.add_column("accuracy", justify="right")
        table.add_column("n", justify="right")
        table.add_row("all", _with_interval(c, "accuracy"), str(c["n"]))
        for group in ("causal", "temporal", "descriptive"):
            if f"accuracy_{group}" in c:
                table.add_row(group, _with_interval(c, f"accuracy_{group}"), "")
        for qtype, block in c.get("types", {}).items():
            lo, hi = block["ci95"]
            table.add_row(f"  {qtype}", Text.assemble(f"{block['accuracy']:.1f} ", (f"({lo:.1f}-{hi:.1f})", "dim")),
                          str(block["n"]))
        if c["missing"]:
            table.caption = f"{c['missing']} questions missing"
        out.append(table)
    return out


def counts_table(rows: list[tuple[str, dict[str, int]]], title: str = "Probe counts") -> Table:
    t = Table(title=title)
    t.add_column("probe set")
    for col in ("clips", *tasks.PROBE_TASKS):
        t.add_column(col, justify="right")
    for name, counts in rows:
        t.add_row(name, *[str(counts.get(c, 0)) for c in ("clips", *tasks.PROBE_TASKS)])
    return t


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


# (column header, downstream set, metric): the demo's downstream table (REFERENCE.md Table 2's columns, mini sets)
DOWNSTREAM_COLUMNS = (
    ("label R@1 v2t", "ssv2_label", "r1_v2t"), ("label R@5 v2t", "ssv2_label", "r5_v2t"),
    ("label R@1 t2v", "ssv2_label", "r1_t2v"), ("label R@5 t2v", "ssv2_label", "r5_t2v"),
    ("template R@1", "ssv2_template", "r1_v2t"), ("template R@5", "ssv2_template", "r5_v2t"),
    ("QA all", "nextqa", "accuracy"), ("QA T", "nextqa", "accuracy_temporal"), ("QA D", "nextqa", "accuracy_descriptive"),
)


def downstream_table(rows: list[tuple[str, dict[str, dict[str, Any]]]], title: str = "Downstream tasks") -> Table:
    """One row per model: recall (%) on the retrieval sets and accuracy (%) on the question set, each with its 95%
    interval; `rows` = (model label, {downstream dataset: result cell})."""
    table = Table(title=title, title_justify="left")
    table.add_column("model")
    for header, _, _ in DOWNSTREAM_COLUMNS:
        table.add_column(header, justify="right")
    for label, cells in rows:
        row: list[Any] = [label]
        for _, dataset, metric in DOWNSTREAM_COLUMNS:
            cell = cells.get(dataset)
            if cell is None or metric not in cell:
                row.append("-")
                continue
            lo, hi = cell["ci95"][metric]
            row.append(Text.assemble(f"{cell[metric]:.1f} ", (f"({lo:.1f}-{hi:.1f})", "dim")))
        table.add_row(*row)
    return table


def to_markdown(table: Table) -> str:
    """The table as GitHub Markdown (title as a heading line, then the rows); `|` in a cell is escaped."""
    headers, rows = table_rows(table)

    def line(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    out = [f"**{cell_text(table.title)}**", ""] if table.title else []
    out += [line(headers), "|" + "|".join("---:" if c.justify == "right" else "---" for c in table.columns) + "|"]
    out += [line(r) for r in rows]
    if table.caption:
        out += ["", cell_text(table.caption)]
    return "\n".join(out) + "\n"
