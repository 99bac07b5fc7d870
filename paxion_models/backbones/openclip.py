"""`openclip`: any open_clip model applied frame by frame, built on actionbench's `clip:` model.

Patch tokens are the image tower's output tokens per frame (after `ln_post`, before the projection; the class
token is left out): `[B, T, P, width]`. The global video vector is the mean over frames of the L2-normalised frame
embeddings, exactly the `clip:` model's video embedding, so it is order-invariant; each frame's tokens depend only
on that frame (`frame_separable`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from actionbench.models.clip import clip as clip_model
from paxion_models.backbones.base import Backbone, TextFeatures, VideoFeatures


class OpenClipBackbone(Backbone):
    name = "openclip"
    frame_separable = True
    global_order_invariant = True

    def __init__(self, arch: str = "ViT-B-32", pretrained: str | None = None, image_size: int | None = None, seed: int = 0):
        super().__init__()
        self.clip = clip_model(arch, pretrained=pretrained, image_size=image_size, seed=seed)
        self.model = self.clip.model  # registered as a submodule, so .to() and .freeze() reach it
        visual = self.model.visual
        if not hasattr(visual, "output_tokens") or getattr(visual, "proj", None) is None:
            raise ValueError(f"openclip {arch}: needs a ViT image tower with a projection (got {type(visual).__name__})")
        self.embed_dim = int(visual.proj.shape[1])
        self.patch_dim = int(visual.proj.shape[0])
        self.preprocess = self.clip.preprocess
        grid = visual.grid_size
        self.tokens_per_frame = int(grid[0] * grid[1])
        self.logit_scale = self.clip.logit_scale
        self.weights_hash = self.clip.weights_hash

    @property
    def device(self) -> torch.device:
        return self.model.logit_scale.device

    def project_visual(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens @ self.model.visual.proj.to(tokens.dtype)

    def encode_video(self, frames: torch.Tensor) -> VideoFeatures:
        b, t = frames.shape[:2]
        visual = self.model.visual
        visual.output_tokens = True
        try:
            pooled, tokens = visual(frames.flatten(0, 1))  # [B*T, D], [B*T, P, width]
        finally:
            visual.output_tokens = False
        per_frame = F.normalize(pooled.float(), dim=-1).unflatten(0, (b, t))
        return VideoFeatures(global_vec=per_frame.mean(1), patch_tokens=tokens.unflatten(0, (b, t)))

    def encode_text(self, texts: list[str]) -> TextFeatures:
        ids = self.clip.tokenizer(texts).to(self.device)
        model = self.model
        if not hasattr(model, "token_embedding"):  # a custom text tower: global vector only
            glob = model.encode_text(ids).float()
            return TextFeatures(global_vec=glob, tokens=glob[:, None], mask=None)
        x = model.token_embedding(ids) + model.positional_embedding
        x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask))  # [N, L, width]
        glob = model.encode_text(ids).float()
        return TextFeatures(global_vec=glob, tokens=x, mask=ids != 0)


def build(arch: str = "ViT-B-32", pretrained: str | None = None, checkpoint: str | None = None,
          image_size: int | None = None, seed: int = 0) -> OpenClipBackbone:
    """`openclip` backbone: `arch`, `pretrained` (open_clip tag or file) or `checkpoint` (a file)."""
    weights = checkpoint if checkpoint is not None else pretrained
    return OpenClipBackbone(arch, None if weights is None else str(weights), image_size=image_size, seed=seed).freeze()
