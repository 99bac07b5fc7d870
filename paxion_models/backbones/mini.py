"""The mini backbone: a small dual encoder for the embedded mini benchmark, trained in a few CPU minutes.

It is built to have the blind spot the paper found in real video-language models, and nothing more:
- the video side encodes each frame alone and averages the frame vectors over time, so it is order-invariant
  (like a frame-mean CLIP) and cannot tell an action from its reversal;
- the text side is order-aware (word positions matter), so "from left to right" and "from right to left" get
  different vectors and a Knowledge Patcher has something to aim at.

Patch tokens are a small grid of conv features with a fixed 2-D position code (so "where is the object"
survives into the tokens); frame t's tokens depend only on frame t (`frame_separable`). The word-level tokenizer
is built from the training captions and saved inside the checkpoint.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from actionbench.models import Preprocess
from paxion_models.backbones.base import Backbone, TextFeatures, VideoFeatures

PAD, UNK = "<pad>", "<unk>"
_WORD = re.compile(r"[a-z0-9]+")


def words(text: str) -> list[str]:
    """Lower-cased words: what the mini tokenizer sees."""
    return _WORD.findall(text.lower())


@dataclass
class WordTokenizer:
    """A word-level vocabulary built from the training captions (unknown words map to `<unk>`)."""

    vocab: list[str]
    max_words: int = 24

    @classmethod
    def from_texts(cls, texts: list[str], max_words: int = 24) -> WordTokenizer:
        found = sorted({w for t in texts for w in words(t)})  # sorted: the same captions give the same ids
        return cls([PAD, UNK, *found], max_words)

    def __post_init__(self) -> None:
        self.index = {w: i for i, w in enumerate(self.vocab)}

    def __call__(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Texts -> (ids `[N, L]`, mask `[N, L]` True where a word is real); L = longest text, at most max_words."""
        ids = [[self.index.get(w, 1) for w in words(t)][: self.max_words] or [1] for t in texts]
        length = max(len(i) for i in ids)
        out = torch.zeros(len(ids), length, dtype=torch.long)
        for row, seq in enumerate(ids):
            out[row, : len(seq)] = torch.tensor(seq)
        return out, out != 0


@dataclass
class MiniConfig:
    image_size: int = 64
    grid: int = 4  # patch tokens per frame = grid * grid
    width: int = 64  # patch-token and text-token width
    embed_dim: int = 64  # global video/text vector size
    text_layers: int = 2
    text_heads: int = 4
    max_words: int = 24
    num_frames: int = 8
    vocab: list[str] = field(default_factory=lambda: [PAD, UNK])


def grid_position_code(grid: int, width: int) -> torch.Tensor:
    """A fixed 2-D position code `[grid*grid, width]`: sin/cos of x and y at log2(grid) octaves, lowest first
    (whose sine is monotone across the frame), in the first channels; zeros elsewhere."""
    frequencies = max(1, int(math.log2(grid)))
    u = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid * 2 - 1  # cell centres in [-1, 1]
    y, x = torch.meshgrid(u, u, indexing="ij")
    f = (math.pi / 2) * 2.0 ** torch.arange(frequencies, dtype=torch.float32)  # pi/2, pi, 2 pi, 4 pi
    parts = [fn(c.flatten()[:, None] * f) for c in (x, y) for fn in (torch.sin, torch.cos)]
    code = torch.cat(parts, dim=1)  # [g*g, 4 * frequencies]
    return F.pad(code, (0, width - code.shape[1])) * 2.0


