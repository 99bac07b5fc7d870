"""Plan the suite: every probe with its clip and decode unit, the unique views and texts, what to encode.

Across every probe set and downstream set given, each unique clip (video identity + time window) is one decode
unit. It is encoded forward once, and reversed once only when a Video Reversal probe needs it and the model is
not order-invariant. Every unique text (probe captions and foils, retrieval candidates, "question? answer"
choices) is encoded once. AA, VR, OR and the downstream tasks share those embeddings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actionbench.cache import EmbeddingCache
from actionbench.datasets.downstream_set import DownstreamSet, is_downstream_folder
from actionbench.errors import InputError, one_line
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
class SetPlan:
    """A downstream set to score: its clips' decode units and the texts it needs."""

    ds: DownstreamSet
    root: Path
    units: dict[str, Unit]  # clip id -> decode unit

    @property
    def dataset(self) -> str:
        return self.ds.manifest.dataset

    @property
    def kind(self) -> str:
        return self.ds.manifest.kind

    def clip_texts(self) -> dict[str, list[str]]:
        """Clip id -> the texts it is scored against: every candidate (retrieval), its questions' choices
        (multiple choice)."""
        if self.kind == "retrieval":
            return {c.clip_id: list(self.ds.texts) for c in self.ds.clips}
        out: dict[str, list[str]] = defaultdict(list)
        for item in self.ds.items:
            out[item["clip_id"]] += item["texts"]
        return dict(out)

    def pairs(self) -> int:
        """(video, text) pairs a cross-encoder would score."""
        return sum(len(set(t)) for t in self.clip_texts().values())


@dataclass
class Plan:
    probesets: list[ProbeSet]
    roots: list[Path]
    items: list[Item]  # sorted by probe_id
    units: dict[str, Unit]  # by key, sorted
    texts: list[str]  # sorted, unique
    subset: dict[str, Any] | None
    downstream: list[SetPlan] = field(default_factory=list)  # by dataset


def text_key(text: str) -> str:
    return stable_hash("text", text)


def pair_key(view_key: str, text: str) -> str:
    return stable_hash(view_key, text_key(text))


def option_key(view_key: str, text: str, other: str) -> str:
    """The score of `text` when offered with `other` as two options under one view (`score_options` models)."""
    return stable_hash(view_key, "option", text_key(text), text_key(other))


def load_set(source: str | Path | ProbeSet | DownstreamSet) -> ProbeSet | DownstreamSet:
    """A probe set or a downstream set (`build-downstream`), from an object or a folder; either id is recomputed
    from the files and an edited folder refused."""
    if isinstance(source, (ProbeSet, DownstreamSet)):
        return source
    return DownstreamSet.load(source) if is_downstream_folder(source) else ProbeSet.load(source)


def pair_roots(probesets: Sequence[Any], videos: Sequence[str | Path]) -> list[Path]:
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


def _unit_of(units: dict[str, Unit], root: Path, clip: Clip) -> Unit:
    """The decode unit of a clip (video identity + window), made on first use; a missing video is a unit too."""
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
    return unit


def plan_suite(
    probesets: Sequence[ProbeSet | DownstreamSet], roots: Sequence[Path], limit: int | None = None
) -> Plan:
    """Every probe with its clip and decode unit, every downstream set with its clips' units; the unique units and
    texts; the subset rule if limited (a subset of the probes; a downstream set is always scored whole)."""
    for root in roots:
        if not root.is_dir():
            raise ValueError(f"videos root {root} is not a folder")
    items: list[Item] = []
    seen: dict[str, str] = {}
    units: dict[str, Unit] = {}
    downstream: dict[str, SetPlan] = {}
    for ps, root in zip(probesets, roots, strict=True):
        if isinstance(ps, DownstreamSet):
            if ps.manifest.dataset in downstream:
                raise InputError(f"downstream sets {downstream[ps.manifest.dataset].ds.set_id} and {ps.set_id} are "
                                 f"both {ps.manifest.dataset}: one run scores one set per dataset")
            downstream[ps.manifest.dataset] = SetPlan(ps, root, {c.clip_id: _unit_of(units, root, c) for c in ps.clips})
            continue
        clips = ps.clip_index()
        for probe in ps.probes:
            if probe.probe_id in seen:
                raise ValueError(
                    f"probe {probe.probe_id} is in probe sets {seen[probe.probe_id]} and {ps.probeset_id} "
                    "(a probe set given twice?)"
                )
            seen[probe.probe_id] = ps.probeset_id
            clip = clips[probe.clip_id]
            items.append(Item(probe, clip, _unit_of(units, root, clip)))
    subset = None
    if limit is not None:
        if not any(isinstance(ps, ProbeSet) for ps in probesets):
            raise InputError("--limit takes a subset of the probes of probe sets; downstream sets are always scored "
                             "whole: leave out --limit")
        if limit < 1:
            raise ValueError(f"--limit must be at least 1, got {limit}")
        # The same N probes for every model: ranked by a hash of the probe id, never by file order.
        ranked = sorted(items, key=lambda it: (unit_interval("subset", it.probe.probe_id), it.probe.probe_id))
        items = ranked[:limit]
        subset = {"limit": int(limit), "rule": SUBSET_RULE}
    items.sort(key=lambda it: it.probe.probe_id)
    sets = [downstream[d] for d in sorted(downstream)]
    used = {it.unit.key for it in items} | {u.key for sp in sets for u in sp.units.values()}
    units = {k: units[k] for k in sorted(used)}
    for it in items:
        if it.probe.task == VR:
            it.unit.needs_reversed = True
    texts = {t for it in items for t in (it.probe.text, it.probe.foil_text) if t is not None}
    texts |= {t for sp in sets for ts in sp.clip_texts().values() for t in ts}
    probe_sets = [ps for ps in probesets if isinstance(ps, ProbeSet)]
    probe_roots = [r for ps, r in zip(probesets, roots, strict=True) if isinstance(ps, ProbeSet)]
    return Plan(probe_sets, probe_roots, items, units, sorted(texts), subset, sets)


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
        for sp in plan.downstream:  # a cross-encoder scores each clip against only its own texts
            for clip_id, texts in sp.clip_texts().items():
                view_texts[sp.units[clip_id].forward_key].update(texts)
        self.view_texts = {k: sorted(v) for k, v in view_texts.items()}
        self.view_options = {k: sorted(v) for k, v in view_options.items()}
