"""Training data: clips with their caption and action-antonym caption, decoded the benchmark's way.

A training source is a probe set (usually a `train` split) plus the folder its videos live in. The items are
the clips that carry an Action Antonym probe (the original trained on the AA-filtered ActionBench train split);
their antonym caption is that probe's foil. Every clip left out is counted under a reason.

Data order is a permutation per epoch drawn from `seeded_rng(seed, epoch)`, cut into global batches; rank r of
W takes the r-th contiguous slice of each global batch, so the global batch does not depend on W, and a resumed
run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from actionbench.datasets.downstream_set import DownstreamSet
from actionbench.files import read_json
from actionbench.ids import seeded_rng
from actionbench.models import Preprocess
from actionbench.probes.schema import ProbeSet
from actionbench.tasks import AA
from actionbench.video import FrameSpec, VideoError, read_frames, resolve_video, to_model_input


class TrainingDataError(ValueError):
    """Training data that cannot be used (no items, a malformed flags file)."""


@dataclass(frozen=True)
class TrainItem:
    clip_id: str
    video: Path
    start: float | None
    end: float | None
    text: str
    antonym: str | None
    state_change: bool = True  # ATM applies to this clip (see `load_state_change_flags`)
    # A multiple-choice question (NExT-QA): its candidate texts ("question? choice"), the answer's index, and VAC's
    # antonym candidates (already padded to the number of choices); None for a caption item.
    choices: tuple[str, ...] | None = None
    answer: int | None = None
    antonym_choices: tuple[str, ...] | None = None


@dataclass
class TrainingSet:
    items: list[TrainItem]
    skipped: Counter[str]

    def texts(self) -> list[str]:
        """Every caption and antonym caption, once, sorted (the frozen text encoder runs on these once)."""
        return sorted({t for i in self.items for t in (i.text, i.antonym, *(i.choices or ()), *(i.antonym_choices or ()))
                       if t is not None})


def load_training_set(sources: list[tuple[str | Path, str | Path]], require_video: bool = True) -> TrainingSet:
    """The clips with an Action Antonym probe, from each (probe-set folder, videos root)."""
    items: list[TrainItem] = []
    skipped: Counter[str] = Counter()
    for probes_dir, videos_root in sources:
        ps = ProbeSet.load(probes_dir)
        antonym: dict[str, str] = {}
        for p in sorted(ps.probes, key=lambda p: p.probe_id):
            if p.task == AA and p.foil_text:
                antonym.setdefault(p.clip_id, p.foil_text)
        for clip in ps.clips:
            if clip.clip_id not in antonym:
                skipped["no action-antonym probe"] += 1
                continue
            path = resolve_video(videos_root, clip.video)
            if require_video and not path.is_file():
                skipped["video missing"] += 1
                continue
            items.append(TrainItem(clip.clip_id, path, clip.start, clip.end, clip.text, antonym[clip.clip_id]))
    if not items:
        reasons = ", ".join(f"{n} {r}" for r, n in skipped.items()) or "empty probe sets"
        raise TrainingDataError(f"no training clips in {[str(p) for p, _ in sources]} ({reasons})")
    return TrainingSet(items, skipped)


def downstream_training_set(ds: DownstreamSet, videos_root: str | Path, require_video: bool = True) -> TrainingSet:
    """The items of a downstream set (`actionbench build-downstream`, or `downstream_set.build`) as training items:
    a retrieval set gives one (clip, its caption) per video; a question set one item per question, with its
    candidate texts, its answer and, when the set has them, VAC's antonym candidates padded to five with copies
    of the wrong answers."""
    from paxion_models.losses import pad_antonym_choices

    clips = {c.clip_id: c for c in ds.clips}
    items: list[TrainItem] = []
    skipped: Counter[str] = Counter()
    for row in ds.items:
        clip = clips[row["clip_id"]]
        path = resolve_video(videos_root, clip.video)
        if require_video and not path.is_file():
            skipped["video missing"] += 1
            continue
        if ds.manifest.kind == "retrieval":
            items.append(TrainItem(str(row["item_id"]), path, clip.start, clip.end, ds.texts[int(row["text_index"])], None))
            continue
        texts, answer = tuple(row["texts"]), int(row["answer"])
        antonyms = row.get("antonym_texts")
        padded = tuple(pad_antonym_choices(list(texts), answer, list(antonyms), len(texts))) if antonyms is not None else None
        items.append(TrainItem(clip.clip_id, path, clip.start, clip.end, texts[answer], None, choices=texts,
                               answer=answer, antonym_choices=padded))  # fmt: skip
    # In clip-id order, as a probe set holds its clips: a retrieval set over the clips a patcher trained on then has
    # the patcher run's item list, and reuses its cached frozen features (`--cache-features`).
    items.sort(key=lambda i: i.clip_id)  # stable: a clip's questions keep their order
    if not items:
        reasons = ", ".join(f"{n} {r}" for r, n in skipped.items()) or "an empty set"
        raise TrainingDataError(f"no training items in downstream set {ds.set_id} ({ds.manifest.dataset}: {reasons})")
    return TrainingSet(items, skipped)


def load_state_change_flags(path: str | Path) -> dict[str, bool]:
    """A flags file: `{clip_id: bool}` or the original's `{id: {"if_keep": bool, ...}}` (JSON)."""
    path = Path(path)
    raw = read_json(path, TrainingDataError)
    if not isinstance(raw, dict):
        raise TrainingDataError(f"{path}: expected a JSON object keyed by clip id")
    flags = {}
    for key, value in raw.items():
        flag = value.get("if_keep") if isinstance(value, dict) else value
        if not isinstance(flag, bool):
            raise TrainingDataError(f"{path}: entry {key!r} has no boolean flag")
        flags[str(key)] = flag
    return flags


