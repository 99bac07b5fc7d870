"""Import the originally released ActionBench annotation files as a probe set, exactly as released.

So a user can score the paper's own probes on the paper's own split (REFERENCE.md §1.9):
- SSv2 `validation.json` records carrying `label_action_antonym_clip_text` and
  `label_object_shuffled_clip_text` (text = `label`);
- Ego4D `.jsonl` records carrying `action_antonym_clip_text` and, in the object-shuffled files,
  `object_shuffled_clip_text` (text and foils cleaned by the same Ego4D text processor the original used).
The foils are taken verbatim (the released SSv2 object foils are lower-cased while their texts are not: the
audit report shows it). Probe ids are derived like built probes, from the released foil text.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from actionbench.datasets.records import AnnotationError
from actionbench.datasets.ssv2 import read_ssv2
from actionbench.files import describe, read_json, read_jsonl
from actionbench.probes.schema import Clip, Probe, ProbeSet, probe_id_for, seed_key
from actionbench.tasks import AA, OR, VR
from actionbench.tasks import PROBE_TASKS as TASKS

RELEASED_LEXICON = "released-actionbench"


def _probe(dataset: str, clip: Clip, task: str, text: str, foil: str | None, field: str | None) -> Probe:
    edit = None if foil is None else {"kind": "released", "entry": {"field": field}, "changes": None, "foil": foil}
    key = seed_key(dataset, clip.clip_id, task, RELEASED_LEXICON)
    return Probe(probe_id_for(key, edit), task, clip.clip_id, text, foil, edit)


def import_released(path: str | Path, dataset: str, split: str) -> ProbeSet:
    """A ProbeSet holding exactly the released probes of one file."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: not found")
    if dataset == "ssv2":
        clips, records = _ssv2(path)
        fields = {AA: "label_action_antonym_clip_text", OR: "label_object_shuffled_clip_text"}
    elif dataset == "ego4d":
        clips, records = _ego4d(path)
        fields = {AA: "action_antonym_clip_text", OR: "object_shuffled_clip_text"}
    else:
        raise ValueError(f"unknown dataset {dataset!r} (expected ssv2 or ego4d)")
    probes: list[Probe] = []
    dropped = {t: Counter() for t in TASKS}
    for clip, rec in zip(clips, records, strict=True):
        for name in fields.values():
            if rec.get(name) is not None and not isinstance(rec[name], str):
                raise AnnotationError(f"{path}: clip {clip.clip_id}: {name}: expected text, got {describe(rec[name])}")
        aa_foil = rec.get(fields[AA])
        if aa_foil:
            aa_foil = _clean(dataset, aa_foil)
            probes.append(_probe(dataset, clip, AA, clip.text, aa_foil, fields[AA]))
            probes.append(_probe(dataset, clip, VR, clip.text, None, None))
        else:
            dropped[AA][f"no {fields[AA]}"] += 1
            dropped[VR][f"no {fields[AA]}"] += 1
        or_foil = rec.get(fields[OR])
        if or_foil:
            probes.append(_probe(dataset, clip, OR, clip.text, _clean(dataset, or_foil), fields[OR]))
        else:
            dropped[OR][f"no {fields[OR]}"] += 1
    used = {p.clip_id for p in probes}
    return ProbeSet.create(
        [c for c in clips if c.clip_id in used], probes, lexicon_version=RELEASED_LEXICON, dataset=dataset,
        split=split, parameters={"released_file": path.name}, dropped=dropped, source="imported",
    )


def _clean(dataset: str, text: str) -> str:
    if dataset == "ego4d":
        from actionbench.probes.narration import clean_text

        return clean_text(text)
    return text


def _ssv2(path: Path) -> tuple[list[Clip], list[dict[str, Any]]]:
    result = read_ssv2(path, split="val", labels=path.parent / "labels.json")
    if result.skipped:
        reason, _ = result.skipped.most_common(1)[0]
        raise AnnotationError(f"{path}: {sum(result.skipped.values())} records not importable ({reason})")
    records = read_json(path, AnnotationError)  # read_ssv2 checked every record of it
    clips = [
        Clip(**{**c.to_dict(), "objects": (), "text": str(r["label"]), "raw_text": str(r["label"])})
        for c, r in zip(result.clips, records, strict=True)
    ]
    return clips, records


def _ego4d(path: Path) -> tuple[list[Clip], list[dict[str, Any]]]:
    """Clips as the EgoClip reader makes them, paired with their released records (a repeated record is
    imported once; a record the reader cannot use is an error, since the release is taken exactly)."""
    from actionbench.datasets.ego4d import read_egoclip

    result = read_egoclip(path, split="all")
    by_window = {(c.video, c.raw_text, c.start, c.end): c for c in result.clips}
    clips, records, seen = [], [], set()
    if path.suffix.lower() != ".jsonl":
        raise AnnotationError(f"{path}: the released Ego4D files are .jsonl")
    for lineno, rec in read_jsonl(path, AnnotationError):  # read_egoclip checked every record of it
        key = (f"{str(rec['clip_uid']).strip()}.mp4", rec["clip_text"], float(rec["clip_relative_start"]),
               float(rec["clip_relative_end"]))
        clip = by_window.get(key)
        if clip is None:
            raise AnnotationError(f"{path}:{lineno}: record not importable ({dict(result.skipped)})")
        if clip.clip_id in seen:
            continue
        seen.add(clip.clip_id)
        clips.append(clip)
        records.append(rec)
    return clips, records
