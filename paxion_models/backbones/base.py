"""The frozen-backbone interface every Paxion component builds on.

Whatever is inside (a frame-mean CLIP, InternVideo, CLIP-ViP, Singularity, the mini encoder), a backbone gives:
- text -> (global vector `[N, D]`, tokens `[N, L, D_t]`);
- frames `[B, T, 3, H, W]` -> (global vector `[B, D]`, patch tokens `[B, T, P, D_v]`);
and says whether frame t's patch tokens depend only on frame t (`frame_separable`), so that the reversed video's
patch tokens are the forward ones flipped in time. The global vector may be order-sensitive: `encode_video_reversed`
gives the correct one for the reversed view (the fuser and Side-Tuning query with it).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from actionbench.models import Preprocess


@dataclass
class VideoFeatures:
    global_vec: torch.Tensor  # [B, D]
    patch_tokens: torch.Tensor  # [B, T, P, D_v]


@dataclass
class TextFeatures:
    global_vec: torch.Tensor  # [N, D]
    tokens: torch.Tensor  # [N, L, D_t]
    mask: torch.Tensor | None = None  # [N, L] True where a token is real


class Backbone(nn.Module):
    """A frozen video-language backbone. Subclasses implement `_encode_video` and `_encode_text`."""

    name: str = "backbone"
    embed_dim: int  # D: global video/text vector size (the Knowledge Patcher's latent dim)
    patch_dim: int  # D_v: patch-token size
    tokens_per_frame: int  # P
    preprocess: Preprocess = Preprocess()
    frame_separable: bool = False
    global_order_invariant: bool = False  # the global video vector cannot depend on frame order
    logit_scale: float | None = None
    weights_hash: str | None = None  # digest of the weights loaded (recorded in head checkpoints)
    args: dict = {}  # the arguments it was built with (set by `build_backbone`; recorded in head checkpoints)

    def freeze(self) -> Backbone:
        """Frozen and in eval mode, always (the original left dropout on during training)."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> Backbone:  # a frozen backbone never leaves eval mode
        return super().train(False)

    def tokenize(self, texts: list[str]):
        raise NotImplementedError

    def encode_text(self, texts: list[str]) -> TextFeatures:
        raise NotImplementedError

    def encode_video(self, frames: torch.Tensor) -> VideoFeatures:
        raise NotImplementedError

    def project_visual(self, tokens: torch.Tensor) -> torch.Tensor:
        """Patch-token space `[..., D_v]` -> the global vector space `[..., D]` (the frozen visual projection the
        KP-Transformer applies after pooling)."""
        raise NotImplementedError

    def encode_video_reversed(self, frames: torch.Tensor, forward: VideoFeatures | None = None) -> VideoFeatures:
        """Features of the time-reversed video; cheap where the backbone allows (frame-separable tokens)."""
        if forward is not None and self.frame_separable and self.global_order_invariant:
            return VideoFeatures(forward.global_vec, torch.flip(forward.patch_tokens, dims=[1]))
        return self.encode_video(torch.flip(frames, dims=[1]))
