"""`clip:<arch>`: the CLIP frame-mean baseline on open_clip (the one CLIP frame-mean implementation).

Every frame goes through open_clip's image tower; the L2-normalised frame embeddings are averaged over time
(the usual CLIP4Clip-style mean pooling), so the video embedding cannot depend on frame order.

Arguments (`--model-arg`): `pretrained` = an open_clip tag (downloaded by open_clip on first use) or a
checkpoint file (loaded through open_clip's own loader, `weights_only`); `checkpoint` = a file, the same as
`pretrained=<file>` (what `--checkpoint` sets); none of them = random init, seeded by `seed` (default 0);
`image_size` = force the input size (small sizes make tests fast). `<arch>` may also be the path of an
open_clip model-config JSON file (registered under its file stem).
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from actionbench.files import read_json, sha256_file
from actionbench.models.protocol import ModelError, ModelSpec, Preprocess, VideoTextModel


class _RandomInitNotice(logging.Filter):
    """Drops open_clip's root-logger line for a random init the user asked for (no `pretrained`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No pretrained weights loaded")


@contextlib.contextmanager
def _quiet_random_init(asked: bool):
    if not asked:
        yield
        return
    notice = _RandomInitNotice()
    logging.getLogger().addFilter(notice)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(notice)


class ClipFrameMean(VideoTextModel):
    """open_clip image tower per frame, mean-pooled over time; open_clip text tower; cosine similarity."""

    order_invariant = True

    def __init__(
        self,
        arch: str,
        pretrained: str | None = None,
        *,
        image_size: int | None = None,
        seed: int = 0,
    ) -> None:
        import open_clip

        self.arch = arch
        arch_name = arch
        config_hash = None
        if arch.endswith(".json"):
            config = Path(arch)
            if not config.is_file():
                raise ModelError(f"clip: model config {config} not found")
            try:
                read_json(config, ModelError)  # strict JSON: file:line:column of a syntax error
            except ModelError as e:
                raise ModelError(f"clip: model config {e}") from None
            open_clip.add_model_config(config)
            arch_name = config.stem
            config_hash = sha256_file(config)[:16]
        elif arch not in open_clip.list_models():
            raise ModelError(f"clip: unknown open_clip architecture {arch!r} (see open_clip.list_models())")

        self.weights_hash = None
        if pretrained is not None and Path(str(pretrained)).is_file():
            self.weights_hash = sha256_file(pretrained)
        elif pretrained is not None and not open_clip.get_pretrained_cfg(arch_name, str(pretrained)):
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(arch_name)) or "none"
            raise ModelError(f"clip:{arch}: pretrained {pretrained!r} is neither a file nor a tag (tags: {tags})")

        kwargs: dict[str, Any] = {}
        if image_size is not None:
            kwargs["force_image_size"] = int(image_size)
        try:
            # Random init must be the same in every process (sharded runs) and every run (the cache).
            with torch.random.fork_rng(devices=[]), _quiet_random_init(pretrained is None):
                torch.manual_seed(int(seed))
                self.model = open_clip.create_model(arch_name, pretrained=pretrained, **kwargs)
        except Exception as e:
            raise ModelError(f"clip:{arch}: {type(e).__name__}: {e}".splitlines()[0]) from e
        self.model.eval()
        if pretrained is not None and self.weights_hash is None:
            # A tag: hash the file open_clip downloaded (already in its cache, so no second download).
            cfg = open_clip.get_pretrained_cfg(arch_name, str(pretrained))
            self.weights_hash = sha256_file(open_clip.download_pretrained(cfg))
        self.tokenizer = open_clip.get_tokenizer(arch_name)

        cfg = getattr(self.model.visual, "preprocess_cfg", {}) or {}
        size = cfg.get("size", self.model.visual.image_size)
        size = (size, size) if isinstance(size, int) else tuple(size)
        self.preprocess = Preprocess(
            size=(int(size[0]), int(size[1])),
            mean=tuple(float(m) for m in cfg.get("mean", Preprocess().mean)),
            std=tuple(float(s) for s in cfg.get("std", Preprocess().std)),
        )
        self.logit_scale = float(self.model.logit_scale.exp().item())
        self.version = f"frame-mean-1/open_clip-{open_clip.__version__}" + (f"/config-{config_hash}" if config_hash else "")

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        x = self.model.encode_image(frames.flatten(0, 1))  # [B*T, D]
        x = F.normalize(x.float(), dim=-1).view(b, t, -1)
        return x.mean(dim=1)  # [B, D]

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        tokens = self.tokenizer(texts).to(self.device)
        return self.model.encode_text(tokens).float()  # [N, D]


def clip(rest: str, pretrained: str | None = None, checkpoint: str | None = None, image_size: int | None = None,
         seed: int = 0) -> ClipFrameMean:
    """`clip:<arch>` factory."""
    if not rest:
        raise ModelError("clip: give an open_clip architecture, e.g. clip:ViT-B-32")
    if checkpoint is not None and pretrained is not None:
        raise ModelError("clip: give pretrained=... or checkpoint=..., not both")
    weights = checkpoint if checkpoint is not None else pretrained
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise ModelError(f"clip:{rest}: checkpoint {checkpoint} not found")
    return ClipFrameMean(rest, None if weights is None else str(weights), image_size=image_size, seed=seed)


SPECS = [
    ModelSpec(
        name="clip",
        factory=clip,
        prefix=True,
        description="clip:<open_clip arch>: CLIP image tower on every frame, mean-pooled (order-invariant); "
        "args: pretrained=<tag|file>, image_size, seed",
        weights="pretrained=<open_clip tag> (downloaded by open_clip) or --checkpoint FILE; none = random init",
    )
]
