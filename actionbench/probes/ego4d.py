"""The Ego4D Action Antonym edit: replace the narration's main verb (and its particle) by its antonym.

"c picks up the knife" -> "c puts down the knife"; "c turns the tap on" -> "c turns the tap off";
"c lifts the box up" -> "c lowers the box". Only the verb and particle tokens change, so "onion" survives
"on" -> "off"; the rest of the text, already cleaned, is kept as it is.
"""

from __future__ import annotations

from typing import Any

from actionbench.lexicon.ego4d import VerbEntry, inflect_like
from actionbench.probes.narration import Narration, parse_narration
from actionbench.probes.schema import Clip
from actionbench.probes.text import EditError, change, make_edit, tokenize

# A phrasal verb's particle follows these objects: "picks it up".
OBJECT_PRONOUNS = frozenset({"it", "them", "him", "me", "us"})


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
    try:
        return make_edit(clip.text, changes, kind="antonym", entry=entry.to_record())
    except EditError as e:
        return f"edit failed: {e}"


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
