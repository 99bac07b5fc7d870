"""`doctor`: every video a probe set (or downstream set) references exists and decodes (mmaction2's check_videos,
for probe sets)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from actionbench.datasets.downstream_set import DownstreamSet, is_downstream_folder
from actionbench.probes.schema import ProbeSet
from actionbench.video import FrameSpec, VideoError, decoder_name, read_frames, resolve_video


@dataclass(frozen=True)
class BadVideo:
    clip_id: str
    video: str
    error: str


@dataclass
class DoctorReport:
    checked: int
    decoder: str
    bad: list[BadVideo] = field(default_factory=list)


def check_videos(probes: str | Path, videos_root: str | Path, *, workers: int = 2, progress=None) -> DoctorReport:
    """Decode the sampled frames of every clip of a probe set or downstream set; collect the ones that fail."""
    ps = DownstreamSet.load(probes) if is_downstream_folder(probes) else ProbeSet.load(probes)
    spec = FrameSpec()
    root = Path(videos_root)

    def check(clip):
        try:
            read_frames(resolve_video(root, clip.video), spec, clip.start, clip.end, name=clip.video)
            return None
        except VideoError as e:
            return BadVideo(clip.clip_id, clip.video, str(e))

    clips = ps.clips
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = pool.map(check, clips)
        if progress is not None:
            from actionbench.progress import progress_bar, tracked

            with progress_bar(console=progress) as bar:
                bad = [r for r in tracked(bar, results, len(clips), "checking videos") if r is not None]
        else:
            bad = [r for r in results if r is not None]
    return DoctorReport(len(clips), decoder_name(), sorted(bad, key=lambda b: b.clip_id))
