"""Token-exact text edits.

A foil is the text with some whole tokens replaced; nothing else changes. An edit is recorded as a list of
changes `{start, end, old, new}` (character offsets in the original text, on token boundaries), so
"onion" survives "on" -> "off", and every foil can be re-derived and audited from its probe record.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from actionbench.errors import InputError

# A word: letters and digits of any script, with the combining marks that follow them ("crème", "brûlée" even
# when decomposed, "杯子"), joined by inner apostrophes or hyphens; any other visible character is a token alone.
_LETTERS = r"(?:[^\W_][\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]*)+"
_TOKEN = re.compile(rf"{_LETTERS}(?:['’\-]{_LETTERS})*|\S")
# Zero-width joiners stay (they bind emoji sequences); every other format character (zero-width space, word
# joiner, byte-order mark, soft hyphen, bidi marks) and control character goes.
_KEEP_FORMAT = frozenset("\u200c\u200d")


def normalize_text(text: str) -> str:
    """Model-facing text on any Unicode input: NFC, invisible characters removed, whitespace (any kind) as single
    spaces, ends stripped. "cre\u0300me\u200b brûlée" -> "crème brûlée"."""
    if text.isascii():
        return " ".join(text.split())
    text = unicodedata.normalize("NFC", text)
    kept = "".join(
        ch for ch in text
        if ch.isspace() or not (
            (unicodedata.category(ch) == "Cf" and ch not in _KEEP_FORMAT) or unicodedata.category(ch) == "Cc"
        )
    )
    return " ".join(kept.split())



@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower()


def tokenize(text: str) -> list[Token]:
    """Words (letters/digits of any script, with inner apostrophes or hyphens) and single other characters."""
    return list(_tokens(text))


@lru_cache(maxsize=1 << 14)
def _tokens(text: str) -> tuple[Token, ...]:
    # one clip's text is tokenised by several rules in turn: do it once
    return tuple(Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text))


def match_case(old: str, new: str) -> str:
    """Give `new` the casing pattern of `old` (UPPER, Capitalised or as written)."""
    if len(old) > 1 and old.isupper():
        return new.upper()
    if old[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


class EditError(InputError):
    """An edit that is not token-exact or that changes nothing."""


def _check_boundaries(text: str, start: int, end: int) -> None:
    if not (0 <= start < end <= len(text)):
        raise EditError(f"span {start}:{end} outside text {text!r}")
    tokens = tokenize(text)
    if not any(t.start == start for t in tokens) or not any(t.end == end for t in tokens):
        raise EditError(f"span {start}:{end} ({text[start:end]!r}) is not on token boundaries in {text!r}")


def change(text: str, start: int, end: int, new: str, *, keep_case: bool = True) -> dict[str, Any]:
    """One replacement of whole tokens `text[start:end]` by `new`."""
    _check_boundaries(text, start, end)
    old = text[start:end]
    return {"start": start, "end": end, "old": old, "new": match_case(old, new) if keep_case else new}


def apply_changes(text: str, changes: list[dict[str, Any]]) -> str:
    """Apply non-overlapping changes; offsets refer to the original text."""
    out = text
    last = len(text) + 1
    for c in sorted(changes, key=lambda c: c["start"], reverse=True):
        if c["end"] > last:
            raise EditError(f"overlapping changes in {text!r}")
        if text[c["start"] : c["end"]] != c["old"]:
            raise EditError(f"change {c} does not match {text!r}")
        out = out[: c["start"]] + c["new"] + out[c["end"] :]
        last = c["start"]
    return out


def make_edit(text: str, changes: list[dict[str, Any]], *, kind: str, entry: Any) -> tuple[str, dict[str, Any]]:
    """Apply changes and return (foil, edit record); refuses an edit that leaves the text as it was."""
    foil = apply_changes(text, changes)
    if foil == text:
        raise EditError(f"edit leaves {text!r} unchanged")
    edit = {"kind": kind, "entry": entry, "changes": sorted(changes, key=lambda c: c["start"])}
    return foil, edit


def normalize_space(text: str) -> str:
    """Collapse runs of whitespace and strip the ends."""
    return " ".join(text.split())