def apply_flags(ts: TrainingSet, flags: dict[str, bool]) -> TrainingSet:
    """Set each item's state-change flag; a clip missing from the file keeps ATM (counted)."""
    items = []
    for item in ts.items:
        if item.clip_id not in flags:
            ts.skipped["state-change flag missing (ATM kept)"] += 1
        items.append(TrainItem(**{**item.__dict__, "state_change": flags.get(item.clip_id, True)}))
    return TrainingSet(items, ts.skipped)


def load_clip(item: TrainItem, spec: FrameSpec, preprocess: Preprocess) -> torch.Tensor:
    """Decode a clip's sampled frames -> float32 `[T, 3, H, W]`, normalised per the backbone's preprocessing."""
    try:
        frames, _ = read_frames(item.video, spec, item.start, item.end)
    except VideoError as e:
        raise TrainingDataError(f"clip {item.clip_id}: {e}") from None
    return to_model_input(frames, preprocess.size, preprocess.mean, preprocess.std)


class ClipFrames(torch.utils.data.Dataset):
    """Index -> (index, frames `[T, 3, H, W]`); a DataLoader with workers decodes in parallel."""

    def __init__(self, items: list[TrainItem], spec: FrameSpec, preprocess: Preprocess):
        self.items, self.spec, self.preprocess = items, spec, preprocess

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        return i, load_clip(self.items[i], self.spec, self.preprocess)


@dataclass(frozen=True)
class BatchOrder:
    """Which items go in step k's batch, for this rank (see the module docstring)."""

    num_items: int
    global_batch: int
    seed: int
    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.global_batch % self.world:
            raise ValueError(f"batch size {self.global_batch} is not divisible by {self.world} processes")
        if self.num_items < self.global_batch:
            raise TrainingDataError(f"{self.num_items} training clips, fewer than one batch of {self.global_batch}")

    @property
    def steps_per_epoch(self) -> int:
        return self.num_items // self.global_batch  # drop_last, as the original

    def batch(self, step: int) -> np.ndarray:
        epoch, k = divmod(step, self.steps_per_epoch)
        perm = seeded_rng("paxion-data-order", self.seed, epoch).permutation(self.num_items)
        local = self.global_batch // self.world
        start = k * self.global_batch + self.rank * local
        return perm[start : start + local]

    def batches(self, start: int, stop: int) -> Iterator[np.ndarray]:
        for step in range(start, stop):
            yield self.batch(step)


def mini_training_sources(data: str | Path, probes_out: str | Path) -> list[tuple[Path, Path]]:
    """The train splits of a mini-benchmark folder (`ssv2/`, `ego4d/`) as probe sets written under `probes_out`."""
    from actionbench.datasets.read import read_annotations
    from actionbench.probes.build import build_probes

    data, probes_out = Path(data), Path(probes_out)
    found = {"ssv2": data / "ssv2", "ego4d": data / "ego4d" / "egoclip.jsonl"}
    if not any(p.exists() for p in found.values()):
        raise TrainingDataError(f"{data}: not a mini-benchmark folder (no ssv2/ or ego4d/egoclip.jsonl)")
    sources = []
    for dataset, path in found.items():
        if not path.exists():
            continue
        result, _ = read_annotations(dataset, path, "train")
        ps = build_probes(result.clips, dataset=dataset, split="train", skipped=result.skipped,
                          parameters={"benchmark": "mini"})  # fmt: skip
        folder = ps.save(probes_out / f"{dataset}-train")
        sources.append((folder, (data / dataset / "videos")))
    return sources
