"""`hf:<hub id or folder>`: video-text dual encoders from Hugging Face `transformers`.

The family is read from the checkpoint's config:
- `clip`, `siglip`, `siglip2`: the image tower on every frame, L2-normalised and mean-pooled over time (as
  `clip:` does; order-invariant); the text tower as is; cosine similarity.
- `xclip`: X-CLIP's own video encoder (frame tower + multi-frame integration transformer; order-sensitive) and
  its video-conditioned text prompts: the video embedding carries the frame-pooled patch features the prompt
  generator attends to, and `similarity` applies it per (video, text) pair as X-CLIP's forward does.

Preprocessing comes from the checkpoint's processor config (input size, mean / std, SigLIP 2's patch budget) and
is recorded in the bundle (`model.details.processor`). Arguments: `dtype`, `trust_remote_code`, `revision`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from actionbench.models.hf_loading import (
    as_uint8,
    load_pretrained,
    pick_dtype,
    processor_record,
    require_transformers,
    weights_hash,
)
from actionbench.models.protocol import ModelError, ModelSpec, Preprocess, VideoTextModel

VERSION = "hf-1"
FRAME_MEAN = ("clip", "siglip", "siglip2")
VIDEO = ("xclip",)
FAMILIES = FRAME_MEAN + VIDEO


def _pooled(out: Any) -> torch.Tensor:
    """`get_*_features` return a tensor in transformers 4 and an output with `pooler_output` in 5."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def _get(cfg: Any, key: str) -> Any:
    if cfg is None:
        return None
    return cfg.get(key) if isinstance(cfg, dict) else getattr(cfg, key, None)


