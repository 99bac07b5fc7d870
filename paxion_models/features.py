"""Frozen-backbone features for training: decoded and encoded per batch, or once for the whole set (cached).

The reversed view (ATM's negative; the Video Reversal foil) comes from flipping the forward patch tokens in time
when the backbone is `frame_separable` (exactly what a second pass would give, at no cost); the global vector
of the reversed view is re-encoded only when the head uses it and the backbone's global vector is
order-sensitive. `reverse_by="pass"` forces a second backbone pass (for comparisons).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from actionbench.ids import stable_hash
from actionbench.runner import runtime
from actionbench.video import FrameSpec, video_identity
from paxion_models.backbones.base import Backbone, VideoFeatures
from paxion_models.data import BatchOrder, ClipFrames, TrainItem


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA; nothing elsewhere (the harness's runtime does it)."""
    return runtime.autocast(device, torch.bfloat16 if enabled else None)


@dataclass
class Batch:
    index: np.ndarray  # item indices
    video: VideoFeatures
    reversed: VideoFeatures | None


class FeatureSource:
    """Backbone features for batches of training items (see the module docstring)."""

    def __init__(
        self,
        backbone: Backbone,
        items: list[TrainItem],
        spec: FrameSpec,
        device: torch.device,
        *,
        need_reversed: bool,
        need_global: bool,
        reverse_by: str = "auto",
        cache: bool = False,
        cache_dir: str | Path | None = None,
        amp: bool = True,
        num_workers: int = 0,
        encode_batch: int = 64,
        decoded: Callable[[list[TrainItem]], torch.Tensor] | None = None,
        progress=None,
    ):
        if reverse_by == "auto":
            reverse_by = "flip" if backbone.frame_separable else "pass"
        if reverse_by not in ("flip", "pass"):
            raise ValueError(f"reverse_by must be auto, flip or pass, not {reverse_by!r}")
        if reverse_by == "flip" and not backbone.frame_separable:
            raise ValueError(f"backbone {backbone.name} is not frame-separable: its reversed tokens need a second pass")
        self.backbone, self.items, self.spec, self.device = backbone, items, spec, device
        self.need_reversed, self.need_global, self.reverse_by = need_reversed, need_global, reverse_by
        self.amp, self.num_workers, self.encode_batch = amp, num_workers, encode_batch
        self.decoded = decoded  # items -> their preprocessed frames, when already in memory (no decoding then)
        self.table: dict[str, torch.Tensor] | None = None
        if cache:
            self.table = self._cached(cache_dir, progress)

    @torch.no_grad()
    def encode(self, frames: torch.Tensor) -> tuple[VideoFeatures, VideoFeatures | None]:
        """Frames `[B, T, 3, H, W]` -> forward and (if needed) reversed features, in float32."""
        with autocast(self.device, self.amp):
            fwd = self.backbone.encode_video(frames)
            rev = None
            if self.need_reversed:
                if self.reverse_by == "pass":
                    rev = self.backbone.encode_video(torch.flip(frames, dims=[1]))
                else:
                    glob = fwd.global_vec
                    if self.need_global and not self.backbone.global_order_invariant:
                        glob = self.backbone.encode_video_reversed(frames).global_vec
                    rev = VideoFeatures(glob, torch.flip(fwd.patch_tokens, dims=[1]))
        fwd = VideoFeatures(fwd.global_vec.float(), fwd.patch_tokens.float())
        if rev is not None:
            rev = VideoFeatures(rev.global_vec.float(), rev.patch_tokens.float())
        return fwd, rev

    def _loader(self, batches: list[np.ndarray]) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        if self.decoded is not None:
            for index in batches:
                yield index, self.decoded([self.items[i] for i in index]).to(self.device)
            return
        data = ClipFrames(self.items, self.spec, self.backbone.preprocess)
        loader = torch.utils.data.DataLoader(
            data, batch_sampler=[b.tolist() for b in batches], num_workers=self.num_workers, collate_fn=_collate,
            generator=torch.Generator(),  # its own: drawing worker seeds from the global RNG would shift dropout on resume
        )
        for index, frames in loader:
            yield index, frames.to(self.device, non_blocking=True)

    def _key(self) -> str:
        bb = self.backbone
        return stable_hash(
            "paxion-features-2", bb.name, getattr(bb, "weights_hash", None), getattr(bb, "args", {}),
            [(i.clip_id, video_identity(Path(i.video)), i.start, i.end) for i in self.items], self.spec.to_dict(),
            bb.preprocess.to_dict(), self._extras(),
        )  # fmt: skip

    def _extras(self) -> tuple[str, ...]:
        """What the cache holds beyond the forward view (so a VTC run and a DVDM run share one cache)."""
        if not self.need_reversed:
            return ()
        if self.reverse_by == "pass":
            return ("rev_global", "rev_tokens")
        return ("rev_global",) if self.need_global and not self.backbone.global_order_invariant else ()

    def _cached(self, cache_dir: str | Path | None, progress) -> dict[str, torch.Tensor]:
        path = Path(cache_dir) / f"features-{self._key()}.safetensors" if cache_dir else None
        if path is not None and path.is_file():
            return load_file(str(path))
        n = len(self.items)
        chunks = [np.arange(i, min(i + self.encode_batch, n)) for i in range(0, n, self.encode_batch)]
        parts: dict[str, list[torch.Tensor]] = {}
        task = progress.add_task("encoding clips (frozen backbone)", total=n, info="") if progress else None
        for index, frames in self._loader(chunks):
            fwd, rev = self.encode(frames)
            named = {"global": fwd.global_vec, "tokens": fwd.patch_tokens}
            if rev is not None:
                named |= {k: v for k, v in (("rev_global", rev.global_vec), ("rev_tokens", rev.patch_tokens)) if k in self._extras()}
            for k, v in named.items():
                parts.setdefault(k, []).append(v.cpu())
            if progress:
                progress.advance(task, len(index))
        table = {k: torch.cat(v) for k, v in parts.items()}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            save_file(table, str(path))
        return table

    def batches(self, order: BatchOrder, start: int, stop: int) -> Iterator[Batch]:
        """The features of steps `start .. stop-1` (this rank's slice)."""
        if self.table is None:
            for index, frames in self._loader(list(order.batches(start, stop))):
                fwd, rev = self.encode(frames)
                yield Batch(index, fwd, rev)
            return
        t = self.table
        for index in order.batches(start, stop):
            i = torch.from_numpy(index)
            fwd = VideoFeatures(t["global"][i].to(self.device), t["tokens"][i].to(self.device))
            rev = None
            if self.need_reversed:
                tokens = t["rev_tokens"][i] if "rev_tokens" in t else torch.flip(t["tokens"][i], dims=[1])
                glob = t["rev_global"][i] if "rev_global" in t else t["global"][i]
                rev = VideoFeatures(glob.to(self.device), tokens.to(self.device))
            yield Batch(index, fwd, rev)


def _collate(batch: list[tuple[int, torch.Tensor]]) -> tuple[np.ndarray, torch.Tensor]:
    return np.array([i for i, _ in batch]), torch.stack([f for _, f in batch])
