"""Test helpers for the scoring harness: tiny generated videos and probe sets, a tiny open_clip config, and
model factories that tests load as `path/to/_evalkit.py:factory` (so they also work in a CLI subprocess)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import torch

from actionbench.ids import stable_hash
from actionbench.models.clip import ClipFrameMean
from actionbench.probes.schema import Clip, Probe, ProbeSet

HERE = Path(__file__).resolve()
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
COLOURS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (50, 80, 230), "yellow": (240, 220, 40)}
OBJECTS = ("cube", "ball", "cup", "box")


def write_tiny_config(folder: Path) -> Path:
    """An open_clip model config small enough that a test encodes hundreds of frames in a second."""
    path = Path(folder) / "tinyclip.json"
    path.write_text(json.dumps(TINY_CLIP), encoding="utf-8")
    return path


def write_video(path: Path, frames: np.ndarray, fps: int = 10) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "18", "preset": "ultrafast", "bf": "0"})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def clip_frames(i: int, n: int = 12, size: int = 64) -> np.ndarray:
    """A square moving left to right (even i) or right to left (odd i) on a textured background."""
    rng = np.random.default_rng(i)
    colour = list(COLOURS.values())[i % len(COLOURS)]
    background = rng.integers(0, 120, size=(size, size, 3), dtype=np.uint8)
    frames = np.repeat(background[None], n, axis=0).copy()
    for t in range(n):
        s = t / (n - 1)
        x = int((s if i % 2 == 0 else 1 - s) * (size - 14))
        y = 10 + (i * 7) % (size - 24)
        frames[t, y : y + 14, x : x + 14] = colour
    return frames


def make_suite(root: Path, n_clips: int = 8, dataset: str = "ssv2", size: int = 64,
               windows: bool = False) -> tuple[Path, Path]:
    """Write videos and a probe set with one AA, VR and OR probe per clip; returns (probes, videos).

    `windows=True`: Ego4D-style, two clips per video file (time windows 0-0.5 s and 0.6-1.1 s)."""
    videos = Path(root) / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    clips, probes = [], []
    names = list(COLOURS)
    for i in range(n_clips):
        clip_id = f"{dataset}-{i:03d}"
        video = f"{dataset}-v{i // 2:03d}.mp4" if windows else f"{clip_id}.mp4"
        if not (videos / video).is_file():
            write_video(videos / video, clip_frames(i, size=size))
        start, end = ((0.0, 0.5) if i % 2 == 0 else (0.6, 1.1)) if windows else (None, None)
        colour, obj = names[i % len(names)], OBJECTS[i % len(OBJECTS)]
        other = OBJECTS[(i + 1) % len(OBJECTS)]
        way, back = ("left to right", "right to left") if i % 2 == 0 else ("right to left", "left to right")
        text = f"Pushing {colour} {obj} from {way}"
        template = f"Pushing [something] from {way}"
        clips.append(Clip(clip_id, dataset, "validation", video, start, end, f"src{i // 2}", text, text,
                          action=template))
        for task, foil in (("action_antonym", f"Pushing {colour} {obj} from {back}"), ("video_reversal", None),
                           ("object_replacement", f"Pushing {colour} {other} from {way}")):
            edit = {"kind": "antonym", "relation": "inverse" if i % 3 else "outcome"} if task == "action_antonym" else None
            probes.append(Probe(stable_hash(dataset, clip_id, task), task, clip_id, text, foil, edit))
    ps = ProbeSet.create(clips, probes, lexicon_version="test", dataset=dataset, split="validation",
                         parameters={}, dropped={})
    folder = ps.save(Path(root) / "probes")
    return folder, videos


# ------------------------------------------------------------------------------------- model factories


class OrderedClip(ClipFrameMean):
    """The tiny CLIP with time-weighted pooling: an order-sensitive model, so reversed views are encoded."""

    order_invariant = False

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        x = torch.nn.functional.normalize(self.model.encode_image(frames.flatten(0, 1)).float(), dim=-1)
        w = torch.linspace(0.2, 1.8, t, device=x.device).view(1, t, 1)
        return (x.view(b, t, -1) * w).mean(dim=1)


def ordered_clip(config: str, seed: int = 0) -> OrderedClip:
    """An order-sensitive tiny CLIP (test model)."""
    model = OrderedClip(config, seed=seed)
    model.name = "ordered-tinyclip"
    return model


class Counting(OrderedClip):
    """Logs every encoder call (rows per call) to $AB_CALL_LOG; SIGKILLs itself at the start of a video call
    once $AB_KILL_AT_BATCHES video batches are committed in $AB_CACHE_BATCHES (observed through the cache)."""

    def _log(self, kind: str, n: int) -> None:
        if os.environ.get("AB_CALL_LOG"):
            with open(os.environ["AB_CALL_LOG"], "a", encoding="utf-8") as f:
                f.write(f"{kind} {n}\n")
                f.flush()
                os.fsync(f.fileno())

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        kill_at = int(os.environ.get("AB_KILL_AT_BATCHES", "0"))
        if kill_at:
            committed = list(Path(os.environ["AB_CACHE_ROOT"]).glob("*/batches/video-*.safetensors"))
            if len(committed) >= kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        self._log("video", frames.shape[0])
        return super().encode_videos(frames)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        self._log("text", len(texts))
        return super().encode_texts(texts)


def counting_clip(config: str) -> Counting:
    """The order-sensitive tiny CLIP, logging its calls (test model)."""
    model = Counting(config)
    model.name = "counting-tinyclip"
    return model


class Broken(ClipFrameMean):
    """Returns NaN, or a wrong number of rows, from the second video batch on."""

    order_invariant = False

    def __init__(self, config: str, fault: str) -> None:
        super().__init__(config)
        self.fault = fault
        self.calls = 0

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = super().encode_videos(frames)
        if self.calls >= 2 and self.fault == "nan":
            out[0, 0] = float("nan")
        if self.calls >= 2 and self.fault == "shape":
            out = out[:-1]
        return out


def broken_clip(config: str, fault: str = "nan") -> Broken:
    """A tiny CLIP that misbehaves on its second batch (test model)."""
    model = Broken(config, fault)
    model.name = f"broken-{fault}"
    return model


class PairedClip(OrderedClip):
    """The order-sensitive tiny CLIP with `encode_videos_and_reversed`: frames are encoded once, and the
    reversed view reuses them with the time weights flipped. Counts its image-tower frames in `frames_seen`."""

    frames_seen = 0

    def _per_frame(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        PairedClip.frames_seen += b * t
        return torch.nn.functional.normalize(self.model.encode_image(frames.flatten(0, 1)).float(), dim=-1).view(
            b, t, -1)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        w = torch.linspace(0.2, 1.8, x.shape[1], device=x.device).view(1, -1, 1)
        return (x * w).mean(dim=1)

    def encode_videos(self, frames: torch.Tensor) -> torch.Tensor:
        return self._pool(self._per_frame(frames))

    def encode_videos_and_reversed(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._per_frame(frames)
        return self._pool(x), self._pool(x.flip(1))


class CountingCross:
    """A cross-encoder (cosine of the tiny CLIP's embeddings, order-sensitive) that counts its pairs."""

    def __init__(self, config: str) -> None:
        self.inner = OrderedClip(config)
        self.preprocess = self.inner.preprocess
        self.name = "counting-cross"
        self.pairs = 0

    def score(self, frames: torch.Tensor, texts: list[str]) -> torch.Tensor:
        self.pairs += frames.shape[0] * len(texts)
        return self.inner.similarity(self.inner.encode_videos(frames), self.inner.encode_texts(texts))
