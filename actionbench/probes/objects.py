"""The Object Replacement (OR) edit: swap a clip's object nouns for others from the frozen vocabulary.

Only replaceable slots change (never `[number of]`, `[part]`, `[somewhere]`); a determiner stays ("a pen" ->
"a cup") and a preceding "a"/"an" is made to agree as an extra, recorded change; slots with one `ref` get one
replacement; no replacement names an object the clip already names, and two objects never get the same noun.
Nor is a replacement a synonym, broader or narrower term of an object of the clip or of another replacement
(the vocabulary's groups, `lexicon/data/object_groups.tsv`): "cup" never becomes "container" or "mug"; the
edit records the groups that applied (`entry.groups`).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from actionbench.errors import InputError
from actionbench.lexicon.groups import blocked_nouns
from actionbench.lexicon.objects import head_noun, is_plural, pluralize
from actionbench.probes.schema import Clip, ObjectSlot
from actionbench.probes.text import change, make_edit, tokenize

NO_REPLACEABLE_OBJECT = "no replaceable object"
NO_CANDIDATE = "no candidate object"

# After these a noun must be countable and singular ("a flour", "another scissors" are not English).
_SINGULAR_COUNT = frozenset({"a", "an", "another", "one", "each", "every", "either", "neither"})
# Vowel letters sounded as consonants ("a usb stick", "a one-way valve") and silent h ("an hour").
_CONSONANT_SOUND = ("usb", "eu", "ewe", "one", "once")
_VOWEL_SOUND = ("hour", "honest", "honour", "honor", "heir")


class ObjectSlotError(InputError):
    """A clip whose object slots do not match its text; the message names the clip."""


def indefinite_article(phrase: str) -> str:
    """The indefinite article ("a" or "an") for a phrase, by how its first word sounds."""
    word = phrase.lower().lstrip()
    if word.startswith(_VOWEL_SOUND):
        return "an"
    if word.startswith(_CONSONANT_SOUND) or re.match(r"u[^aeiou\W][aeiou]", word):
        return "a"  # "u" + consonant + vowel says "you": utensil, ukulele, unicorn (but umbrella, ugly)
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def _word_before(text: str, start: int) -> tuple[int, int] | None:
    """Offsets of the word right before `start`, separated from it by whitespace only."""
    before = [t for t in tokenize(text[:start]) if t.end <= start]
    if not before or text[before[-1].end : start].strip():
        return None
    return before[-1].start, before[-1].end


def _check_slots(clip: Clip) -> None:
    for s in clip.objects:
        found = clip.text[s.start : s.end] if 0 <= s.start < s.end <= len(clip.text) else None
        if found != s.text:
            raise ObjectSlotError(
                f"clip {clip.clip_id}: object slot [{s.slot}] {s.text!r} at {s.start}:{s.end} "
                f"does not match the text ({found!r})"
            )


def _named_objects(clip: Clip) -> set[str]:
    """Head nouns of every word and every object the clip names, so no replacement repeats one."""
    named = {head_noun(t.text) for t in tokenize(clip.text)}
    named |= {head_noun(s.text) for s in clip.objects}
    named |= {" ".join(s.text.lower().split()) for s in clip.objects}
    return named


def _needs_count(clip: Clip, group: list[ObjectSlot]) -> bool:
    """Whether the words before the object make it countable: "a pen", "another pen", "pens"."""
    for s in group:
        if is_plural(s.text) or s.determiner.lower() in _SINGULAR_COUNT:
            return True
        b = _word_before(clip.text, s.start)
        if b is not None and clip.text[b[0] : b[1]].lower() in _SINGULAR_COUNT:
            return True
    return False


def _fitting(
    vocab: Any, clip: Clip, group: list[ObjectSlot], excluded: set[str], *, keep_type: bool, dataset: str
) -> list[str]:
    """The sorted nouns that may replace one object: they fit all its slots, are not excluded, and count."""
    slots = tuple((s.slot, vocab.type_of(s.text) if keep_type else None) for s in group)
    count = _needs_count(clip, group)
    plural = count and any(is_plural(s.text) for s in group)
    base = vocab.fitting(dataset, slots, count=count, plural=plural)
    return [n for n, head in base if n not in excluded and head not in excluded]




def _unblocked(
    vocab: Any, clip: Clip, group: list[ObjectSlot], excluded: set[str], dataset: str, groups: Any, related: list[str]
) -> list[str]:
    """When every same-type noun is a synonym or broader / narrower term ("container": every container is a
    kind of it), the nouns of any type the slot takes that are not."""
    nouns = _fitting(vocab, clip, group, excluded, keep_type=False, dataset=dataset)
    blocked = blocked_nouns(groups, related, nouns)
    return [n for n in nouns if n not in blocked]


def object_edit(
    clip: Clip, lexicon: Any, rng: np.random.Generator, *, pool: str | None = None
) -> tuple[str, dict[str, Any]] | str:
    """The OR foil and its edit record, or the reason the clip has no OR probe.

    `lexicon` is an `actionbench.lexicon.Lexicon`; `rng` is seeded from the clip's seed key by the caller.
    `pool` names the vocabulary's dataset pool to draw from (default: the clip's dataset; the embedded mini
    benchmark draws from its own objects).
    Replacements are drawn one object (`ref`) at a time in order of first mention, each from the sorted
    candidates of its slots' types, so a fixed seed gives a fixed foil. A replacement keeps the original's
    vocabulary type where that fits ("water" -> another substance), else takes any type the slot accepts.
    """
    vocab = lexicon.objects
    _check_slots(clip)
    slots = [s for s in clip.objects if vocab.is_replaceable(s.slot)]
    if not slots:
        return NO_REPLACEABLE_OBJECT

    refs: dict[int, list[ObjectSlot]] = {}
    for s in sorted(slots, key=lambda s: s.start):
        refs.setdefault(s.ref, []).append(s)

    excluded = _named_objects(clip)  # grows with each drawn noun, so two objects never share one
    groups = getattr(vocab, "groups", None)
    used_groups: set[str] = set()
    if groups is not None:
        for s in slots:
            used_groups.update(groups.labels(s.text))
    changes: list[dict[str, Any]] = []
    replaced: list[dict[str, Any]] = []
    articles: list[dict[str, Any]] = []
    for ref, group in refs.items():
        dataset = pool or clip.dataset
        nouns = _fitting(vocab, clip, group, excluded, keep_type=True, dataset=dataset) or _fitting(
            vocab, clip, group, excluded, keep_type=False, dataset=dataset
        )
        if groups is not None and nouns:
            related = [s.text for s in slots] + [r["noun"] for r in replaced]
            blocked = blocked_nouns(groups, related, nouns)
            if blocked:
                nouns = [n for n in nouns if n not in blocked] or _unblocked(
                    vocab, clip, group, excluded, dataset, groups, related
                )
        if not nouns:
            return NO_CANDIDATE
        noun = nouns[int(rng.integers(len(nouns)))]
        excluded.add(head_noun(noun))
        for s in group:
            c = change(clip.text, s.start, s.end, pluralize(noun) if is_plural(s.text) else noun)
            changes.append(c)
            replaced.append(
                {
                    "slot": s.slot,
                    "ref": ref,
                    "old": s.text,
                    "new": c["new"],
                    "noun": noun,
                    "type": vocab.type_of(noun),
                }
            )
            b = _word_before(clip.text, s.start)
            if b is not None and clip.text[b[0] : b[1]].lower() in ("a", "an"):
                article = indefinite_article(c["new"])
                if clip.text[b[0] : b[1]].lower() != article:
                    a = change(clip.text, b[0], b[1], article)
                    changes.append(a)
                    articles.append(
                        {"old": a["old"], "new": a["new"], "start": a["start"], "before": c["new"]}
                    )
    # The a/an agreement changes are in `changes` too; `articles` says which changes they are.
    entry = {"objects": replaced, "articles": articles}
    if used_groups:
        entry["groups"] = sorted(used_groups)
    return make_edit(clip.text, changes, kind="object", entry=entry)
