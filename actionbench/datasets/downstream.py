"""Retrieval sets of the paper's downstream tasks (Table 2), read from the original annotation files.

Every task here is a set of videos, a list of unique candidate texts, and the one correct text of each video;
a text may have several correct videos (a template, an action class). Files (REFERENCE.md §5.1):

- SSv2-label / SSv2-template (`ssv2_ret_{label,template}_{train,val_small}.json`): a JSON list of
  `{"video": "62211.webm" | ["62211.webm", ...], "caption": "..."}`; `[something]` becomes `something`.
  Label: one caption per video. Template: one caption per template with many videos.
- Temporal-SSv2 / Temporal-Kinetics (`val-v1.0-2.4k.csv`): columns `,index,video_id,text,dataset`; SSv2 rows
  carry the SSv2 id, Kinetics rows `class/<youtube id>_<start>_<end>` (the segment in seconds, six digits each).
- Moments-in-Time: `moments_categories.txt` (`label,idx`, `+` for spaces) gives the candidate texts in index
  order; `validationSet*.csv` rows `video_name,label,_,_` (no header).

Candidate texts are de-duplicated per task (the original kept SSv2-label's repeated captions as separate
texts, so a video could lose to its own caption written twice); how many repeats were merged is counted.
Malformed input raises AnnotationError naming the file, line (or item) and field.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from actionbench.datasets.records import AnnotationError, read_json_file, read_text

SLOT = re.compile(r"\[([^\[\]]*)\]")
KINETICS_ID = re.compile(r"^(?P<cls>[^/]+)/(?P<yt>.+)_(?P<start>\d{6})_(?P<end>\d{6})$")
RETRIEVAL_TASKS = ("ssv2_label", "ssv2_template", "temporal_ssv2", "temporal_kinetics", "moments_in_time")


@dataclass(frozen=True)
class RetrievalVideo:
    """One video of a retrieval set: its id in the file, its path under the task's videos root, its window."""

    video_id: str
    video: str
    start: float | None = None
    end: float | None = None


@dataclass
class RetrievalSet:
    """Videos, unique candidate texts, and the index of each video's correct text."""

    task: str
    source: str  # the annotation file it was read from
    videos: list[RetrievalVideo]
    texts: list[str]
    video_text: list[int]  # video i's correct text is texts[video_text[i]]
    merged_duplicates: int = 0  # repeated texts folded into one candidate
    skipped: dict[str, int] = field(default_factory=dict)  # rows not used, by reason

    def text_videos(self) -> list[list[int]]:
        """For each text, the indices of its correct videos (empty for a category no video shows)."""
        out: list[list[int]] = [[] for _ in self.texts]
        for v, t in enumerate(self.video_text):
            out[t].append(v)
        return out


def clean_caption(text: str) -> str:
    """`Pushing [something] from left to right` -> `Pushing something from left to right`, spaces collapsed."""
    return " ".join(SLOT.sub(lambda m: m.group(1), text).split())


class _Builder:
    """Collects (video, text) pairs; texts are de-duplicated in order of first appearance."""

    def __init__(self, task: str, source: Path, texts: list[str] | None = None):
        self.task, self.source = task, source
        self.texts: list[str] = list(texts or [])
        self.index = {t: i for i, t in enumerate(self.texts)}
        self.fixed = texts is not None  # a category list: texts outside it are errors
        self.videos: list[RetrievalVideo] = []
        self.video_text: list[int] = []
        self.seen: dict[str, str] = {}
        self.merged = 0
        self.captions: set[str] = set()

    def add(self, video: RetrievalVideo, text: str, where: str, *, caption_item: bool = False) -> None:
        if not text:
            raise AnnotationError(f"{where}: empty text")
        if video.video_id in self.seen:
            first = self.seen[video.video_id]
            raise AnnotationError(f"{where}: video {video.video_id!r} listed twice (first at {first})")
        self.seen[video.video_id] = where
        if text not in self.index:
            if self.fixed:
                raise AnnotationError(f"{where}: label {text!r} is not in the category list")
            self.index[text] = len(self.texts)
            self.texts.append(text)
        self.videos.append(video)
        self.video_text.append(self.index[text])

    def note_caption(self, text: str) -> None:
        """One caption item of an SSv2 file: a caption seen in an earlier item is a merged duplicate."""
        if text in self.captions:
            self.merged += 1
        self.captions.add(text)

    def build(self, skipped: dict[str, int] | None = None) -> RetrievalSet:
        if not self.videos:
            raise AnnotationError(f"{self.source}: no {self.task} videos")
        return RetrievalSet(self.task, str(self.source), self.videos, self.texts, self.video_text, self.merged,
                            dict(skipped or {}))


def _read_lines(path: Path) -> list[str]:
    return read_text(path).splitlines()


def read_ssv2_retrieval(path: str | Path, task: str = "ssv2_label") -> RetrievalSet:
    """An `ssv2_ret_label_*.json` or `ssv2_ret_template_*.json` file (`task`: ssv2_label | ssv2_template)."""
    if task not in ("ssv2_label", "ssv2_template"):
        raise AnnotationError(f"unknown SSv2 retrieval task {task!r} (ssv2_label or ssv2_template)")
    path = Path(path)
    data = read_json_file(path)
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: expected a JSON list of {{video, caption}} items")
    b = _Builder(task, path)
    for i, item in enumerate(data):
        where = f"{path}: item {i}"
        if not isinstance(item, dict):
            raise AnnotationError(f"{where}: expected an object with 'video' and 'caption'")
        caption, names = item.get("caption"), item.get("video")
        if not isinstance(caption, str):
            raise AnnotationError(f"{where}: field 'caption': expected a string")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
            raise AnnotationError(f"{where}: field 'video': expected a file name or a non-empty list of them")
        text = clean_caption(caption)
        b.note_caption(text)
        for name in names:
            name = name.strip()
            if "/" in name or "\\" in name or name.startswith("."):
                raise AnnotationError(f"{where}: field 'video': {name!r} is not a plain file name")
            b.add(RetrievalVideo(Path(name).stem, name), text, where)
    return b.build()


