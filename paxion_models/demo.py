"""The demo's training stages (entry point `actionbench.demo`): the paper's story on the mini benchmark.

Train the mini backbone on both mini train splits, then, per dataset as the paper does, a KP-Perceiver with VTC and
one with VTC+DVDM on its frozen features; evaluate the backbone and its controls on both validation sets, and each
patcher and its controls on its own dataset's validation set, through the harness.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

CONTROLS = ("blind:", "first-frame:", "last-frame:")
DATASET_LABELS = {"ssv2": "SSv2-mini", "ego4d": "Ego4D-mini"}


def run_stages(
    *,
    out: Path,
    sets: dict[str, tuple[Path, Path]],
    seed: int,
    console: Console,
    evaluate_rows: Callable[..., list[Path]],
    downstream: Any = None,
) -> list[Path]:
    """Train, evaluate, and return the result-bundle folders for the leaderboard. With `downstream` (the demo's
    `DownstreamDemo`: mini downstream sets + `evaluate`), also the downstream stage (`run_downstream`)."""
    from paxion_models.recipes import PER_DATASET, train_mini_story

    console.rule("Paxion: mini backbone and Knowledge Patchers (one per dataset)")
    story = train_mini_story(sets, out / "paxion", seed=seed, progress=True, patchers=PER_DATASET)
    console.print(
        "trained in " + ", ".join(f"{k} {v:.0f} s" for k, v in story.seconds.items())
        + f" (checkpoints under {out / 'paxion'})"
    )
    backbone: dict[str, Any] = {"checkpoint": str(story.backbone)}
    rows: list[tuple[str, str, dict[str, Any], int | None]] = [("mini", "mini", backbone, None)]
    rows += [(f"{c.rstrip(':')}-mini", f"{c}mini", backbone, None) for c in CONTROLS]
    bundles = evaluate_rows(rows, sets, out, console)
    models = [model for _, model, _, _ in rows]
    patchers = [None] * len(rows)
    for dataset in PER_DATASET:  # each patcher and its controls on its own dataset's validation probes
        dvdm: dict[str, Any] = {"checkpoint": str(story.kp_dvdm[dataset])}
        mine = [
            (f"kp-perceiver-vtc-mini-{dataset}", "kp-perceiver-vtc-mini", {"checkpoint": str(story.kp_vtc[dataset])}, None),
            (f"kp-perceiver-vtc-dvdm-mini-{dataset}", "kp-perceiver-vtc-dvdm-mini", dvdm, None),
        ]
        mine += [(f"{c.rstrip(':')}-kp-perceiver-vtc-dvdm-mini-{dataset}", f"{c}kp-perceiver-vtc-dvdm-mini", dvdm, None)
                 for c in CONTROLS]  # fmt: skip
        bundles += evaluate_rows(mine, sets, out, console, datasets=(f"{dataset}-val",))
        models += [model for _, model, _, _ in mine]
        patchers += [dataset] * len(mine)
    for order, (model, patcher, bundle) in enumerate(zip(models, patchers, bundles, strict=True)):
        write_submission(bundle, model, order, patcher)  # the story's order: backbone, its controls, each patcher, ...
    if downstream is not None:
        run_downstream(story, downstream, out=out, seed=seed, console=console)
    return bundles


# (method, patcher loss, downstream head, registry entry, the SSv2-mini patcher it starts from): the demo's
# downstream rows, labelled "method [patcher loss]" as Table 2 labels them
DOWNSTREAM_ROWS = (("KP-Perceiver FT", "VTC", "kp-perceiver-ft", "kp-perceiver-vtc-mini", "kp_vtc"),
                   ("Patch-and-Fuse", "VTC+DVDM", "patch-and-fuse", "paxion-mini", "kp_dvdm"))  # fmt: skip


def run_downstream(story: Any, downstream: Any, *, out: Path, seed: int, console: Console) -> None:
    """The demo's downstream stage: KP-Perceiver FT [VTC] and Patch-and-Fuse, each from its SSv2-mini patcher, trained
    on SSv2-label-mini's train file (the mini recipe, on the frozen features of the clips the backbone was trained
    on), then they and the frozen backbone scored on the mini label, template and question sets (the last two
    zero-shot, as the paper scores Temporal-SSv2 and Moments-in-Time)."""
    import time

    from paxion_models.backbones import build_backbone
    from paxion_models.downstream import mini_downstream_config, train_downstream

    console.rule("Paxion: downstream models (SSv2-label-mini)")
    t0 = time.perf_counter()
    train, videos = downstream.sets["ssv2_label-train"]
    # the backbone object the patchers trained with (same weights, same arguments): their cached features serve
    backbone = build_backbone("mini", checkpoint=str(story.backbone))
    rows: list[tuple[str, str, str, dict[str, Any]]] = [
        ("mini-downstream", "Backbone (frozen mini)", "mini", {"checkpoint": str(story.backbone)})]
    methods: list[tuple[str, str | None]] = [("Backbone", None)]
    for method, loss, head, entry, init in DOWNSTREAM_ROWS:
        result = train_downstream(head, train, videos, out / "paxion" / f"{head}-ssv2_label",
                                  mini_downstream_config(head, "ssv2_label", seed=seed), backbone=backbone,
                                  patcher=getattr(story, init)["ssv2"],
                                  cache_dir=out / "paxion" / "cache", decoded=story.decoded, progress=True)  # fmt: skip
        rows.append((f"{head}-mini-ssv2_label", f"{method} [{loss}]", entry, {"checkpoint": str(result.checkpoint)}))
        methods.append((method, loss))
    bundles = downstream.evaluate(rows)
    for order, (bundle, (_, _, model, _), (method, loss)) in enumerate(zip(bundles, rows, methods, strict=True)):
        write_submission(bundle, model, order, method=method, loss=loss)
    downstream.seconds = time.perf_counter() - t0
    console.print(f"downstream models trained and scored in {downstream.seconds:.0f} s", highlight=False)


METHODS = {"mini": ("Backbone", None), "kp-perceiver-vtc-mini": ("KP-Perceiver", "VTC"),
           "kp-perceiver-vtc-dvdm-mini": ("KP-Perceiver", "VTC+DVDM")}  # fmt: skip


def write_submission(bundle: Path, model: str, order: int | None = None, patcher: str | None = None, *,
                     method: str | None = None, loss: str | None = None) -> None:  # fmt: skip
    """Leaderboard metadata for a demo bundle, so its rows group under the mini backbone (as the paper's tables),
    in the given row order; a patcher trained on one dataset (`patcher`: "ssv2" | "ego4d") says so. `method` (with
    its patcher `loss`) names a row the METHODS table does not know (the downstream models)."""
    from actionbench.files import atomic_write
    from actionbench.leaderboard.submission import SUBMISSION_FILE, Submission

    control, _, inner = model.rpartition(":")
    if method is None:
        method, loss = METHODS[inner]
    if patcher:
        method = f"{method} ({DATASET_LABELS[patcher]} patcher)"
    if control:
        method = f"{method} [{loss}], {control} control" if loss else f"{control} control"
        loss = None
    submission = Submission(model=model, backbone="mini", method=method, patcher_loss=loss, trainable_params=None,
                            backbone_params=None, paper=None, url=None, date=datetime.date.today().isoformat(),
                            ran_by="actionbench demo", source="measured", table_order=order)  # fmt: skip
    atomic_write(Path(bundle) / SUBMISSION_FILE, json.dumps(submission.to_dict(), indent=2) + "\n")
