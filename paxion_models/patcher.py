"""Knowledge Patchers: light modules on a frozen backbone's patch tokens, compared with its frozen text vectors.

Every head in paxion_models maps backbone features to video vectors `[B, Q, D]` in the text space and scores
a text by the max over the Q vectors of the cosine (Q = 16 latents for the Perceiver, 1 for the others; for
Q = 1 it is the plain cosine), divided by the temperature.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from paxion_models.backbones.base import VideoFeatures


class FeedForward(nn.Sequential):
    """Pre-LN feed-forward, no biases (as the original)."""

    def __init__(self, dim: int, mult: int = 2):
        super().__init__(nn.LayerNorm(dim), nn.Linear(dim, dim * mult, bias=False), nn.GELU(), nn.Linear(dim * mult, dim, bias=False))


class CrossAttention(nn.Module):
    """Queries attend to media only (unlike Flamingo, the queries are not appended to the keys/values)."""

    def __init__(self, dim: int, media_dim: int, heads: int = 8, dim_head: int = 64):
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head**-0.5
        self.norm_media, self.norm_queries = nn.LayerNorm(media_dim), nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(media_dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, queries: torch.Tensor, media: torch.Tensor) -> torch.Tensor:
        h = self.heads
        q = self.to_q(self.norm_queries(queries))  # [B, Q, h*d]
        k, v = self.to_kv(self.norm_media(media)).chunk(2, dim=-1)  # [B, N, h*d] each
        q, k, v = (x.unflatten(-1, (h, -1)).transpose(1, 2) for x in (q, k, v))  # [B, h, *, d]
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)  # [B, h, Q, d]
        return self.to_out(out.transpose(1, 2).flatten(2))  # [B, Q, dim]


@dataclass
class PerceiverConfig:
    dim: int  # latent dim = the backbone's projected text dim
    media_dim: int  # patch-token dim
    num_frames: int = 8
    num_latents: int = 16
    depth: int = 1
    heads: int = 8
    dim_head: int = 64
    ff_mult: int = 2
    temporal_embedding: bool = True  # without it, frame-separable tokens carry no order at all
    temporal_dropout: float = 0.1


class PerceiverPatcher(nn.Module):
    """KP-Perceiver: 16 latents cross-attend to all patch tokens of all frames (+ a temporal embedding)."""

    def __init__(self, cfg: PerceiverConfig):
        super().__init__()
        self.cfg = cfg
        self.temporal = nn.Parameter(torch.randn(cfg.num_frames, cfg.media_dim)) if cfg.temporal_embedding else None
        self.temporal_dropout = nn.Dropout(cfg.temporal_dropout)
        self.latents = nn.Parameter(torch.randn(cfg.num_latents, cfg.dim))
        self.layers = nn.ModuleList(
            nn.ModuleList([CrossAttention(cfg.dim, cfg.media_dim, cfg.heads, cfg.dim_head), FeedForward(cfg.dim, cfg.ff_mult)])
            for _ in range(cfg.depth)
        )
        self.norm = nn.LayerNorm(cfg.dim)

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        x = features.patch_tokens  # [B, T, P, Dv]
        if self.temporal is not None:
            if x.shape[1] != self.cfg.num_frames:
                raise ValueError(f"the patcher was built for {self.cfg.num_frames} frames, got {x.shape[1]}")
            x = x + self.temporal_dropout(self.temporal)[:, None]  # broadcast over patches
        media = x.flatten(1, 2)  # [B, T*P, Dv]
        latents = self.latents.expand(media.shape[0], -1, -1)  # [B, Q, D]
        for attn, ff in self.layers:
            latents = latents + attn(latents, media)
            latents = latents + ff(latents)
        return self.norm(latents)  # [B, Q, D]


@dataclass
class TransformerConfig:
    media_dim: int
    heads: int = 8
    ff_dim: int = 2048  # 2048 at InternVideo's width 1024, 1024 at 768 (the original configs)
    dropout: float = 0.1


class TransformerPatcher(nn.Module):
    """KP-Transformer, as the original: one post-norm encoder layer over the patch tokens, mean-pooled, then the
    backbone's frozen visual projection. No temporal embedding: on frame-separable tokens it is order-invariant
    (a permutation-equivariant layer followed by a mean), so it cannot see reversal. Reported, not patched."""

    def __init__(self, cfg: TransformerConfig, project: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.layer = nn.TransformerEncoderLayer(cfg.media_dim, cfg.heads, cfg.ff_dim, dropout=cfg.dropout, batch_first=True)
        # The backbone's frozen visual projection: held outside the module tree, so it is neither trained nor saved.
        self.__dict__["project"] = project

    def forward(self, features: VideoFeatures) -> torch.Tensor:
        x = self.layer(features.patch_tokens.flatten(1, 2)).mean(1)  # [B, Dv]
        return (self.project(x) if self.project is not None else x)[:, None]  # [B, 1, D]


def max_cosine(video: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """`[B, Q, D]` x `[N, D]` -> `[B, N]`: max over the Q video vectors of the cosine."""
    v = F.normalize(video.float(), dim=-1)
    t = F.normalize(text.float(), dim=-1)
    return torch.einsum("bqd,nd->bnq", v, t).amax(-1)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
