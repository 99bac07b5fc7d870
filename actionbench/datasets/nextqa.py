"""NExT-QA multiple-choice questions (the paper's Table 2, REFERENCE.md §5.1) and the ATP-hard id list.

`val.csv` / `train.csv` / `test.csv` (doc-doc/NExT-QA): columns
`video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4`, optionally `action_antonym_choices`
(Paxion's `nextqa_action_antonym` CSVs: a Python list literal, read with `ast.literal_eval`, never `eval`).
A question is keyed `<video>_<qid>`, as in the official prediction files. The model sees the five texts
`question + "? " + choice`. Types: CW, CH (causal), TN, TC, TP (temporal), DC, DL, DO (descriptive).

The ATP-hard subset (Buch et al., CVPR 2022) is not in NExT-QA or Paxion: the user gives its id list, one
`<video>_<qid>` per line (blank lines and `#` comments ignored), or a CSV with `video` and `qid` columns.
"""

from __future__ import annotations

import ast
import csv
from dataclasses import dataclass
from pathlib import Path

from actionbench.datasets.records import AnnotationError, read_json_file, read_text

NUM_CHOICES = 5
CHOICE_COLUMNS = tuple(f"a{i}" for i in range(NUM_CHOICES))
REQUIRED_COLUMNS = ("video", "question", "answer", "qid", "type", *CHOICE_COLUMNS)
# The official evaluation's grouping of the eight question types.
TYPE_GROUPS = {"CW": "C", "CH": "C", "TN": "T", "TC": "T", "TP": "T", "DC": "D", "DL": "D", "DO": "D"}
GROUP_NAMES = {"C": "causal", "T": "temporal", "D": "descriptive"}


@dataclass(frozen=True)
class Question:
    """One five-way NExT-QA question."""

    video: str
    qid: str
    question: str
    choices: tuple[str, ...]
    answer: int
    type: str  # CW, CH, TN, TC, TP, DC, DL or DO
    antonym_choices: tuple[str, ...] | None = None  # Paxion's VAC candidates, when the CSV has them

    @property
    def key(self) -> str:
        """`<video>_<qid>`, the official prediction files' key."""
        return f"{self.video}_{self.qid}"

    @property
    def group(self) -> str:
        """C (causal), T (temporal) or D (descriptive)."""
        return TYPE_GROUPS[self.type]

    def texts(self) -> list[str]:
        """The five candidate texts, `question? choice`, as the original concatenates them."""
        return [f"{self.question}? {c}" for c in self.choices]


def _open_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    reader = csv.reader(read_text(path).splitlines())
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise AnnotationError(f"{path}: empty file") from None
    except csv.Error as e:
        raise AnnotationError(f"{path}:1: malformed CSV ({e})") from None
    rows = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as e:
        raise AnnotationError(f"{path}:{reader.line_num}: malformed CSV ({e})") from None
    return header, rows


def _antonyms(value: str, where: str) -> tuple[str, ...]:
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        raise AnnotationError(f"{where}: field 'action_antonym_choices': expected a list of strings") from None
    if not isinstance(parsed, (list, tuple)) or not all(isinstance(c, str) for c in parsed):
        raise AnnotationError(f"{where}: field 'action_antonym_choices': expected a list of strings")
    return tuple(parsed)


def read_nextqa(path: str | Path) -> list[Question]:
    """Every question of a NExT-QA multiple-choice CSV, in file order; keys must be unique."""
    path = Path(path)
    header, rows = _open_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise AnnotationError(f"{path}:1: missing column(s) {', '.join(missing)}")
    col = {name: i for i, name in enumerate(header)}
    has_antonyms = "action_antonym_choices" in col
    questions: list[Question] = []
    seen: dict[str, int] = {}
    for lineno, row in rows:
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}:{lineno}"
        if len(row) != len(header):
            raise AnnotationError(f"{where}: {len(row)} fields, the header has {len(header)}")
        get = {name: row[i].strip() for name, i in col.items()}
        for name in ("video", "qid", "question"):
            if not get[name]:
                raise AnnotationError(f"{where}: field {name!r}: empty")
        try:
            answer = int(get["answer"])
        except ValueError:
            raise AnnotationError(f"{where}: field 'answer': expected 0-4, got {get['answer']!r}") from None
        if not 0 <= answer < NUM_CHOICES:
            raise AnnotationError(f"{where}: field 'answer': expected 0-4, got {answer}")
        qtype = get["type"]
        if qtype not in TYPE_GROUPS:
            raise AnnotationError(f"{where}: field 'type': expected one of {', '.join(TYPE_GROUPS)}, got {qtype!r}")
        choices = tuple(get[c] for c in CHOICE_COLUMNS)
        antonyms = _antonyms(get["action_antonym_choices"], where) if has_antonyms else None
        q = Question(get["video"], get["qid"], get["question"], choices, answer, qtype, antonyms)
        if q.key in seen:
            raise AnnotationError(f"{where}: question {q.key} also on line {seen[q.key]}")
        seen[q.key] = lineno
        questions.append(q)
    if not questions:
        raise AnnotationError(f"{path}: no questions")
    return questions


