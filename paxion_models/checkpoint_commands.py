"""`actionbench convert-checkpoint` and `actionbench import-paxion`: the one place pickles are opened.

The official backbone checkpoints and the released Paxion heads are pickles. Unpickling can run code, so both
commands refuse unless the user says `--allow-pickle` for a file they trust; everything else in ActionBench loads
safetensors or `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from pathlib import Path

import typer


def convert_checkpoint_cmd(
    src: Path = typer.Argument(..., help="official checkpoint (.ckpt / .pt / .pth)"),
    dst: Path = typer.Argument(..., help="output .safetensors"),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="unpickle SRC (only for files you trust)"),
) -> None:
    """Turn an official (pickled) backbone checkpoint into safetensors, once; load that file from then on."""
    from paxion_models.backbones.checkpoints import convert_checkpoint

    out = convert_checkpoint(src, dst, allow_pickle)
    typer.echo(f"wrote {out}")


def import_paxion_cmd(
    src: Path = typer.Argument(..., help="released Paxion checkpoint (.pth: Knowledge Patcher or Patch-and-Fuse)"),
    dst: Path = typer.Argument(..., help="output checkpoint (.safetensors, our layout: trainable weights + config)"),
    backbone: str = typer.Option(..., help="internvideo | clipvip | singularity"),
    backbone_checkpoint: Path | None = typer.Option(None, help="the backbone's checkpoint, to check dimensions"),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="unpickle SRC (only for files you trust)"),
) -> None:
    """Import a released Paxion checkpoint into our layout, so the paper's rows can be measured."""
    from paxion_models.released import import_released

    out = import_released(src, dst, backbone, backbone_checkpoint, allow_pickle)
    typer.echo(f"wrote {out}")
