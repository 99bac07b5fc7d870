"""Mini downstream tasks built from the embedded mini benchmark's SSv2 clips, in the original file formats.

From `<mini>/ssv2/{train,validation}.json` (written by `actionbench mini-data`) this writes, under `out`:
- `ssv2_ret_label_{train,val_small}.json`: one item per clip, its label as the caption (SSv2-label);
- `ssv2_ret_template_{train,val_small}.json`: one item per template with all its clips (SSv2-template);
- `nextqa/map_vid_vidorID.json`: each question video's file (`<id>.webm`, under the mini's `ssv2/videos`);
- `nextqa/{train,val}.csv`: two five-way questions per clip in NExT-QA's columns, both keyed by the clip id:
  - qid 0, type TC ("what happens in the video"): the clip's filled template against its antonym template
    (the same scene played backwards) and three other templates filled with the same objects, so only the
    order of the frames tells the answer;
  - qid 1, type DO ("which object is in the video"): the clip's first object against four objects it does not
    show, answerable from any one frame.
  The mini benchmark has no causal questions, so the C group stays empty.

Videos are the mini clips themselves (`<mini>/ssv2/videos/<id>.webm`; a question's `video` is the clip id).
Choices are ordered by an RNG seeded from the clip id, so the files are the same bytes for the same mini data.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from actionbench.datasets.mini import FPS, FRAME_SIZE, OBJECT_NAMES, SSV2_FRAMES, SSV2_PAIRS, fill_template
from actionbench.datasets.records import AnnotationError, read_json_file
from actionbench.datasets.ssv2 import SLOT
from actionbench.files import atomic_write
from actionbench.ids import seeded_rng

SPLITS = (("train", "train.json", "train"), ("validation", "validation.json", "val_small"))
NEXTQA_HEADER = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type",
                 "a0", "a1", "a2", "a3", "a4")
ANTONYM = {a: b for _, a, b in SSV2_PAIRS} | {b: a for _, a, b in SSV2_PAIRS}
TEMPLATES = tuple(t for _, a, b in SSV2_PAIRS for t in (a, b))
ACTION_QUESTION = "what happens in the video"
OBJECT_QUESTION = "which object is in the video"


def _phrase(template: str, placeholders: list[str]) -> str:
    """A template filled with the clip's objects (reused in turn when it has more slots), in lower case as the
    mini labels are."""
    slots = len(SLOT.findall(template))
    return fill_template(template, [placeholders[i % len(placeholders)] for i in range(slots)]).lower()


def _bare(name: str) -> str:
    words = name.lower().split()
    return " ".join(words[1:] if words and words[0] in ("a", "an", "the") else words)


def _question(rng, video: str, qid: int, qtype: str, question: str, answer: str, wrong: list[str]) -> list[str]:
    choices = [answer, *wrong]
    order = rng.permutation(len(choices))
    shuffled = [choices[i] for i in order]
    return [video, str(SSV2_FRAMES), str(FRAME_SIZE), str(FRAME_SIZE), question,
            str(shuffled.index(answer)), str(qid), qtype, *shuffled]


def _questions(clip: dict, where: str) -> list[list[str]]:
    template, placeholders, video = clip["template"], clip["placeholders"], str(clip["id"])
    if template not in ANTONYM or not placeholders:
        raise AnnotationError(f"{where}: template {template!r} is not a mini benchmark template")
    rng = seeded_rng("mini-downstream", video)
    slots = len(SLOT.findall(template))
    others = [t for t in TEMPLATES if t not in (template, ANTONYM[template])]
    # Prefer templates with as many slots as the clip's (their fill reads naturally), then the rest.
    others.sort(key=lambda t: (len(SLOT.findall(t)) != slots, TEMPLATES.index(t)))
    pool = others[: max(3, sum(len(SLOT.findall(t)) == slots for t in others))]
    picked = [pool[i] for i in sorted(rng.choice(len(pool), size=3, replace=False))]
    truth = _phrase(template, placeholders)
    wrong = [_phrase(ANTONYM[template], placeholders), *(_phrase(t, placeholders) for t in picked)]
    action = _question(rng, video, 0, "TC", ACTION_QUESTION, truth, wrong)
    shown = {_bare(p) for p in placeholders}
    candidates = [o for o in OBJECT_NAMES if o not in shown]
    distractors = [candidates[i] for i in sorted(rng.choice(len(candidates), size=4, replace=False))]
    obj = _question(rng, video, 1, "DO", OBJECT_QUESTION, _bare(placeholders[0]), distractors)
    return [action, obj]


def _dump(obj: object) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def write_mini_downstream(mini_root: str | Path, out: str | Path) -> dict[str, int]:
    """Write the mini downstream files under `out`; returns how many videos / texts / questions each holds."""
    ssv2 = Path(mini_root) / "ssv2"
    out = Path(out)
    (out / "nextqa").mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    video_map: dict[str, str] = {}  # NExT-QA's map_vid_vidorID.json: question video -> file under ssv2/videos
    for split, filename, suffix in SPLITS:
        path = ssv2 / filename
        if not path.is_file():
            raise AnnotationError(f"{path}: no such file (run `actionbench mini-data` first)")
        clips = read_json_file(path)
        if not isinstance(clips, list):
            raise AnnotationError(f"{path}: expected a JSON list of clips")
        labels, by_template = [], {}
        rows: list[list[str]] = []
        for i, clip in enumerate(clips):
            where = f"{path}: item {i}"
            if not isinstance(clip, dict) or not all(k in clip for k in ("id", "label", "template", "placeholders")):
                raise AnnotationError(f"{where}: expected id, label, template and placeholders")
            video = f"{clip['id']}.webm"
            labels.append({"video": video, "caption": clip["label"]})
            by_template.setdefault(clip["template"], []).append(video)
            rows += _questions(clip, where)
        templates = [{"video": videos, "caption": t} for t, videos in sorted(by_template.items())]
        atomic_write(out / f"ssv2_ret_label_{suffix}.json", _dump(labels))
        atomic_write(out / f"ssv2_ret_template_{suffix}.json", _dump(templates))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(NEXTQA_HEADER)
        writer.writerows(rows)
        name = "train" if split == "train" else "val"
        atomic_write(out / "nextqa" / f"{name}.csv", buf.getvalue())
        video_map.update({str(clip["id"]): f"{clip['id']}.webm" for clip in clips})
        counts[f"{name}_videos"] = len(labels)
        counts[f"{name}_templates"] = len(templates)
        counts[f"{name}_questions"] = len(rows)
    atomic_write(out / "nextqa" / "map_vid_vidorID.json", _dump(dict(sorted(video_map.items()))))
    atomic_write(out / "README.txt", "Mini downstream tasks (synthetic), built by `actionbench mini-downstream` "
                 f"from {Path(mini_root).name}/ssv2: SSv2-label / SSv2-template retrieval and a five-way question "
                 f"set (TC: needs the frame order; DO: one frame suffices). Videos: ssv2/videos/, {FPS} fps.\n")
    return counts


# (dataset, split) -> the file `write_mini_downstream` writes for it
MINI_SETS = {
    ("ssv2_label", "train"): "ssv2_ret_label_train.json", ("ssv2_label", "val"): "ssv2_ret_label_val_small.json",
    ("ssv2_template", "train"): "ssv2_ret_template_train.json",
    ("ssv2_template", "val"): "ssv2_ret_template_val_small.json",
    ("nextqa", "train"): "nextqa/train.csv", ("nextqa", "val"): "nextqa/val.csv",
}


def build_mini_downstream_sets(mini_root: str | Path, out: str | Path) -> dict[str, tuple[Path, Path]]:
    """The mini downstream files (under `out/files`) and their downstream sets (under `out/<dataset>-<split>`,
    built once): {"ssv2_label-val" | ... | "nextqa-train": (set folder, videos root)}. The question set's videos
    are the mini clips themselves (`nextqa/map_vid_vidorID.json`)."""
    from actionbench.datasets.downstream_set import build

    out = Path(out)
    videos = Path(mini_root) / "ssv2" / "videos"
    if not all((out / "files" / f).is_file() for f in (*MINI_SETS.values(), "nextqa/map_vid_vidorID.json")):
        write_mini_downstream(mini_root, out / "files")
    sets = {}
    for (dataset, split), name in MINI_SETS.items():
        folder = out / f"{dataset}-{split}"
        if not (folder / "manifest.json").is_file():
            video_map = out / "files" / "nextqa" / "map_vid_vidorID.json" if dataset == "nextqa" else None
            build(dataset, out / "files" / name, split=split, video_map=video_map).save(folder)
        sets[f"{dataset}-{split}"] = (folder, videos)
    return sets
