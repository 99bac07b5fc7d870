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

from actionbench.errors import InputError, one_line
from actionbench.files import relative_path


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


TRUNCATION_TOLERANCE = (2, 0.05)  # frames, share: a shortfall beyond both is a truncated or corrupt file


def promised_frames(stream: Any, container: Any) -> int | None:
    """How many frames a container says its video stream holds: its frame count, else duration x frame rate."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration and stream.time_base and rate:
        return int(round(float(stream.duration * stream.time_base * rate)))
    if container.duration and rate:
        return int(round(container.duration / 1_000_000 * float(rate)))
    return None


def check_complete(decoded: int, promised: int | None) -> None:
    """A video that yields fewer frames than its container promises (beyond a small tolerance) is corrupt: its
    probes would be scored on the wrong frames."""
    if promised is None:
        return
    frames, share = TRUNCATION_TOLERANCE
    if decoded < promised - max(frames, share * promised):
        raise VideoError(f"truncated or corrupt: {decoded} of the {promised} frames its container promises decode")


def _read_pyav(path: Path, spec: FrameSpec, start: float | None, end: float | None) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        promised = promised_frames(stream, container)
        frames = []
        damaged = None
        try:
            for packet in container.demux(stream):
                for f in packet.decode():  # the final empty packet flushes the decoder's buffered frames
                    frames.append(f.to_ndarray(format="rgb24"))
        except av.error.FFmpegError as e:  # a damaged or cut packet: keep what decoded, judged below
            damaged = e
            try:
                for f in stream.codec_context.decode(None):
                    frames.append(f.to_ndarray(format="rgb24"))
            except av.error.FFmpegError:
                pass
        if not frames and damaged is not None:
            raise damaged
        fps = float(stream.average_rate or stream.guessed_rate or 1.0)
    if not frames:
        raise VideoError("no frames decoded")
    check_complete(len(frames), promised)
    idx = frame_indices(len(frames), fps, start, end, spec.num_frames)
    return np.stack([frames[i] for i in idx])


def read_frames(
    path: str | Path, spec: FrameSpec, start: float | None = None, end: float | None = None, *,
    name: str | None = None,
) -> tuple[np.ndarray, str]:
    """Decode the sampled frames as uint8 `[T, H, W, 3]`; returns (frames, decoder used).

    decord first where it is installed (what ActionBench used); PyAV where decord is not installed or cannot
    open or read the file (both give the same frames on the mini videos: tests/test_video_decoders.py). A file that
    yields fewer frames than its container promises is refused as truncated. Errors name the video as `name` (the
    path relative to its root, as results.json records it), never the full path on this machine.
    """
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise VideoError(f"{name}: video file not found")
    if _decord() is None:
        import av

        try:
            return _read_pyav(path, spec, start, end), f"pyav-{av.__version__}"
        except VideoError as e:
            raise VideoError(f"{name}: {_scrub(e, path, name)}") from None
        except Exception as e:
            raise VideoError(f"{name}: cannot decode (PyAV: {_scrub(e, path, name)})") from None
    try:
        return _read_decord(path, spec, start, end), decoder_name()
    except VideoError as e:
        raise VideoError(f"{name}: {_scrub(e, path, name)}") from None
    except Exception as first:  # decord raises its own DECORDError types
        try:
            import av

            return _read_pyav(path, spec, start, end), f"pyav-{av.__version__}"
        except VideoError as e:
            raise VideoError(f"{name}: {_scrub(e, path, name)}") from None
        except Exception as second:
            raise VideoError(f"{name}: cannot decode ({type(first).__name__}: {_scrub(first, path, name)}; "
                             f"PyAV: {_scrub(second, path, name)})") from None


def _scrub(error: BaseException, path: Path, name: str) -> str:
    """A decoder's message on one line, with this machine's path to the file replaced by its relative name."""
    text = " ".join(str(error).split())
    for full in sorted({str(path), str(path.resolve()), str(path.absolute())}, key=len, reverse=True):
        text = text.replace(full, name)
    return text[:300]


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
    """THE resolver of a clip's video: every reader of a video path (doctor, eval, the cache's video identity) goes
    through it. The path must be relative and stay under `root` (no absolute path, no `..`: VideoError otherwise);
    `<stem>.mp4` is accepted where the original is missing (the layout `actionbench preprocess` writes)."""
    try:
        rel = relative_path(relative)
    except InputError as e:
        raise VideoError(f"{one_line(relative)}: {e}") from None
    path = Path(root) / rel
    if path.is_file():
        return path
    alt = path.with_suffix(".mp4")
    return alt if alt.is_file() else path