def kinetics_segment(video_id: str) -> tuple[str, float, float]:
    """`cartwheeling/RUNwB3-Qxqg_000007_000017` -> (`RUNwB3-Qxqg`, 7.0, 17.0); ValueError when malformed."""
    m = KINETICS_ID.match(video_id.strip())
    if not m:
        raise ValueError(f"expected <class>/<youtube id>_<start>_<end> (six digits each), got {video_id!r}")
    start, end = float(m["start"]), float(m["end"])
    if end <= start:
        raise ValueError(f"segment {video_id!r} ends before it starts")
    return m["yt"], start, end


def read_temporal(path: str | Path, subset: str = "ssv2", *, ssv2_ext: str = ".webm",
                  kinetics_ext: str = ".mp4") -> RetrievalSet:
    """The Temporal benchmark's `val-v1.0*.csv`, rows of one `subset` (`ssv2` or `kinetics`).

    SSv2 videos are `<id><ssv2_ext>` (the official `.webm`; `.mp4` for the ActionBench re-encoding), Kinetics
    videos `<youtube id><kinetics_ext>` with the segment from the id as the time window.
    """
    if subset not in ("ssv2", "kinetics"):
        raise AnnotationError(f"unknown Temporal subset {subset!r} (ssv2 or kinetics)")
    path = Path(path)
    lines = _read_lines(path)
    rows = list(csv.reader(lines))
    if not rows:
        raise AnnotationError(f"{path}: empty file")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in ("video_id", "text", "dataset") if c not in header]
    if missing:
        raise AnnotationError(f"{path}:1: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
    col = {name: header.index(name) for name in ("video_id", "text", "dataset")}
    b = _Builder(f"temporal_{subset}", path)
    other = 0
    for lineno, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise AnnotationError(f"{path}:{lineno}: {len(row)} fields, the header has {len(header)}")
        dataset = row[col["dataset"]].strip().lower()
        if dataset not in ("ssv2", "kinetics"):
            raise AnnotationError(f"{path}:{lineno}: field 'dataset': expected ssv2 or kinetics, got {dataset!r}")
        if dataset != subset:
            other += 1
            continue
        video_id, text = row[col["video_id"]].strip(), clean_caption(row[col["text"]])
        where = f"{path}:{lineno}"
        if subset == "ssv2":
            if not video_id.isdigit():
                raise AnnotationError(f"{where}: field 'video_id': expected an SSv2 id (digits), got {video_id!r}")
            video = RetrievalVideo(video_id, f"{video_id}{ssv2_ext}")
        else:
            try:
                yt, start, end = kinetics_segment(video_id)
            except ValueError as e:
                raise AnnotationError(f"{where}: field 'video_id': {e}") from None
            video = RetrievalVideo(video_id, f"{yt}{kinetics_ext}", start, end)
        b.add(video, text, where)
    return b.build({"other subset": other} if other else None)


def read_moments_categories(path: str | Path) -> list[str]:
    """`moments_categories.txt` (`label,idx` per line, `+` for spaces) as labels in index order."""
    path = Path(path)
    by_index: dict[int, str] = {}
    for lineno, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        label, sep, idx = line.rpartition(",")
        where = f"{path}:{lineno}"
        if not sep or not label.strip():
            raise AnnotationError(f"{where}: expected 'label,index', got {line.strip()!r}")
        try:
            index = int(idx.strip())
        except ValueError:
            raise AnnotationError(f"{where}: field 'idx': expected an integer, got {idx.strip()!r}") from None
        if index in by_index:
            raise AnnotationError(f"{where}: index {index} used twice")
        by_index[index] = label.strip().replace("+", " ")
    if sorted(by_index) != list(range(len(by_index))):
        raise AnnotationError(f"{path}: indices must be 0..{len(by_index) - 1} without gaps")
    labels = [by_index[i] for i in range(len(by_index))]
    if len(set(labels)) != len(labels):
        raise AnnotationError(f"{path}: a label is listed twice")
    return labels


def read_moments_in_time(annotations: str | Path, categories: str | Path) -> RetrievalSet:
    """Moments-in-Time zero-shot video -> label retrieval: every category is a candidate text (in index order),
    videos come from `validationSet*.csv` (`video_name,label,_,_`), paths relative to the validation folder."""
    labels = read_moments_categories(categories)
    path = Path(annotations)
    b = _Builder("moments_in_time", path, labels)
    for lineno, row in enumerate(csv.reader(_read_lines(path)), 1):
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{lineno}"
        if len(row) < 2:
            raise AnnotationError(f"{where}: expected video_name,label,...; got {len(row)} field(s)")
        name, label = row[0].strip(), row[1].strip().replace("+", " ")
        if not name or name.startswith(("/", "..")) or "/../" in name:
            raise AnnotationError(f"{where}: field 'video_name': {name!r} is not a path inside the videos folder")
        b.add(RetrievalVideo(name, name), label, where)
    return b.build()
