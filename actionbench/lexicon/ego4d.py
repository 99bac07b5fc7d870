"""The Ego4D verb-antonym lexicon (`data/ego4d_verbs.tsv`) and inflecting an antonym like the verb it replaces.

One row per verb in base form, possibly phrasal ("pick up"): its antonym phrase (`kind` = `antonym`) or
none (`kind` = `none`, with the reason the verb has no usable antonym). Lookups try the phrasal verb first
("turn on" -> "turn off"), then the bare verb ("opens up" -> "open" -> "close").

A verb with an antonym also says what the foil contrasts (`relation`: `inverse`, the reversed video would
show the antonym's action; `outcome`, the same action with a contrary outcome) and its preposition frames
(`frames`): for each source/goal preposition the verb takes in its own phrase, the one its antonym needs
("from>on" for "pick up": "picks up the cup from the table" -> "puts down the cup on the table"). A
preposition the verb lists must be one its antonym lists in turn (checked when the table is read), so a
foil never keeps "from" after "puts down". A file with the older four columns (verb, antonym, kind, reason)
reads as relation `inverse` and no frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lemminflect import getAllLemmas, getAllLemmasOOV, getInflection

from actionbench.errors import InputError
from actionbench.lexicon import AA_RELATIONS as RELATIONS
from actionbench.lexicon import DATA_DIR

DEFAULT_PATH = DATA_DIR / "ego4d_verbs.tsv"
HEADER = ("verb", "antonym", "kind", "relation", "frames", "reason")
LEGACY_HEADER = ("verb", "antonym", "kind", "reason")
KINDS = ("antonym", "none")
# The prepositions that open a source or goal phrase; only these are rewritten for an antonym. Longest first,
# so "out of" is read before "out" and "away from" before "from".
SOURCE_GOAL_PREPOSITIONS = (
    "away from", "off of", "out of", "in to", "on to",
    "from", "off", "into", "onto", "on", "in", "to", "inside", "towards", "toward",
)
_PHRASE = re.compile(r"[a-z]+(?: [a-z]+)*")


class LexiconError(InputError):
    """A malformed lexicon file; the message names the file and line."""


@dataclass(frozen=True)
class VerbEntry:
    """One row of the verb table."""

    verb: str  # base form, possibly phrasal: "pick up"
    antonym: str | None  # base-form phrase, or None for kind "none"
    kind: str  # "antonym" | "none"
    reason: str
    line: int
    relation: str | None = None  # "inverse" | "outcome" for kind antonym
    frames: tuple[tuple[str, str], ...] = ()  # (the verb's preposition, the antonym's), in table order

    def preposition_for(self, preposition: str) -> str | None:
        """The preposition the antonym needs where this verb has `preposition`, or None when not listed."""
        for mine, theirs in self.frames:
            if mine == preposition:
                return theirs
        return None

    @property
    def prepositions(self) -> tuple[str, ...]:
        """The source/goal prepositions this verb takes (and so accepts where it is the antonym)."""
        return tuple(mine for mine, _ in self.frames)

    @property
    def has_antonym(self) -> bool:
        return self.kind == "antonym"

    def to_record(self) -> dict[str, str | None]:
        """What a probe's edit records about the entry it used."""
        return {"table": "ego4d_verbs", "verb": self.verb, "antonym": self.antonym}


def _parse_frames(value: str, where: str) -> tuple[tuple[str, str], ...]:
    """`from>on; off>on` -> (("from", "on"), ("off", "on")); each side one of SOURCE_GOAL_PREPOSITIONS."""
    frames: list[tuple[str, str]] = []
    for part in value.split(";"):
        part = " ".join(part.split())
        if not part:
            continue
        mine, sep, theirs = (x.strip() for x in part.partition(">"))
        if not sep:
            raise LexiconError(f"{where}: frame {part!r} must be <preposition>'>'<antonym's preposition>")
        for prep in (mine, theirs):
            if prep not in SOURCE_GOAL_PREPOSITIONS:
                raise LexiconError(
                    f"{where}: frame {part!r}: {prep!r} is not a source/goal preposition "
                    f"({', '.join(SOURCE_GOAL_PREPOSITIONS)})"
                )
        if any(m == mine for m, _ in frames):
            raise LexiconError(f"{where}: frame {part!r}: {mine!r} is listed twice")
        frames.append((mine, theirs))
    return tuple(frames)


@dataclass(frozen=True)
class VerbLexicon:
    entries: dict[str, VerbEntry]
    path: str

    def lookup(self, lemma: str, particle: str | None = None) -> VerbEntry | None:
        """The entry for "lemma particle" if there is one, else for the bare lemma, else None."""
        if particle:
            entry = self.entries.get(f"{lemma} {particle}")
            if entry is not None:
                return entry
        return self.entries.get(lemma)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, verb: str) -> bool:
        return verb in self.entries


def _is_base_verb(word: str) -> bool:
    return word in getAllLemmas(word).get("VERB", ())


