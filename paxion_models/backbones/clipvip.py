"""CLIP-ViP-B/32: our implementation, loading the official `pretrain_clipvip_base_32.pt` strictly.

Vision: CLIP ViT-B/32 (HF layout, width 768, 12 layers, quick-GELU) over one sequence per video:
`[CLS, 3 video proxies, T x 49 patches]`. Patches get position embeddings [1:] plus a temporal embedding
(stored for 12 frames, linearly interpolated to T, `align_corners=False`); CLS and proxies get position 0.
The CLS and proxies attend to every token; each frame's patches attend to the 4 proxies and their own frame
only, so frames mix through the proxies: the patch tokens are NOT frame-separable, and the global vector is
order-sensitive. Global video vector = post_layernorm(CLS) -> visual_projection (512). Patch tokens for the
Knowledge Patcher = last layer's patch tokens (proxies and CLS dropped), no post-LN: `[B, T, 49, 768]`.
Text: HF CLIP text model (width 512, 12 layers, causal + padding mask); tokens = final_layer_norm output
`[N, L, 512]`, L = longest text; global = first end-of-text token -> text_projection (512). Not L2-normalised.

Module keys equal the official file's keys (`clipmodel.` + HF-CLIP keys, int64 `position_ids` buffers
included): the file is a plain state dict and this backbone holds the model as `self.clipmodel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from actionbench.models import Preprocess
from paxion_models.backbones.base import Backbone, TextFeatures, VideoFeatures
from paxion_models.backbones.checkpoints import LoadReport, OfficialLayout, from_official
from paxion_models.backbones.layers import QuickGELU, merge_heads, split_heads
from paxion_models.backbones.tokenizers import clip_padded

LAYOUT = OfficialLayout(name="CLIP-ViP-B/32", container=None)


@dataclass
class ClipVipConfig:
    image_size: int = 224
    patch_size: int = 32
    vision_width: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    temporal_size: int = 12  # frames the temporal embedding is stored for
    proxies: int = 3  # added video proxy tokens (`add_cls_num`)
    embed_dim: int = 512
    text_width: int = 512
    text_layers: int = 12
    text_heads: int = 8
    context_length: int = 77
    vocab_size: int = 49408
    logit_scale_init: float = 4.60

    @property
    def patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


class Attention(nn.Module):
    """HF CLIP attention (separate q/k/v/out projections)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.q_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return tuple(split_heads(p(x), self.heads) for p in (self.q_proj, self.k_proj, self.v_proj))  # type: ignore[return-value]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.qkv(x)
        return self.out_proj(merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask)))

    def forward_video(self, x: torch.Tensor, frames: int, lead: int) -> torch.Tensor:
        """ViP attention over `[B, lead + T*P, C]`: `lead` CLS/proxy tokens see all; patches see the lead + own frame."""
        q, k, v = self.qkv(x)  # [B, h, S, d]
        b, h, _, d = q.shape
        lead_out = F.scaled_dot_product_attention(q[:, :, :lead], k, v)  # [B, h, lead, d]

        def per_frame(t: torch.Tensor) -> torch.Tensor:
            return t[:, :, lead:].unflatten(2, (frames, -1))  # [B, h, T, P, d]

        def with_lead(t: torch.Tensor) -> torch.Tensor:
            shared = t[:, :, :lead, None].transpose(2, 3).expand(b, h, frames, lead, d)
            return torch.cat([shared, per_frame(t)], dim=3)  # [B, h, T, lead + P, d]

        frame_out = F.scaled_dot_product_attention(per_frame(q), with_lead(k), with_lead(v)).flatten(2, 3)
        return self.out_proj(merge_heads(torch.cat([lead_out, frame_out], dim=2)))


class MLP(nn.Module):
    def __init__(self, width: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.act = QuickGELU()
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.self_attn = Attention(width, heads)
        self.layer_norm1 = nn.LayerNorm(width)
        self.mlp = MLP(width, 4 * width)
        self.layer_norm2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, video: tuple[int, int] | None = None) -> torch.Tensor:
        h = self.layer_norm1(x)
        x = x + (self.self_attn.forward_video(h, *video) if video else self.self_attn(h, mask))
        return x + self.mlp(self.layer_norm2(x))


class Encoder(nn.Module):
    def __init__(self, width: int, heads: int, layers: int):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(width, heads) for _ in range(layers))


