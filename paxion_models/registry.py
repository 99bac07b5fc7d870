"""The Paxion reference entries, as models the ActionBench harness scores (entry point `actionbench.models`).

For each backbone B (`mini`, `openclip`, and the paper's `internvideo`, `clipvip`, `singularity`): `B` (the frozen
backbone alone), `kp-perceiver-vtc-B`,
`kp-perceiver-vtc-dvdm-B`, `kp-transformer-vtc-B`, `sidetuning-B` and `paxion-B` (patcher + Knowledge Fuser).
Each takes `checkpoint=` (`--checkpoint`): for a backbone entry the backbone's weights (the mini backbone's file;
an open_clip file or `pretrained=` tag for `openclip`), for the others a checkpoint written by
`actionbench train patcher|fuser`, whose config names the backbone it was trained on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from actionbench.models import ModelError, ModelSpec, VideoTextModel
from paxion_models.backbones import BACKBONES, TABLE, Backbone, build_backbone
from paxion_models.heads import Head, load_head
from paxion_models.patcher import max_cosine

VERSION = "paxion-1"
BACKBONE_NAMES = BACKBONES  # the backbone table (paxion_models.backbones.TABLE)
BACKBONE_WEIGHTS = {name: info.weights for name, info in TABLE.items()}
PAPER_FUSER = {"internvideo"}  # the paper trained a Knowledge Fuser on InternVideo only

# entry prefix -> (head variant, patcher variant, objectives the checkpoint must have been trained with)
ENTRIES: dict[str, tuple[str, str, tuple[str, ...] | None]] = {
    "kp-perceiver-vtc": ("perceiver", "perceiver", ("vtc",)),
    "kp-perceiver-vtc-dvdm": ("perceiver", "perceiver", ("vtc", "vac", "atm")),
    "kp-transformer-vtc": ("transformer", "transformer", ("vtc",)),
    "sidetuning": ("side-tuning", "perceiver", None),
    "paxion": ("xattn", "perceiver", None),
}


class BackboneModel(VideoTextModel):
    """A frozen backbone's own global vectors, cosine similarity."""

    version = VERSION

    def __init__(self, backbone: Backbone):
        self.backbone = backbone
        self.preprocess = backbone.preprocess
        self.order_invariant = bool(backbone.global_order_invariant)
        self.logit_scale = backbone.logit_scale
        self.weights_hash = getattr(backbone, "weights_hash", None)

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        return self.backbone.encode_video(frames).global_vec.float()

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.backbone.encode_text(texts).global_vec.float()


