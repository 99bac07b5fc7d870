"""Frame sampling and decoding: the benchmark-level frame spec, the same for every model.

`num_frames` frames at times uniform over [start, end] (endpoints included; the whole file when the clip has
no window), frame indices from the container's frame rate, the whole frame resized ("squashed") to the model's
input size. The decoder and its version are recorded with every result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np


class VideoError(RuntimeError):
    """A missing, unreadable or empty video; the message names the file."""


@dataclass(frozen=True)
class FrameSpec:
    """How frames are sampled from a clip (benchmark-level; recorded in every result)."""

    num_frames: int = 8
    sampling: str = "uniform-linspace"
    resize: str = "squash"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def frame_indices(num_video_frames: int, fps: float, start: float | None, end: float | None, num_frames: int) -> np.ndarray:
    """Frame indices uniform over the window (or the whole file), endpoints included."""
    if num_video_frames <= 0:
        raise ValueError("video has no frames")
    last = num_video_frames - 1
    if start is None and end is None:
        lo, hi = 0.0, float(last)
    else:
        lo = 0.0 if start is None else max(0.0, start * fps)
        hi = float(last) if end is None else min(float(last), end * fps)
        lo = min(lo, float(last))
        hi = max(hi, lo)
    idx = np.rint(np.linspace(lo, hi, num_frames)).astype(np.int64)
    return np.clip(idx, 0, last)


def _decord():
    """The decord module, or None where it is not installed (it has wheels only for x86-64 Linux and Windows;
    elsewhere the package does not depend on it and PyAV decodes everything)."""
    try:
        import decord
    except ImportError:
        return None
    return decord


def decoder_name() -> str:
    """The decoder results record: decord where it is installed, PyAV elsewhere."""
    decord = _decord()
    if decord is not None:
        return f"decord-{decord.__version__}"
    import av

    return f"pyav-{av.__version__}"


def _read_decord(path: Path, spec: FrameSpec, start: float | None, end: float | None) -> np.ndarray:
    import decord

    vr = decord.VideoReader(str(path), num_threads=1)
    n = len(vr)
    fps = float(vr.get_avg_fps()) or 1.0
    idx = frame_indices(n, fps, start, end, spec.num_frames)
    return vr.get_batch(idx.tolist()).asnumpy()


def _read_pyav(path: Path, spec: FrameSpec, start: float | None, end: float | None) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        fps = float(stream.average_rate or stream.guessed_rate or 1.0)
    if not frames:
        raise VideoError(f"{path}: no frames decoded")
    idx = frame_indices(len(frames), fps, start, end, spec.num_frames)
    return np.stack([frames[i] for i in idx])


def read_frames(
    path: str | Path, spec: FrameSpec, start: float | None = None, end: float | None = None
) -> tuple[np.ndarray, str]:
    """Decode the sampled frames as uint8 `[T, H, W, 3]`; returns (frames, decoder used).

    decord first where it is installed (what ActionBench used); PyAV where decord is not installed or cannot
    open the file (both give the same frames on the mini videos: tests/test_video_decoders.py).
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: video file not found")
    if _decord() is None:
        import av

        try:
            return _read_pyav(path, spec, start, end), f"pyav-{av.__version__}"
        except VideoError:
            raise
        except Exception as e:
            raise VideoError(f"{path}: cannot decode (PyAV: {e})") from None
    try:
        return _read_decord(path, spec, start, end), decoder_name()
    except VideoError:
        raise
    except Exception as first:  # decord raises its own DECORDError types
        try:
            import av

            return _read_pyav(path, spec, start, end), f"pyav-{av.__version__}"
        except Exception as second:
            raise VideoError(f"{path}: cannot decode ({type(first).__name__}: {first}; PyAV: {second})") from None


def to_model_input(frames: np.ndarray, size: tuple[int, int], mean: tuple[float, ...], std: tuple[float, ...]):
    """uint8 `[T, H, W, 3]` -> float32 `[T, 3, h, w]`: squash-resize (bilinear, antialiased), scale, normalise."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255.0)
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", antialias=True, align_corners=False)
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def reverse_frames(frames):
    """The Video Reversal foil: the same sampled frames in reverse order (time is axis -4 of `[..., T, C, H, W]`)."""
    import torch

    if isinstance(frames, np.ndarray):
        return frames[::-1].copy()
    return torch.flip(frames, dims=[-4])


def video_identity(path: Path) -> tuple[str, int, int] | None:
    """(resolved path, size, mtime in ns) of a video file, or None when it is not a readable file: what caches key
    a video by, so a regenerated or replaced file never gets another file's stored features."""
    try:
        st = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def resolve_video(root: str | Path, relative: str) -> Path:
    """The file for a clip's relative video path; `<stem>.mp4` is accepted where the original is missing
    (the layout `actionbench preprocess` writes)."""
    path = Path(root) / relative
    if path.is_file():
        return path
    alt = path.with_suffix(".mp4")
    return alt if alt.is_file() else path
