"""CLI commands: `eval` (score a model, write a result bundle) and `models` (what can be evaluated)."""

from __future__ import annotations

import json
import os
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from actionbench import tasks
from actionbench.cli import app, console, err_console, fail, labelled
from actionbench.tables import downstream_tables, missing_count, print_table, results_table, to_plain


def _probe_count(folder: Path) -> int | None:
    """Probes in a probe set (items in a downstream set) by its manifest, or None when the folder cannot tell
    (loading it will say why)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        counts = manifest["counts"]
        if "set_id" in manifest:
            return int(counts.get("items", 0))
        return sum(int(counts.get(task, 0)) for task in tasks.PROBE_TASKS)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@app.command("eval")
def eval_command(
    model: str = typer.Option(..., "--model", help="registry name (see `actionbench models`) or path/to/file.py:factory"),
    model_arg: list[str] = typer.Option([], "--model-arg", help="key=value for the model factory (repeatable)"),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="short for --model-arg checkpoint=PATH"),
    probes: list[Path] = typer.Option(..., "--probes", help="a probe-set or downstream-set folder (repeatable; "
                                      "`build-downstream` writes downstream sets)"),
    videos: list[Path] = typer.Option(..., "--videos", help="videos root: one for all probe sets, or one each"),
    out: Path = typer.Option(..., "--out", help="folder for the result bundle"),
    device: str = typer.Option("auto", help="cpu, cuda, cuda:N or auto"),
    batch_size: int = typer.Option(16, "--batch-size", help="videos per model call"),
    workers: int = typer.Option(min(8, os.cpu_count() or 1), "--workers", help="decoding processes (0 = inline)"),
    ties: str = typer.Option("half", "--ties", help="tie policy: half, strict (AA/OR only) or paper"),
    limit: int | None = typer.Option(None, "--limit", help="score a fixed subset of N probes (by probe-id hash); "
                                     "downstream sets are scored whole"),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="exit 0 even if some videos are missing"),
    cache: Path | None = typer.Option(None, "--cache", help="embedding cache folder (default ~/.cache/actionbench)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="keep no embeddings on disk"),
    amp: str = typer.Option("auto", "--amp", help="mixed precision on CUDA: auto, bf16, fp16 or off"),
    bootstrap_seed: int = typer.Option(0, "--bootstrap-seed"),
    bootstrap_size: int = typer.Option(1000, "--bootstrap-size"),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="write a bundle even when the probe sets hold "
                                     "no probes (otherwise an error, exit 2)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a bundle of another model (or other probe "
                                   "sets, sampling or tie policy) in --out; the same run again resumes without it"),
    method: str = typer.Option("default", "--method", help="retrieval sets: default, ensemble_with_backbone (sum "
                               "of the model's and the backbone's softmax scores) or two_step_independent (the "
                               "backbone's top 50 re-ranked by the model)"),
    backbone: str | None = typer.Option(None, "--backbone", help="the second model of a non-default --method "
                                        "(a registry name or path/to/file.py:factory)"),
    backbone_arg: list[str] = typer.Option([], "--backbone-arg", help="key=value for the backbone (repeatable)"),
    allow_cross_retrieval: bool = typer.Option(False, "--allow-cross-retrieval", help="let a cross-encoder score "
                                               "retrieval sets (every video x every text: slow)"),
) -> None:
    """Score a model on ActionBench probe sets and/or downstream sets and write a result bundle (results.json +
    predictions.jsonl)."""
    from actionbench.models.registry import parse_model_args
    from actionbench.runner import command_line, evaluate

    empty = [folder for folder in probes if _probe_count(folder) == 0]
    if empty and not allow_empty:
        fail(f"{empty[0]}: an empty probe set (0 probes), nothing to score; pass --allow-empty to write an empty "
             "bundle" if len(empty) == len(probes) else
             f"{empty[0]}: an empty probe set (0 probes); leave it out, or pass --allow-empty")

    args = parse_model_args(model_arg, checkpoint)
    results, _ = evaluate(
        model, probes, videos, model_args=args, out=out, device=device, batch_size=batch_size, workers=workers,
        ties=ties, limit=limit, allow_missing=True, cache=False if no_cache else cache, amp=amp,
        bootstrap_seed=bootstrap_seed, bootstrap_size=bootstrap_size, progress=True, command=command_line(),
        overwrite=overwrite, method=method, backbone=backbone,
        backbone_args=parse_model_args(backbone_arg, None) if backbone_arg else None,
        allow_cross_retrieval=allow_cross_retrieval,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return  # under torchrun only rank 0 reports
    if results["probesets"]:
        print_table(console, results_table(results))
    if results.get("downstream_sets"):
        for table in downstream_tables(results):
            print_table(console, table)
    console.print(f"bundle: {out}")
    run = results.get("run", {})
    if run.get("embeddings"):
        console.print(f"embeddings: {run['cache_hits']} of {run['embeddings']} from the cache"
                      + (f" ({run['cache']})" if run.get("cache") else ""))
    for note in run.get("cache_ignored", [])[:3]:
        err_console.print(labelled("cache:", "yellow", f"ignored {note}"))
    if results["missing"]:
        for m in results["missing"][:5]:
            err_console.print(labelled("missing:", "yellow", f"clip {m['clip_id']}: {m['error']}"))
        if len(results["missing"]) > 5:
            err_console.print(labelled("missing:", "yellow",
                                       f"... and {len(results['missing']) - 5} more clips (see results.json)"))
        if not allow_missing:
            fail(f"{missing_count(results['missing'])} could not be scored; the bundle is marked partial "
                 "(pass --allow-missing to accept)", code=1)


class ListFormat(str, Enum):
    table = "table"
    plain = "plain"
    json = "json"


def _listed(registry) -> list[tuple[str, Any]]:
    """(name, spec) of every model: built-ins first, then plugins, each by name."""
    return sorted(registry.specs.items(), key=lambda kv: (kv[1].source != "built-in", kv[0]))


def models_table(registry) -> Table:
    table = Table(title="models", title_justify="left")
    table.add_column("name")
    table.add_column("description")
    table.add_column("weights needed")
    table.add_column("source")
    for name, spec in _listed(registry):
        # Text cells: a description such as "pip install 'actionbench[hf]'" is never read as rich markup.
        table.add_row(*(Text(c) for c in (f"{name}:<...>" if spec.prefix else name, spec.description, spec.weights,
                                          spec.source)))
    return table


@app.command("models")
def models_command(
    fmt: ListFormat = typer.Option(ListFormat.table, "--format", help="table (rich where it fits the terminal, "
                                   "else plain), plain (aligned text, nothing cut) or json (for scripts)"),
) -> None:
    """List the models that can be evaluated: built-ins, controls and installed plugins."""
    from actionbench.models.registry import load_registry

    registry = load_registry()
    table = models_table(registry)
    if fmt == ListFormat.json:
        rows = [{"name": name, "wraps_a_model": bool(spec.prefix), "description": spec.description,
                 "weights_needed": spec.weights, "source": spec.source} for name, spec in _listed(registry)]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    elif fmt == ListFormat.plain:
        print(to_plain(table), end="")
    else:
        print_table(console, table)
    if fmt != ListFormat.json:
        console.print("any model also runs as path/to/file.py:factory; controls wrap any name, "
                      "e.g. blind:clip:ViT-B-32", markup=False, highlight=False)
    for name, error in sorted(registry.broken.items()):
        err_console.print(labelled("warning:", "yellow", f"plugin {name!r} failed to load: {error}"))
    for note in registry.shadowed:
        err_console.print(labelled("warning:", "yellow", note))
