"""Something-Something-v2 annotations in the official layout.

Folder: `labels.json` (template -> class index), `train.json` / `validation.json` (lists of `{id, label,
template, placeholders}`), `test.json` (ids only) and `test-answers.csv` (`id;template`). Templates write their
slots in brackets, and not always `[something]` (`[number of]`, `[part]`, `[somewhere]`, `[Something]`,
`[something in it]`, ...). The model-facing text is the template refilled with the clip's placeholders, in
sentence case (so the foil, refilled from the antonym template, has exactly the same surface form); the
annotator's label is kept as `raw_text`. Videos are `<id>.webm`.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from pathlib import Path
from typing import Any

from actionbench.datasets.records import AnnotationError, ReadResult
from actionbench.errors import one_line
from actionbench.files import describe, read_json, read_text
from actionbench.probes.schema import Clip, ObjectSlot
from actionbench.probes.templates import SLOT as SLOT  # re-exported: the readers' callers use them
from actionbench.probes.templates import Piece as Piece
from actionbench.probes.templates import fill as fill
from actionbench.probes.templates import unbracket as unbracket
from actionbench.probes.text import tokenize

SPLIT_FILES = {"train": "train.json", "val": "validation.json", "validation": "validation.json", "test": "test.json"}
DETERMINERS = frozenset(
    "a an the some my your his her its our their this that these those one another any".split()
)


def object_slots(template: str, text: str, pieces: list[Piece], placeholders: list[str]) -> tuple[ObjectSlot, ...]:
    """One ObjectSlot per placeholder: its slot type, determiner and the span of the replaceable words."""
    names = SLOT.findall(template)
    first_ref: dict[str, int] = {}
    slots = []
    for p in pieces:
        if p.slot is None:
            continue
        words = text[p.start : p.end]
        toks = tokenize(words)
        start, det = p.start, ""
        if len(toks) > 1 and toks[0].lower in DETERMINERS:
            det = toks[0].text
            start = p.start + toks[1].start
        norm = " ".join(placeholders[p.slot].lower().split())
        ref = first_ref.setdefault(norm, len(first_ref))
        slots.append(ObjectSlot(names[p.slot].lower(), text[start : p.end], start, p.end, det, ref))
    return tuple(slots)


def _load_json(path: Path):
    return read_json(path, AnnotationError)


_VIDEO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def video_id(value: Any, where: str) -> str:
    """An SSv2 id (an integer, or a string of letters, digits, `_` and `-`): it names the video file, so nothing
    that could leave the videos folder (`/`, `..`) is accepted."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and _VIDEO_ID.fullmatch(value):
        return value
    raise AnnotationError(f"{where}: id: expected a video id (letters, digits, '_', '-'), got {describe(value)}")


def _text(rec: dict[str, Any], key: str, where: str) -> str:
    value = rec[key]
    if not isinstance(value, str):
        raise AnnotationError(f"{where}: {key}: expected text, got {describe(value)}")
    return value


def load_labels(path: Path) -> dict[str, str]:
    data = _load_json(path)
    if not isinstance(data, dict):
        raise AnnotationError(f"{one_line(path)}: expected an object mapping template -> class index")
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise AnnotationError(f"{one_line(path)}: {one_line(key)!r}: expected a class index, got {describe(value)}")
    return {k: str(v) for k, v in data.items()}


def _annotation_file(annotations: Path, split: str) -> Path:
    if annotations.is_file():
        return annotations
    if split not in SPLIT_FILES:
        raise AnnotationError(f"unknown SSv2 split {split!r} (expected train, val, validation or test)")
    path = annotations / SPLIT_FILES[split]
    if not path.is_file():
        raise AnnotationError(f"{path}: not found (SSv2 {split} annotations)")
    return path