def load_verb_lexicon(path: str | Path | None = None) -> VerbLexicon:
    """Read and validate the verb table; a bad row raises LexiconError naming file and line."""
    path = Path(path) if path is not None else DEFAULT_PATH
    lines = path.read_text(encoding="utf-8").splitlines()
    header = tuple(lines[0].split("\t")) if lines else ()
    if header not in (HEADER, LEGACY_HEADER):
        raise LexiconError(f"{path}:1: header must be {'<TAB>'.join(HEADER)}")
    entries: dict[str, VerbEntry] = {}
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != len(header):
            raise LexiconError(
                f"{path}:{lineno}: expected {len(header)} tab-separated columns, got {len(cells)}"
            )
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        verb, antonym, kind, reason = row["verb"], row["antonym"], row["kind"], row["reason"]
        relation = row.get("relation", "inverse" if kind == "antonym" else "")
        where = f"{path}:{lineno}"
        frames = _parse_frames(row.get("frames", ""), where)
        if not _PHRASE.fullmatch(verb):
            raise LexiconError(f"{where}: verb {verb!r} must be lower-case words separated by single spaces")
        if verb in entries:
            raise LexiconError(f"{where}: duplicate verb {verb!r} (first on line {entries[verb].line})")
        if kind not in KINDS:
            raise LexiconError(f"{where}: kind {kind!r} must be one of {', '.join(KINDS)}")
        if kind == "antonym":
            if not antonym:
                raise LexiconError(f"{where}: verb {verb!r} has kind antonym but no antonym")
            if not _PHRASE.fullmatch(antonym):
                raise LexiconError(
                    f"{where}: antonym {antonym!r} must be lower-case words separated by single spaces"
                )
            if antonym == verb:
                raise LexiconError(f"{where}: verb {verb!r} is its own antonym")
            head = antonym.split()[0]
            if not _is_base_verb(head):
                raise LexiconError(f"{where}: antonym {antonym!r} does not start with a verb in base form")
            if relation not in RELATIONS:
                raise LexiconError(f"{where}: relation {relation!r} must be one of {', '.join(RELATIONS)}")
        else:
            if antonym:
                raise LexiconError(f"{where}: verb {verb!r} has kind none but an antonym {antonym!r}")
            if not reason:
                raise LexiconError(f"{where}: verb {verb!r} has kind none but no reason")
            if relation or frames:
                raise LexiconError(f"{where}: verb {verb!r} has kind none but a relation or frames")
        entries[verb] = VerbEntry(verb, antonym or None, kind, reason, lineno, relation or None, frames)
    for entry in entries.values():  # each frame must give a preposition the antonym itself takes
        target = entries.get(entry.antonym or "")
        for mine, theirs in entry.frames:
            if target is None or theirs not in target.prepositions:
                takes = ", ".join(target.prepositions) if target else "nothing: it has no row"
                raise LexiconError(
                    f"{path}:{entry.line}: frame {mine}>{theirs} of {entry.verb!r}: its antonym "
                    f"{entry.antonym!r} does not take {theirs!r} (it takes {takes})"
                )
    return VerbLexicon(entries, str(path))


@lru_cache(maxsize=8192)
def verb_lemma(word: str) -> str | None:
    """The verb lemma of a word form ("picks" -> "pick"), or None when the word is not a verb."""
    w = word.lower()
    if not w.isalpha() or len(w) < 2:
        return None
    lemmas = getAllLemmas(w)
    if "VERB" in lemmas:
        return lemmas["VERB"][0]
    if lemmas:  # known to the dictionary, but not as a verb
        return None
    # Out of vocabulary ("smoothens"): accept verb-shaped forms only.
    if w.endswith(("s", "ing", "ed")):
        return getAllLemmasOOV(w, "VERB")["VERB"][0]
    return None


@lru_cache(maxsize=8192)
def is_noun(word: str) -> bool:
    """Whether the dictionary knows a word as a noun ("table", "wash"; not "dry")."""
    return "NOUN" in getAllLemmas(word.lower())


@lru_cache(maxsize=1 << 14)
def penn_tag(word: str, lemma: str) -> str:
    """The Penn tag of a verb form given its lemma: VB, VBZ, VBG, VBD or VBN."""
    w = word.lower()
    if w == lemma:
        return "VB"
    for tag in ("VBZ", "VBG", "VBD", "VBN"):
        if w in getInflection(lemma, tag, inflect_oov=True):
            return tag
    if w.endswith("ing"):
        return "VBG"
    if w.endswith("ed"):
        return "VBD"
    return "VBZ" if w.endswith("s") else "VB"


def verb_tag(verb_token: str) -> str:
    """The Penn tag of a verb form ("picks" -> VBZ, "picking" -> VBG, "pick" -> VB)."""
    word = verb_token.split()[0].lower()
    lemma = verb_lemma(word) or word
    return penn_tag(word, lemma)


@lru_cache(maxsize=1 << 14)  # a few hundred verbs and forms cover whole datasets; lemminflect deep-copies per call
def inflect_like(antonym_phrase: str, verb_token: str) -> str:
    """Inflect the antonym's first word like the narration's verb ("put down", "picks up" -> "puts down")."""
    head, *rest = antonym_phrase.split()
    tag = verb_tag(verb_token)
    forms = getInflection(head, tag, inflect_oov=True) if tag != "VB" else (head,)
    return " ".join([forms[0] if forms else head, *rest])