def read_id_list(path: str | Path) -> list[str]:
    """An ATP-hard (or any) subset as `<video>_<qid>` keys, in file order, without repeats."""
    path = Path(path)
    lines = read_text(path).splitlines()
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), None)
    if first is None:
        raise AnnotationError(f"{path}: no ids")
    keys: list[str] = []
    if "," in first:  # a CSV with video and qid columns
        header, rows = _open_csv(path)
        if "video" not in header or "qid" not in header:
            raise AnnotationError(f"{path}:1: a CSV id list needs 'video' and 'qid' columns")
        iv, iq = header.index("video"), header.index("qid")
        for lineno, row in rows:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) <= max(iv, iq) or not row[iv].strip() or not row[iq].strip():
                raise AnnotationError(f"{path}:{lineno}: expected a video and a qid")
            keys.append(f"{row[iv].strip()}_{row[iq].strip()}")
    else:
        for lineno, line in enumerate(lines, 1):
            key = line.split("#", 1)[0].strip()
            if not key:
                continue
            video, sep, qid = key.rpartition("_")
            if not sep or not video or not qid or " " in key:
                raise AnnotationError(f"{path}:{lineno}: expected <video>_<qid>, got {key!r}")
            keys.append(key)
    return list(dict.fromkeys(keys))


def read_predictions(path: str | Path) -> dict[str, tuple[int, int | None]]:
    """An official NExT-QA prediction file, `{"<video>_<qid>": {"prediction": i, "answer": j}}`, as
    key -> (prediction, answer or None); a bare `{"<key>": i}` map is accepted too."""
    path = Path(path)
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise AnnotationError(f'{path}: expected {{"<video>_<qid>": {{"prediction": i, "answer": j}}, ...}}')
    out: dict[str, tuple[int, int | None]] = {}

    def index(value: object, key: str, name: str) -> int:
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())  # some published files write indices as strings
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < NUM_CHOICES:
            raise AnnotationError(f"{path}: {key}: field {name!r}: expected a choice index 0-4, got {value!r}")
        return value

    for key, value in data.items():
        if isinstance(value, dict):
            if "prediction" not in value:
                raise AnnotationError(f"{path}: {key}: field 'prediction': missing")
            answer = index(value["answer"], key, "answer") if value.get("answer") is not None else None
            out[key] = (index(value["prediction"], key, "prediction"), answer)
        else:
            out[key] = (index(value, key, "prediction"), None)
    if not out:
        raise AnnotationError(f"{path}: no predictions")
    return out


VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".avi")


def read_video_map(path: str | Path) -> dict[str, str]:
    """NExT-QA's `map_vid_vidorID.json` (`{"<video>": "<dir>/<vidor id>"}`) as video -> file path relative to
    the videos root (`<dir>/<vidor id>.mp4`; a target that already names a video file, `.mp4`, `.webm`, `.mkv` or
    `.avi`, is kept as it is); a path that leaves the root is refused."""
    path = Path(path)
    data = read_json_file(path)
    if not isinstance(data, dict):
        raise AnnotationError(f'{path}: expected {{"<video>": "<dir>/<vidor id>", ...}}')
    out = {}
    for video, target in data.items():
        if not isinstance(target, str) or not target.strip():
            raise AnnotationError(f"{path}: {video}: expected a '<dir>/<vidor id>' string, got {target!r}")
        parts = Path(target.strip()).parts
        if Path(target).is_absolute() or ".." in parts:
            raise AnnotationError(f"{path}: {video}: {target!r} is not a path inside the videos folder")
        target = target.strip()
        out[str(video)] = target if target.lower().endswith(VIDEO_SUFFIXES) else f"{target}.mp4"
    return out
