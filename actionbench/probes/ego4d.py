"""The Ego4D Action Antonym edit: replace the narration's main verb (and its particle) by its antonym.

"c picks up the knife" -> "c puts down the knife"; "c turns the tap on" -> "c turns the tap off";
"c lifts the box up" -> "c lowers the box". Only the verb and particle tokens change, so "onion" survives
"on" -> "off"; the rest of the text, already cleaned, is kept as it is, except the source/goal preposition of
the verb's own phrase, which follows the verb entry's frames: "c picks up the cup from the table" -> "c puts
down the cup on the table" (a recorded change, and `edit.frame`). A clip whose preposition the entry does not
list is dropped under "preposition does not fit the antonym: <verb> ... <preposition>".
"""

from __future__ import annotations

import re
from typing import Any

from actionbench.lexicon.ego4d import SOURCE_GOAL_PREPOSITIONS, VerbEntry, inflect_like, is_noun, verb_lemma
from actionbench.probes.narration import Narration, parse_narration
from actionbench.probes.schema import Clip
from actionbench.probes.text import EditError, change, make_edit, tokenize

# A phrasal verb's particle follows these objects: "picks it up".
OBJECT_PRONOUNS = frozenset({"it", "them", "him", "me", "us"})
# Where the search for the verb's own source/goal ends: the next clause ("... and puts it down", "..., then"),
# or an instrument or attribute phrase ("with his right hand", "the cup with brush in it on the shelf").
_CLAUSE_WORDS = frozenset("and or but then while as so before after until because if nor with using".split())
_PREPOSITION_WORDS = tuple(tuple(p.split()) for p in SOURCE_GOAL_PREPOSITIONS)  # longest first
_NOT_INFINITIVE = frozenset(
    "the a an some his her their its my your our this that these those another other each every both all "
    "it them him me us c x y".split()
)
PREPOSITION_UNFIT = "preposition does not fit the antonym"


def antonym_edit(clip: Clip, lexicon: Any) -> tuple[str, dict[str, Any]] | str:
    """(foil, edit record) for the clip's text, or the reason no foil can be made."""
    narration = parse_narration(clip.text)
    if narration is None:
        return "no main verb"
    verbs = lexicon.ego4d
    entry = verbs.lookup(narration.lemma, narration.particle)
    if entry is None:
        return f"verb not in lexicon: {narration.action}"
    if not entry.has_antonym:
        return f"verb without antonym: {entry.verb}"
    phrasal = narration.particle is not None and entry.verb == narration.action
    if narration.particle is not None and not phrasal and " " in entry.antonym:
        # "picks out" with only "pick -> put down" known would give "puts down out".
        return f"verb not in lexicon: {narration.action}"
    changes = _changes(narration, entry, phrasal)
    frame = None
    prep = source_goal_preposition(clip.text, max([c["end"] for c in changes] + _phrase_ends(narration, phrasal)))
    if prep is not None:
        start, end, old = prep
        new = entry.preposition_for(old)
        if new is None:
            return f"{PREPOSITION_UNFIT}: {entry.verb} ... {old}"
        if new != old:
            changes.append(change(clip.text, start, end, new))
            frame = {"old": old, "new": new}
    try:
        foil, edit = make_edit(clip.text, changes, kind="antonym", entry=entry.to_record())
    except EditError as e:
        return f"edit failed: {e}"
    edit["relation"] = entry.relation
    if frame is not None:
        edit["frame"] = frame
    return foil, edit


def _phrase_ends(n: Narration, phrasal: bool) -> list[int]:
    """Where the verb, its object and (when the entry is the phrasal verb) its particle end: the source/goal
    phrase comes after them ("pushes the sand away from the bowl": "away" is no particle of "push")."""
    ends = [n.verb_end]
    if phrasal and n.particle_end is not None:
        ends.append(n.particle_end)
    if n.object is not None:
        ends.append(n.object.end)
    return ends


def source_goal_preposition(text: str, after: int) -> tuple[int, int, str] | None:
    """(start, end, preposition) of the source/goal preposition of the verb's phrase after offset `after` ("c picks
    up a bag of clothes from the floor" -> "from"), or None. The first one in the clause, except that a phrase
    naming where the object is held ("places the card in his right hand on the table") gives way to a later one.
    The clause ends at a conjunction, punctuation mark, or "with"/"using" phrase; "to" before a verb ("to wash")
    is not a preposition and ends it too."""
    found = _source_goal_prepositions(text, after)
    if len(found) > 1 and _holding_phrase(text[found[0][1] :]):
        return found[1]
    return found[0] if found else None


_HAND = re.compile(r"\s*(?:his|her|their|my|the|one)?\s*(?:(?:left|right|both|other)\s+)?hands?\b")


def _holding_phrase(rest: str) -> bool:
    return _HAND.match(rest) is not None


def _source_goal_prepositions(text: str, after: int) -> list[tuple[int, int, str]]:
    toks = [t for t in tokenize(text) if t.start >= after]
    words = [t.lower for t in toks]
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _CLAUSE_WORDS or not w[0].isalnum():
            break
        for prep in _PREPOSITION_WORDS:
            if tuple(words[i : i + len(prep)]) != prep:
                continue
            if prep == ("to",) and i + 1 < len(words) and _infinitive(words[i + 1 : i + 3]):
                return out
            out.append((toks[i].start, toks[i + len(prep) - 1].end, " ".join(prep)))
            i += len(prep) - 1
            break
        i += 1
    return out


def _infinitive(words: list[str]) -> bool:
    """Whether "to" + `words` starts an infinitive: a base-form verb that is not a noun ("to dry"), or that is
    followed by its own object ("to wash the plate"); "to table", "to the sink" are goals."""
    word = words[0]
    if word in _NOT_INFINITIVE or verb_lemma(word) != word:
        return False
    return not is_noun(word) or (len(words) > 1 and words[1] in _NOT_INFINITIVE)


def _changes(n: Narration, entry: VerbEntry, phrasal: bool) -> list[dict[str, Any]]:
    """The token replacements: verb (+ particle when the entry is the phrasal verb)."""
    text = n.text
    antonym = inflect_like(entry.antonym, n.verb)
    if not phrasal:
        head, _, rest = antonym.partition(" ")
        after = tokenize(text[n.verb_end :])
        if rest and " " not in rest and after and after[0].lower in OBJECT_PRONOUNS:
            # "puts it in the rack" -> "picks it up in the rack", not "picks up it"
            end = n.verb_end + after[0].end
            return [change(text, n.verb_start, end, f"{head} {after[0].text} {rest}")]
        return [change(text, n.verb_start, n.verb_end, antonym)]
    assert n.particle_start is not None and n.particle_end is not None
    if not n.particle_separated:  # "picks up" -> "puts down", "lifts up" -> "lowers"
        return [change(text, n.verb_start, n.particle_end, antonym)]
    head, _, rest = antonym.partition(" ")
    if not rest:  # "lifts the box up" -> "lowers the box": the particle goes with the verb
        middle = text[n.verb_end : n.particle_start].rstrip()
        return [change(text, n.verb_start, n.particle_end, head + middle)]
    changes = [change(text, n.particle_start, n.particle_end, rest)]  # "turns the tap on" -> "... off"
    if head != text[n.verb_start : n.verb_end]:
        changes.append(change(text, n.verb_start, n.verb_end, head))
    return [c for c in changes if c["old"] != c["new"]]
