"""The model protocol: what a video-text model gives the harness, and nothing more.

A dual encoder implements `encode_videos`, `encode_texts` and (optionally) `similarity`; a cross-encoder
implements `score`. The harness owns decoding, batching, de-duplication, caching and sharding.
Frames arrive as float32 `[B, T, 3, H, W]`, already squash-resized to `preprocess.size` and normalised with
`preprocess.mean` / `preprocess.std`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Preprocess:
    """A model's own input preprocessing (separate from the benchmark's frame sampling)."""

    size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ModelError(RuntimeError):
    """A model that cannot be created or that returned something unusable (NaN, wrong shape)."""


class _Model:
    """What the harness reads from every model. Subclasses set the attributes.

    Attributes:
        name: registry name, as shown in tables.
        preprocess: the model's input size and normalisation.
        order_invariant: the score cannot depend on frame order (the harness checks this on a few clips
            before it skips reversed passes, and reports Video Reversal as "temporally blind").
        logit_scale: optional multiplier of `similarity` (used only by the `paper` tie policy).
        args: the arguments the model was created with (part of its fingerprint).
        weights_hash: a digest of the weights it loaded, or None for random init / none.
        version: changes when the model's code changes (part of the embedding cache key).
    """

    name: str = "model"
    preprocess: Preprocess = Preprocess()
    order_invariant: bool = False
    logit_scale: float | None = None
    args: dict[str, Any] = {}
    weights_hash: str | None = None
    version: str | None = None
    device: torch.device = torch.device("cpu")

    def to(self, device: str | torch.device) -> Any:
        """Move the model's modules to a device (override when the model holds modules elsewhere)."""
        self.device = torch.device(device)
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(self.device)
        return self


class VideoTextModel(_Model):
    """Base class for dual encoders: implement the two encoders (attributes: see `_Model`)."""

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        """`[B, T, 3, H, W]` -> `[B, ...]`."""
        raise NotImplementedError

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """N strings -> `[N, ...]`."""
        raise NotImplementedError

    def similarity(self, video_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """`[B, ...]` x `[N, ...]` -> `[B, N]`; cosine by default."""
        v = torch.nn.functional.normalize(video_emb.float(), dim=-1)
        t = torch.nn.functional.normalize(text_emb.float(), dim=-1)
        return v @ t.T


class CrossEncoder(_Model):
    """Base class for models that score (video, text) pairs jointly (attributes: see `_Model`)."""

    name: str = "cross-encoder"

    # Optional: `score_probes(probes) -> Tensor[P, 2]` (s_true, s_foil) for a model that scores probes from
    # their ids alone (the `chance` line); the harness still decodes every clip, so missing videos count alike.

    def score(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """`[B, T, 3, H, W]` and N texts -> `[B, N]` (all pairs)."""
        raise NotImplementedError


def is_cross_encoder(model: Any) -> bool:
    return callable(getattr(model, "score", None)) and not callable(getattr(model, "encode_videos", None))


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry: how to create a model by name, and what it needs."""

    name: str
    factory: Callable[..., Any]
    description: str = ""
    weights: str = "none"  # what the user must provide, e.g. "--checkpoint InternVideo-MM-L-14.safetensors"
    source: str = "built-in"  # built-in | entry point <dist> | file
    prefix: bool = False  # True: the entry matches "<name>:<rest>" and the factory receives rest=...
    extra: dict[str, Any] = field(default_factory=dict)