class VisionEmbeddings(nn.Module):
    def __init__(self, cfg: ClipVipConfig):
        super().__init__()
        w = cfg.vision_width
        self.added_cls = nn.Parameter(torch.randn(cfg.proxies, w))
        self.class_embedding = nn.Parameter(torch.randn(w))
        self.temporal_embedding = nn.Parameter(torch.zeros(1, cfg.temporal_size, w))
        self.patch_embedding = nn.Conv2d(3, w, kernel_size=cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.position_embedding = nn.Embedding(cfg.patches + 1, w)
        self.register_buffer("position_ids", torch.arange(cfg.patches + 1).expand(1, -1).clone())

    def temporal(self, frames: int) -> torch.Tensor:
        """The temporal embedding for T frames `[1, T, C]` (linear interpolation when T differs from storage)."""
        te = self.temporal_embedding
        if frames == te.shape[1]:
            return te
        return F.interpolate(te.transpose(1, 2), size=frames, mode="linear").transpose(1, 2)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        patches = self.patch_embedding(frames.flatten(0, 1)).flatten(2).transpose(1, 2).unflatten(0, (b, t))  # [B, T, P, C]
        pos = self.position_embedding.weight
        patches = patches + self.temporal(t).to(patches.dtype)[:, :, None] + pos[1:].to(patches.dtype)
        lead = torch.cat([self.class_embedding[None], self.added_cls]) + pos[0]  # [1 + proxies, C]
        return torch.cat([lead.to(patches.dtype).expand(b, -1, -1), patches.flatten(1, 2)], dim=1)


class VisionModel(nn.Module):
    def __init__(self, cfg: ClipVipConfig):
        super().__init__()
        self.embeddings = VisionEmbeddings(cfg)
        self.pre_layrnorm = nn.LayerNorm(cfg.vision_width)  # sic: the official spelling
        self.encoder = Encoder(cfg.vision_width, cfg.vision_heads, cfg.vision_layers)
        self.post_layernorm = nn.LayerNorm(cfg.vision_width)


class TextEmbeddings(nn.Module):
    def __init__(self, cfg: ClipVipConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.text_width)
        self.position_embedding = nn.Embedding(cfg.context_length, cfg.text_width)
        self.register_buffer("position_ids", torch.arange(cfg.context_length).expand(1, -1).clone())


class TextModel(nn.Module):
    def __init__(self, cfg: ClipVipConfig):
        super().__init__()
        self.embeddings = TextEmbeddings(cfg)
        self.encoder = Encoder(cfg.text_width, cfg.text_heads, cfg.text_layers)
        self.final_layer_norm = nn.LayerNorm(cfg.text_width)


class ClipVipModel(nn.Module):
    """The official `clipmodel`."""

    def __init__(self, cfg: ClipVipConfig):
        super().__init__()
        self.text_model = TextModel(cfg)
        self.vision_model = VisionModel(cfg)
        self.visual_projection = nn.Linear(cfg.vision_width, cfg.embed_dim, bias=False)
        self.text_projection = nn.Linear(cfg.text_width, cfg.embed_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(cfg.logit_scale_init))


class ClipVip(Backbone):
    """CLIP-ViP-B/32 (see the module docstring)."""

    name = "clipvip"
    frame_separable = False  # patches attend to the proxies, which attend to every frame
    global_order_invariant = False

    def __init__(self, cfg: ClipVipConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or ClipVipConfig()
        self.embed_dim, self.patch_dim = cfg.embed_dim, cfg.vision_width
        self.tokens_per_frame = cfg.patches
        self.preprocess = Preprocess(size=(cfg.image_size, cfg.image_size))  # CLIP mean/std
        self.clipmodel = ClipVipModel(cfg)
        self.weights_hash: str | None = None
        self.load_report: LoadReport | None = None

    @property
    def logit_scale(self) -> float:  # type: ignore[override]
        return float(self.clipmodel.logit_scale.exp())

    @property
    def dtype(self) -> torch.dtype:
        return self.clipmodel.visual_projection.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.clipmodel.visual_projection.weight.device

    def project_visual(self, x: torch.Tensor) -> torch.Tensor:
        """Patch-token space -> global space, as the original KP-Transformer did: `visual_projection`, no LN."""
        return self.clipmodel.visual_projection(x)

    def encode_video(self, frames: torch.Tensor) -> VideoFeatures:
        vision = self.clipmodel.vision_model
        b, t = frames.shape[:2]
        lead = 1 + self.cfg.proxies
        x = vision.pre_layrnorm(vision.embeddings(frames.to(self.device, self.dtype)))
        for layer in vision.encoder.layers:
            x = layer(x, video=(t, lead))
        global_vec = self.clipmodel.visual_projection(vision.post_layernorm(x[:, 0]))
        return VideoFeatures(global_vec, x[:, lead:].unflatten(1, (t, -1)))

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return clip_padded(texts, self.cfg.context_length)

    def encode_text(self, texts: list[str]) -> TextFeatures:
        return self.encode_token_ids(*self.tokenize(texts))

    def encode_token_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        text = self.clipmodel.text_model
        ids, mask = ids.to(self.device), mask.to(self.device).bool()
        n, length = ids.shape
        emb = text.embeddings
        x = emb.token_embedding(ids) + emb.position_embedding(emb.position_ids[:, :length])
        causal = torch.ones(length, length, dtype=torch.bool, device=ids.device).tril()
        attend = (causal[None] & mask[:, None, :])[:, None]  # [N, 1, L, L]; key 0 (start) is always allowed
        for layer in text.encoder.layers:
            x = layer(x, attend)
        tokens = text.final_layer_norm(x)
        pooled = tokens[torch.arange(n, device=ids.device), ids.argmax(dim=-1)]  # first end-of-text token
        return TextFeatures(self.clipmodel.text_projection(pooled), tokens, mask)

    @classmethod
    def from_official(cls, checkpoint: str | Path, cfg: ClipVipConfig | None = None) -> ClipVip:
        """Strictly load `pretrain_clipvip_base_32.pt` (weights-only) or its converted safetensors file."""
        return from_official(cls(cfg), checkpoint, LAYOUT)


def build(checkpoint: str | Path | None = None, **cfg) -> ClipVip:
    """The registry's constructor: the official weights, or random weights without a checkpoint."""
    config = ClipVipConfig(**cfg)
    if checkpoint is not None:
        return ClipVip.from_official(checkpoint, config)
    return ClipVip(config).freeze()
