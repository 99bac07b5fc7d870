"""Singularity-temporal-17M: our implementation, loading the official `singularity_temporal_17m.pth` strictly.

Vision: BEiT-base/16 (HF layout: relative position bias per layer, layer scale, exact GELU, LayerNorm eps 1e-12,
mean-pooling pooler) on every frame alone; the per-frame pooled feature (LayerNorm of the mean of the 196 patch
tokens) is taken before `vision_layernorm`. The last layer's tokens go through `vision_layernorm`, get a temporal
embedding per frame, then a 2-layer BERT encoder over the frame axis at each of the 197 positions: the patch
tokens `[B, T, 197, 768]` (frame CLS included) are therefore NOT frame-separable. Global video vector =
mean over frames of `vision_proj(pooled)` (256): order-invariant, since no frame sees another on that path.
Text: BERT (bert-base-uncased dims) in "text" mode, layers 0-8; tokens = layer-8 output `[N, L, 768]`; global =
`text_proj([CLS])` (256). Layers 9-11 (cross-attention fusion), `itm_head` and `temp` are loaded, unused.
Not L2-normalised (as in Paxion).

Loading (the file keeps its tensors in `ckpt['model']`): the text encoder is stored as `text_encoder.bert.X`
and loads as `text_encoder.X`. Allowlisted, and reported in the `LoadReport`:
- `*.relative_position_index` (12 int64 buffers): recomputed here, as the original loader did;
- `text_encoder.cls.predictions.*` (7 tensors): the masked-LM head, unused by retrieval;
- `temporal_embeddings` stored for fewer frames than this model's `num_frames` (the file is believed to hold 4,
  the model is built for 8). Policy, as the original: copy the stored frames into the first frames and leave the
  remaining frames ZERO (frames 4-7 get no temporal embedding); a file with more frames is truncated.
At run time T <= num_frames uses the first T embeddings; T > num_frames interpolates linearly (as the original).

Longer than the project's ~400 lines on purpose: the vision tower (BEiT with relative position bias), the
BERT text tower and its fusion layers, the official key layout and the loader are one model, checked
together against the original's parameter counts and key names (tests/test_backbones_paper.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from actionbench.models import Preprocess
from paxion_models.backbones.base import Backbone, TextFeatures, VideoFeatures
from paxion_models.backbones.checkpoints import (
    CheckpointError,
    LoadReport,
    OfficialLayout,
    Resize,
    from_official,
)
from paxion_models.backbones.layers import merge_heads, split_heads
from paxion_models.backbones.tokenizers import WordPiece

BEIT_MEAN = BEIT_STD = (0.5, 0.5, 0.5)


def fit_temporal_embedding(stored: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """`[1, F_file, 1, D]` -> `[1, F_model, 1, D]`: copied into the first frames, the rest zero; or truncated."""
    if stored.dim() != 4 or (stored.shape[0], stored.shape[2], stored.shape[3]) != (shape[0], shape[2], shape[3]):
        raise CheckpointError(f"temporal_embeddings has shape {tuple(stored.shape)}, expected (1, frames, 1, {shape[3]})")
    out = torch.zeros(shape, dtype=stored.dtype)
    n = min(shape[1], stored.shape[1])
    out[:, :n] = stored[:, :n]
    return out


LAYOUT = OfficialLayout(
    name="Singularity-temporal-17M",
    container="model",
    renames=(("text_encoder.bert.", "text_encoder."),),
    ignored=(
        (r"relative_position_index$", "recomputed from the patch grid (the original loader drops them too)"),
        (r"^text_encoder\.cls\.predictions\.", "masked-LM head of pre-training, unused by retrieval"),
    ),
    resized={
        "temporal_embeddings": Resize(
            "stored for fewer frames: copied into the first frames, the rest zero (as the original)", fit_temporal_embedding
        )
    },
)


@dataclass
class SingularityConfig:
    image_size: int = 224
    patch_size: int = 16
    vision_width: int = 768
    vision_layers: int = 12
    vision_heads: int = 12
    vision_mlp: int = 3072
    text_width: int = 768
    text_layers: int = 12
    text_heads: int = 12
    text_mlp: int = 3072
    fusion_layer: int = 9  # text layers from here on carry cross-attention (unused here)
    vocab_size: int = 30522
    max_positions: int = 512
    type_vocab_size: int = 2
    temporal_layers: int = 2
    num_frames: int = 8  # the model's temporal-embedding slots (the original built 8)
    embed_dim: int = 256
    temp: float = 0.07

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size


# -- BEiT


def relative_position_index(grid: int) -> torch.Tensor:
    """BEiT's `[grid² + 1, grid² + 1]` index into the bias table (the last 3 rows are CLS-to-patch, patch-to-CLS, CLS-CLS)."""
    coords = torch.stack(torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += grid - 1
    rel[:, :, 1] += grid - 1
    rel[:, :, 0] *= 2 * grid - 1
    distances = (2 * grid - 1) ** 2 + 3
    index = torch.zeros(grid * grid + 1, grid * grid + 1, dtype=torch.long)
    index[1:, 1:] = rel.sum(-1)
    index[0, 0:] = distances - 3
    index[0:, 0] = distances - 2
    index[0, 0] = distances - 1
    return index


class RelativePositionBias(nn.Module):
    def __init__(self, grid: int, heads: int):
        super().__init__()
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * grid - 1) ** 2 + 3, heads))
        self.register_buffer("relative_position_index", relative_position_index(grid), persistent=False)

    def forward(self) -> torch.Tensor:
        n = self.relative_position_index.shape[0]
        return self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1).permute(2, 0, 1)


class BeitSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, grid: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width, bias=False)
        self.value = nn.Linear(width, width)
        self.relative_position_bias = RelativePositionBias(grid, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (split_heads(p(x), self.heads) for p in (self.query, self.key, self.value))
        bias = self.relative_position_bias().to(q.dtype)[None]
        return merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=bias))


class Dense(nn.Module):
    """A module holding one `dense` Linear (the HF key layout)."""

    def __init__(self, width_in: int, width_out: int):
        super().__init__()
        self.dense = nn.Linear(width_in, width_out)


class BeitAttention(nn.Module):
    def __init__(self, width: int, heads: int, grid: int):
        super().__init__()
        self.attention = BeitSelfAttention(width, heads, grid)
        self.output = Dense(width, width)


class BeitLayer(nn.Module):
    def __init__(self, cfg: SingularityConfig):
        super().__init__()
        w = cfg.vision_width
        self.attention = BeitAttention(w, cfg.vision_heads, cfg.grid)
        self.intermediate = Dense(w, cfg.vision_mlp)
        self.output = Dense(cfg.vision_mlp, w)
        self.layernorm_before = nn.LayerNorm(w, eps=1e-12)
        self.layernorm_after = nn.LayerNorm(w, eps=1e-12)
        self.lambda_1 = nn.Parameter(0.1 * torch.ones(w))
        self.lambda_2 = nn.Parameter(0.1 * torch.ones(w))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = self.attention.output.dense(self.attention.attention(self.layernorm_before(x)))
        x = x + self.lambda_1 * attn
        h = self.output.dense(F.gelu(self.intermediate.dense(self.layernorm_after(x))))
        return x + self.lambda_2 * h


class PatchEmbeddings(nn.Module):
    def __init__(self, cfg: SingularityConfig):
        super().__init__()
        self.projection = nn.Conv2d(3, cfg.vision_width, kernel_size=cfg.patch_size, stride=cfg.patch_size)


class BeitEmbeddings(nn.Module):
    def __init__(self, cfg: SingularityConfig):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.vision_width))
        self.patch_embeddings = PatchEmbeddings(cfg)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embeddings.projection(images).flatten(2).transpose(1, 2)
        return torch.cat([self.cls_token.to(x.dtype).expand(x.shape[0], -1, -1), x], dim=1)


class BeitEncoder(nn.Module):
    def __init__(self, cfg: SingularityConfig):
        super().__init__()
        self.layer = nn.ModuleList(BeitLayer(cfg) for _ in range(cfg.vision_layers))


class BeitPooler(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.layernorm = nn.LayerNorm(width, eps=1e-12)


class Beit(nn.Module):
    """HF BeitModel with mean pooling: images -> (last hidden state `[N, 197, C]`, pooled `[N, C]`)."""

    def __init__(self, cfg: SingularityConfig):
        super().__init__()
        self.embeddings = BeitEmbeddings(cfg)
        self.encoder = BeitEncoder(cfg)
        self.pooler = BeitPooler(cfg.vision_width)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.embeddings(images)
        for layer in self.encoder.layer:
            x = layer(x)
        return x, self.pooler.layernorm(x[:, 1:].mean(1))


# -- BERT (post-LN)


class BertSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = (split_heads(p(x), self.heads) for p in (self.query, self.key, self.value))
        return merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


class BertOutput(nn.Module):
    def __init__(self, width_in: int, width: int):
        super().__init__()
        self.dense = nn.Linear(width_in, width)
        self.LayerNorm = nn.LayerNorm(width, eps=1e-12)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dense(x) + residual)


class BertAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.self = BertSelfAttention(width, heads)
        self.output = BertOutput(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class BertLayer(nn.Module):
    def __init__(self, width: int, heads: int, mlp: int, cross_attention: bool = False):
        super().__init__()
        self.attention = BertAttention(width, heads)
        if cross_attention:  # fusion layers: loaded for a 1:1 state dict, never run here
            self.crossattention = BertAttention(width, heads)
        self.intermediate = Dense(width, mlp)
        self.output = BertOutput(mlp, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attention(x, mask)
        return self.output(F.gelu(self.intermediate.dense(x)), x)


class BertEmbeddings(nn.Module):
    def __init__(self, cfg: SingularityConfig):
        super().__init__()
        w = cfg.text_width
        self.word_embeddings = nn.Embedding(cfg.vocab_size, w, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_positions, w)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, w)
        self.LayerNorm = nn.LayerNorm(w, eps=1e-12)
        self.register_buffer("position_ids", torch.arange(cfg.max_positions).expand(1, -1).clone())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.word_embeddings(ids) + self.token_type_embeddings.weight[0]  # token types are all 0
        return self.LayerNorm(x + self.position_embeddings(self.position_ids[:, : ids.shape[1]]))


class BertEncoder(nn.Module):
    def __init__(self, layers: list[BertLayer]):
        super().__init__()
        self.layer = nn.ModuleList(layers)


class TextEncoder(nn.Module):
    """xbert BertModel without pooler; `encode` runs the text-only layers (before `fusion_layer`)."""

    def __init__(self, cfg: SingularityConfig):
        super().__init__()
        self.fusion_layer = cfg.fusion_layer
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(
            [BertLayer(cfg.text_width, cfg.text_heads, cfg.text_mlp, i >= cfg.fusion_layer) for i in range(cfg.text_layers)]
        )

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(ids)
        keys = mask[:, None, None, :]  # [N, 1, 1, L]: padding is never attended to
        for layer in self.encoder.layer[: self.fusion_layer]:
            x = layer(x, keys)
        return x


class Singularity(Backbone):
    """Singularity-temporal-17M (see the module docstring). Keys sit at top level, as in the official file."""

    name = "singularity"
    frame_separable = False  # the temporal encoder attends across frames
    global_order_invariant = True  # mean over frames of per-frame BEiT features

    def __init__(
        self,
        cfg: SingularityConfig | None = None,
        tokenizer: WordPiece | None = None,
        preprocess: Preprocess = Preprocess(mean=BEIT_MEAN, std=BEIT_STD),
    ):
        super().__init__()
        self.cfg = cfg = cfg or SingularityConfig()
        self.embed_dim, self.patch_dim = cfg.embed_dim, cfg.vision_width
        self.tokens_per_frame = cfg.grid**2 + 1
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.vision_encoder = Beit(cfg)
        self.vision_layernorm = nn.LayerNorm(cfg.vision_width, eps=1e-12)
        self.text_encoder = TextEncoder(cfg)
        self.vision_proj = nn.Linear(cfg.vision_width, cfg.embed_dim)
        self.text_proj = nn.Linear(cfg.text_width, cfg.embed_dim)
        self.temp = nn.Parameter(torch.tensor(cfg.temp))
        self.itm_head = nn.Linear(cfg.text_width, 2)
        self.temporal_embeddings = nn.Parameter(torch.zeros(1, cfg.num_frames, 1, cfg.vision_width))
        self.temporal_vision_encoder = BertEncoder(
            [BertLayer(cfg.vision_width, cfg.vision_heads, cfg.vision_mlp) for _ in range(cfg.temporal_layers)]
        )
        self.weights_hash: str | None = None
        self.load_report: LoadReport | None = None

    @property
    def logit_scale(self) -> float:  # type: ignore[override]
        return float(1.0 / self.temp)

    @property
    def dtype(self) -> torch.dtype:
        return self.vision_proj.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.vision_proj.weight.device

    def project_visual(self, x: torch.Tensor) -> torch.Tensor:
        """Patch-token space -> global space, as the original KP-Transformer did: `vision_proj`."""
        return self.vision_proj(x)

    def temporal_embedding(self, frames: int) -> torch.Tensor:
        """`[1, T, 1, D]`: the first T slots, or a linear interpolation when T exceeds them (as the original)."""
        te = self.temporal_embeddings
        if frames <= te.shape[1]:
            return te[:, :frames]
        return F.interpolate(te[:, :, 0].transpose(1, 2), frames, mode="linear").transpose(1, 2)[:, :, None]

    def encode_video(self, frames: torch.Tensor) -> VideoFeatures:
        b, t = frames.shape[:2]
        hidden, pooled = self.vision_encoder(frames.to(self.device, self.dtype).flatten(0, 1))
        tokens = self.vision_layernorm(hidden).unflatten(0, (b, t)) + self.temporal_embedding(t).to(hidden.dtype)
        if t > 1:  # the original skips the temporal encoder for single frames
            length = tokens.shape[2]
            x = tokens.transpose(1, 2).flatten(0, 1)  # [B*L, T, D]: attention across frames at one position
            for layer in self.temporal_vision_encoder.layer:
                x = layer(x)
            tokens = x.unflatten(0, (b, length)).transpose(1, 2)
        global_vec = self.vision_proj(pooled.unflatten(0, (b, t))).mean(1)
        return VideoFeatures(global_vec, tokens)

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tokenizer is None:
            raise ValueError("Singularity needs bert-base-uncased's vocab.txt: load it with vocab=PATH (or beside the checkpoint)")
        return self.tokenizer(texts)

    def encode_text(self, texts: list[str]) -> TextFeatures:
        return self.encode_token_ids(*self.tokenize(texts))

    def encode_token_ids(self, ids: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
        ids, mask = ids.to(self.device), mask.to(self.device).bool()
        tokens = self.text_encoder.encode(ids, mask)
        return TextFeatures(self.text_proj(tokens[:, 0]), tokens, mask)

    @classmethod
    def from_official(
        cls,
        checkpoint: str | Path,
        cfg: SingularityConfig | None = None,
        vocab: str | Path | None = None,
        preprocess: Preprocess = Preprocess(mean=BEIT_MEAN, std=BEIT_STD),
    ) -> Singularity:
        """Strictly load `singularity_temporal_17m.pth` (weights-only) or its converted safetensors file.

        The BERT vocabulary is `vocab`, or `vocab.txt` beside the checkpoint.
        """
        vocab = Path(vocab) if vocab is not None else Path(checkpoint).with_name("vocab.txt")
        return from_official(cls(cfg, WordPiece.from_file(vocab), preprocess), checkpoint, LAYOUT)

    def official_extras(self, stored_frames: int = 4) -> dict[str, torch.Tensor]:
        """The file-only tensors (index buffers, MLM head, a shorter temporal embedding): to write fixtures."""
        cfg, extra = self.cfg, {}
        for i in range(cfg.vision_layers):
            key = f"vision_encoder.encoder.layer.{i}.attention.attention.relative_position_bias.relative_position_index"
            extra[key] = relative_position_index(cfg.grid)
        w, v, head = cfg.text_width, cfg.vocab_size, "text_encoder.cls.predictions."
        extra |= {
            head + "bias": torch.zeros(v),
            head + "transform.dense.weight": torch.randn(w, w) * 0.02,
            head + "transform.dense.bias": torch.zeros(w),
            head + "transform.LayerNorm.weight": torch.ones(w),
            head + "transform.LayerNorm.bias": torch.zeros(w),
            head + "decoder.weight": self.text_encoder.embeddings.word_embeddings.weight.detach().clone(),
            head + "decoder.bias": torch.zeros(v),
        }
        extra["temporal_embeddings"] = self.temporal_embeddings.detach()[:, :stored_frames].clone()
        return extra


def build(
    checkpoint: str | Path | None = None, vocab: str | Path | None = None, clip_normalisation: bool = False, **cfg
) -> Singularity:
    """The registry's constructor. `clip_normalisation=True` for entries reusing released Paxion weights,
    which were trained on CLIP-normalised frames; the backbone row uses BEiT's own 0.5/0.5."""
    config = SingularityConfig(**cfg)
    size = (config.image_size, config.image_size)  # the frames the configured vision tower takes
    preprocess = Preprocess(size=size) if clip_normalisation else Preprocess(size=size, mean=BEIT_MEAN, std=BEIT_STD)
    if checkpoint is not None:
        return Singularity.from_official(checkpoint, config, vocab, preprocess)
    tokenizer = WordPiece.from_file(vocab) if vocab is not None else None
    return Singularity(config, tokenizer, preprocess).freeze()
