"""Ego4D annotation readers (the narration text itself is cleaned and parsed by `actionbench.probes.narration`).

Two layouts are read: the EgoClip-derived subset ActionBench used (`.jsonl` or `.csv`, one narration per
record, windows already cut into EM clips) and Ego4D's own `narration.json` (both narration passes; windows
made by EgoVLP's rule). Both give `Clip` records whose `text` is the model-facing cleaned narration and
whose `objects` and `action` come from `parse_narration`.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actionbench.datasets.records import SPLITS, AnnotationError, ReadResult, ego4d_split
from actionbench.files import describe, loads, read_json, read_jsonl, read_text
from actionbench.probes.narration import Narration as Narration  # re-exported: readers' callers use them
from actionbench.probes.narration import clean_text as clean_text
from actionbench.probes.narration import parse_narration as parse_narration
from actionbench.probes.schema import Clip

DATASET = "ego4d"

# ---------------------------------------------------------------------------------------------------------
# Readers
# ---------------------------------------------------------------------------------------------------------

EGOCLIP_REQUIRED = ("video_uid", "clip_uid", "clip_text", "clip_relative_start", "clip_relative_end")
EGOCLIP_NUMERIC = (
    "video_dur",
    "narration_time",
    "clip_start",
    "clip_end",
    "narration_relative_time",
    "clip_fps",
)
EGOCLIP_KEPT = ("narration_source", "tag_verb", "tag_noun") + EGOCLIP_NUMERIC


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


MAX_SECONDS = 1e7  # about 116 days: no Ego4D time is larger
_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def _number(value: Any, where: str, name: str) -> float:
    """A finite float of sane size (|x| <= 1e7) from a JSON number or a CSV string; else an AnnotationError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise AnnotationError(f"{where}: {name} is not a number ({describe(value)})")
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise AnnotationError(f"{where}: {name} is not a number ({describe(value)})") from None
    if not math.isfinite(x):
        raise AnnotationError(f"{where}: {name} is not finite ({describe(value)})")
    if abs(x) > MAX_SECONDS:
        raise AnnotationError(f"{where}: {name} is out of range ({describe(value)})")
    return x


def _uid(value: Any, where: str, name: str) -> str:
    """A video or clip uid: it names a video file, so only letters, digits, `_` and `-` are accepted."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not _UID.fullmatch(text):
        raise AnnotationError(f"{where}: {name}: expected a uid (letters, digits, '_', '-'), got {describe(value)}")
    return text


_JSON_INT_LIST = re.compile(r"\s*\[\s*(?:-?(?:0|[1-9]\d*)\s*(?:,\s*-?(?:0|[1-9]\d*)\s*)*)?\]\s*")
_JSON_INT = re.compile(r"-?\d+")


def _index_list(value: Any, where: str, name: str) -> list[int]:
    """EgoClip's taxonomy tags: a stringified list of ints ('[17, 93]') or a list."""
    if isinstance(value, str) and _JSON_INT_LIST.fullmatch(value):  # the common case, without a JSON parse
        return [int(x) for x in _JSON_INT.findall(value)]
    if isinstance(value, str):
        try:
            value = loads(value, f"{where}: {name}", AnnotationError) if value.strip() else []
        except AnnotationError:
            raise AnnotationError(f"{where}: {name} is not a list of indices ({describe(value)})") from None
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise AnnotationError(f"{where}: {name} is not a list of indices ({describe(value)})")
    return value


def narration_clip(
    *,
    clip_id: str,
    split: str,
    video: str,
    start: float,
    end: float,
    video_uid: str,
    raw_text: str,
    source: dict[str, Any],
) -> Clip:
    """A Clip for one narration: cleaned text, action and object from the parse."""
    text = clean_text(raw_text)
    parsed = parse_narration(text)
    return Clip(
        clip_id=clip_id,
        dataset=DATASET,
        split=split,
        video=video,
        start=start,
        end=end,
        source_video=video_uid,
        text=text,
        raw_text=raw_text,
        objects=(parsed.object,) if parsed and parsed.object else (),
        action=parsed.action if parsed else None,
        source=source,
    )


