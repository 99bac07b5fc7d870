"""CLI command: `score-nextqa` (score an official NExT-QA prediction file, overall / per type / ATP-hard)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from actionbench.cli import app, console

GROUP_ROWS = (("all", None), ("C: causal (CW+CH)", "causal"), ("T: temporal (TN+TC+TP)", "temporal"),
              ("D: descriptive (DC+DL+DO)", "descriptive"))


def _text(block: dict[str, Any] | None) -> str:
    if block is None:
        return "-"
    lo, hi = block["ci95"]
    return f"{block['accuracy']:.1f} ({lo:.1f}-{hi:.1f}) n={block['n']}"


def nextqa_table(scored: dict[str, Any]) -> Table:
    """Accuracy (%) with its 95% interval per group and per type, all questions and (when given) ATP-hard."""
    hard = scored.get("atp_hard")
    table = Table(title=f"NExT-QA accuracy (%) · {scored['predictions']}", title_justify="left")
    table.add_column("questions")
    table.add_column("all", justify="right")
    if hard is not None:
        table.add_column("ATP-hard", justify="right")

    def pick(result: dict[str, Any] | None, kind: str, key: str | None) -> dict[str, Any] | None:
        if result is None:
            return None
        return result["overall"] if key is None else result[kind].get(key)

    for label, key in GROUP_ROWS:
        row = [label, _text(pick(scored["all"], "groups", key))]
        if hard is not None:
            row.append(_text(pick(hard, "groups", key)))
        table.add_row(*row, end_section=key == "descriptive")
    for qtype in scored["all"]["types"]:
        row = [f"  {qtype}", _text(pick(scored["all"], "types", qtype))]
        if hard is not None:
            row.append(_text(pick(hard, "types", qtype)))
        table.add_row(*row)
    return table


@app.command("score-nextqa")
def score_nextqa_command(
    predictions: Path = typer.Argument(
        ..., help='prediction file: {"<video>_<qid>": {"prediction": i, "answer": j}}'),
    annotations: Path = typer.Option(
        ..., "--annotations", help="the NExT-QA CSV the predictions answer (e.g. val.csv)"),
    atp_hard: Path | None = typer.Option(None, "--atp-hard", help="ATP-hard id list (<video>_<qid> per line, or a "
                                         "CSV with video and qid columns)"),
    json_out: Path | None = typer.Option(None, "--json", help="also write the scores (with intervals) here"),
    seed: int = typer.Option(0, help="bootstrap seed"),
    bootstrap_size: int = typer.Option(1000, help="bootstrap replicates"),
) -> None:
    """Score a NExT-QA prediction file: accuracy overall, per question type and group, and on ATP-hard."""
    from actionbench.downstream_metrics import score_nextqa_file
    from actionbench.files import atomic_write

    scored = score_nextqa_file(str(predictions), str(annotations), subset_path=None if atp_hard is None
                               else str(atp_hard), bootstrap_seed=seed, bootstrap_size=bootstrap_size)
    console.print(nextqa_table(scored))
    console.print(f"95% intervals: bootstrap over videos ({bootstrap_size} replicates, seed {seed}).",
                  highlight=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(json_out, json.dumps(scored, indent=2, sort_keys=True) + "\n")
        console.print(f"wrote {json_out}", highlight=False)


@app.command("mini-downstream")
def mini_downstream_command(
    mini: Path = typer.Option(..., "--mini", help="a folder written by `actionbench mini-data`"),
    out: Path = typer.Option(..., "--out", help="where the downstream files go"),
) -> None:
    """Mini downstream tasks from the mini benchmark: SSv2-label / -template retrieval files and a NExT-QA-style
    question set (order-dependent and one-frame questions), in the original formats."""
    from actionbench.datasets.mini_downstream import write_mini_downstream

    counts = write_mini_downstream(mini, out)
    console.print(f"wrote {out}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), highlight=False)


@app.command("build-downstream")
def build_downstream_command(
    dataset: str = typer.Option(..., "--dataset", help="ssv2_label, ssv2_template, temporal_ssv2, temporal_kinetics, "
                                "moments_in_time, nextqa"),
    annotations: Path = typer.Option(..., "--annotations", help="the task's original annotation file"),
    out: Path = typer.Option(..., "--out", help="the downstream-set folder to write"),
    categories: Path | None = typer.Option(None, "--categories", help="moments_categories.txt (Moments-in-Time)"),
    video_map: Path | None = typer.Option(None, "--video-map", help="map_vid_vidorID.json (NExT-QA)"),
    subset: Path | None = typer.Option(None, "--subset", help="NExT-QA: keep these <video>_<qid> ids (ATP-hard); "
                                       "the set is then nextqa_atp_hard"),
    split: str = typer.Option("val", "--split", help="the split the file holds (recorded)"),
) -> None:
    """Build a downstream set (clips, candidate texts, items, manifest) from a task's original annotations."""
    from actionbench.datasets import downstream_set

    ds = downstream_set.build(dataset, annotations, categories=categories, video_map=video_map,
                              subset=subset, split=split)
    ds.save(out)
    counts = ", ".join(f"{k} {v}" for k, v in ds.manifest.counts.items())
    console.print(f"wrote {out}: {ds.manifest.dataset} ({ds.manifest.task}), {counts}, set_id {ds.set_id}",
                  highlight=False)
