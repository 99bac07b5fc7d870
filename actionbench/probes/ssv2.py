"""SSv2 Action Antonym: the antonym template refilled with the clip's own placeholders.

The edit touches only the template words that differ between the two templates (the action words); the
placeholders are never touched, and text and foil come out of the same refill, so they share casing and
normalisation.
"""

from __future__ import annotations

from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any

from actionbench.probes.schema import Clip
from actionbench.probes.templates import SLOT, Piece, fill
from actionbench.probes.text import EditError, make_edit


@lru_cache(maxsize=4096)
def _template_opcodes(template: str, antonym: str) -> tuple[tuple[str, int, int, int, int], ...]:
    """Token-level differences between two templates (slots as single tokens), token-exact and non-empty."""
    names = [f"[slot#{k}]" for k in range(len(SLOT.findall(template)))]
    _, a = fill(template, names)
    _, b = fill(antonym, names)
    ka, kb = [p.key for p in a], [p.key for p in b]
    ops = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=ka, b=kb, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if i1 == i2 or j1 == j2:  # a pure insertion or deletion: anchor it on a neighbouring template word
            if i1 > 0 and a[i1 - 1].slot is None:
                i1, j1 = i1 - 1, j1 - 1
            elif i2 < len(a) and a[i2].slot is None:
                i2, j2 = i2 + 1, j2 + 1
            else:
                raise EditError(f"cannot anchor the edit between {template!r} and {antonym!r}")
        if any(p.slot is not None for p in a[i1:i2]) or any(p.slot is not None for p in b[j1:j2]):
            raise EditError(f"the antonym of {template!r} moves a slot")
        if ops and i1 <= ops[-1][2]:  # anchoring made two edits overlap: merge them
            _, pi1, pi2, pj1, pj2 = ops.pop()
            i1, i2, j1, j2 = min(i1, pi1), max(i2, pi2), min(j1, pj1), max(j2, pj2)
        ops.append((tag, i1, i2, j1, j2))
    return tuple(ops)


def antonym_edit(clip: Clip, lexicon: Any) -> tuple[str, dict[str, Any]] | str:
    """The foil and its edit record, or the reason this clip has no Action Antonym probe."""
    entry = lexicon.ssv2.get(clip.action or "")
    if entry is None:
        return "template not in lexicon"
    if entry.kind == "none" or not entry.antonym:
        return "template without antonym"
    placeholders = list(clip.source.get("placeholders") or []) or SLOT.findall(entry.template)
    text, a = fill(entry.template, placeholders)
    foil, b = fill(entry.antonym, placeholders)
    if text != clip.text:
        return "text differs from its refilled template"
    changes = []
    for _tag, i1, i2, j1, j2 in _template_opcodes(entry.template, entry.antonym):
        start, end = _span(a, i1, i2, len(text))
        fstart, fend = _span(b, j1, j2, len(foil))
        changes.append({"start": start, "end": end, "old": text[start:end], "new": foil[fstart:fend]})
    result, edit = make_edit(
        text, changes, kind="antonym",
        entry={"template": entry.template, "antonym": entry.antonym, "closed": entry.kind == "closed"},
    )
    if result != foil:  # the recorded changes must re-derive the foil exactly
        raise EditError(f"clip {clip.clip_id}: recorded changes give {result!r}, expected {foil!r}")
    return foil, edit


def _span(pieces: list[Piece], i1: int, i2: int, length: int) -> tuple[int, int]:
    """From the end of the last unchanged piece before to the start of the first unchanged piece after, so the
    separators around the changed words (a comma, a space) travel with them."""
    start = pieces[i1 - 1].end if i1 > 0 else 0
    end = pieces[i2].start if i2 < len(pieces) else length
    return start, end
