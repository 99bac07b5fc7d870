"""The probe-set format: Clip and Probe records, the manifest, and the folder that holds them.

A ProbeSet folder holds `clips.jsonl`, `probes.jsonl` and `manifest.json`. Files are written with sorted
keys, one record per line, in a fixed order (clips by `clip_id`, probes by task then `clip_id`), so the
same annotations always give the same bytes.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from actionbench.errors import InputError, one_line
from actionbench.files import read_json, read_jsonl, relative_path, swapped_folder, write_new_file
from actionbench.ids import canonical_json, canonical_jsonl, stable_hash
from actionbench.jsonspec import MapOf, MayBeAbsent, Nullable, OneOf, schema_errors
from actionbench.tasks import PROBE_TASKS, short
from actionbench.version import PROTOCOL_VERSION

TASKS = PROBE_TASKS  # the task table's probe tasks (actionbench.tasks), kept under the old name
TASK_SHORT = {t: short(t) for t in PROBE_TASKS}
BUILDER_VERSION = "1.1"  # 1.1: Ego4D preposition frames, AA relations, object synonym / is-a groups (issue 14)


class ProbeSetError(InputError):
    """A probe-set folder or record that cannot be read."""


@dataclass(frozen=True)
class ObjectSlot:
    """One object mention in a clip's text.

    `start`/`end` are character offsets in `Clip.text` of the replaceable words (the determiner, if any,
    stays outside the span and is kept by object replacement). `slot` is the slot type: the SSv2 bracket name
    (`something`, `something in it`, `part`, `number of`, `somewhere`, ...) or `noun` for Ego4D objects.
    `ref` groups mentions of one object (SSv2 placeholders that repeat), so they get one replacement.
    """

    slot: str
    text: str
    start: int
    end: int
    determiner: str = ""
    ref: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ObjectSlot:
        return cls(**d)


@dataclass(frozen=True)
class Clip:
    """A video clip with its caption: the unit that is decoded and encoded once."""

    clip_id: str
    dataset: str
    split: str
    video: str  # relative to the dataset's videos root
    start: float | None
    end: float | None
    source_video: str  # unit of clustering and of splitting (SSv2 id, Ego4D video_uid)
    text: str  # model-facing, cleaned
    raw_text: str
    objects: tuple[ObjectSlot, ...] = ()
    action: str | None = None  # SSv2 template (slots in brackets) or Ego4D main verb lemma, for breakdowns
    source: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies, and probe sets hold hundreds of thousands of records
        return {
            "clip_id": self.clip_id, "dataset": self.dataset, "split": self.split, "video": self.video,
            "start": self.start, "end": self.end, "source_video": self.source_video, "text": self.text,
            "raw_text": self.raw_text,
            "objects": [
                {"slot": o.slot, "text": o.text, "start": o.start, "end": o.end, "determiner": o.determiner,
                 "ref": o.ref}
                for o in self.objects
            ],
            "action": self.action, "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Clip:
        d = dict(d)
        d["objects"] = tuple(ObjectSlot.from_dict(o) for o in d.get("objects", ()))
        return cls(**d)


@dataclass(frozen=True)
class Probe:
    """A two-way forced choice: the true pairing against one foil."""

    probe_id: str
    task: str
    clip_id: str
    text: str
    foil_text: str | None  # null for video_reversal (the foil is the reversed clip)
    edit: dict[str, Any] | None  # which words became which, and the lexicon entry

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe_id": self.probe_id, "task": self.task, "clip_id": self.clip_id, "text": self.text,
            "foil_text": self.foil_text, "edit": self.edit,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Probe:
        return cls(**d)


NO_RELATION = "(none)"


def aa_relation(probe: Probe) -> str:
    """What an Action Antonym foil contrasts ("inverse", "outcome", "undo"), or "(none)" when its edit does not
    say (imported probes)."""
    return str((probe.edit or {}).get("relation") or NO_RELATION)


def seed_key(dataset: str, clip_id: str, task: str, lexicon_version: str) -> str:
    """The per-(clip, task) key every random choice of an edit is seeded from."""
    return stable_hash(dataset, clip_id, task, lexicon_version)


def probe_id_for(key: str, edit: dict[str, Any] | None) -> str:
    return stable_hash(key, edit if edit is not None else "reverse")


@dataclass
class Manifest:
    probeset_id: str
    protocol_version: str
    builder_version: str
    lexicon_version: str
    dataset: str
    split: str
    parameters: dict[str, Any]
    counts: dict[str, int]  # probes per task, and "clips"
    dropped: dict[str, dict[str, int]]  # task -> reason -> count
    source: str = "built"  # "built" or "imported" (released ActionBench files)
    # Action Antonym probes per relation (inverse / outcome / undo; "(none)" for foils that do not say)
    relations: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_dump_jsonl = canonical_jsonl  # one line of canonical JSON per record


@dataclass
class ProbeSet:
    clips: list[Clip]
    probes: list[Probe]
    manifest: Manifest

    @property
    def probeset_id(self) -> str:
        return self.manifest.probeset_id

    def clip_index(self) -> dict[str, Clip]:
        return {c.clip_id: c for c in self.clips}

    @classmethod
    def create(
        cls,
        clips: list[Clip],
        probes: list[Probe],
        *,
        lexicon_version: str,
        dataset: str,
        split: str,
        parameters: dict[str, Any],
        dropped: dict[str, Counter[str] | dict[str, int]],
        source: str = "built",
    ) -> ProbeSet:
        """Sort, count, hash: the one way a ProbeSet is made."""
        clips = sorted(clips, key=lambda c: c.clip_id)
        order = {t: i for i, t in enumerate(PROBE_TASKS)}
        probes = sorted(probes, key=lambda p: (order[p.task], p.clip_id, p.probe_id))
        ids = [p.probe_id for p in probes]
        if len(set(ids)) != len(ids):
            dup = next(i for i, n in Counter(ids).items() if n > 1)
            raise ProbeSetError(f"duplicate probe_id {dup}")
        clip_ids = [c.clip_id for c in clips]
        if len(set(clip_ids)) != len(clip_ids):
            dup = next(i for i, n in Counter(clip_ids).items() if n > 1)
            raise ProbeSetError(f"duplicate clip_id {dup}")
        clips_text = _dump_jsonl([c.to_dict() for c in clips])
        probes_text = _dump_jsonl([p.to_dict() for p in probes])
        counts = {t: 0 for t in PROBE_TASKS}
        counts.update(Counter(p.task for p in probes))
        counts["clips"] = len(clips)
        relations = dict(sorted(Counter(aa_relation(p) for p in probes if p.task == "action_antonym").items()))
        pid = stable_hash(clips_text, probes_text, lexicon_version, parameters, PROTOCOL_VERSION)
        manifest = Manifest(
            probeset_id=pid,
            protocol_version=PROTOCOL_VERSION,
            builder_version=BUILDER_VERSION,
            lexicon_version=lexicon_version,
            dataset=dataset,
            split=split,
            parameters=parameters,
            counts=counts,
            dropped={t: dict(sorted(dict(r).items())) for t, r in sorted(dropped.items())},
            source=source,
            relations=relations,
        )
        ps = cls(clips, probes, manifest)
        ps._texts = (clips_text, probes_text)
        return ps

    def save(self, folder: str | Path) -> Path:
        """Write the three files into a temporary sibling of `folder`, then swap it in: a crash (even `kill -9`)
        leaves the old folder or the new one, never a mix; a symlink at `folder` is refused, not followed."""
        folder = Path(folder)
        clips_text, probes_text = getattr(self, "_texts", (None, None))
        if clips_text is None:
            clips_text = _dump_jsonl([c.to_dict() for c in self.clips])
            probes_text = _dump_jsonl([p.to_dict() for p in self.probes])
        manifest_text = json.dumps(self.manifest.to_dict(), indent=2, sort_keys=True, allow_nan=False) + "\n"
        with swapped_folder(folder, ProbeSetError) as tmp:
            write_new_file(tmp / "clips.jsonl", clips_text)
            write_new_file(tmp / "probes.jsonl", probes_text)
            write_new_file(tmp / "manifest.json", manifest_text)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ProbeSet:
        """Read a probe-set folder, checking every record's fields and recomputing `probeset_id` from the files.

        A malformed line, a field of the wrong type or value, a duplicate clip or probe, or a manifest whose
        `probeset_id` or counts do not match the files raises ProbeSetError naming the file, line and field.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise ProbeSetError(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
        for name in ("clips.jsonl", "probes.jsonl", "manifest.json"):
            if not (folder / name).is_file():
                raise ProbeSetError(f"{one_line(folder / name)}: missing (not a probe-set folder?)")
        manifest = read_manifest(folder / "manifest.json")
        clips, clips_text = _read_records(folder / "clips.jsonl", _clip_from_record, "clip_id")
        probes, probes_text = _read_records(folder / "probes.jsonl", _probe_from_record, "probe_id")
        known = {c.clip_id for c in clips}
        where = one_line(folder / "probes.jsonl")
        for p in probes:
            if p.clip_id not in known:
                raise ProbeSetError(f"{where}: probe {one_line(p.probe_id)} names unknown clip {one_line(p.clip_id)}")
        pid = stable_hash(clips_text, probes_text, manifest.lexicon_version, manifest.parameters,
                          manifest.protocol_version)
        mpath = one_line(folder / "manifest.json")
        if pid != manifest.probeset_id:
            raise ProbeSetError(f"{mpath}: probeset_id {one_line(manifest.probeset_id)} does not match the files "
                                f"(they hash to {pid}): the probe set was edited or is not the one it claims to be")
        counts = Counter(p.task for p in probes)
        for task in TASKS:
            if manifest.counts.get(task, 0) != counts.get(task, 0):
                raise ProbeSetError(f"{mpath}: counts.{task} is {manifest.counts.get(task, 0)}, "
                                    f"probes.jsonl has {counts.get(task, 0)}")
        if "clips" in manifest.counts and manifest.counts["clips"] != len(clips):
            raise ProbeSetError(f"{mpath}: counts.clips is {manifest.counts['clips']}, clips.jsonl has {len(clips)}")
        ps = cls(clips, probes, manifest)
        ps._texts = (clips_text, probes_text)
        return ps


# ---------------------------------------------------------------------------------- reading, strictly

_SLOT_SCHEMA = {"slot": str, "text": str, "start": int, "end": int, "determiner": str, "ref": int}
_CLIP_SCHEMA = {
    "clip_id": str, "dataset": str, "split": str, "video": str, "start": Nullable(float), "end": Nullable(float),
    "source_video": str, "text": str, "raw_text": str, "objects": [_SLOT_SCHEMA],
    "action": Nullable(str), "source": dict,
}
_PROBE_SCHEMA = {
    "probe_id": str, "task": OneOf(*TASKS), "clip_id": str, "text": str, "foil_text": Nullable(str),
    "edit": Nullable(dict),
}
_MANIFEST_SCHEMA = {
    "probeset_id": str, "protocol_version": str, "builder_version": str, "lexicon_version": str, "dataset": str,
    "split": str, "parameters": dict, "counts": MapOf(int), "dropped": MapOf(MapOf(int)),
    "source": MayBeAbsent(OneOf("built", "imported")), "relations": MayBeAbsent(MapOf(int)),
}
MAX_SECONDS = 1e7  # about 116 days: no clip window is longer


def _strict(record: Any, spec: dict[str, Any], where: str) -> None:
    errors = schema_errors(record, spec)
    if errors:
        raise ProbeSetError(f"{where}: {errors[0]}")
    extra = sorted(set(record) - set(spec))
    if extra:
        raise ProbeSetError(f"{where}: unknown field {one_line(extra[0])!r}")


def read_manifest(path: Path) -> Manifest:
    """Read and check `manifest.json` (its `probeset_id` is checked against the files by `ProbeSet.load`)."""
    data = read_json(path, ProbeSetError)
    _strict(data, _MANIFEST_SCHEMA, one_line(path))
    return Manifest(**data)


def _clip_from_record(d: dict[str, Any], where: str) -> Clip:
    _strict(d, _CLIP_SCHEMA, where)
    for key in ("start", "end"):
        v = d[key]
        if v is not None and not (0 <= v <= MAX_SECONDS):
            raise ProbeSetError(f"{where}: {key}: {v!r} is not a time in seconds (0 to {MAX_SECONDS:g})")
    if d["start"] is not None and d["end"] is not None and d["end"] < d["start"]:
        raise ProbeSetError(f"{where}: end {d['end']} is before start {d['start']}")
    try:
        relative_path(d["video"])
    except ValueError as e:
        raise ProbeSetError(f"{where}: video: {e}") from None
    for o in d["objects"]:
        if not (0 <= o["start"] <= o["end"] <= len(d["text"])):
            raise ProbeSetError(f"{where}: objects: span {o['start']}-{o['end']} is outside the text")
    return Clip.from_dict(d)


def _probe_from_record(d: dict[str, Any], where: str) -> Probe:
    _strict(d, _PROBE_SCHEMA, where)
    if (d["task"] == "video_reversal") != (d["foil_text"] is None):
        raise ProbeSetError(f"{where}: foil_text: must be null for video_reversal and text for the other tasks")
    return Probe.from_dict(d)


def _read_records(path: Path, make, id_field: str) -> tuple[list, str]:
    """The records of a JSON-lines file (checked by `make`) and their canonical text (what the id hashes)."""
    out = []
    seen: dict[str, int] = {}
    texts = []
    for lineno, record in read_jsonl(path, ProbeSetError):
        where = f"{one_line(path)}:{lineno}"
        item = make(record, where)
        key = getattr(item, id_field)
        if key in seen:
            raise ProbeSetError(f"{where}: duplicate {id_field} {one_line(key)} (first on line {seen[key]})")
        seen[key] = lineno
        out.append(item)
        texts.append(canonical_json(record) + "\n")
    return out, "".join(texts)
