"""Shortcut controls: wrappers that show any model a degraded video, each its own leaderboard row.

- `first-frame:<model>` / `last-frame:<model>`: the first (last) sampled frame repeated over time. What a model
  gets from the start or end state alone; reversing the clip swaps the two, so they are not order-invariant.
- `blind:<model>`: one constant grey video for every clip. What the text alone gives; order-invariant.

A control of a dual encoder names its wrapped model as `text_model`: its text embeddings are that model's, so
the runner reads and keeps them in that model's cache namespace (results unchanged, texts encoded once).
`blind:` is order-invariant by construction (`order_invariant_by_construction`): the runner does not check it on
clips (the check could only pass).
"""

from __future__ import annotations

from typing import Any

import torch

from actionbench.models.protocol import CrossEncoder, ModelError, ModelSpec, VideoTextModel, model_kind

MODES = ("first-frame", "last-frame", "blind")


def degrade(frames: torch.Tensor, mode: str, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Apply a control to normalised frames `[B, T, 3, H, W]`."""
    t = frames.shape[1]
    if mode == "first-frame":
        return frames[:, :1].expand(-1, t, -1, -1, -1).contiguous()
    if mode == "last-frame":
        return frames[:, -1:].expand(-1, t, -1, -1, -1).contiguous()
    if mode == "blind":
        # Mid-grey (0.5 before normalisation), as the model's own preprocessing would present it.
        m = torch.tensor(mean, dtype=frames.dtype, device=frames.device).view(1, 1, 3, 1, 1)
        s = torch.tensor(std, dtype=frames.dtype, device=frames.device).view(1, 1, 3, 1, 1)
        return ((0.5 - m) / s).expand_as(frames).contiguous()
    raise ModelError(f"unknown control {mode!r} (choose from {', '.join(MODES)})")


class _Control:
    """What both wrapper kinds share: the inner model's declarations, and the control's own name."""

    def _wrap(self, inner: Any, mode: str) -> None:
        self.inner = inner
        self.mode = mode
        self.name = f"{mode}:{getattr(inner, 'name', type(inner).__name__)}"
        self.preprocess = inner.preprocess
        self.logit_scale = getattr(inner, "logit_scale", None)
        self.args = dict(getattr(inner, "args", {}) or {})
        self.weights_hash = getattr(inner, "weights_hash", None)
        self.version = f"control-1/{getattr(inner, 'version', None)}"
        self.order_invariant = mode == "blind" or bool(getattr(inner, "order_invariant", False)) and mode not in (
            "first-frame",
            "last-frame",
        )
        if mode == "blind":  # one grey video whatever the clip: reversing it changes nothing, no need to check
            self.order_invariant_by_construction = True
        if callable(getattr(inner, "score_probes", None)):
            self.score_probes = inner.score_probes  # chance stays chance under any control
        if getattr(inner, "details", None):
            self.details = inner.details  # e.g. a vlm:'s scoring mode and prompt: the control's row shows them too
        if callable(getattr(inner, "score_options", None)):  # vlm: in choice mode asks AA / OR as one question
            self.score_options = lambda frames, pairs: inner.score_options(self._frames(frames), pairs)

    def _frames(self, frames: torch.Tensor) -> torch.Tensor:
        return degrade(frames, self.mode, self.preprocess.mean, self.preprocess.std)

    def to(self, device: str | torch.device) -> Any:
        self.device = torch.device(device)
        self.inner.to(device)
        return self


class DualControl(_Control, VideoTextModel):
    def __init__(self, inner: Any, mode: str) -> None:
        self._wrap(inner, mode)
        # Its texts are the wrapped model's, encoded by it: the runner caches them under that model's fingerprint,
        # so a control row after its model's row encodes no text.
        self.text_model = inner

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        return self.inner.encode_videos(self._frames(frames))

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        return self.inner.encode_texts(texts)

    def similarity(self, video_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        return self.inner.similarity(video_emb, text_emb)


class CrossControl(_Control, CrossEncoder):
    def __init__(self, inner: Any, mode: str) -> None:
        self._wrap(inner, mode)

    def score(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        return self.inner.score(self._frames(frames), texts)


def wrap(inner: Any, mode: str) -> VideoTextModel | CrossEncoder:
    """Wrap any model (dual or cross) in a control."""
    if mode not in MODES:
        raise ModelError(f"unknown control {mode!r} (choose from {', '.join(MODES)})")
    return DualControl(inner, mode) if model_kind(inner) == "dual" else CrossControl(inner, mode)


def _factory(mode: str):
    def make(inner: Any) -> VideoTextModel | CrossEncoder:
        return wrap(inner, mode)

    make.__doc__ = f"`{mode}:<model>` control."
    return make


SPECS = [
    ModelSpec("first-frame", _factory("first-frame"), prefix=True, wraps=True, weights="those of <model>",
              description="first-frame:<model>: the first sampled frame repeated (start-state cue only)"),
    ModelSpec("last-frame", _factory("last-frame"), prefix=True, wraps=True, weights="those of <model>",
              description="last-frame:<model>: the last sampled frame repeated (end-state cue only)"),
    ModelSpec("blind", _factory("blind"), prefix=True, wraps=True, weights="those of <model>",
              description="blind:<model>: one constant grey video for every clip (what the text alone gives)"),
]
