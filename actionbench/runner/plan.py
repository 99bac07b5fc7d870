"""Plan the suite: every probe with its clip and decode unit, the unique views and texts, what to encode.

Across every probe set given, each unique clip (video identity + time window) is one decode unit. It is
encoded forward once, and reversed once only when a Video Reversal probe needs it and the model is not
order-invariant. Every unique text is encoded once. AA, VR and OR share those embeddings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actionbench.cache import EmbeddingCache
from actionbench.errors import one_line
from actionbench.ids import stable_hash, unit_interval
from actionbench.probes.schema import Clip, Probe, ProbeSet
from actionbench.tasks import VR
from actionbench.video import VideoError, resolve_video, video_identity

SUBSET_RULE = "the N probes with the smallest actionbench.ids.unit_interval('subset', probe_id)"


@dataclass
class Unit:
    """One decode unit: a video file and a time window, shared by every clip and probe that uses it."""

    key: str
    path: Path
    start: float | None
    end: float | None
    clips: list[Clip] = field(default_factory=list)
    video: str = ""  # the path relative to its root, as the probe set names it (what messages show)
    needs_reversed: bool = False
    error: str | None = None  # set when the video is missing or cannot be decoded

    @property
    def forward_key(self) -> str:
        return stable_hash(self.key, "forward")

    @property
    def reversed_key(self) -> str:
        return stable_hash(self.key, "reversed")

    def label(self) -> str:
        return self.clips[0].clip_id if self.clips else str(self.path)


@dataclass
class Item:
    """A probe to score, with where it came from."""

    probe: Probe
    clip: Clip
    unit: Unit


@dataclass
class Plan:
    probesets: list[ProbeSet]
    roots: list[Path]
    items: list[Item]  # sorted by probe_id
    units: dict[str, Unit]  # by key, sorted
    texts: list[str]  # sorted, unique
    subset: dict[str, Any] | None


def text_key(text: str) -> str:
    return stable_hash("text", text)


def pair_key(view_key: str, text: str) -> str:
    return stable_hash(view_key, text_key(text))


def option_key(view_key: str, text: str, other: str) -> str:
    """The score of `text` when offered with `other` as two options under one view (`score_options` models)."""
    return stable_hash(view_key, "option", text_key(text), text_key(other))


def pair_roots(probesets: Sequence[ProbeSet], videos: Sequence[str | Path]) -> list[Path]:
    """One videos root per probe set: the same root for all, or one each in the same order."""
    if not videos:
        raise ValueError("give a videos root (--videos DIR)")
    if len(videos) == 1:
        return [Path(videos[0])] * len(probesets)
    if len(videos) != len(probesets):
        raise ValueError(
            f"{len(probesets)} probe sets but {len(videos)} videos roots: give one root for all, or one per probe set"
        )
    return [Path(v) for v in videos]


def plan_suite(
    probesets: Sequence[ProbeSet], roots: Sequence[Path], limit: int | None = None
) -> Plan:
    """Every probe with its clip and decode unit; the unique units and texts; the subset rule if limited."""
    for root in roots:
        if not root.is_dir():
            raise ValueError(f"videos root {root} is not a folder")
    items: list[Item] = []
    seen: dict[str, str] = {}
    units: dict[str, Unit] = {}
    for ps, root in zip(probesets, roots, strict=True):
        clips = ps.clip_index()
        for probe in ps.probes:
            if probe.probe_id in seen:
                raise ValueError(
                    f"probe {probe.probe_id} is in probe sets {seen[probe.probe_id]} and {ps.probeset_id} "
                    "(a probe set given twice?)"
                )
            seen[probe.probe_id] = ps.probeset_id
            clip = clips[probe.clip_id]
            try:  # the one resolver: under the root, and `<id>.mp4` where `<id>.webm` is referenced
                path, refused = resolve_video(root, clip.video), None
            except VideoError as e:
                path, refused = root, str(e)
            identity = None if refused else video_identity(path)
            if identity is None:
                key = stable_hash("missing-video", str(root), clip.video, clip.start, clip.end)
            else:
                key = stable_hash("video", *identity, clip.start, clip.end)
            unit = units.get(key)
            if unit is None:
                unit = units[key] = Unit(key, path, clip.start, clip.end, video=clip.video)
                if identity is None:
                    unit.error = refused or f"{one_line(clip.video)}: video file not found"
            if clip not in unit.clips:
                unit.clips.append(clip)
            items.append(Item(probe, clip, unit))
    subset = None
    if limit is not None:
        if limit < 1:
            raise ValueError(f"--limit must be at least 1, got {limit}")
        # The same N probes for every model: ranked by a hash of the probe id, never by file order.
        ranked = sorted(items, key=lambda it: (unit_interval("subset", it.probe.probe_id), it.probe.probe_id))
        items = ranked[:limit]
        subset = {"limit": int(limit), "rule": SUBSET_RULE}
    items.sort(key=lambda it: it.probe.probe_id)
    used = {it.unit.key for it in items}
    units = {k: units[k] for k in sorted(used)}
    for it in items:
        if it.probe.task == VR:
            it.unit.needs_reversed = True
    texts = sorted({t for it in items for t in (it.probe.text, it.probe.foil_text) if t is not None})
    return Plan(list(probesets), list(roots), items, units, texts, subset)


@dataclass
class Scoring:
    """What the runner knows about the model it scores."""

    model: Any
    kind: str  # dual | cross
    by_probe: bool  # scores from probe ids alone (chance): decode, but call no encoder
    declared: bool  # declares order_invariant
    paired_reversal: bool = False  # provides encode_videos_and_reversed (both views in one pass)
    blind: bool = False  # declared and verified: VR is "temporally blind", no reversed pass
    view_texts: dict[str, list[str]] = field(default_factory=dict)  # view key -> texts it is scored against
    options: bool = False  # provides score_options: AA / OR probes go to it (both captions offered together)
    view_options: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # view key -> (text, foil) pairs

    def view_keys(self, view: str) -> list[str]:
        """The cache keys of every score a cross-encoder gives one view."""
        return [pair_key(view, t) for t in self.view_texts.get(view, [])] + [
            k for a, b in self.view_options.get(view, []) for k in (option_key(view, a, b), option_key(view, b, a))]

    def wanted(self, unit: Unit, store: EmbeddingCache) -> tuple[str, ...]:
        """The views of a unit still to encode (every view for a model scored by probe id)."""
        keys = [unit.forward_key] + ([unit.reversed_key] if unit.needs_reversed and not self.blind else [])
        if self.by_probe:
            return tuple(keys)
        if self.kind == "dual":
            return tuple(k for k in keys if k not in store)
        return tuple(k for k in keys if any(key not in store for key in self.view_keys(k)))

    def needed(self, plan: Plan) -> list[str]:
        """Every cache key (embedding or pair score) the run needs: what "n of N from the cache" counts."""
        if self.by_probe:
            return []
        views = [k for u in plan.units.values() if u.error is None
                 for k in [u.forward_key] + ([u.reversed_key] if u.needs_reversed and not self.blind else [])]
        if self.kind == "dual":
            return views + [text_key(t) for t in plan.texts]
        return [pair_key(k, t) for k in views for t in self.view_texts.get(k, ())]

    def plan_texts(self, plan: Plan) -> None:
        view_texts: dict[str, set[str]] = defaultdict(set)
        view_options: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for it in plan.items:
            u, p = it.unit, it.probe
            if p.task != VR and self.options:
                view_options[u.forward_key].add((p.text, p.foil_text))
                continue
            view_texts[u.forward_key].update([p.text] if p.task == VR else [p.text, p.foil_text])
            if p.task == VR and not self.blind:
                view_texts[u.reversed_key].add(p.text)
        self.view_texts = {k: sorted(v) for k, v in view_texts.items()}
        self.view_options = {k: sorted(v) for k, v in view_options.items()}
