"""Build an object vocabulary from a dataset's annotations: head nouns counted, typed by the slots they fill.

`actionbench lexicon build-objects` writes the result as an objects.tsv that `actionbench.lexicon.objects` loads.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from actionbench.files import read_json, read_jsonl
from actionbench.lexicon.objects import SLOT_TYPES, TYPES, ObjectEntry, VocabularyError, head_noun, slot_key
from actionbench.probes.narration import clean_text, parse_narration

# --- building a vocabulary from annotations -------------------------------------------------------------

_DETERMINERS = frozenset(
    "a an the this that these those some any another other each every his her its their my your our "
    "one two three four five six seven eight nine ten few several many more".split()
)
# Words that head a phrase but name a quantity, not the object ("a piece of paper" is paper).
_QUANTITY = frozenset(
    "piece pieces bit bits slice slices bunch pair handful packet pack stack pile set roll sheet sheets "
    "lot lots number numbers kind sort cup cups glass bottle".split()
)
# Heads that are not objects one could swap in: people, body parts, places, positions.
_NOT_OBJECTS = frozenset(
    "c x y man woman person lady boy girl child baby people hand hands finger fingers arm leg foot feet head "
    "face body left right side top bottom front back end edge middle corner part way time place area "
    "floor ground surface something thing things it item items object objects stuff".split()
)
# Adverbs a narration parser may leave at the end of an object phrase ("pushes the container forward").
_TRAILING_ADVERBS = frozenset(
    "forward forwards backward backwards around aside together again away apart".split()
)
_CONTAINER_BEFORE = re.compile(r"\b(?:into|in|inside|out of)\s*$", re.IGNORECASE)
_PREPOSITIONS = frozenset(
    "with from on onto in into inside at to of off out over under behind beside by near for using and or "
    "then while as up down away back".split()
)


def _phrase_head(phrase: str) -> str | None:
    """The object a placeholder names: determiners and quantities dropped, last word singularised."""
    text = re.sub(r"\([^)]*\)", " ", phrase.lower())
    words = re.findall(r"[a-z]+(?:['’\-][a-z]+)*", text)
    while words and (words[0] in _DETERMINERS):
        words = words[1:]
    if "of" in words:
        i = words.index("of")
        if i > 0 and words[i - 1] in _QUANTITY:
            words = words[i + 1 :]
            while words and words[0] in _DETERMINERS:
                words = words[1:]
    while words and words[-1] in _TRAILING_ADVERBS:
        words = words[:-1]
    if not words:
        return None
    head = head_noun(words[-1])
    if len(head) < 3 or head in _NOT_OBJECTS or head in _DETERMINERS or head in _PREPOSITIONS:
        return None
    return head


def _ssv2_type(slot: str, template_before: str, template_after: str) -> str | None:
    """The type a slot says its filler has, or None for a slot that says nothing (plain `[something]`)."""
    key = slot_key(slot)
    if key == "some substance":
        return "substance"
    if key == "something soft":
        return "soft"
    if _CONTAINER_BEFORE.search(template_before) or template_after.startswith(" with [something in it]"):
        return "container"
    return None


def _ssv2_mentions(path: Path, skipped: Counter[str]) -> Iterable[tuple[str, str | None]]:
    """(head noun, type or None) for every replaceable placeholder of an SSv2 annotation file."""
    records = read_json(path, VocabularyError)
    if not isinstance(records, list):
        raise VocabularyError(f"{path}: expected a JSON list of {{id, label, template, placeholders}}")
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or "template" not in rec:
            raise VocabularyError(f"{path}: record {i} has no 'template'")
        template = rec["template"]
        placeholders = rec.get("placeholders") or []
        slots = list(re.finditer(r"\[([^\]]+)\]", template))
        if not slots:
            skipped["template without bracketed slots"] += 1
            continue
        if len(slots) != len(placeholders):
            skipped["placeholders do not match the template's slots"] += 1
            continue
        for m, placeholder in zip(slots, placeholders, strict=True):
            if slot_key(m.group(1)) not in SLOT_TYPES:
                continue
            head = _phrase_head(placeholder)
            if head is None:
                skipped["placeholder names no object"] += 1
                continue
            yield head, _ssv2_type(m.group(1), template[: m.start()], template[m.end() :])


def _egoclip_mentions(path: Path, skipped: Counter[str]) -> Iterable[tuple[str, str | None]]:
    """(head noun, None) for the direct object of every narration of an EgoClip jsonl (field clip_text)."""
    if not path.is_file():
        raise VocabularyError(f"{path}: cannot read EgoClip file (not found)")
    for lineno, rec in read_jsonl(path, VocabularyError):
        text = rec.get("clip_text") if isinstance(rec, dict) else None
        if not isinstance(text, str):
            raise VocabularyError(f"{path}:{lineno}: no 'clip_text'")
        parsed = parse_narration(clean_text(text))
        if parsed is None or parsed.object is None:
            skipped["narration names no object"] += 1
            continue
        head = _phrase_head(parsed.object.text)
        if head is None:
            skipped["narration names no object"] += 1
            continue
        # A direct object is a thing acted on; nothing in the narration says container or substance.
        yield head, None


def build_vocabulary(
    ssv2_files: list[Path],
    egoclip_files: list[Path],
    min_count: int,
    *,
    skipped: Counter[str] | None = None,
) -> list[ObjectEntry]:
    """Head nouns named at least `min_count` times in a dataset's annotations, typed by the slots they fill.

    Some slots say what fills them (SSv2 `[some substance]` -> substance, `[something soft]` -> soft, a slot
    after "into"/"in"/"out of" or before "with [something in it]" -> container); plain `[something]` and
    Ego4D objects say nothing. A noun takes the type most such mentions give when they are at least a quarter
    of all its mentions (ties go to the earlier type in TYPES), else `object`. Records that name no object
    are counted in `skipped` by reason.
    """
    if min_count < 1:
        raise VocabularyError(f"min_count must be at least 1, got {min_count}")
    skipped = Counter() if skipped is None else skipped
    counts: dict[str, Counter[str]] = defaultdict(Counter)  # dataset -> noun -> mentions
    votes: dict[str, Counter[str]] = defaultdict(Counter)  # noun -> typed mentions by type
    total: Counter[str] = Counter()  # noun -> all mentions
    for dataset, files, mentions in (
        ("ssv2", ssv2_files, _ssv2_mentions),
        ("ego4d", egoclip_files, _egoclip_mentions),
    ):
        for path in files:
            for head, type_ in mentions(Path(path), skipped):
                counts[dataset][head] += 1
                total[head] += 1
                if type_ is not None:
                    votes[head][type_] += 1
    entries = []
    for noun in sorted(total):
        datasets = tuple(sorted(d for d in counts if counts[d][noun] >= min_count))
        if not datasets:
            continue
        type_ = "object"
        if votes[noun]:
            best, n = min(votes[noun].items(), key=lambda kv: (-kv[1], TYPES.index(kv[0])))
            if 4 * n >= total[noun]:
                type_ = best
        entries.append(ObjectEntry(noun, type_, datasets))
    return entries
