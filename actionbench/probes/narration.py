"""Ego4D narrations as text: cleaning (REFERENCE §2.2) and finding the actor, the main verb (with its particle)
and its direct object. The readers in `actionbench.datasets.ego4d` and the probe builders use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from actionbench.lexicon.ego4d import verb_lemma
from actionbench.probes.schema import ObjectSlot
from actionbench.probes.text import Token, tokenize

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


