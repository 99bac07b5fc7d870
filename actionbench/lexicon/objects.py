"""The typed object vocabulary that Object Replacement draws from, and which slot types it may fill.

The vocabulary is data (`lexicon/data/objects.tsv`): one noun a line with a type and the datasets it serves.
A slot accepts some types (SSv2 `[something soft]` takes soft things and food, `[some substance]` mass nouns,
Ego4D `noun` anything); `[number of]`, `[part]` and `[somewhere]` are never replaced. `build_vocabulary`
rebuilds a vocabulary from annotations (`actionbench lexicon build-objects`); the shipped file is frozen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from lemminflect import getInflection

from actionbench.errors import InputError
from actionbench.lexicon import DATA_DIR
from actionbench.lexicon.nouns import PLURAL_ONLY, head_noun, singular

VOCABULARY_FILE = DATA_DIR / "objects.tsv"
HEADER = ("noun", "type", "datasets")

# Order matters only for tie-breaking when build_vocabulary votes on a noun's type.
TYPES = ("object", "tool", "container", "soft", "food", "substance", "fixture")
# "mini" serves both halves of the embedded mini benchmark; "mini-ssv2" / "mini-ego4d" only one (its lamps and
# balloons are Ego4D-mini things: an SSv2-mini foil naming one would be rejected by any language prior)
DATASETS = ("ssv2", "ego4d", "mini", "mini-ssv2", "mini-ego4d")
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

    def __init__(self, entries: Iterable[ObjectEntry], source: str = "<memory>", groups: Any = None):
        self.entries: tuple[ObjectEntry, ...] = tuple(sorted(entries, key=lambda e: e.noun))
        self.source = source
        # actionbench.lexicon.groups.ObjectGroups: the synonym / is-a groups a replacement must stay out of
        self.groups = groups
        self._by_noun = {e.noun: e for e in self.entries}
        self._by_head: dict[str, ObjectEntry] = {}
        self._pools: dict[tuple[tuple[str, ...], str], list[str]] = {}
        self._fitting: dict[tuple[Any, ...], list[tuple[str, str]]] = {}  # this vocabulary's own pools
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
            self._pools[key] = [e.noun for e in self.entries if e.type in types and _serves(e, dataset)]
        return list(self._pools[key])

    def fitting(
        self, dataset: str, slots: tuple[tuple[str, str | None], ...], *, count: bool, plural: bool
    ) -> list[tuple[str, str]]:
        """(noun, head noun) of the nouns that fit every (slot, original type) and the grammatical number: the
        part of an object replacement's pool that does not depend on the clip's own words, computed once per
        combination (probe sets have 100,000s of clips) and kept by this vocabulary instance."""
        key = (dataset, slots, count, plural)
        if key not in self._fitting:
            pools = [self.candidates(slot, dataset, like_type=like_type) for slot, like_type in slots]
            allowed = set(pools[0]).intersection(*pools[1:])
            nouns = [n for n in pools[0] if n in allowed]
            if count:
                # Mass nouns cannot be counted ("a flour", "4 flours"); plural-only nouns cannot follow "a".
                nouns = [n for n in nouns if self.type_of(n) != "substance" and (plural or not is_plural(n))]
            self._fitting[key] = [(n, head_noun(n)) for n in nouns]
        return self._fitting[key]

    def datasets(self) -> set[str]:
        if "_datasets" not in self.__dict__:  # asked once per candidate look-up: compute once
            names = {d for e in self.entries for d in e.datasets} | set(_BOTH)
            if names & {"mini", "mini-ssv2", "mini-ego4d"}:
                names |= {"mini", "mini-ssv2", "mini-ego4d"}
            self.__dict__["_datasets"] = names
        return self.__dict__["_datasets"]

    def counts_by_type(self) -> dict[str, int]:
        counts = Counter(e.type for e in self.entries)
        return {t: counts[t] for t in TYPES}


def _serves(entry: ObjectEntry, pool: str) -> bool:
    """Whether a noun may replace objects in `pool`: its own datasets, "mini" for either mini half, and a mini
    half's nouns for the whole mini pool."""
    if pool in entry.datasets:
        return True
    if pool.startswith("mini-"):
        return "mini" in entry.datasets
    return pool == "mini" and any(d.startswith("mini-") for d in entry.datasets)


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
                f"unknown dataset {part!r} (expected ssv2, ego4d, both, mini, mini-ssv2 or mini-ego4d, comma-separated)"
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
    """The shipped vocabulary (with the shipped synonym / is-a groups), or the one at `path` (without groups)."""
    if path is None:
        return _load_shipped()
    path = Path(path)
    return ObjectVocabulary(read_vocabulary(path), source=str(path))


@cache
def _load_shipped() -> ObjectVocabulary:
    from actionbench.lexicon.groups import load_object_groups

    return ObjectVocabulary(read_vocabulary(VOCABULARY_FILE), source=str(VOCABULARY_FILE), groups=load_object_groups())


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
