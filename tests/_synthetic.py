"""Tiny synthetic action clips for tests and smoke runs: a coloured shape moving one way, captioned.

A clip's direction is visible only over time (its start position is random), so an order-invariant model
cannot tell "from left to right" from "from right to left". Each clip gets an Action Antonym probe (the reversed
direction), a Video Reversal probe and an Object Replacement probe (another colour), in a ProbeSet folder.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from actionbench.ids import seeded_rng, stable_hash
from actionbench.probes.schema import Clip, Probe, ProbeSet

COLOURS = {"red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 230), "yellow": (230, 220, 40)}
MOTIONS = {"left to right": (1, 0), "right to left": (-1, 0), "top to bottom": (0, 1), "bottom to top": (0, -1)}
ANTONYM = {"left to right": "right to left", "right to left": "left to right",
           "top to bottom": "bottom to top", "bottom to top": "top to bottom"}  # fmt: skip


def draw_clip(colour: str, motion: str, rng: np.random.Generator, size: int = 64, frames: int = 16) -> np.ndarray:
    """uint8 `[frames, size, size, 3]`: a square of `colour` moving across a dark background."""
    side, travel = size // 4, size // 2
    dx, dy = MOTIONS[motion]
    start = rng.integers(0, size - side - travel, size=2)
    lateral = rng.integers(0, size - side)
    video = np.full((frames, size, size, 3), 20, dtype=np.uint8)
    for t in range(frames):
        step = round(travel * t / (frames - 1))
        along = start[0] + step if (dx + dy) > 0 else start[0] + travel - step
        x, y = (along, lateral) if dx else (lateral, along)
        video[t, y : y + side, x : x + side] = COLOURS[colour]
    return video


def write_video(path: Path, video: np.ndarray, fps: int = 8) -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
        stream.options = {"qscale": "2"}
        for frame in video:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def make_split(root: str | Path, split: str, n: int, seed: int = 0) -> tuple[Path, Path]:
    """Write `n` clips and their probe set; returns (probe-set folder, videos root)."""
    root = Path(root)
    videos, probes_dir = root / "videos", root / f"probes-{split}"
    clips, probes = [], []
    for k in range(n):
        clip_id = f"{split}-{k:05d}"
        rng = seeded_rng("synthetic", seed, clip_id)
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        motion = list(MOTIONS)[int(rng.integers(len(MOTIONS)))]
        write_video(videos / f"{clip_id}.mp4", draw_clip(colour, motion, rng))
        text = f"moving {colour} box from {motion}"
        other = [c for c in COLOURS if c != colour][int(rng.integers(len(COLOURS) - 1))]
        clips.append(Clip(clip_id, "synthetic", split, f"{clip_id}.mp4", None, None, clip_id, text, text))
        for task, foil in (("action_antonym", f"moving {colour} box from {ANTONYM[motion]}"),
                           ("video_reversal", None), ("object_replacement", f"moving {other} box from {motion}")):  # fmt: skip
            probes.append(Probe(stable_hash(clip_id, task), task, clip_id, text, foil, None))
    ps = ProbeSet.create(clips, probes, lexicon_version="synthetic", dataset="synthetic", split=split,
                         parameters={"seed": seed}, dropped={})  # fmt: skip
    ps.save(probes_dir)
    return probes_dir, videos
