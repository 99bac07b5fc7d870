"""Text edits on any Unicode text: accents, decomposed marks, CJK, emoji and invisible characters (issue 14)."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actionbench.datasets.ego4d import clean_text, narration_clip, parse_narration
from actionbench.lexicon import Lexicon
from actionbench.probes.ego4d import antonym_edit
from actionbench.probes.objects import object_edit
from actionbench.probes.text import apply_changes, normalize_text, tokenize

LEXICON = Lexicon.load()


def clip(raw: str):
    return narration_clip(clip_id="v:narration_pass_1:0", split="test", video="v.mp4", start=0.0, end=1.0,
                          video_uid="v", raw_text=raw, source={})


def test_an_accented_object_is_replaced_whole() -> None:
    c = clip("#C C picks up the crème brûlée.")
    assert c.objects[0].text == "crème brûlée"
    foil, edit = object_edit(c, LEXICON, np.random.default_rng(0))
    assert foil.startswith("c picks up the ") and "brûlée" not in foil and "me " not in foil[14:16]
    assert edit["entry"]["objects"][0]["old"] == "crème brûlée"


def test_decomposed_accents_and_invisible_characters_are_normalised() -> None:
    raw = "#C C picks\u200b up the cre\u0300me\u00a0bru\u0302le\u0301e\ufeff"
    assert clean_text(raw) == "c picks up the crème brûlée"
    assert normalize_text("a\u2060b\u00adc  \u3000d\u200b") == "abc d"
    assert normalize_text("👨\u200d👩\u200d👧") == "👨\u200d👩\u200d👧"  # joiners of an emoji sequence stay


@pytest.mark.parametrize(
    ("raw", "actor"),
    [
        ("#Oman X puts card on the table", "man x"),
        ("#Owoman Y picks up the cup", "woman y"),
        ("#O man X puts card on the table", "man x"),
        ("#O The woman X walks away.", "the woman x"),
        ("#C C picks up the knife", "c"),
        ("#O person A opens the door", "person a"),
    ],
)
def test_the_actor_parser_reads_glued_and_spaced_other_person_tags(raw: str, actor: str) -> None:
    n = parse_narration(clean_text(raw))
    assert n is not None and n.actor == actor


# Words of several scripts; each is whole in the input, and an edit must keep or replace it whole.
WORDS = ["crème", "brûlée", "jalapeño", "naïve", "café", "杯子", "拿起", "чашка", "nón", "cup", "knife", "onion",
         "table", "bowl", "🍰", "👍🏽", "Ⅻ", "ß"]
INVISIBLE = ["", "\u200b", "\u2060", "\ufeff", "\u00ad", "\u00a0", "\u3000"]
VERBS = ["picks up", "puts down", "opens", "takes", "drops", "removes", "adds", "turns on"]


def _word_chars(text: str) -> list[bool]:
    return [ch.isalnum() or unicodedata.category(ch).startswith("M") for ch in text]


def _cuts_a_word(text: str, start: int, end: int) -> bool:
    w = _word_chars(text)
    return (0 < start < len(text) and w[start - 1] and w[start]) or (0 < end < len(text) and w[end - 1] and w[end])


@settings(max_examples=200, deadline=None)
@given(
    verb=st.sampled_from(VERBS),
    obj=st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
    tail=st.lists(st.sampled_from(WORDS), max_size=3),
    junk=st.lists(st.sampled_from(INVISIBLE), min_size=3, max_size=3),
    decompose=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_an_edit_never_cuts_a_word(verb, obj, tail, junk, decompose, seed) -> None:
    raw = f"#C C {verb}{junk[0]} the {' '.join(obj)}{junk[1]} on the {' '.join(tail) or 'table'}{junk[2]}."
    if decompose:
        raw = unicodedata.normalize("NFD", raw)
    c = clip(raw)
    assert c.text == unicodedata.normalize("NFC", c.text)
    assert not any(unicodedata.category(ch) == "Cf" and ch not in "\u200c\u200d" for ch in c.text)
    for result in (antonym_edit(c, LEXICON), object_edit(c, LEXICON, np.random.default_rng(seed))):
        if isinstance(result, str):
            continue
        foil, edit = result
        assert apply_changes(c.text, edit["changes"]) == foil
        for ch in edit["changes"]:
            assert not _cuts_a_word(c.text, ch["start"], ch["end"]), (c.text, ch)
        # every word of the text outside the changes survives whole in the foil
        changed = [(ch["start"], ch["end"]) for ch in edit["changes"]]
        kept = [t.text for t in tokenize(c.text) if not any(s <= t.start < e for s, e in changed)]
        foil_tokens = [t.text for t in tokenize(foil)]
        assert all(k in foil_tokens for k in kept)
    for s in c.objects:  # object slots are whole words too
        assert not _cuts_a_word(c.text, s.start, s.end)
