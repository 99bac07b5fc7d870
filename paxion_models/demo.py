"""The demo's training stages (entry point `actionbench.demo`): the paper's story on the mini benchmark.

Train the mini backbone on the mini train split, then a KP-Perceiver with VTC and one with VTC+DVDM on its frozen
features; evaluate the backbone, both patchers and the controls through the harness on the validation sets.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

CONTROLS = ("blind:", "first-frame:", "last-frame:")


def run_stages(
    *,
    out: Path,
    sets: dict[str, tuple[Path, Path]],
    seed: int,
    console: Console,
    evaluate_rows: Callable[..., list[Path]],
) -> list[Path]:
    """Train, evaluate, and return the result-bundle folders for the leaderboard."""
    from paxion_models.recipes import train_mini_story

    console.rule("Paxion: mini backbone and Knowledge Patchers")
    sources = [sets["ssv2-train"], sets["ego4d-train"]]
    story = train_mini_story(sources, out / "paxion", seed=seed, progress=True)
    console.print(
        "trained in " + ", ".join(f"{k} {v:.0f} s" for k, v in story.seconds.items())
        + f" (checkpoints under {out / 'paxion'})"
    )
    backbone: dict[str, Any] = {"checkpoint": str(story.backbone)}
    dvdm: dict[str, Any] = {"checkpoint": str(story.kp_dvdm)}
    rows: list[tuple[str, str, dict[str, Any], int | None]] = [("mini", "mini", backbone, None)]
    rows += [(f"{c.rstrip(':')}-mini", f"{c}mini", backbone, None) for c in CONTROLS]
    rows += [
        ("kp-perceiver-vtc-mini", "kp-perceiver-vtc-mini", {"checkpoint": str(story.kp_vtc)}, None),
        ("kp-perceiver-vtc-dvdm-mini", "kp-perceiver-vtc-dvdm-mini", dvdm, None),
    ]
    rows += [(f"{c.rstrip(':')}-kp-perceiver-vtc-dvdm-mini", f"{c}kp-perceiver-vtc-dvdm-mini", dvdm, None) for c in CONTROLS]
    bundles = evaluate_rows(rows, sets, out, console)
    for order, ((_, model, _, _), bundle) in enumerate(zip(rows, bundles, strict=True)):
        write_submission(bundle, model, order)  # the story's order: backbone, its controls, patchers, their controls
    return bundles


METHODS = {"mini": ("Backbone", None), "kp-perceiver-vtc-mini": ("KP-Perceiver", "VTC"),
           "kp-perceiver-vtc-dvdm-mini": ("KP-Perceiver", "VTC+DVDM")}  # fmt: skip


def write_submission(bundle: Path, model: str, order: int | None = None) -> None:
    """Leaderboard metadata for a demo bundle, so its rows group under the mini backbone (as the paper's table),
    in the given row order."""
    from actionbench.files import atomic_write
    from actionbench.leaderboard.submission import SUBMISSION_FILE, Submission

    control, _, inner = model.rpartition(":")
    method, loss = METHODS[inner]
    if control:
        method = f"{method} [{loss}], {control} control" if loss else f"{control} control"
        loss = None
    submission = Submission(model=model, backbone="mini", method=method, patcher_loss=loss, trainable_params=None,
                            backbone_params=None, paper=None, url=None, date=datetime.date.today().isoformat(),
                            ran_by="actionbench demo", source="measured", table_order=order)  # fmt: skip
    atomic_write(Path(bundle) / SUBMISSION_FILE, json.dumps(submission.to_dict(), indent=2) + "\n")
