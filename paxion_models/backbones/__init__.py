"""Backbones by name. Each module exposes `build(**args) -> Backbone` (frozen, in eval mode).

`mini` (the mini benchmark's dual encoder) and `openclip` (any open_clip model, frame-wise) live here; the
paper's InternVideo, CLIP-ViP and Singularity plug in as `internvideo.py`, `clipvip.py`, `singularity.py`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from paxion_models.backbones.base import Backbone, TextFeatures, VideoFeatures


@dataclass(frozen=True)
class BackboneInfo:
    """One row of the backbone table (as timm's and open_clip's pretrained tables): a backbone's name, what
    weights a user gives it, the official file it reads, and the dimensions of the paper's released heads."""

    name: str
    weights: str  # what the user must provide (shown by `actionbench models`)
    official: str | None = None  # the official checkpoint file (its key layout is the module's LAYOUT)
    paper_dims: tuple[int, int] | None = None  # (D, D_v) of the paper's released patchers on it


TABLE: dict[str, BackboneInfo] = {
    b.name: b
    for b in (
        BackboneInfo("mini", "--checkpoint backbone.safetensors (actionbench train backbone --mini)"),
        BackboneInfo("openclip", "arch=..., pretrained=<tag|file>"),
        BackboneInfo("internvideo", "--checkpoint InternVideo-MM-L-14.safetensors (convert-checkpoint the official .ckpt)",
                     "InternVideo-MM-L-14.ckpt", (768, 1024)),
        BackboneInfo("clipvip", "--checkpoint pretrain_clipvip_base_32.safetensors (convert-checkpoint the official .pt)",
                     "pretrain_clipvip_base_32.pt", (512, 768)),
        BackboneInfo("singularity", "--checkpoint singularity_temporal_17m.safetensors, vocab.txt beside it (or vocab=...)",
                     "singularity_temporal_17m.pth", (256, 768)),
    )
}
BACKBONES = tuple(TABLE)

__all__ = ["BACKBONES", "TABLE", "Backbone", "BackboneInfo", "BackboneRef", "TextFeatures", "VideoFeatures",
           "build_backbone"]


class BackboneError(ValueError):
    """An unknown backbone, or one that cannot be built with the given arguments."""


@dataclass(frozen=True)
class BackboneRef:
    """How to rebuild a backbone: its name and arguments (recorded in every patcher/fuser checkpoint)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "args": dict(self.args)}


def build_backbone(name: str, **args: Any) -> Backbone:
    """A frozen backbone by name (`mini`, `openclip`, ...)."""
    if name not in BACKBONES:
        raise BackboneError(f"unknown backbone {name!r} (known: {', '.join(BACKBONES)})")
    try:
        module = importlib.import_module(f"paxion_models.backbones.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"paxion_models.backbones.{name}":
            raise BackboneError(f"backbone {name!r} is not available in this version") from None
        raise
    try:
        backbone = module.build(**args)
    except TypeError as e:
        raise BackboneError(f"backbone {name!r} cannot be built with {args} ({e})") from None
    backbone.args = dict(args)
    return backbone
