"""Decode units in a DataLoader worker pool, in a fixed order; a failure is a message, never an exception."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from actionbench.video import FrameSpec, read_frames, to_model_input


@dataclass(frozen=True)
class DecodeJob:
    path: str
    start: float | None
    end: float | None
    name: str = ""  # the video relative to its root: errors name it, never this machine's full path


class DecodeDataset(torch.utils.data.Dataset):
    """Decoded, resized, normalised frames of each job; a failure is returned as a message, not raised."""

    def __init__(self, jobs: list[DecodeJob], spec: FrameSpec, preprocess: Any | None) -> None:
        self.jobs = jobs
        self.spec = spec
        self.preprocess = preprocess  # None: decode only (a model scored by probe id needs no frames)

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, i: int) -> dict[str, Any]:
        job = self.jobs[i]
        name = job.name or Path(job.path).name
        try:
            frames, decoder = read_frames(job.path, self.spec, job.start, job.end, name=name)
            if frames.shape[0] != self.spec.num_frames:
                raise ValueError(f"{name}: {frames.shape[0]} frames decoded, {self.spec.num_frames} expected")
            if self.preprocess is None:
                return {"i": i, "frames": torch.empty(0), "decoder": decoder, "error": None}
            pre = self.preprocess
            x = to_model_input(frames, tuple(pre.size), tuple(pre.mean), tuple(pre.std))
            return {"i": i, "frames": x, "decoder": decoder, "error": None}
        except Exception as e:  # listed in the bundle with its probes; never silently dropped
            message = " ".join(str(e).split()).replace(str(job.path), name) or type(e).__name__
            if not message.startswith(f"{name}: "):
                message = f"{name}: {type(e).__name__}: {message}"
            return {"i": i, "frames": None, "decoder": None, "error": message}


def _as_list(batch: list[Any]) -> list[Any]:
    return batch


def decode_stream(
    jobs: list[DecodeJob], spec: FrameSpec, preprocess: Any | None, *, workers: int, batch_size: int, pin: bool = False
) -> Iterator[dict[str, Any]]:
    """Decoded jobs in job order, `workers` processes decoding ahead of the model."""
    if not jobs:
        return
    # Small hand-over batches: workers stay busy while at most a few clips per worker wait in memory (the
    # Encoder re-batches views to the model's batch size).
    loader = torch.utils.data.DataLoader(
        DecodeDataset(jobs, spec, preprocess),
        batch_size=max(1, min(batch_size, 4)),
        shuffle=False,
        num_workers=max(0, workers),
        collate_fn=_as_list,
        pin_memory=pin,
        prefetch_factor=2 if workers > 0 else None,
    )
    for batch in loader:
        yield from batch
