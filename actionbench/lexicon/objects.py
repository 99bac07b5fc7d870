"""The typed object vocabulary that Object Replacement draws from, and which slot types it may fill.

The vocabulary is data (`lexicon/data/objects.tsv`): one noun a line with a type and the datasets it serves.
A slot accepts some types (SSv2 `[something soft]` takes soft things and food, `[some substance]` mass nouns,
Ego4D `noun` anything); `[number of]`, `[part]` and `[somewhere]` are never replaced. `build_vocabulary`
rebuilds a vocabulary from annotations (`actionbench lexicon build-objects`); the shipped file is frozen.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from lemminflect import getInflection, getLemma

from actionbench.errors import InputError
from actionbench.lexicon import DATA_DIR

VOCABULARY_FILE = DATA_DIR / "objects.tsv"
HEADER = ("noun", "type", "datasets")

# Order matters only for tie-breaking when build_vocabulary votes on a noun's type.
TYPES = ("object", "tool", "container", "soft", "food", "substance", "fixture")
DATASETS = ("ssv2", "ego4d", "mini")
_BOTH = ("ego4d", "ssv2")

_HANDHELD = ("object", "tool", "container", "soft", "food")
# Slot name (lower-cased, without brackets) -> the types that fit it. `noun` is the Ego4D object slot.
SLOT_TYPES: dict[str, tuple[str, ...]] = {
    "something": (*_HANDHELD, "substance"),
    "something in it": (*_HANDHELD, "substance"),
    "something soft": ("soft", "food"),
    "some substance": ("substance", "food"),
    "something unbendable": ("object", "tool", "container"),
    "something that is not tearable": ("object", "tool", "container", "food"),
    "something else that cannot support it": _HANDHELD,
    "one of many similar things on the table": _HANDHELD,
    "something similar to other things that are already on the table": _HANDHELD,
    "something that cannot actually stand upright": ("object", "tool", "soft", "food"),
    "noun": TYPES,
}
NEVER_REPLACEABLE = frozenset({"number of", "part", "somewhere"})

# Nouns that are plural in form but name one thing; they cannot follow "a" and are not re-pluralised.
PLURAL_ONLY = frozenset(
    {
        "scissors",
        "pliers",
        "tongs",
        "shears",
        "secateurs",
        "jeans",
        "trousers",
        "shorts",
        "pyjamas",
        "glasses",
        "sunglasses",
        "tweezers",
        "binoculars",
        "clothes",
        "lentils",
        "oats",
        "noodles",
    }
)


class VocabularyError(InputError):
    """A malformed object-vocabulary file or annotation; the message names the file and line."""


@dataclass(frozen=True)
class ObjectEntry:
    """One noun of the vocabulary: `datasets` is a sorted tuple of dataset names (ssv2, ego4d, mini)."""

    noun: str
    type: str
    datasets: tuple[str, ...]


def slot_key(slot: str) -> str:
    """`[Something]`, `Something` and `something` name one slot type."""
    return " ".join(slot.strip().strip("[]").lower().split())


@lru_cache(maxsize=65536)
@lru_cache(maxsize=1 << 16)
def singular(word: str) -> str:
    """The singular of one lower-case noun ("knives" -> "knife"); unknown or mass nouns stay as they are."""
    word = word.lower()
    if word in PLURAL_ONLY or not word.endswith("s"):
        return word
    lemmas = getLemma(word, upos="NOUN")
    return lemmas[0] if lemmas else word


@lru_cache(maxsize=65536)
@lru_cache(maxsize=1 << 16)
def head_noun(phrase: str) -> str:
    """The last word of a noun phrase, singular and lower case ("plastic jar's cap" -> "cap")."""
    words = re.findall(r"[a-z0-9]+(?:['’\-][a-z0-9]+)*", phrase.lower())
    if not words:
        return ""
    last = re.sub(r"['’]s$", "", words[-1])
    return singular(last)


@lru_cache(maxsize=1 << 16)
def is_plural(phrase: str) -> bool:
    """Whether a noun phrase is plural by its last word ("toy blocks", "plates", "scissors")."""
    words = phrase.lower().split()
    if not words:
        return False
    last = words[-1]
    return last in PLURAL_ONLY or singular(last) != last


def pluralize(noun: str) -> str:
    """The plural of a vocabulary noun (its last word inflected); plural-only and mass-like forms stay."""
    *rest, last = noun.split(" ")
    if last in PLURAL_ONLY or is_plural(last):
        return noun
    forms = getInflection(last, tag="NNS")
    return " ".join([*rest, forms[0] if forms else last + "s"])


class ObjectVocabulary:
    """The frozen noun list with its types; answers which nouns may fill a slot of a dataset."""

    def __init__(self, entries: Iterable[ObjectEntry], source: str = "<memory>"):
        self.entries: tuple[ObjectEntry, ...] = tuple(sorted(entries, key=lambda e: e.noun))
        self.source = source
        self._by_noun = {e.noun: e for e in self.entries}
        self._by_head: dict[str, ObjectEntry] = {}
        self._pools: dict[tuple[tuple[str, ...], str], list[str]] = {}
        for e in self.entries:
            self._by_head.setdefault(head_noun(e.noun), e)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, noun: str) -> bool:
        return noun.lower() in self._by_noun

    def type_of(self, phrase: str) -> str | None:
        """The vocabulary type of a noun phrase (whole phrase first, then its head noun), or None."""
        entry = self._by_noun.get(phrase)  # the common case: a candidate noun, exactly as stored
        if entry is not None:
            return entry.type
        low = " ".join(phrase.lower().split())
        entry = (
            self._by_noun.get(low) or self._by_noun.get(singular(low)) or self._by_head.get(head_noun(low))
        )
        return entry.type if entry else None

    def is_replaceable(self, slot: str) -> bool:
        """Whether object replacement may rewrite a slot of this type."""
        return slot_key(slot) in SLOT_TYPES

    def slot_types(self, slot: str) -> tuple[str, ...]:
        key = slot_key(slot)
        if key not in SLOT_TYPES:
            raise VocabularyError(f"slot [{slot}] is not replaceable")
        return SLOT_TYPES[key]

    def candidates(
        self, slot: str, dataset: str, *, like: str | None = None, like_type: str | None = None
    ) -> list[str]:
        """Nouns (sorted) whose type fits `slot` and that serve `dataset`.

        With `like` (the original words), the candidates keep the original's type when the vocabulary knows it
        and it fits the slot, so water is swapped for another substance and a cup for another container.
        """
        if dataset not in self.datasets():
            raise VocabularyError(f"{self.source}: no object vocabulary for dataset {dataset!r}")
        types = self.slot_types(slot)
        original = like_type if like_type is not None else (self.type_of(like) if like is not None else None)
        if original in types:
            types = (original,)
        key = (types, dataset)
        if key not in self._pools:
            self._pools[key] = [e.noun for e in self.entries if e.type in types and dataset in e.datasets]
        return list(self._pools[key])

    def datasets(self) -> set[str]:
        if "_datasets" not in self.__dict__:  # asked once per candidate look-up: compute once
            self.__dict__["_datasets"] = {d for e in self.entries for d in e.datasets} | set(_BOTH)
        return self.__dict__["_datasets"]

    def counts_by_type(self) -> dict[str, int]:
        counts = Counter(e.type for e in self.entries)
        return {t: counts[t] for t in TYPES}


def _parse_datasets(value: str) -> tuple[str, ...]:
    names: set[str] = set()
    for part in value.split(","):
        part = part.strip()
        if part == "both":
            names.update(_BOTH)
        elif part in DATASETS:
            names.add(part)
        else:
            raise ValueError(
                f"unknown dataset {part!r} (expected ssv2, ego4d, both or mini, comma-separated)"
            )
    return tuple(sorted(names))


def _format_datasets(datasets: Iterable[str]) -> str:
    names = set(datasets)
    parts = ["both"] if set(_BOTH) <= names else sorted(names & set(_BOTH))
    parts += sorted(names - set(_BOTH))
    return ",".join(parts)


def read_vocabulary(path: Path) -> list[ObjectEntry]:
    """Read and validate an objects.tsv; any bad line raises VocabularyError naming `path:line`."""
    entries: list[ObjectEntry] = []
    first_line: dict[str, int] = {}
    header_seen = False
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise VocabularyError(f"{path}: cannot read object vocabulary ({e.strerror})") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split("\t")
        if not header_seen:
            if tuple(c.strip() for c in cols) != HEADER:
                raise VocabularyError(
                    f"{path}:{lineno}: expected the header {chr(9).join(HEADER)!r}, got {line!r}"
                )
            header_seen = True
            continue
        if len(cols) != len(HEADER):
            raise VocabularyError(
                f"{path}:{lineno}: expected 3 tab-separated columns (noun, type, datasets), got {len(cols)}"
            )
        noun, type_, datasets = (c.strip() for c in cols)
        if not noun or noun != " ".join(noun.split()) or noun != noun.lower():
            raise VocabularyError(
                f"{path}:{lineno}: noun {noun!r} must be lower case words separated by single spaces"
            )
        if type_ not in TYPES:
            raise VocabularyError(
                f"{path}:{lineno}: unknown type {type_!r} (expected one of {', '.join(TYPES)})"
            )
        if noun in first_line:
            raise VocabularyError(
                f"{path}:{lineno}: duplicate noun {noun!r} (first on line {first_line[noun]})"
            )
        try:
            names = _parse_datasets(datasets)
        except ValueError as e:
            raise VocabularyError(f"{path}:{lineno}: {e}") from None
        first_line[noun] = lineno
        entries.append(ObjectEntry(noun, type_, names))
    if not header_seen:
        raise VocabularyError(f"{path}: empty object vocabulary (no header line)")
    return entries


def load_object_vocabulary(path: str | Path | None = None) -> ObjectVocabulary:
    """The shipped vocabulary, or the one at `path`."""
    if path is None:
        return _load_shipped()
    path = Path(path)
    return ObjectVocabulary(read_vocabulary(path), source=str(path))


@cache
def _load_shipped() -> ObjectVocabulary:
    return ObjectVocabulary(read_vocabulary(VOCABULARY_FILE), source=str(VOCABULARY_FILE))


def write_vocabulary(entries: Iterable[ObjectEntry], path: str | Path, *, comment: str = "") -> Path:
    """Write entries as an objects.tsv (sorted by noun) that `load_object_vocabulary` reads back."""
    path = Path(path)
    lines = ["# ActionBench object vocabulary (see actionbench/lexicon/objects.py for the types and slots)."]
    lines += [f"# {c}" if c else "#" for c in comment.splitlines()]
    lines.append("\t".join(HEADER))
    for e in sorted(entries, key=lambda e: e.noun):
        if e.type not in TYPES:
            raise VocabularyError(f"{path}: entry {e.noun!r} has unknown type {e.type!r}")
        lines.append(f"{e.noun}\t{e.type}\t{_format_datasets(e.datasets)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


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
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise VocabularyError(f"{path}: not a readable SSv2 annotation file ({e})") from None
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
    from actionbench.datasets.ego4d import clean_text, parse_narration
    from actionbench.files import read_jsonl

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
