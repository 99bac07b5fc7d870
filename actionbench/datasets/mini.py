"""The embedded mini benchmark: small synthetic SSv2- and Ego4D-style datasets that need no download.

Every clip shows coloured shapes on a textured background. Its action is visible only over time: each
antonym pair shares one scene family, and a clip of the second verb is a clip of the first verb played
backwards (same scene distribution, reversed progress). So the frames of a clip and of its antonym come
from the same distribution, and a frame-mean (order-invariant) model is at chance on Action Antonym and Video
Reversal; its objects (colour + shape) are visible in every frame, so Object Replacement is easy for any
model. Every scene moves a latent state `q` in [0, 1] (position, lid angle, size, fill level, ...) by
`AMPLITUDE` around a uniformly drawn centre: the middle frame tells nothing of the direction, the end frames
tell it as the first frame of a real "opening" shows a closed box (the `first-frame:`/`last-frame:` controls
show whether a model uses that).

Files follow the official layouts: SSv2 `labels.json`, `train.json`, `validation.json` and VP9 `.webm`
videos; Ego4D `egoclip.jsonl` (EgoClip-derived layout) and H.264 `.mp4` clip files in which the narrated
window lies inside a longer clip. Everything is derived from the seed and ids (`seeded_rng`), never from
order or process, so one seed always gives the same annotation bytes and the same decoded frames.

Longer than the project's ~400 lines on purpose: the two datasets' plans (clip lists, captions, splits,
Ego4D windows inside longer clip files) and the writers share the size table, the seeds and the naming, and
read best side by side; the drawing, the other half of the old module, is `mini_scenes.py`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import numpy as np

from actionbench.datasets.mini_scenes import (
    AMPLITUDE,
    COLOURS,
    FAMILIES,
    FRAME_SIZE,
    NOUNS,
    OBJECT_NAMES,
    ROLE_SHAPES,
    MiniDataError,
    ScenePlan,
    Thing,
    latent_states,
    render,
)
from actionbench.datasets.records import ego4d_split
from actionbench.ids import seeded_rng, stable_hash

FPS = 10
SSV2_FRAMES = 20  # 2 s
EGO4D_FRAMES = 40  # 4 s clip files; the narrated window (1.6-2.4 s) lies inside

# The scene names are re-exported: `actionbench.datasets.mini` is the mini benchmark's one public module.
__all__ = [
    "AMPLITUDE", "COLOURS", "EGO4D_FRAMES", "EGO4D_PAIRS", "FAMILIES", "FPS", "FRAME_SIZE", "OBJECT_NAMES",
    "SSV2_FRAMES", "SSV2_PAIRS", "SIZES", "MiniDataError", "MiniInfo", "MiniSize", "ScenePlan", "Thing", "fill_template",
    "generate_mini", "latent_states", "plan_ego4d", "plan_ssv2", "render", "third_person",
]

# (scene family, template of the forward clip, template of the reversed clip)
SSV2_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("push", "Pushing [something] from left to right", "Pushing [something] from right to left"),
    ("pull", "Pulling [something] from left to right", "Pulling [something] from right to left"),
    ("move_vertical", "Moving [something] up", "Moving [something] down"),
    ("move_depth", "Moving [something] towards the camera", "Moving [something] away from the camera"),
    (
        "move_pair",
        "Moving [something] and [something] closer to each other",
        "Moving [something] and [something] away from each other",
    ),
    (
        "pan",
        "Turning the camera left while filming [something]",
        "Turning the camera right while filming [something]",
    ),
    (
        "tilt",
        "Turning the camera upwards while filming [something]",
        "Turning the camera downwards while filming [something]",
    ),
    ("dolly", "Approaching [something] with your camera", "Moving away from [something] with your camera"),
    ("open", "Opening [something]", "Closing [something]"),
    ("insert", "Putting [something] into [something]", "Taking [something] out of [something]"),
    ("tip", "Tipping [something] over", "Putting [something] upright on the table"),
)

# (scene family, verb lemma of the forward clip, of the reversed clip)
EGO4D_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("ego_pick", "pick up", "put down"),
    ("ego_open", "open", "close"),
    ("ego_cover", "cover", "uncover"),
    ("ego_push", "push", "pull"),
    ("ego_lift", "lift", "lower"),
    ("ego_fill", "fill", "empty"),
    ("ego_switch", "turn on", "turn off"),
    ("ego_inflate", "inflate", "deflate"),
)
EGO4D_VERBS = tuple(v for _, a, b in EGO4D_PAIRS for v in (a, b))
_THIRD_PERSON = {
    "pick up": "picks up",
    "put down": "puts down",
    "push": "pushes",
    "empty": "empties",
    "turn on": "turns on",
    "turn off": "turns off",
}


def third_person(verb: str) -> str:
    """'pick up' -> 'picks up', 'open' -> 'opens' (the verbs of `EGO4D_PAIRS`)."""
    return _THIRD_PERSON.get(verb, verb + "s")


@dataclass(frozen=True)
class MiniSize:
    """How many clips a size holds (SSv2 counts are clips, Ego4D counts are videos of `windows_per_video`)."""

    ssv2_train: int
    ssv2_validation: int
    ego4d_train_videos: int
    ego4d_val_videos: int
    ego4d_test_videos: int
    windows_per_video: int


SIZES: dict[str, MiniSize] = {
    "default": MiniSize(2420, 660, 200, 34, 34, 8),
    "tiny": MiniSize(22, 22, 4, 2, 2, 4),
}


@dataclass(frozen=True)
class MiniInfo:
    """What `generate_mini` wrote: roots, clip counts per split and how long it took."""

    root: Path
    ssv2_root: Path  # labels.json, train.json, validation.json, videos/<id>.webm
    ego4d_root: Path  # egoclip.jsonl, videos/<clip_uid>.mp4
    seed: int
    size: str
    counts: dict[str, dict[str, int]]
    seconds: float

    def __str__(self) -> str:
        parts = "; ".join(
            f"{dataset} " + ", ".join(f"{split} {n}" for split, n in splits.items())
            for dataset, splits in self.counts.items()
        )
        return f"{parts} (seed {self.seed}, size {self.size}, {self.seconds:.1f} s)"

    @property
    def ssv2_videos(self) -> Path:
        return self.ssv2_root / "videos"

    @property
    def ego4d_videos(self) -> Path:
        return self.ego4d_root / "videos"


@dataclass(frozen=True)
class SSv2Clip:
    """One SSv2-style record and its scene."""

    id: str
    split: str  # train | validation
    template: str
    placeholders: tuple[str, ...]
    plan: ScenePlan

    @property
    def label(self) -> str:
        return fill_template(self.template, self.placeholders).lower()

    def record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "template": self.template,
            "placeholders": list(self.placeholders),
        }


@dataclass(frozen=True)
class Ego4DWindow:
    """One EgoClip-style narration window, its clip file and its scene."""

    video_uid: str
    clip_uid: str
    split: str  # train | val | test (from `ego4d_split(video_uid)`)
    verb: str
    text: str
    plan: ScenePlan
    record: dict[str, Any] = field(default_factory=dict)


def fill_template(template: str, placeholders: tuple[str, ...] | list[str]) -> str:
    """Put the placeholders into the bracketed slots, in order."""
    parts = template.split("[")
    if len(parts) - 1 != len(placeholders):
        raise MiniDataError(
            f"template {template!r} has {len(parts) - 1} slots, got {len(placeholders)} placeholders"
        )
    out = parts[0]
    for part, filler in zip(parts[1:], placeholders, strict=True):
        out += filler + part.split("]", 1)[1]
    return out


# ----------------------------------------------------------------------------------------------------------
# Planning: which clips exist, their captions and scenes (cheap; no pixels).


def _things(rng: np.random.Generator, roles: tuple[str, ...]) -> tuple[Thing, ...]:
    colours = rng.permutation(list(COLOURS))
    out: list[Thing] = []
    for i, role in enumerate(roles):
        shapes = [s for s in ROLE_SHAPES[role] if all(t.shape != s for t in out)]
        out.append(Thing(str(colours[i]), str(rng.choice(shapes))))
    return tuple(out)


def _placeholder(rng: np.random.Generator, thing: Thing) -> str:
    """With or without a determiner, as real SSv2 placeholders are ("a pen", "the wallet", "nail clipper")."""
    u = rng.uniform()
    if u < 0.45:
        return f"the {thing.name}"
    if u < 0.8:
        return f"{'an' if thing.name[0] in 'aeiou' else 'a'} {thing.name}"
    return thing.name


def plan_ssv2(seed: int, size: str = "default") -> list[SSv2Clip]:
    """The SSv2-style clips of a size: antonym twins (same objects, independent scenes), templates balanced."""
    spec = _size(size)
    clips: list[SSv2Clip] = []
    next_id = 1
    for split, n in (("train", spec.ssv2_train), ("validation", spec.ssv2_validation)):
        for pair_no in range(n // 2):
            family, forward_template, backward_template = SSV2_PAIRS[pair_no % len(SSV2_PAIRS)]
            pair_rng = seeded_rng("mini", seed, "ssv2-pair", split, pair_no)
            things = _things(pair_rng, FAMILIES[family].roles)
            placeholders = tuple(_placeholder(pair_rng, t) for t in things)
            for forward, template in ((True, forward_template), (False, backward_template)):
                clip_id = str(next_id)
                next_id += 1
                rng = seeded_rng("mini", seed, "ssv2", clip_id)
                plan = ScenePlan(family, forward, things, FAMILIES[family].sample(rng), SSV2_FRAMES)
                clips.append(SSv2Clip(clip_id, split, template, placeholders, plan))
    return clips


def _uuid(*parts: Any) -> str:
    h = stable_hash(*parts, length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _narration(rng: np.random.Generator, verb: str, thing: Thing) -> str:
    """Real Ego4D style: '#C C picks up the red cube', sometimes '#O the man X ...', odd case or spacing."""
    obj = f"the {thing.name}" if rng.uniform() < 0.85 else f"a {thing.name}"
    u = rng.uniform()
    if u < 0.12:
        text = f"#O the man X {third_person(verb)} {obj}"
    elif u < 0.2:
        text = f"#C  C {third_person(verb)} {obj}"
    else:
        text = f"#C C {third_person(verb)} {obj}"
    if rng.uniform() < 0.06:
        text = text.lower()
    ending = rng.uniform()
    return text + ("." if ending < 0.3 else " " if ending < 0.4 else "")


def _ego4d_video_uids(seed: int, spec: MiniSize) -> list[tuple[str, str]]:
    """(split, video_uid): candidate uids tried in order of the seed until each split has its quota."""
    quota = {"train": spec.ego4d_train_videos, "val": spec.ego4d_val_videos, "test": spec.ego4d_test_videos}
    out: list[tuple[str, str]] = []
    for k in count():
        if not any(quota.values()):
            return out
        uid = _uuid("mini", seed, "ego4d-video", k)
        split = ego4d_split(uid)
        if quota[split]:
            quota[split] -= 1
            out.append((split, uid))
    raise AssertionError("unreachable")


def plan_ego4d(seed: int, size: str = "default") -> list[Ego4DWindow]:
    """The Ego4D-style windows of a size, in antonym twins within each video, verb pairs balanced per split."""
    spec = _size(size)
    pairs_per_video = spec.windows_per_video // 2
    windows: list[Ego4DWindow] = []
    ordinal = {"train": 0, "val": 0, "test": 0}
    for split, uid in _ego4d_video_uids(seed, spec):
        video_rng = seeded_rng("mini", seed, "ego4d-video", uid)
        offset = float(video_rng.uniform(2, 30))
        video_windows: list[Ego4DWindow] = []
        for j in range(pairs_per_video):
            family, forward_verb, backward_verb = EGO4D_PAIRS[
                (ordinal[split] * pairs_per_video + j) % len(EGO4D_PAIRS)
            ]
            things = _things(video_rng, FAMILIES[family].roles)
            order = [True, False] if video_rng.uniform() < 0.5 else [False, True]
            for forward in order:
                verb = forward_verb if forward else backward_verb
                index = len(video_windows)
                clip_uid = _uuid("mini", seed, "ego4d-clip", uid, index)
                rng = seeded_rng("mini", seed, "ego4d", clip_uid)
                length = int(rng.integers(16, 25))
                first = int(rng.integers(6, EGO4D_FRAMES - length - 4 + 1))
                window = (first, first + length - 1)
                plan = ScenePlan(family, forward, things, FAMILIES[family].sample(rng), EGO4D_FRAMES, window)
                text = _narration(rng, verb, things[0])
                rel_start, rel_end = window[0] / FPS, window[1] / FPS
                rel_mid = (rel_start + rel_end) / 2
                record = {
                    "video_uid": uid,
                    "video_dur": 0.0,  # filled in below, once the video's last clip is placed
                    "narration_source": "narration_pass_1",
                    "narration_ind": index,
                    "narration_time": round(offset + rel_mid, 6),
                    "clip_start": round(offset + rel_start, 6),
                    "clip_end": round(offset + rel_end, 6),
                    "clip_text": text,
                    "tag_verb": f"[{EGO4D_VERBS.index(verb)}]",
                    "tag_noun": f"[{NOUNS.index(things[0].shape)}]",
                    "clip_uid": clip_uid,
                    "narration_relative_time": round(rel_mid, 6),
                    "clip_relative_start": round(rel_start, 6),
                    "clip_relative_end": round(rel_end, 6),
                    "clip_fps": float(FPS),
                }
                video_windows.append(Ego4DWindow(uid, clip_uid, split, verb, text, plan, record))
                offset += EGO4D_FRAMES / FPS + float(rng.uniform(3, 40))
        duration = round(offset + float(video_rng.uniform(5, 60)), 6)
        for w in video_windows:
            w.record["video_dur"] = duration
        windows.extend(video_windows)
        ordinal[split] += 1
    return windows


def _size(size: str) -> MiniSize:
    if size not in SIZES:
        raise MiniDataError(f"unknown mini size {size!r}; choose one of {', '.join(SIZES)}")
    return SIZES[size]


# ----------------------------------------------------------------------------------------------------------
# Writing: annotations in the official layouts, videos with PyAV (one encoder thread, so bytes repeat).


def write_video(path: Path, frames: np.ndarray, codec: str) -> None:
    """Encode uint8 `[T, H, W, 3]` frames at `FPS` (libvpx-vp9 -> .webm, libx264 -> .mp4)."""
    import av

    options = (
        {"crf": "12", "b": "0", "deadline": "realtime", "cpu-used": "8", "row-mt": "0", "lag-in-frames": "0"}
        if codec == "libvpx-vp9"
        else {"crf": "12", "preset": "veryfast", "bf": "0"}
    )
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=FPS, options=options)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.thread_count = 1
        try:
            stream.codec_context.open()
        except av.error.FFmpegError as e:
            hint = (
                " (decord was imported first in this process: it bundles an older libvpx that breaks PyAV's"
                " VP9 encoder; import av before decord)"
                if "decord" in sys.modules
                else ""
            )
            raise MiniDataError(f"{path}: cannot open the {codec} encoder: {e}{hint}") from None
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _render_and_write(job: tuple[ScenePlan, str, str]) -> None:
    plan, path, codec = job
    write_video(Path(path), render(plan), codec)


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False) + "\n", encoding="utf-8")


def ssv2_labels(templates: list[str] | tuple[str, ...]) -> dict[str, str]:
    """labels.json layout: template without brackets -> class index (a string), indices in sorted order."""
    plain = sorted({t.replace("[", "").replace("]", "") for t in templates})
    return {t: str(i) for i, t in enumerate(plain)}


def _readme(seed: int, size: str, counts: dict[str, dict[str, int]]) -> str:
    return (
        f"{_README_TITLE} (synthetic; generated by `actionbench mini-data`)\n\n"
        f"seed: {seed}\nsize: {size}\n"
        f"ssv2: {json.dumps(counts['ssv2'])}\nego4d: {json.dumps(counts['ego4d'])}\n\n"
        "Coloured shapes on textured backgrounds, in the official SSv2 (labels.json, train.json,\n"
        "validation.json, videos/<id>.webm) and EgoClip-derived Ego4D (egoclip.jsonl, videos/<clip_uid>.mp4)\n"
        "layouts. Every caption has a closed antonym, and a clip of the antonym is drawn from the same scenes\n"
        "played backwards: actions are visible only over time, objects in every frame. Not real footage;\n"
        "numbers on it say whether a pipeline works, not how good a model is.\n"
    )


_README_TITLE = "ActionBench mini benchmark"


def _clear_previous(out: Path) -> None:
    """An earlier mini benchmark in `out` is replaced; any other non-empty folder is refused."""
    if not out.exists() or not any(out.iterdir()):
        return
    readme = out / "README.txt"
    ours = readme.is_file() and readme.read_text(encoding="utf-8", errors="replace").startswith(_README_TITLE)
    if not ours or set(p.name for p in out.iterdir()) - {"README.txt", "ssv2", "ego4d"}:
        raise MiniDataError(
            f"{out}: folder is not empty and does not hold (only) a mini benchmark; choose another"
        )
    import shutil

    for name in ("ssv2", "ego4d"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    readme.unlink()  # last, so an interrupted clean-up leaves a folder that is still recognisably ours


def generate_mini(
    out: Path,
    seed: int = 0,
    size: str = "default",
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MiniInfo:
    """Write the mini benchmark under `out` (ssv2/, ego4d/, README.txt); same seed, same files.

    An earlier mini benchmark in `out` is replaced; a folder holding anything else is refused.

    `workers` processes render and encode videos (default: up to 2 for the default size, 1 for tiny);
    `progress(done, total)` is called as videos are written.
    """
    started = time.perf_counter()
    _size(size)
    out = Path(out)
    _clear_previous(out)
    ssv2_root, ego4d_root = out / "ssv2", out / "ego4d"
    (ssv2_root / "videos").mkdir(parents=True, exist_ok=True)
    (ego4d_root / "videos").mkdir(parents=True, exist_ok=True)

    ssv2 = plan_ssv2(seed, size)
    ego4d = plan_ego4d(seed, size)
    _write_json(ssv2_root / "labels.json", ssv2_labels([t for _, a, b in SSV2_PAIRS for t in (a, b)]))
    for split in ("train", "validation"):
        _write_json(ssv2_root / f"{split}.json", [c.record() for c in ssv2 if c.split == split])
    with open(ego4d_root / "egoclip.jsonl", "w", encoding="utf-8") as f:
        for w in ego4d:
            f.write(json.dumps(w.record, ensure_ascii=False) + "\n")

    jobs = [(c.plan, str(ssv2_root / "videos" / f"{c.id}.webm"), "libvpx-vp9") for c in ssv2]
    jobs += [(w.plan, str(ego4d_root / "videos" / f"{w.clip_uid}.mp4"), "libx264") for w in ego4d]
    if workers is None:
        workers = 1 if len(jobs) < 200 else min(2, os.cpu_count() or 1)
    import av  # noqa: F401  (loaded before decord can be, where this process encodes)

    # A process that imported decord before PyAV cannot encode VP9 (write_video), so it encodes in a fresh one.
    if workers <= 1 and "decord" not in sys.modules:
        for done, job in enumerate(jobs, 1):
            _render_and_write(job)
            if progress:
                progress(done, len(jobs))
    else:
        import multiprocessing

        # Each clip depends only on its own plan, so the pool's scheduling cannot change any output.
        with multiprocessing.get_context("spawn").Pool(max(workers, 1)) as pool:
            for done, _ in enumerate(pool.imap_unordered(_render_and_write, jobs, chunksize=16), 1):
                if progress:
                    progress(done, len(jobs))

    counts = {
        "ssv2": {s: sum(c.split == s for c in ssv2) for s in ("train", "validation")},
        "ego4d": {s: sum(w.split == s for w in ego4d) for s in ("train", "val", "test")},
    }
    (out / "README.txt").write_text(_readme(seed, size, counts), encoding="utf-8")
    return MiniInfo(out, ssv2_root, ego4d_root, seed, size, counts, time.perf_counter() - started)
