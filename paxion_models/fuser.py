"""Knowledge Fuser and the Side-Tuning baseline: the patcher's action knowledge fused back into the backbone's
own video vector, so general video-language ability is kept.

Both read `features.global_vec`, which must be the global vector of the view being scored: for the reversed
view of a backbone whose global vector is order-sensitive, it comes from `Backbone.encode_video_reversed`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from paxion_models.backbones.base import VideoFeatures
from paxion_models.patcher import CrossAttention, FeedForward


@dataclass
class FuserConfig:
    dim: int  # the backbone's global vector dim = the patcher's latent dim
    heads: int = 8
    dim_head: int = 64
    ff_mult: int = 2


class KnowledgeFuser(nn.Module):
    """One pre-LN cross-attention block: query = backbone global video vector, keys/values = patcher latents;
    residual, no gate (the original's `xattn` fuser)."""

    def __init__(self, cfg: FuserConfig, patcher: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.patcher = patcher
        self.attn = CrossAttention(cfg.dim, cfg.dim, cfg.heads, cfg.dim_head)
        self.ff = FeedForward(cfg.dim, cfg.ff_mult)

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        latents = self.patcher(features)  # [B, Q, D]
        x = features.global_vec[:, None].to(latents.dtype)  # [B, 1, D]
        x = x + self.attn(x, latents)
        return x + self.ff(x)  # [B, 1, D]


class SideTuning(nn.Module):
    """fused = σ(α)·norm(backbone vector) + (1 − σ(α))·norm(mean of the patcher latents); α starts at 0."""

    def __init__(self, patcher: nn.Module):
        super().__init__()
        self.patcher = patcher
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        side = F.normalize(self.patcher(features).mean(1), dim=-1)  # [B, D]
        base = F.normalize(features.global_vec.to(side.dtype), dim=-1)
        gate = torch.sigmoid(self.alpha)
        return (gate * base + (1 - gate) * side)[:, None]  # [B, 1, D]
