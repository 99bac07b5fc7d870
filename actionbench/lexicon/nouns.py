"""Noun forms shared by the object vocabulary and its synonym / is-a groups: singular, head noun, plural-only."""

from __future__ import annotations

import re
from functools import lru_cache

from lemminflect import getLemma

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


@lru_cache(maxsize=1 << 16)
def singular(word: str) -> str:
    """The singular of one lower-case noun ("knives" -> "knife"); unknown or mass nouns stay as they are."""
    word = word.lower()
    if word in PLURAL_ONLY or not word.endswith("s"):
        return word
    lemmas = getLemma(word, upos="NOUN")
    return lemmas[0] if lemmas else word


# A word of any script with its combining marks ("crème", "brûlée"), as actionbench.probes.text tokenises
_WORD = re.compile(r"(?:[^\W_][\u0300-\u036f]*)+(?:['’\-](?:[^\W_][\u0300-\u036f]*)+)*")


@lru_cache(maxsize=1 << 16)
def head_noun(phrase: str) -> str:
    """The last word of a noun phrase, singular and lower case ("plastic jar's cap" -> "cap")."""
    words = _WORD.findall(phrase.lower())
    if not words:
        return ""
    last = re.sub(r"['’]s$", "", words[-1])
    return singular(last)
