"""SSv2 templates as text: bracketed slots, refilling a template with placeholders, pieces with offsets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from actionbench.probes.text import tokenize

SLOT = re.compile(r"\[([^\[\]]+)\]")


def unbracket(template: str) -> str:
    """The labels.json form of a bracketed template."""
    return SLOT.sub(lambda m: m.group(1), template)


@dataclass(frozen=True)
class Piece:
    """A token of a filled template: a template word, or a whole slot filled with its placeholder."""

    key: str  # lower-cased word, or "[slot#k]" for the k-th slot
    start: int
    end: int
    slot: int | None = None  # index of the placeholder for slot pieces


def fill(template: str, placeholders: list[str]) -> tuple[str, list[Piece]]:
    """Refill a bracketed template; returns the sentence-cased text and its pieces with offsets."""
    segments, words, n_slots = _template_parts(template)
    if n_slots != len(placeholders):
        raise ValueError(f"template {template!r} has {n_slots} slots but {len(placeholders)} placeholders")
    out: list[str] = []
    pieces: list[Piece] = []
    length = 0
    for k, segment in enumerate(segments):
        pieces.extend(Piece(key, length + a, length + b) for key, a, b in words[k])
        out.append(segment)
        length += len(segment)
        if k < n_slots:
            ph = " ".join(str(placeholders[k]).split())
            pieces.append(Piece(f"[slot#{k}]", length, length + len(ph), slot=k))
            out.append(ph)
            length += len(ph)
    text = "".join(out)
    return text[:1].upper() + text[1:], pieces


@lru_cache(maxsize=4096)
def _template_parts(template: str) -> tuple[tuple[str, ...], tuple[tuple[tuple[str, int, int], ...], ...], int]:
    """The text between slots and its words (lower-cased, offsets in the segment): the same for every clip of a
    template, so computed once."""
    segments = tuple(SLOT.split(template)[::2])
    words = tuple(tuple((t.text.lower(), t.start, t.end) for t in tokenize(seg)) for seg in segments)
    return segments, words, len(segments) - 1