def read_ssv2(annotations: str | Path, split: str = "val", labels: str | Path | None = None) -> ReadResult:
    """Read one split of SSv2 annotations (a folder with the official files, or one json file)."""
    annotations = Path(annotations)
    path = _annotation_file(annotations, split)
    split_name = "val" if split in ("val", "validation") else split
    label_path = Path(labels) if labels else (path.parent / "labels.json")
    known = set(load_labels(label_path)) if label_path.is_file() else None
    label_index = load_labels(label_path) if known is not None else {}
    records = _load_json(path)
    if not isinstance(records, list):
        raise AnnotationError(f"{path}: expected a list of records")
    if split_name == "test":
        return _read_test(path, records, label_index)
    clips: list[Clip] = []
    skipped: Counter[str] = Counter()
    seen: dict[str, int] = {}
    for i, rec in enumerate(records):
        where = f"{one_line(path)}: record {i}"
        if not isinstance(rec, dict):
            raise AnnotationError(f"{where}: expected an object, got {type(rec).__name__}")
        if "id" not in rec:
            raise AnnotationError(f"{where}: missing field 'id'")
        vid = video_id(rec["id"], where)
        where = f"{where} (id {vid})"
        for key in ("label", "template", "placeholders"):
            if key not in rec:
                raise AnnotationError(f"{where}: missing field {key!r}")
        if vid in seen:
            raise AnnotationError(f"{where}: duplicate id (first in record {seen[vid]})")
        seen[vid] = i
        label, template = _text(rec, "label", where), _text(rec, "template", where)
        if not isinstance(rec["placeholders"], list) or not all(isinstance(x, str) for x in rec["placeholders"]):
            raise AnnotationError(f"{where}: placeholders: expected a list of texts")
        if known is not None and unbracket(template) not in known:
            skipped["unknown template"] += 1
            continue
        try:
            text, pieces = fill(template, [str(p) for p in rec["placeholders"]])
        except ValueError:
            skipped["placeholder count differs from template slots"] += 1
            continue
        clips.append(
            Clip(
                clip_id=vid,
                dataset="ssv2",
                split=split_name,
                video=f"{vid}.webm",
                start=None,
                end=None,
                source_video=vid,
                text=text,
                raw_text=label,
                objects=object_slots(template, text, pieces, [str(p) for p in rec["placeholders"]]),
                action=template,
                source={
                    "id": vid,
                    "template": template,
                    "placeholders": [str(p) for p in rec["placeholders"]],
                    "class": label_index.get(unbracket(template)),
                },
            )
        )
    return ReadResult(clips, skipped, total_records=len(records))


def _read_test(path: Path, records: list, label_index: dict[str, str]) -> ReadResult:
    """The test split: ids from test.json, templates from test-answers.csv (no placeholders, so no objects)."""
    answers_path = path.parent / "test-answers.csv"
    answers: dict[str, str] = {}
    if answers_path.is_file():
        text = read_text(answers_path, AnnotationError)
        try:
            for lineno, row in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=";"), 1):
                if not row or (lineno == 1 and row[0].strip().lower() == "id"):
                    continue
                if len(row) < 2:
                    raise AnnotationError(f"{one_line(answers_path)}:{lineno}: expected 'id;template'")
                answers[row[0].strip()] = row[1].strip()
        except csv.Error as e:
            raise AnnotationError(f"{one_line(answers_path)}: malformed CSV ({e})") from None
    clips, skipped = [], Counter()
    by_label = {k.lower(): k for k in label_index}
    seen: set[str] = set()
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or "id" not in rec:
            raise AnnotationError(f"{one_line(path)}: record {i}: missing field 'id'")
        vid = video_id(rec["id"], f"{one_line(path)}: record {i}")
        if vid in seen:
            raise AnnotationError(f"{one_line(path)}: record {i} (id {vid}): duplicate id")
        seen.add(vid)
        template = answers.get(vid)
        if template is None:
            skipped["no template in test-answers.csv"] += 1
            continue
        template = by_label.get(template.lower(), template)
        text = template[:1].upper() + template[1:]
        clips.append(
            Clip(vid, "ssv2", "test", f"{vid}.webm", None, None, vid, text, template, (), template,
                 {"id": vid, "template": template, "placeholders": [], "class": label_index.get(template)})
        )
    return ReadResult(clips, skipped, total_records=len(records))
