"""The trainable part of every Paxion entry, built from a small config dict and saved as one checkpoint.

A head = a network on backbone features (`perceiver` / `transformer` patcher, `xattn` Knowledge Fuser or
`side-tuning`, the last two wrapping a patcher) + its temperature. Its config records the backbone it was
trained on, so `load_head` rebuilds the whole model from the checkpoint alone.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from paxion_models.backbones import Backbone, BackboneRef, VideoFeatures, build_backbone
from paxion_models.checkpoints import (
    CheckpointError,
    file_hash,
    load_checkpoint,
    load_strict,
    save_checkpoint,
)
from paxion_models.fuser import FuserConfig, KnowledgeFuser, SideTuning
from paxion_models.losses import Temperature
from paxion_models.patcher import (
    PerceiverConfig,
    PerceiverPatcher,
    TransformerConfig,
    TransformerPatcher,
    max_cosine,
)

PATCHERS = ("perceiver", "transformer")
FUSERS = ("xattn", "side-tuning")


class Head(nn.Module):
    """Backbone features -> video vectors `[B, Q, D]`; `score` = max-over-Q cosine (× 1/τ in training)."""

    def __init__(self, net: nn.Module, config: dict[str, Any], temperature: float = 0.07):
        super().__init__()
        self.net = net
        self.temperature = Temperature(temperature)
        self.config = config

    @property
    def uses_global(self) -> bool:
        return self.config["variant"] in FUSERS

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        return self.net(features)

    @staticmethod
    def score(video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return max_cosine(video, text)


def patcher_config(variant: str, backbone: Backbone, num_frames: int = 8, **overrides: Any) -> dict[str, Any]:
    """The default patcher config for a backbone (the paper's hyper-parameters at the backbone's dims)."""
    if variant == "perceiver":
        return asdict(PerceiverConfig(dim=backbone.embed_dim, media_dim=backbone.patch_dim, num_frames=num_frames, **overrides))
    if variant == "transformer":
        ff = 2048 if backbone.patch_dim >= 1024 else 1024  # the original: 2048 at width 1024, 1024 at 768
        return asdict(TransformerConfig(media_dim=backbone.patch_dim, ff_dim=overrides.pop("ff_dim", ff), **overrides))
    raise ValueError(f"unknown patcher variant {variant!r} (choose from {', '.join(PATCHERS)})")


def build_patcher(variant: str, cfg: dict[str, Any], backbone: Backbone | None) -> nn.Module:
    """A patcher; `backbone` may be None where only the trainable weights matter (checking a checkpoint)."""
    if variant == "perceiver":
        return PerceiverPatcher(PerceiverConfig(**cfg))
    if variant == "transformer":
        return TransformerPatcher(TransformerConfig(**cfg), project=backbone.project_visual if backbone else None)
    raise ValueError(f"unknown patcher variant {variant!r}")


def build_head(config: dict[str, Any], backbone: Backbone | None) -> Head:
    """A head from its config: {variant, patcher_variant, patcher, fuser?, temperature, ...}."""
    variant = config["variant"]
    patcher_variant = config.get("patcher_variant", variant)
    patcher = build_patcher(patcher_variant, config["patcher"], backbone)
    if variant in PATCHERS:
        net = patcher
    elif variant == "xattn":
        net = KnowledgeFuser(FuserConfig(**config["fuser"]), patcher)
    elif variant == "side-tuning":
        net = SideTuning(patcher)
    else:
        raise ValueError(f"unknown head variant {variant!r} (choose from {', '.join(PATCHERS + FUSERS)})")
    return Head(net, config, config.get("temperature", 0.07))


def save_head(path: str | Path, head: nn.Module, config: dict[str, Any]) -> Path:
    """Head weights (patcher, fuser, τ, temporal embedding; never the backbone) + config."""
    return save_checkpoint(path, head.state_dict(), {"kind": "paxion-head", **config})


def backbone_for(config: dict[str, Any], checkpoint: str | Path, backbone_checkpoint: str | Path | None = None) -> Backbone:
    """Rebuild the backbone a head was trained on; its checkpoint is looked up next to the head's first."""
    ref = BackboneRef(**{k: config["backbone"][k] for k in ("name", "args")})
    args = dict(ref.args)
    if "checkpoint" in args or backbone_checkpoint is not None:
        recorded = args.get("checkpoint")
        candidates = [backbone_checkpoint] if backbone_checkpoint is not None else []
        if recorded is not None:
            candidates += [Path(checkpoint).parent / config["backbone"].get("relative_checkpoint", ""), recorded]
        found = next((Path(c) for c in candidates if c and Path(c).is_file()), None)
        if found is None:
            raise CheckpointError(
                f"{checkpoint}: the {ref.name} backbone checkpoint {recorded} is not found (pass backbone_checkpoint=...)"
            )
        expected = config["backbone"].get("weights_hash")
        if expected and file_hash(found) != expected:
            raise CheckpointError(f"{checkpoint}: backbone checkpoint {found} is not the one this head was trained on")
        args["checkpoint"] = str(found)
    return build_backbone(ref.name, **args)


def load_head(checkpoint: str | Path, backbone: Backbone | None = None, backbone_checkpoint: str | Path | None = None
              ) -> tuple[Head, Backbone, dict[str, Any]]:  # fmt: skip
    """(head, backbone, config) from a head checkpoint; strict."""
    weights, config = load_checkpoint(checkpoint)
    if config.get("kind") != "paxion-head":
        raise CheckpointError(f"{checkpoint}: not a patcher/fuser checkpoint (kind={config.get('kind')!r})")
    if backbone is None:
        backbone = backbone_for(config, checkpoint, backbone_checkpoint)
    head = build_head(config, backbone)
    load_strict(head, weights, checkpoint)
    return head.eval(), backbone, config


def backbone_record(backbone: Backbone, out_dir: str | Path) -> dict[str, Any]:
    """What a head checkpoint says about its backbone (a checkpoint path also relative to the head's folder)."""
    args = dict(getattr(backbone, "args", {}))
    record: dict[str, Any] = {"name": backbone.name, "args": args, "weights_hash": getattr(backbone, "weights_hash", None)}
    if args.get("checkpoint"):
        path = Path(args["checkpoint"]).resolve()
        args["checkpoint"] = str(path)
        record["weights_hash"] = file_hash(path)
        record["relative_checkpoint"] = os.path.relpath(path, Path(out_dir).resolve())
    return record
