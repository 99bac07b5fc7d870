"""Small layers the three paper backbones share (parameter names follow the official checkpoints)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in fp32 whatever the activations' dtype (as CLIP's), cast back after."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x.float(), self.normalized_shape, self.weight.float(), self.bias.float(), self.eps).to(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """`[..., S, H*d]` -> `[..., H, S, d]`."""
    return x.unflatten(-1, (heads, -1)).transpose(-3, -2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """`[..., H, S, d]` -> `[..., S, H*d]`."""
    return x.transpose(-3, -2).flatten(-2)


class PackedAttention(nn.Module):
    """Multi-head attention with one packed q/k/v projection (`in_proj_weight`, as nn.MultiheadAttention names it)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, causal: bool = False) -> torch.Tensor:
        """Self-attention over `x` `[N, S, D]`, or cross-attention from `x` to `context` `[N, S', D]`."""
        w, b = self.in_proj_weight, self.in_proj_bias
        if context is None:
            q, k, v = F.linear(x, w, b).chunk(3, dim=-1)
        else:
            d = x.shape[-1]
            q = F.linear(x, w[:d], b[:d])
            k, v = F.linear(context, w[d:], b[d:]).chunk(2, dim=-1)
        q, k, v = (split_heads(t, self.heads) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return self.out_proj(merge_heads(out))
