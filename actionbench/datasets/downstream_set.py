"""A downstream set: one downstream task's clips, candidate texts and items, saved as a folder like a probe set.

Built from the original annotation files by the readers (`datasets.downstream`, `datasets.nextqa`), so the
runner can plan a downstream task as it plans probe sets (one decode unit per clip, every text once) and a
result bundle can name exactly what it scored (`set_id`). Folder:

- `clips.jsonl`: one `probes.schema.Clip` per video (`clip_id` = the video id of the file; `video` relative to
  the task's videos root; `start` / `end` for Kinetics segments; `text` = the correct caption for retrieval,
  empty for question answering);
- `texts.jsonl`: the retrieval candidates in order (`{"index", "text"}`; empty for question answering);
- `items.jsonl`: retrieval: `{"item_id", "clip_id", "text_index"}` per video; question answering:
  `{"item_id": "<video>_<qid>", "clip_id", "question", "choices": [5], "texts": [5] ("question? choice"),
  "answer", "type", "antonym_texts"}`;
- `manifest.json`: `set_id` (hash of the three files, the parameters and the protocol version; recomputed and
  checked on load), dataset, task, kind, split, source file names, parameters, counts, merged duplicates and
  skipped rows. The manifest is written last, so a folder without one was never finished.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from actionbench.datasets.downstream import RetrievalSet
from actionbench.datasets.nextqa import Question
from actionbench.datasets.records import AnnotationError, read_text
from actionbench.files import atomic_write, read_jsonl
from actionbench.ids import canonical_jsonl, stable_hash
from actionbench.probes.schema import Clip
from actionbench.version import PROTOCOL_VERSION

BUILDER_VERSION = "1.0"
FILES = ("clips.jsonl", "texts.jsonl", "items.jsonl")
# Downstream dataset id -> (task, kind): the paper's Table 2 tasks and the two it evaluates zero-shot.
DATASETS: dict[str, tuple[str, str]] = {
    "ssv2_label": ("video_text_retrieval", "retrieval"),
    "ssv2_template": ("video_action_retrieval", "retrieval"),
    "temporal_ssv2": ("video_action_retrieval", "retrieval"),
    "temporal_kinetics": ("video_action_retrieval", "retrieval"),
    "moments_in_time": ("video_action_retrieval", "retrieval"),
    "nextqa": ("multiple_choice_qa", "multiple_choice"),
    "nextqa_atp_hard": ("multiple_choice_qa", "multiple_choice"),
}


@dataclass
class SetManifest:
    set_id: str
    protocol_version: str
    builder_version: str
    dataset: str
    task: str
    kind: str
    split: str
    sources: list[str]  # annotation file names it was built from
    parameters: dict[str, Any]
    counts: dict[str, int]  # clips, texts, items
    merged_duplicates: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


@dataclass
class DownstreamSet:
    clips: list[Clip]
    texts: list[str]
    items: list[dict[str, Any]]
    manifest: SetManifest

    @property
    def set_id(self) -> str:
        return self.manifest.set_id

    def _files(self) -> tuple[str, str, str]:
        return (canonical_jsonl([c.to_dict() for c in self.clips]),
                canonical_jsonl([{"index": i, "text": t} for i, t in enumerate(self.texts)]), canonical_jsonl(self.items))

    @classmethod
    def create(cls, dataset: str, clips: list[Clip], texts: list[str], items: list[dict[str, Any]], *,
               split: str, sources: list[str], parameters: dict[str, Any], merged_duplicates: int = 0,
               skipped: dict[str, int] | None = None) -> DownstreamSet:
        """Count and hash: the one way a downstream set is made."""
        if dataset not in DATASETS:
            raise AnnotationError(f"unknown downstream dataset {dataset!r} (choose from {', '.join(DATASETS)})")
        task, kind = DATASETS[dataset]
        ds = cls(clips, texts, items, SetManifest("", PROTOCOL_VERSION, BUILDER_VERSION, dataset, task, kind, split,
                                                   sources, parameters, {}, merged_duplicates, dict(skipped or {})))
        ds.manifest.counts = {"clips": len(clips), "texts": len(texts), "items": len(items)}
        ds.manifest.set_id = stable_hash(*ds._files(), parameters, PROTOCOL_VERSION)
        return ds

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "manifest.json").unlink(missing_ok=True)  # unfinished until the new manifest is written
        for name, text in zip(FILES, self._files(), strict=True):
            atomic_write(folder / name, text)
        atomic_write(folder / "manifest.json", json.dumps(asdict(self.manifest), indent=2, sort_keys=True) + "\n")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> DownstreamSet:
        """Read a downstream-set folder; its id is recomputed and a mismatch (an edited file) refused."""
        folder = Path(folder)
        for name in (*FILES, "manifest.json"):
            if not (folder / name).is_file():
                raise AnnotationError(f"{folder / name}: missing (not a finished downstream-set folder?)")
        try:
            manifest = SetManifest(**json.loads(read_text(folder / "manifest.json")))
        except (json.JSONDecodeError, TypeError) as e:
            raise AnnotationError(f"{folder / 'manifest.json'}: malformed manifest ({e})") from None
        rows = {name: [r for _, r in read_jsonl(folder / name, AnnotationError)] for name in FILES}
        try:
            clips = [Clip.from_dict(r) for r in rows["clips.jsonl"]]
            texts = [r["text"] for r in sorted(rows["texts.jsonl"], key=lambda r: r["index"])]
        except (TypeError, KeyError) as e:
            raise AnnotationError(f"{folder}: malformed clips.jsonl or texts.jsonl ({e})") from None
        ds = cls(clips, texts, rows["items.jsonl"], manifest)
        if stable_hash(*ds._files(), manifest.parameters, manifest.protocol_version) != manifest.set_id:
            raise AnnotationError(f"{folder}: its files do not match manifest set_id {manifest.set_id} "
                                  "(edited after it was built?)")
        known = {c.clip_id for c in clips}
        for item in ds.items:
            if item.get("clip_id") not in known:
                raise AnnotationError(f"{folder / 'items.jsonl'}: item {item.get('item_id')} names unknown clip "
                                      f"{item.get('clip_id')!r}")
        return ds


def is_downstream_folder(folder: str | Path) -> bool:
    """True when `folder`'s manifest is a downstream set's (it names a `set_id`; a probe set's names a
    `probeset_id`). An unreadable manifest gives False: loading the folder says what is wrong."""
    try:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and "set_id" in manifest


def from_retrieval(dataset: str, rset: RetrievalSet, *, split: str = "val",
                   parameters: dict[str, Any] | None = None) -> DownstreamSet:
    """A retrieval set as read from its original file(s)."""
    clips = [Clip(clip_id=v.video_id, dataset=dataset, split=split, video=v.video, start=v.start, end=v.end,
                  source_video=v.video_id, text=rset.texts[t], raw_text=rset.texts[t])
             for v, t in zip(rset.videos, rset.video_text, strict=True)]
    items = [{"item_id": v.video_id, "clip_id": v.video_id, "text_index": t}
             for v, t in zip(rset.videos, rset.video_text, strict=True)]
    return DownstreamSet.create(dataset, clips, list(rset.texts), items, split=split,
                                sources=[Path(rset.source).name], parameters=dict(parameters or {}),
                                merged_duplicates=rset.merged_duplicates, skipped=rset.skipped)


def from_nextqa(questions: list[Question], video_paths: dict[str, str], *, dataset: str = "nextqa",
                split: str = "val", sources: list[str], parameters: dict[str, Any] | None = None) -> DownstreamSet:
    """NExT-QA questions with their videos (`read_video_map`): one clip per video, one item per question."""
    missing = sorted({q.video for q in questions} - set(video_paths))
    if missing:
        raise AnnotationError(f"video {missing[0]} has no path in the video map"
                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    videos = sorted({q.video for q in questions})
    clips = [Clip(clip_id=v, dataset=dataset, split=split, video=video_paths[v], start=None, end=None,
                  source_video=v, text="", raw_text="") for v in videos]
    items = [{"item_id": q.key, "clip_id": q.video, "question": q.question, "choices": list(q.choices),
              "texts": q.texts(), "answer": q.answer, "type": q.type,
              "antonym_texts": None if q.antonym_choices is None
              else [f"{q.question}? {c}" for c in q.antonym_choices]}
             for q in questions]
    return DownstreamSet.create(dataset, clips, [], items, split=split, sources=sources,
                                parameters=dict(parameters or {}))


def build(dataset: str, annotations: str | Path, *, categories: str | Path | None = None,
          video_map: str | Path | None = None, subset: str | Path | None = None, split: str = "val") -> DownstreamSet:
    """A downstream set from a task's original annotation file, read by its reader (`build-downstream`); NExT-QA
    videos come from `video_map` (`map_vid_vidorID.json`)."""
    from actionbench.datasets import downstream as readers
    from actionbench.datasets import nextqa

    annotations = Path(annotations)
    if dataset in ("ssv2_label", "ssv2_template"):
        return from_retrieval(dataset, readers.read_ssv2_retrieval(annotations, dataset), split=split)
    if dataset in ("temporal_ssv2", "temporal_kinetics"):
        return from_retrieval(dataset, readers.read_temporal(annotations, dataset.removeprefix("temporal_")), split=split)
    if dataset == "moments_in_time":
        if categories is None:
            raise AnnotationError("moments_in_time needs --categories moments_categories.txt")
        return from_retrieval(dataset, readers.read_moments_in_time(annotations, categories), split=split)
    if dataset != "nextqa":
        raise AnnotationError(f"unknown downstream dataset {dataset!r} (choose from "
                              f"{', '.join(d for d in DATASETS if d != 'nextqa_atp_hard')})")
    if video_map is None:
        raise AnnotationError("nextqa needs --video-map map_vid_vidorID.json")
    questions = nextqa.read_nextqa(annotations)
    sources = [annotations.name, Path(video_map).name]
    paths = nextqa.read_video_map(video_map)
    if subset is not None:
        by_key = {q.key: q for q in questions}
        ids = nextqa.read_id_list(subset)
        unknown = [k for k in ids if k not in by_key]
        if unknown:
            raise AnnotationError(f"{subset}: id {unknown[0]} is not a question of {annotations}")
        questions, dataset = [by_key[k] for k in ids], "nextqa_atp_hard"
        sources.append(Path(subset).name)
    return from_nextqa(questions, paths, dataset=dataset, split=split, sources=sources, parameters={})