class PaxionModel(VideoTextModel):
    """A trained head on a frozen backbone: video `[B, Q, D]`, text `[N, D]`, score = max-over-Q cosine."""

    version = VERSION

    def __init__(self, head: Head, backbone: Backbone, config: dict[str, Any]):
        self.head, self.backbone, self.config = head.eval(), backbone, config
        self.preprocess = backbone.preprocess
        self.logit_scale = 1.0 / head.temperature.tau
        self.weights_hash = config.get("weights_hash")
        self.order_invariant = order_invariant(config, backbone)

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.encode_video(frames)).float()

    def encode_videos_and_reversed(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One backbone pass where the backbone allows (frame-separable tokens are flipped, not re-encoded)."""
        fwd = self.backbone.encode_video(frames)
        rev = self.backbone.encode_video_reversed(frames, forward=fwd)
        return self.head(fwd).float(), self.head(rev).float()

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.backbone.encode_text(texts).global_vec.float()

    def similarity(self, video_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return max_cosine(video_emb, text_emb)

    def to(self, device: str | torch.device) -> PaxionModel:
        self.device = torch.device(device)
        self.head.to(self.device)
        self.backbone.to(self.device)
        return self


def order_invariant(config: dict[str, Any], backbone: Backbone) -> bool:
    """Can the head's score depend on frame order? Only through a temporal embedding, an order-sensitive
    backbone (tokens mixed across frames, or a global vector the fuser reads)."""
    if not backbone.frame_separable:
        return False
    patcher_blind = config["patcher_variant"] == "transformer" or not config["patcher"].get("temporal_embedding", False)
    if config["variant"] in ("xattn", "side-tuning"):
        return patcher_blind and backbone.global_order_invariant
    return patcher_blind


def _backbone_factory(name: str):
    def factory(checkpoint: str | None = None, **args: Any) -> BackboneModel:
        if name != "openclip" and checkpoint is None:
            raise ModelError(f"{name}: needs --checkpoint ({BACKBONE_WEIGHTS[name]})")
        try:
            return BackboneModel(build_backbone(name, **({"checkpoint": checkpoint} if checkpoint else {}), **args))
        except (ValueError, OSError) as e:
            raise ModelError(f"{name}: {e}") from None

    factory.__doc__ = f"the frozen {name} backbone alone"
    return factory


def _head_factory(entry: str, backbone_name: str):
    variant, patcher_variant, objectives = ENTRIES[entry]

    def factory(checkpoint: str | None = None, backbone_checkpoint: str | None = None) -> PaxionModel:
        name = f"{entry}-{backbone_name}"
        if checkpoint is None:
            raise ModelError(f"{name}: needs --checkpoint (written by `actionbench train ...`)")
        try:
            head, backbone, config = load_head(checkpoint, backbone_checkpoint=backbone_checkpoint)
        except (ValueError, OSError) as e:
            raise ModelError(f"{name}: {e}") from None
        found = (config["variant"], config["patcher_variant"], config["backbone"]["name"])
        if found != (variant, patcher_variant, backbone_name):
            raise ModelError(f"{name}: {checkpoint} holds a {found[0]} head ({found[1]} patcher) on {found[2]}")
        loss = patcher_loss(config)
        if objectives is not None and tuple(sorted(loss)) != tuple(sorted(objectives)):
            raise ModelError(f"{name}: {checkpoint} was trained with {'+'.join(loss)}, not {'+'.join(objectives)}")
        return PaxionModel(head, backbone, config)

    factory.__doc__ = f"{entry} on the frozen {backbone_name} backbone"
    return factory


def patcher_loss(config: dict[str, Any]) -> tuple[str, ...]:
    """The patcher loss a checkpoint's entry names (Table 2's "[patcher loss]"): its training objectives; for a model
    fine-tuned on a downstream task, those of the patcher it started from (without one, as the paper's NExT-QA
    KP-Perceiver FT, VTC; with the MC-QA loss and VAC, VTC+DVDM as its config is named)."""
    if not config.get("downstream"):
        return tuple(config["objectives"])
    init = (config.get("patcher_init") or {}).get("objectives")
    if init:
        return tuple(init)
    return ("vtc", "vac", "atm") if "vac" in config["objectives"] else ("vtc",)


def specs() -> list[ModelSpec]:
    out = []
    for bb in BACKBONE_NAMES:
        out.append(ModelSpec(bb, _backbone_factory(bb), f"the frozen {bb} backbone alone (Paxion)", BACKBONE_WEIGHTS[bb]))
        for entry in ENTRIES:
            note = " (our extension: the paper fused on InternVideo only)" if (
                entry in ("paxion", "sidetuning") and bb not in PAPER_FUSER) else ""
            weights = "--checkpoint <paxion checkpoint.safetensors>"
            if bb not in ("mini", "openclip"):
                weights += f" [--model-arg backbone_checkpoint=<{bb} .safetensors>]"
            out.append(ModelSpec(f"{entry}-{bb}", _head_factory(entry, bb), f"{entry} on {bb} (Paxion){note}", weights))
    return out


class _Entries(list):
    """The entry point's value: the list of specs (what the harness reads), also callable as `register()`."""

    def __call__(self) -> list[ModelSpec]:
        return list(self)


register = _Entries(specs())


def model_from_checkpoint(checkpoint: str | Path, **kw: Any) -> PaxionModel:
    """Whatever head a checkpoint holds, as a model (for scripts that do not go through the registry)."""
    head, backbone, config = load_head(checkpoint, **kw)
    return PaxionModel(head, backbone, config)