class HFDualEncoder(VideoTextModel):
    """A transformers CLIP / SigLIP / SigLIP 2 (frame mean) or X-CLIP (video encoder) model."""

    def __init__(self, source: str, *, dtype: str = "auto", trust_remote_code: bool = False,
                 revision: str | None = None) -> None:
        transformers = require_transformers("hf:")
        common: dict[str, Any] = {"trust_remote_code": bool(trust_remote_code)}
        if revision is not None:
            common["revision"] = str(revision)
        config = load_pretrained(transformers.AutoConfig, source, "hf:", **common)
        self.family = str(getattr(config, "model_type", ""))
        if self.family not in FAMILIES:
            raise ModelError(f"hf:{source}: model type {self.family!r} is not a video-text dual encoder this adapter "
                             f"knows ({', '.join(FAMILIES)}); use vlm: for generative models or a plugin")
        self.source = source
        self.dtype = pick_dtype(dtype, None)
        self.explicit_dtype = dtype != "auto"
        self.processor = load_pretrained(transformers.AutoProcessor, source, "hf:", **common)
        self.model = load_pretrained(transformers.AutoModel, source, "hf:", dtype=self.dtype, **common)
        self.model.eval()
        self.tokenizer = self.processor.tokenizer
        self.image_processor = getattr(self.processor, "image_processor", None)
        if self.image_processor is None:
            raise ModelError(f"hf:{source}: its processor has no image processor")
        self.order_invariant = self.family in FRAME_MEAN
        self.naflex = self.family == "siglip2"
        self.preprocess = self._preprocess()
        self.logit_scale = float(self.model.logit_scale.exp().item())
        self.weights_hash = weights_hash(source, config)
        self.version = f"{VERSION}/{self.family}"
        self.details = {"family": self.family, "class": type(self.model).__name__,
                        "processor": processor_record(self.processor)}

    def _preprocess(self) -> Preprocess:
        ip = self.image_processor
        if self.naflex:  # SigLIP 2 NaFlex: a square of its patch budget; its processor patchifies and normalises
            patch = int(ip.patch_size)
            side = int(math.isqrt(int(ip.max_num_patches))) * patch
            return Preprocess(size=(side, side), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        crop = _get(ip, "crop_size") if getattr(ip, "do_center_crop", False) else None
        size = _get(ip, "size")
        h = _get(crop, "height") or _get(size, "height") or _get(crop, "shortest_edge") or _get(size, "shortest_edge")
        w = _get(crop, "width") or _get(size, "width") or h
        if not h:
            raise ModelError(f"hf:{self.source}: its image processor gives no input size")
        mean = tuple(float(m) for m in (ip.image_mean or Preprocess().mean))
        std = tuple(float(s) for s in (ip.image_std or Preprocess().std))
        return Preprocess(size=(int(h), int(w)), mean=mean, std=std)

    def to(self, device: str | torch.device) -> HFDualEncoder:
        self.device = torch.device(device)
        dtype = self.dtype if self.explicit_dtype else (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        self.model.to(device=self.device, dtype=dtype)
        self.dtype = dtype
        return self

    # ------------------------------------------------------------------------------------------ encoders

    def _frames(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """`[N, 3, H, W]` harness frames -> the image tower's inputs."""
        if not self.naflex:
            return {"pixel_values": frames.to(self.device, self.dtype)}
        inputs = self.image_processor(images=list(as_uint8(frames)), return_tensors="pt")
        return {k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device))
                for k, v in inputs.items()}

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        if self.family == "xclip":
            return self._xclip_video(frames)
        x = _pooled(self.model.get_image_features(**self._frames(frames.flatten(0, 1))))
        x = F.normalize(x.float(), dim=-1).view(b, t, -1)
        return x.mean(dim=1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        if self.family in ("siglip", "siglip2"):  # trained on max-length padding, as its processor documents
            length = int(getattr(self.model.config.text_config, "max_position_embeddings", 64))
            tokens = self.tokenizer(texts, padding="max_length", max_length=length, truncation=True,
                                    return_tensors="pt")
        else:
            tokens = self.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
        tokens = {k: v.to(self.device) for k, v in tokens.items() if k in ("input_ids", "attention_mask")}
        return _pooled(self.model.get_text_features(**tokens)).float()

    # ------------------------------------------------------------------------------------------ X-CLIP

    def _xclip_video(self, frames: torch.Tensor) -> torch.Tensor:
        """`[B, 1 + P, D]`: row 0 the video embedding (MIT over frame embeddings), rows 1.. the frame-mean patch
        features its prompt generator attends to (the computation of XCLIPModel.forward)."""
        m = self.model
        b, t = frames.shape[:2]
        vision = m.vision_model(pixel_values=frames.flatten(0, 1).to(self.device, self.dtype), return_dict=True)
        cls = m.visual_projection(vision.pooler_output).view(b, t, -1)
        video = m.mit(cls, return_dict=True).pooler_output  # [B, D]
        patches = m.prompts_visual_layernorm(vision.last_hidden_state[:, 1:, :]) @ m.prompts_visual_projection
        patches = patches.view(b, t, -1, video.shape[-1]).mean(dim=1)  # [B, P, D]
        return torch.cat([video[:, None], patches], dim=1).float()

    def similarity(self, video_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        if self.family != "xclip":
            return super().similarity(video_emb, text_emb)
        gen = self.model.prompts_generator
        dtype = next(gen.parameters()).dtype
        video, patches = video_emb[:, 0].float(), video_emb[:, 1:].to(self.device, dtype)
        text = text_emb.to(self.device, dtype)
        rows = []
        for i in range(video.shape[0]):  # one video at a time: each text is conditioned on that video alone
            t = text[None] + gen(text[None], patches[i : i + 1])
            rows.append(F.normalize(t[0].float(), dim=-1) @ F.normalize(video[i].to(t.device), dim=-1))
        return torch.stack(rows)


def hf(rest: str, dtype: str = "auto", trust_remote_code: bool = False, revision: str | None = None
       ) -> HFDualEncoder:
    """`hf:<hub id or folder>` factory."""
    if not rest:
        raise ModelError("hf: give a hub id or a local folder, e.g. hf:openai/clip-vit-base-patch32")
    if not isinstance(trust_remote_code, bool):
        raise ModelError("hf: trust_remote_code must be true or false")
    return HFDualEncoder(rest, dtype=dtype, trust_remote_code=trust_remote_code, revision=revision)


SPECS = [
    ModelSpec(
        name="hf",
        factory=hf,
        prefix=True,
        description="hf:<hub id|folder>: transformers dual encoder: CLIP / SigLIP / SigLIP 2 frame-mean "
        "(order-invariant) or X-CLIP (its video encoder); preprocessing from its processor config; "
        "args: dtype, trust_remote_code, revision",
        weights="hub id (downloaded by transformers) or a local folder; pip install 'actionbench[hf]'",
    )
]
