"""InternVideo-MM-L-14: our implementation, loading the official `InternVideo-MM-L-14.ckpt` strictly.

Vision: a CLIP ViT-L/14 run on every frame alone (24 blocks, width 1024), plus a UniFormerV2-style temporal
extractor: for the outputs of blocks 20-23, a depthwise 3x3x3 convolution over (time, height, width) is added to
the patch tokens and one cross-attention block updates a learnable temporal [CLS] query that attends to all
frames' tokens. Global video vector = LN_post((1 - σ(balance)) · temporal CLS + σ(balance) · mean_t(frame CLS))
@ visual_proj (768); it is order-sensitive. Patch tokens for the Knowledge Patcher = the last block's output
with the frame CLS, no LN or projection: `[B, T, 257, 1024]`, exactly frame-separable.
Text: CLIP text transformer (width 768, 12 layers, causal); tokens = all 77 positions after ln_final; global =
end-of-text token @ text_projection (768). Neither vector is L2-normalised (as in Paxion).

Module keys equal the official file's keys: the file stores them under `state_dict` with the prefix `clip.`,
and this backbone holds the CLIP model as `self.clip`. Keys outside `clip.` (the Lightning module's other parts)
are skipped and reported, as the original loader kept only `clip.*`.

The extractor's MLP dropout (0.5) is left out: a frozen backbone here never runs in training mode.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from actionbench.models import Preprocess
from paxion_models.backbones.base import Backbone, TextFeatures, VideoFeatures
from paxion_models.backbones.checkpoints import LoadReport, OfficialLayout, from_official
from paxion_models.backbones.layers import LayerNorm, PackedAttention, QuickGELU
from paxion_models.backbones.tokenizers import clip_fixed

LAYOUT = OfficialLayout(
    name="InternVideo-MM-L-14",
    container="state_dict",
    ignored=((r"^(?!clip\.)", "outside the CLIP model (the original loader keeps only clip.* keys)"),),
)


@dataclass
class InternVideoConfig:
    image_size: int = 224
    patch_size: int = 14
    vision_width: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    extractor_layers: tuple[int, ...] = (20, 21, 22, 23)  # trunk blocks feeding the temporal extractor
    embed_dim: int = 768
    text_width: int = 768
    text_layers: int = 12
    text_heads: int = 12
    context_length: int = 77
    vocab_size: int = 49408

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


def _mlp(width: int, hidden: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, hidden)), ("gelu", QuickGELU()), ("c_proj", nn.Linear(hidden, width))]))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN CLIP block."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = PackedAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = _mlp(width, 4 * width)
        self.ln_2 = LayerNorm(width)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), causal=causal)
        return x + self.mlp(self.ln_2(x))


class Extractor(nn.Module):
    """Cross-attention block: the temporal CLS (query) attends to one layer's tokens of all frames."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.attn = PackedAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = _mlp(width, 4 * width)
        self.ln_2 = nn.LayerNorm(width)
        self.ln_3 = nn.LayerNorm(width)
        for zero in (self.attn.out_proj, self.mlp.c_proj):  # zero-initialised, as the original
            nn.init.zeros_(zero.weight)
            nn.init.zeros_(zero.bias)

    def forward(self, query: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        query = query + self.attn(self.ln_1(query), context=self.ln_3(tokens))
        return query + self.mlp(self.ln_2(query))


class VisualTransformer(nn.Module):
    """The frame-wise trunk (`resblocks`) and the temporal extractor (`temporal_cls_token`, `dpe`, `dec`, `balance`)."""

    def __init__(self, cfg: InternVideoConfig):
        super().__init__()
        w = cfg.vision_width
        self.extractor_layers = tuple(cfg.extractor_layers)
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(w, cfg.vision_heads) for _ in range(cfg.vision_layers))
        self.temporal_cls_token = nn.Parameter(torch.zeros(1, 1, w))
        n = len(cfg.extractor_layers)
        self.dpe = nn.ModuleList(nn.Conv3d(w, w, kernel_size=3, stride=1, padding=1, groups=w) for _ in range(n))
        for conv in self.dpe:
            nn.init.zeros_(conv.bias)
        self.dec = nn.ModuleList(Extractor(w, cfg.vision_heads) for _ in range(n))
        self.balance = nn.Parameter(torch.zeros(w))

    def trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Frame tokens `[B*T, L, C]` -> the outputs of the extractor layers, each `[B*T, L, C]` (last = final)."""
        taps = []
        for i, block in enumerate(self.resblocks):
            x = block(x)
            if i in self.extractor_layers:
                taps.append(x)
        if len(self.resblocks) - 1 not in self.extractor_layers:
            taps.append(x)  # the final output is always kept (it gives the patch tokens)
        return tuple(taps)

    def extract(self, taps: tuple[torch.Tensor, ...], final: torch.Tensor) -> torch.Tensor:
        """Extractor-layer outputs `[B, T, L, C]` and final output `[B, T, L, C]` -> the global feature `[B, C]`."""
        b, t, length, c = final.shape
        side = round((length - 1) ** 0.5)
        query = self.temporal_cls_token.to(final.dtype).expand(b, 1, c)
        for dpe, dec, y in zip(self.dpe, self.dec, taps, strict=True):
            patches = y[:, :, 1:]  # [B, T, HW, C]
            grid = patches.permute(0, 3, 1, 2).reshape(b, c, t, side, side)
            moved = dpe(grid).reshape(b, c, t, length - 1).permute(0, 2, 3, 1)
            y = torch.cat([y[:, :, :1], patches + moved], dim=2)
            query = dec(query, y.reshape(b, t * length, c))
        weight = torch.sigmoid(self.balance)
        frame_cls = final[:, :, 0].mean(1)
        return (1 - weight) * query[:, 0] + weight * frame_cls


class VisionTransformer(nn.Module):
    def __init__(self, cfg: InternVideoConfig):
        super().__init__()
        w, p = cfg.vision_width, cfg.patch_size
        self.conv1 = nn.Conv3d(3, w, (1, p, p), (1, p, p), bias=False)
        scale = w**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(w))
        self.positional_embedding = nn.Parameter(scale * torch.randn(cfg.grid**2 + 1, w))
        self.ln_pre = LayerNorm(w)
        self.transformer = VisualTransformer(cfg)

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """`[B, T, 3, H, W]` -> frame tokens `[B*T, 1 + HW, C]` (CLS first)."""
        x = self.conv1(frames.transpose(1, 2))  # [B, C, T, g, g]
        b, c, t = x.shape[:3]
        x = x.permute(0, 2, 3, 4, 1).reshape(b * t, -1, c)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, c)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.ln_pre(x)


class InternVideoCLIP(nn.Module):
    """The official `clip` module: `visual`, `visual_ln_post`, `visual_proj` and the CLIP text tower."""

    def __init__(self, cfg: InternVideoConfig):
        super().__init__()
        self.visual = VisionTransformer(cfg)
        self.visual_ln_post = nn.LayerNorm(cfg.vision_width)
        self.visual_proj = nn.Parameter(cfg.vision_width**-0.5 * torch.randn(cfg.vision_width, cfg.embed_dim))
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(ResidualAttentionBlock(cfg.text_width, cfg.text_heads) for _ in range(cfg.text_layers))
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(cfg.context_length, cfg.text_width))
        self.ln_final = LayerNorm(cfg.text_width)
        self.text_projection = nn.Parameter(cfg.text_width**-0.5 * torch.randn(cfg.text_width, cfg.embed_dim))
        self.text_mask_embedding = nn.Parameter(0.02 * torch.randn(1, 1, cfg.text_width))  # unused (masked-LM only)
        self.logit_scale = nn.Parameter(torch.tensor(4.6052))  # log(1/0.01) placeholder; the file sets it
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def project_video(self, feature: torch.Tensor) -> torch.Tensor:
        return self.visual_ln_post(feature) @ self.visual_proj.to(feature.dtype)


@dataclass
class InternVideoFeatures(VideoFeatures):
    """Video features plus the trunk outputs the temporal extractor reads (kept for the cheap reversed view)."""

    extractor_inputs: tuple[torch.Tensor, ...] | None = None  # each [B, T, 257, 1024]


class InternVideo(Backbone):
    """InternVideo-MM-L-14 (see the module docstring)."""

    name = "internvideo"
    frame_separable = True  # 24 blocks attend within each frame only
    global_order_invariant = False  # the dpe convolutions see frame order

    def __init__(self, cfg: InternVideoConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or InternVideoConfig()
        self.embed_dim, self.patch_dim = cfg.embed_dim, cfg.vision_width
        self.tokens_per_frame = cfg.grid**2 + 1
        self.preprocess = Preprocess(size=(cfg.image_size, cfg.image_size))  # CLIP mean/std
        self.clip = InternVideoCLIP(cfg)
        self.keep_trunk = True  # keep the extractor layers' outputs for the cheap reversed view (4 x [B,T,257,1024])
        self.weights_hash: str | None = None
        self.load_report: LoadReport | None = None

    @property
    def logit_scale(self) -> float:  # type: ignore[override]
        return float(self.clip.logit_scale.exp())

    @property
    def dtype(self) -> torch.dtype:
        return self.clip.visual.conv1.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.clip.visual.conv1.weight.device

    def project_visual(self, x: torch.Tensor) -> torch.Tensor:
        """Patch-token space -> global space, as the original KP-Transformer did: `@ visual_proj`, no LN."""
        return x @ self.clip.visual_proj.to(x.dtype)

    # -- video

    def encode_video(self, frames: torch.Tensor) -> InternVideoFeatures:
        b, t = frames.shape[:2]
        visual = self.clip.visual
        x = visual.embed(frames.to(self.device, self.dtype))
        taps = tuple(y.unflatten(0, (b, t)) for y in visual.transformer.trunk(x))  # each [B, T, L, C]
        return self._features(taps)

    def _features(self, taps: tuple[torch.Tensor, ...]) -> InternVideoFeatures:
        final = taps[-1]
        feature = self.clip.visual.transformer.extract(taps[: len(self.clip.visual.transformer.dpe)], final)
        return InternVideoFeatures(self.clip.project_video(feature), final, taps if self.keep_trunk else None)

    def encode_video_reversed(self, frames: torch.Tensor, forward: VideoFeatures | None = None) -> VideoFeatures:
        """Reuses the forward pass's frame-wise trunk (flipped in time) and re-runs only the temporal extractor."""
        if isinstance(forward, InternVideoFeatures) and forward.extractor_inputs is not None:
            return self._features(tuple(torch.flip(y, dims=[1]) for y in forward.extractor_inputs))
        return self.encode_video(torch.flip(frames, dims=[1]))

    # -- text

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return clip_fixed(texts, self.cfg.context_length)

    def encode_text(self, texts: list[str]) -> TextFeatures:
        return self.encode_token_ids(self.tokenize(texts))

    def encode_token_ids(self, ids: torch.Tensor) -> TextFeatures:
        clip = self.clip
        ids = ids.to(self.device)
        x = clip.token_embedding(ids).to(self.dtype) + clip.positional_embedding.to(self.dtype)
        for block in clip.transformer.resblocks:
            x = block(x, causal=True)
        tokens = clip.ln_final(x)  # [N, 77, 768]
        eot = ids.argmax(dim=-1)  # end-of-text has the highest id
        global_vec = tokens[torch.arange(len(ids), device=ids.device), eot] @ clip.text_projection.to(tokens.dtype)
        mask = torch.arange(ids.shape[1], device=ids.device)[None] <= eot[:, None]
        return TextFeatures(global_vec, tokens, mask)

    # -- checkpoints

    @classmethod
    def from_official(cls, checkpoint: str | Path, cfg: InternVideoConfig | None = None) -> InternVideo:
        """Strictly load `InternVideo-MM-L-14.ckpt` (weights-only) or its converted safetensors file."""
        return from_official(cls(cfg), checkpoint, LAYOUT)


def build(checkpoint: str | Path | None = None, **cfg) -> InternVideo:
    """The registry's constructor: the official weights, or random weights without a checkpoint."""
    config = InternVideoConfig(**cfg)
    if checkpoint is not None:
        return InternVideo.from_official(checkpoint, config)
    return InternVideo(config).freeze()