class FrameEncoder(nn.Module):
    """One frame -> a grid of patch tokens that know where they are.

    Like a ViT's position embedding, which survives into CLIP's patch tokens, a fixed 2-D position code is added
    to the normalised conv features, at their scale: the frame-mean objective has no reason to keep where an
    object is, so a learned position would stay near its initialisation and the tokens would not say where
    anything is (a patcher could then not follow a moving object)."""

    def __init__(self, cfg: MiniConfig):
        super().__init__()
        w = cfg.width
        grid, k = cfg.grid, cfg.image_size // (2 * cfg.grid)
        self.conv = nn.Sequential(nn.Conv2d(3, 32, k, stride=k), nn.GELU(), nn.Conv2d(32, w, 2, stride=2))  # -> grid x grid
        self.conv_norm = nn.LayerNorm(w)
        self.register_buffer("grid_code", grid_position_code(grid, w), persistent=False)
        self.position = nn.Parameter(torch.randn(grid * grid, w) * 0.02)
        self.mlp = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, 2 * w), nn.GELU(), nn.Linear(2 * w, w))
        self.norm = nn.LayerNorm(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_norm(self.conv(x).flatten(2).transpose(1, 2))  # [N, g*g, w]
        x = x + self.grid_code + self.position
        return self.norm(x + self.mlp(x))


class TextEncoder(nn.Module):
    """Words + positions -> a small Transformer -> mean over real words."""

    def __init__(self, cfg: MiniConfig):
        super().__init__()
        w = cfg.width
        self.embed = nn.Embedding(len(cfg.vocab), w, padding_idx=0)
        self.position = nn.Parameter(torch.randn(cfg.max_words, w))  # as large as the words: order must matter
        layer = nn.TransformerEncoderLayer(w, cfg.text_heads, 2 * w, dropout=0.0, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, cfg.text_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(w)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.embed(ids) + self.position[: ids.shape[1]]  # [N, L, w]
        x = self.norm(self.layers(x, src_key_padding_mask=~mask))
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)  # [N, w]
        return pooled, x


class MiniBackbone(Backbone):
    """Frame-mean video encoder + order-aware word encoder (see the module docstring)."""

    name = "mini"
    frame_separable = True
    global_order_invariant = True

    def __init__(self, cfg: MiniConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_dim, self.patch_dim = cfg.embed_dim, cfg.width
        self.tokens_per_frame = cfg.grid**2
        self.preprocess = Preprocess(size=(cfg.image_size, cfg.image_size), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        self.tokenizer = WordTokenizer(cfg.vocab, cfg.max_words)
        self.frames = FrameEncoder(cfg)
        self.visual_proj = nn.Linear(cfg.width, cfg.embed_dim, bias=False)
        self.text = TextEncoder(cfg)
        self.text_proj = nn.Linear(cfg.width, cfg.embed_dim, bias=False)
        self.log_scale = nn.Parameter(torch.tensor(2.6593))  # log(1/0.07), as CLIP

    @property
    def logit_scale(self) -> float:  # type: ignore[override]
        return float(self.log_scale.exp())

    @property
    def device(self) -> torch.device:
        return self.log_scale.device

    def tokenize(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokenizer(texts)

    def project_visual(self, tokens: torch.Tensor) -> torch.Tensor:
        """Patch-token space -> the global vector space (the Transformer patcher pools then projects)."""
        return self.visual_proj(tokens)

    def encode_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`[B, T, 3, H, W]` -> (per-frame vectors `[B, T, D]`, patch tokens `[B, T, P, w]`)."""
        b, t = frames.shape[:2]
        tokens = self.frames(frames.flatten(0, 1)).unflatten(0, (b, t))  # [B, T, P, w]
        return self.visual_proj(tokens.mean(2)), tokens

    def encode_video(self, frames: torch.Tensor) -> VideoFeatures:
        per_frame, tokens = self.encode_frames(frames)
        return VideoFeatures(global_vec=per_frame.mean(1), patch_tokens=tokens)  # the mean over time: order-blind

    def encode_text(self, texts: list[str]) -> TextFeatures:
        ids, mask = self.tokenize(texts)
        ids, mask = ids.to(self.device), mask.to(self.device)
        pooled, tokens = self.text(ids, mask)
        return TextFeatures(global_vec=self.text_proj(pooled), tokens=tokens, mask=mask)

    # -- checkpoints: weights + config (vocabulary included) in one safetensors file

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        from paxion_models.checkpoints import save_checkpoint

        return save_checkpoint(path, self.state_dict(), {"kind": "mini-backbone", "mini": asdict(self.cfg), **(extra or {})})

    @classmethod
    def load(cls, checkpoint: str | Path) -> MiniBackbone:
        from paxion_models.checkpoints import CheckpointError, load_checkpoint, load_strict

        weights, config = load_checkpoint(checkpoint)
        if config.get("kind") != "mini-backbone":
            raise CheckpointError(f"{checkpoint}: not a mini backbone checkpoint (kind={config.get('kind')!r})")
        model = cls(MiniConfig(**config["mini"]))
        load_strict(model, weights, checkpoint)
        model.weights_hash = config.get("weights_hash")
        return model.freeze()


def build(checkpoint: str | Path | None = None, **cfg) -> MiniBackbone:
    """The registry's constructor: a trained mini backbone from its checkpoint (random weights without one)."""
    if checkpoint is not None:
        return MiniBackbone.load(checkpoint)
    return MiniBackbone(MiniConfig(**cfg)).freeze()


def cosine(backbone: Backbone, a: str, b: str) -> float:
    """Cosine between two captions' global text vectors (the antonym-separation check)."""
    with torch.no_grad():
        v = F.normalize(backbone.encode_text([a, b]).global_vec.float(), dim=-1)
    return float(v[0] @ v[1])