def _egoclip_records(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) for each non-blank record of a .jsonl or .csv (comma or tab separated)."""
    out: list[tuple[int, dict[str, Any]]] = []
    if not path.is_file():
        raise AnnotationError(f"{path}: no such annotation file")
    if path.suffix.lower() in (".csv", ".tsv"):
        text = read_text(path, AnnotationError).removeprefix("\ufeff")
        header = text.split("\n", 1)[0]
        delimiter = "\t" if "\t" in header else ","
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        try:
            for row in reader:
                if row.get(None) is not None:
                    raise AnnotationError(f"{path}:{reader.line_num}: more fields than the header names")
                if all(v in (None, "") for v in row.values()):
                    continue
                if any(v is None for v in row.values()):
                    raise AnnotationError(f"{path}:{reader.line_num}: fewer fields than the header names")
                out.append((reader.line_num, row))
        except csv.Error as e:
            raise AnnotationError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
        return out
    for lineno, record in read_jsonl(path, AnnotationError):
        if not isinstance(record, dict):
            raise AnnotationError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
        out.append((lineno, record))
    return out


@dataclass(frozen=True)
class _EgoClipRow:
    video_uid: str
    clip_uid: str
    raw_text: str
    start: float
    end: float
    source: dict[str, Any]

    @property
    def narration_key(self) -> str | None:
        if "narration_source" in self.source and "narration_ind" in self.source:
            return f"{self.video_uid}:{self.source['narration_source']}:{self.source['narration_ind']}"
        return None

    @property
    def window_key(self) -> str:
        return f"{self.clip_uid}:{self.start:.3f}:{self.end:.3f}"


def _egoclip_row(r: dict[str, Any], where: str) -> _EgoClipRow:
    """Validate one EgoClip record; a missing or malformed field raises AnnotationError naming it."""
    for name in EGOCLIP_REQUIRED:
        if r.get(name) is None or (name != "clip_text" and str(r[name]).strip() == ""):
            raise AnnotationError(f"{where}: missing field {name!r}")
    video_uid = _uid(r["video_uid"], where, "video_uid")
    clip_uid = _uid(r["clip_uid"], where, "clip_uid")
    raw_text = r["clip_text"]
    if not isinstance(raw_text, str):
        raise AnnotationError(f"{where}: clip_text is not text ({raw_text!r})")
    start = _number(r["clip_relative_start"], where, "clip_relative_start")
    end = _number(r["clip_relative_end"], where, "clip_relative_end")
    if start < 0:
        raise AnnotationError(f"{where}: clip_relative_start {start} is negative")
    if end < start:
        raise AnnotationError(f"{where}: clip_relative_end {end} is before clip_relative_start {start}")
    source: dict[str, Any] = {"video_uid": video_uid, "clip_uid": clip_uid}
    for name in EGOCLIP_KEPT:
        value = r.get(name)
        if value is None or value == "":
            continue
        if name in EGOCLIP_NUMERIC:
            source[name] = _number(value, where, name)
        elif name in ("tag_verb", "tag_noun"):
            source[name] = _index_list(value, where, name)
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            source[name] = str(value)
        else:
            raise AnnotationError(f"{where}: {name}: expected text, got {describe(value)}")
    ind = r.get("narration_ind")
    if ind is not None and ind != "":
        x = _number(ind, where, "narration_ind")
        if x != int(x):
            raise AnnotationError(f"{where}: narration_ind is not an integer ({ind!r})")
        source["narration_ind"] = int(x)
    return _EgoClipRow(video_uid, clip_uid, raw_text, start, end, source)


def read_egoclip(path: str | Path, split: str = "all") -> ReadResult:
    """Read the EgoClip-derived layout ActionBench used (`.jsonl`, or `.csv` with an optional index column).

    One clip per narration, cut from the EM clip `<clip_uid>.mp4` by `clip_relative_start/end`. The split is
    `ego4d_split(video_uid)`; records of other splits are counted as skipped "other split". The clip id is
    `<video_uid>:<narration_source>:<narration_ind>`; where those are absent, or where one such key names
    different narrations (the genuine sample has some), it is `<clip_uid>:<start>:<end>` instead, so ids do
    not depend on the order of the file. A record repeated exactly is kept once.
    """
    _check_split(split)
    path = Path(path)
    records = _egoclip_records(path)
    rows = [_egoclip_row(r, f"{path}:{lineno}") for lineno, r in records]
    contents: dict[str, set[tuple[str, str, float, float]]] = {}
    for row in rows:
        if row.narration_key is not None:
            contents.setdefault(row.narration_key, set()).add(
                (row.clip_uid, row.raw_text, row.start, row.end)
            )
    skipped: Counter[str] = Counter()
    clips: list[Clip] = []
    seen: set[str] = set()
    for row in rows:
        key = row.narration_key
        clip_id = key if key is not None and len(contents[key]) == 1 else row.window_key
        clip_split = ego4d_split(row.video_uid)
        if split != "all" and clip_split != split:
            skipped["other split"] += 1
        elif not clean_text(row.raw_text):
            skipped["empty narration"] += 1
        elif row.end == row.start:
            skipped["empty time window"] += 1
        elif clip_id in seen:
            skipped["duplicate record"] += 1
        else:
            seen.add(clip_id)
            clips.append(
                narration_clip(
                    clip_id=clip_id,
                    split=clip_split,
                    video=f"{row.clip_uid}.mp4",
                    start=row.start,
                    end=row.end,
                    video_uid=row.video_uid,
                    raw_text=row.raw_text,
                    source=row.source,
                )
            )
    return ReadResult(clips=clips, skipped=skipped, total_records=len(records))


DUPLICATE_WINDOW_S = 1.0


def read_narrations(path: str | Path, split: str = "all", alpha: float = 4.9) -> ReadResult:
    """Read Ego4D's own `narration.json` (every `narration_pass_*`), windowing each narration EgoVLP's way.

    A narration at time t gets the window t ± beta/(2*alpha), where beta is the mean gap between
    consecutive narrations of that video and pass (alpha defaults to EgoVLP's 4.9 s, so an average video
    gets about a one-second window); a pass with a single narration uses beta = alpha. The start is
    clipped at 0. Identical cleaned narrations of one video within one second of a kept one (the two passes
    often agree) are kept once. Times are in the full video `<video_uid>.mp4`.
    """
    _check_split(split)
    if not alpha > 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: no such annotation file")
    data = read_json(path, AnnotationError)
    if not isinstance(data, dict):
        raise AnnotationError(f"{path}: expected an object keyed by video_uid, got {type(data).__name__}")
    skipped: Counter[str] = Counter()
    clips: list[Clip] = []
    total = 0
    for video_uid, passes in data.items():
        video_uid = _uid(video_uid, f"{path}", "video_uid")
        if not isinstance(passes, dict):
            raise AnnotationError(f"{path}: video {video_uid}: expected an object of narration passes")
        items = []  # (time, pass, index, raw, annotation_uid, beta)
        for pass_name, block in passes.items():
            if not pass_name.startswith("narration_pass"):
                continue
            where = f"{path}: video {video_uid} {pass_name}"
            if not isinstance(block, dict) or not isinstance(block.get("narrations"), list):
                raise AnnotationError(f"{where}: missing field 'narrations'")
            rows = []
            for index, n in enumerate(block["narrations"]):
                at = f"{where}[{index}]"
                if not isinstance(n, dict):
                    raise AnnotationError(f"{at}: expected an object")
                for name in ("timestamp_sec", "narration_text"):
                    if n.get(name) is None:
                        raise AnnotationError(f"{at}: missing field {name!r}")
                if not isinstance(n["narration_text"], str):
                    raise AnnotationError(f"{at}: narration_text is not text")
                rows.append((_number(n["timestamp_sec"], at, "timestamp_sec"), index, n))
            total += len(rows)
            times = sorted(t for t, _, _ in rows)
            beta = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else alpha
            for t, index, n in rows:
                items.append((t, pass_name, index, n["narration_text"], n.get("annotation_uid"), beta))
        clip_split = ego4d_split(video_uid)
        if split != "all" and clip_split != split:
            skipped["other split"] += len(items)
            continue
        kept_times: dict[str, list[float]] = {}
        for t, pass_name, index, raw, annotation_uid, beta in sorted(items, key=lambda x: x[:3]):
            text = clean_text(raw)
            if not text:
                skipped["empty narration"] += 1
                continue
            earlier = kept_times.setdefault(text, [])
            if any(abs(t - e) <= DUPLICATE_WINDOW_S for e in earlier):
                skipped["duplicate narration within 1 s"] += 1
                continue
            earlier.append(t)
            half = beta / (2 * alpha)
            source = {
                "video_uid": video_uid,
                "narration_source": pass_name,
                "narration_ind": index,
                "narration_time": t,
                "beta": beta,
                "alpha": alpha,
            }
            if isinstance(annotation_uid, str):
                source["annotation_uid"] = annotation_uid
            clips.append(
                narration_clip(
                    clip_id=f"{video_uid}:{pass_name}:{index}",
                    split=clip_split,
                    video=f"{video_uid}.mp4",
                    start=max(0.0, t - half),
                    end=t + half,
                    video_uid=video_uid,
                    raw_text=raw,
                    source=source,
                )
            )
    return ReadResult(clips=clips, skipped=skipped, total_records=total)
