"""The project's own lexicon: SSv2 template antonyms, Ego4D verb antonyms and the object vocabulary.

Every file under `lexicon/data/` is hashed into the lexicon version, and the version into every seed and
`probeset_id`: change a row and the probes that depend on it get new ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).parent / "data"
LEXICON_RELEASE = "2"  # 2: Ego4D preposition frames, AA relations, object synonym / is-a groups (issue 14)
# What an Action Antonym foil contrasts with the true text: `inverse`, the reversed video would show the foil's
# action ("Opening" -> "Closing"); `outcome`, the same action with a contrary outcome ("... so that it deforms" ->
# "... until it breaks"); `undo`, another action that undoes the first one's result ("Pouring X onto Y" ->
# "Wiping X off of Y"), which the reversed video would not show.
AA_RELATIONS = ("inverse", "outcome", "undo")


@cache
def lexicon_version() -> str:
    """`<release>+<hash of the data files>`."""
    h = hashlib.sha256()
    for path in sorted(DATA_DIR.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return f"{LEXICON_RELEASE}+{h.hexdigest()[:12]}"


@dataclass(frozen=True)
class Lexicon:
    """Everything the probe builders look up, loaded once."""

    ssv2: Any  # actionbench.lexicon.ssv2.SSv2Table
    ego4d: Any  # actionbench.lexicon.ego4d.VerbLexicon
    objects: Any  # actionbench.lexicon.objects.ObjectVocabulary
    version: str

    @classmethod
    @cache
    def load(cls) -> Lexicon:
        from actionbench.lexicon.ego4d import load_verb_lexicon
        from actionbench.lexicon.objects import load_object_vocabulary
        from actionbench.lexicon.ssv2 import load_ssv2_table

        return cls(
            ssv2=load_ssv2_table(),
            ego4d=load_verb_lexicon(),
            objects=load_object_vocabulary(),
            version=lexicon_version(),
        )
