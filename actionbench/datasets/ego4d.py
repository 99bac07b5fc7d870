"""Ego4D narrations: text cleaning, finding the main verb and its object, and the annotation readers.

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
from functools import lru_cache
from pathlib import Path
from typing import Any

from actionbench.datasets.records import SPLITS, AnnotationError, ReadResult, ego4d_split
from actionbench.files import describe, loads, read_json, read_jsonl, read_text
from actionbench.lexicon.ego4d import verb_lemma
from actionbench.probes.schema import Clip, ObjectSlot
from actionbench.probes.text import Token, tokenize

DATASET = "ego4d"
MAX_WORDS = 50

# ---------------------------------------------------------------------------------------------------------
# Cleaning (REFERENCE §2.2, `vl_dynamic_ego4d_text`)
# ---------------------------------------------------------------------------------------------------------

_PUNCT = re.compile(r'[.!"()*#:;~]')
_UNSURE_END = re.compile(r"\. #unsure")
_UNSURE_THING = re.compile(r"\b(?:the|a) #unsure")
_DOUBLED_TAG = re.compile(r"#([a-z])\1 ")
_TAG = re.compile(r"# ?[a-z] ")


@lru_cache(maxsize=1 << 16)  # narrations repeat ("#C C picks up the knife"); a dataset holds millions
def clean_text(raw: str, max_words: int = MAX_WORDS) -> str:
    """The model-facing narration: "#C C picks up the knife." -> "c picks up the knife".

    The rules of ActionBench's `vl_dynamic_ego4d_text` processor, in its order: lower-case; a trailing
    ". #unsure" is dropped; "the/a #unsure" -> "something", any other "#unsure" -> "something"; "#c "
    and "# c " style speaker tags are removed; `.!"()*#:;~` become spaces; spaces collapse; at most
    `max_words` words. One addition: a glued doubled tag ("#CC picks") reads as its letter ("c picks"), as
    "#C C" does, instead of the original's "cc picks". `\\b` guards keep "pizza #unsure" intact.
    """
    t = raw.lower()
    t = _UNSURE_END.sub("", t)
    t = _UNSURE_THING.sub("something", t)
    t = t.replace(" #unsure", " something")
    t = _DOUBLED_TAG.sub(r"\1 ", t)
    t = _TAG.sub("", t)
    t = _PUNCT.sub(" ", t)
    return " ".join(t.split()[:max_words])


# ---------------------------------------------------------------------------------------------------------
# Parsing: actor, main verb (+ particle), direct object
# ---------------------------------------------------------------------------------------------------------

ARTICLES = frozenset({"the", "a", "an"})
PERSON_NOUNS = frozenset(
    "man woman lady person boy girl child kid guy gentleman baby men women people someone somebody "
    "friend player worker customer cashier teacher student".split()
)
# Words that may stand between the actor and the verb ("c still holds", "c slowly lifts").
ADVERBS = frozenset(
    "still then again also just now slowly quickly gently carefully firmly continuously repeatedly "
    "further partially completely briefly lightly tightly immediately finally first".split()
)
# Words that end a noun phrase without being prepositions ("pushes the container forward").
DIRECTIONS = frozenset(
    "forward forwards backward backwards closer aside apart together here there again upward upwards "
    "downward downwards sideways properly well".split()
)
DETERMINERS = frozenset(
    "the a an some his her their its my your our this that these those another other each every both all "
    "any few several many more one two three four five six seven eight nine ten".split()
)
PREPOSITIONS = frozenset(
    "on in into onto from with to at of off by for under over near inside beside besides behind across "
    "along through towards toward around between against above below out up down back away using without "
    "within upon about beneath underneath outside next throughout via".split()
)
CONJUNCTIONS = frozenset("and or but then while as so before after until because if nor".split())
PRONOUNS = frozenset("it them him her me us you itself themselves himself herself something anything".split())
# Not verbs even where a dictionary allows it (the word after the actor is then not a verb).
NOT_VERBS = DETERMINERS | PREPOSITIONS | CONJUNCTIONS | PRONOUNS | ARTICLES | {"is", "are", "was", "were"}

# A particle that directly follows its verb. These are almost never prepositions right after a verb.
PARTICLES_ALWAYS = frozenset("up down out off back away aside apart together".split())
# These are prepositions after most verbs ("walks on the floor", "puts in the tray"); only these verbs
# take them as particles.
PARTICLES_FOR = {
    "on": frozenset("turn switch put try log power plug".split()),
    "in": frozenset("plug put log fill hand breathe tuck pour".split()),
    "over": frozenset("turn flip roll tip knock hand pass take".split()),
    "around": frozenset("turn spin".split()),
}
# A particle after the object ("turns the tap on", "puts the cup down on the table").
PARTICLES_SEPARATED = frozenset("up down out off on back away aside over in together apart".split())


@dataclass(frozen=True)
class Narration:
    """A cleaned narration split into actor, main verb (with particle) and direct object."""

    text: str
    actor: str  # "c", "the man x", ... ; "" when the narration starts with its verb
    verb: str  # the verb as written ("picks")
    verb_start: int
    verb_end: int
    lemma: str  # "pick"
    particle: str | None = None  # "up" in "picks up" and in "picks the cup up"
    particle_start: int | None = None
    particle_end: int | None = None
    object: ObjectSlot | None = None

    @property
    def action(self) -> str:
        """The verb lemma with its particle: "pick up"."""
        return f"{self.lemma} {self.particle}" if self.particle else self.lemma

    @property
    def particle_separated(self) -> bool:
        """Whether words stand between the verb and its particle ("turns the tap on")."""
        return self.particle_start is not None and bool(
            self.text[self.verb_end : self.particle_start].strip()
        )


def _is_label(word: str) -> bool:
    """A speaker label: one letter ("c", "x") or a glued doubled one ("cc")."""
    return word.isalpha() and (len(word) == 1 or (len(word) == 2 and word[0] == word[1]))


def _person_noun(word: str) -> bool:
    # "#Oman X" cleans to "oman x": the #O tag glued to its noun.
    return word in PERSON_NOUNS or (word.startswith("o") and word[1:] in PERSON_NOUNS)


def _actor_end(words: list[str]) -> int:
    """How many leading words name the actor ("c", "c c", "the man x", "person a", "oman x")."""
    i = 0
    n = len(words)
    if n > 1 and words[0] in ARTICLES and _person_noun(words[1]):
        i = 1
    if i < n and _person_noun(words[i]):
        i += 1
        if i + 1 < n and _is_label(words[i]):
            i += 1
        return i
    if n > 1 and _is_label(words[0]):
        i = 1
        while i + 1 < n and words[i] == words[0]:  # "c c mixes" (an untagged "C C")
            i += 1
    return i


@lru_cache(maxsize=1 << 16)  # the reader and the Action Antonym edit both parse each narration
def parse_narration(text: str) -> Narration | None:
    """Find the actor, the main verb after it (with a particle when phrasal) and its direct object.

    `text` is a cleaned narration (see `clean_text`); offsets index into it. Returns None when no verb
    follows the actor ("c something", "c c").
    """
    toks = tokenize(text)
    words = [t.lower for t in toks]
    i = _actor_end(words)
    actor = text[toks[0].start : toks[i - 1].end] if i else ""
    while i < len(toks) and (words[i] in ADVERBS or not words[i][0].isalnum()):
        i += 1
    if i >= len(toks):
        return None
    lemma = verb_lemma(words[i]) if words[i] not in NOT_VERBS else None
    if lemma is None:
        return None
    verb = toks[i]
    j = i + 1
    particle: Token | None = None
    if j < len(toks) and _adjacent_particle(lemma, words[j], words[j + 1] if j + 1 < len(toks) else None):
        particle = toks[j]
        j += 1
    obj, k = _object_after(text, toks, words, j)
    if particle is None and k > j and k < len(toks) and words[k] in PARTICLES_SEPARATED:
        after = words[k + 1] if k + 1 < len(toks) else None
        if (
            after is None
            or (after != "of" and (after in PREPOSITIONS or after in CONJUNCTIONS))
            or not after[0].isalnum()
        ):
            particle = toks[k]
    return Narration(
        text=text,
        actor=actor,
        verb=verb.text,
        verb_start=verb.start,
        verb_end=verb.end,
        lemma=lemma,
        particle=particle.lower if particle else None,
        particle_start=particle.start if particle else None,
        particle_end=particle.end if particle else None,
        object=obj,
    )


def _adjacent_particle(lemma: str, word: str, after: str | None) -> bool:
    """Whether `word`, right after the verb, is its particle ("picks up", "turns on"; not "walks on the floor")."""
    if after == "of":  # "out of", "off of" are prepositions: "takes a bowl out of the bag"
        return False
    if word in PARTICLES_ALWAYS:
        return True
    if word not in PARTICLES_FOR:
        return False
    # "walks in" at the end is a particle; "walks in the house" is a preposition.
    return lemma in PARTICLES_FOR[word] or after is None or not after[0].isalnum()


def _object_after(text: str, toks: list[Token], words: list[str], j: int) -> tuple[ObjectSlot | None, int]:
    """The direct object starting at token j: determiners outside the span, nouns inside.

    Returns the slot (or None) and the index of the first token after the noun phrase.
    """
    d = j
    while d < len(toks) and words[d] in DETERMINERS:
        d += 1
    if d == j and d < len(toks) and words[d] in PRONOUNS:  # "puts it aside", "picks something"
        return None, d + 1
    k = d
    while k < len(toks) and _noun_word(words[k]):
        k += 1
    if k == d:
        return None, j
    determiner = text[toks[j].start : toks[d - 1].end] if d > j else ""
    slot = ObjectSlot(
        slot="noun",
        text=text[toks[d].start : toks[k - 1].end],
        start=toks[d].start,
        end=toks[k - 1].end,
        determiner=determiner,
        ref=0,
    )
    return slot, k


def _noun_word(word: str) -> bool:
    return (
        word[0].isalnum()
        and word not in PREPOSITIONS
        and word not in CONJUNCTIONS
        and word not in ADVERBS
        and word not in DIRECTIONS
        and word not in ARTICLES
        and word not in PRONOUNS
    )


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
