"""Token-exact text edits: the foundation every foil is built on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actionbench.probes.text import EditError, apply_changes, change, make_edit, match_case, tokenize


def test_tokens_keep_inner_hyphens_and_apostrophes() -> None:
    assert [t.text for t in tokenize("C picks up the door-bell, doesn't it?")] == [
        "C", "picks", "up", "the", "door-bell", ",", "doesn't", "it", "?",
    ]


def test_a_token_edit_never_touches_a_longer_word() -> None:
    text = "c puts the onion on the board"
    on = next(t for t in tokenize(text) if t.text == "on")
    foil, edit = make_edit(text, [change(text, on.start, on.end, "off")], kind="antonym", entry="on")
    assert foil == "c puts the onion off the board"
    assert edit["changes"] == [{"start": on.start, "end": on.end, "old": "on", "new": "off"}]


def test_change_refuses_a_span_inside_a_word() -> None:
    with pytest.raises(EditError, match="token boundaries"):
        change("the onion", 4, 6, "off")


def test_an_edit_that_changes_nothing_is_refused() -> None:
    with pytest.raises(EditError, match="unchanged"):
        make_edit("open the box", [change("open the box", 0, 4, "open")], kind="antonym", entry=None)


def test_case_follows_the_replaced_word() -> None:
    assert match_case("Opening", "closing") == "Closing"
    assert match_case("opening", "closing") == "closing"
    assert match_case("UP", "down") == "DOWN"


words = st.lists(st.sampled_from(["on", "onion", "up", "cup", "the", "pick", "picks", "off", "Box", "a"]), min_size=1, max_size=8)


@given(words, st.data())
def test_a_foil_differs_from_its_text_only_inside_the_edit(ws: list[str], data) -> None:
    text = " ".join(ws)
    toks = tokenize(text)
    i = data.draw(st.integers(0, len(toks) - 1))
    new = data.draw(st.sampled_from(["down", "lid", "xyz"]))
    if toks[i].lower == new:
        return
    foil, edit = make_edit(text, [change(text, toks[i].start, toks[i].end, new)], kind="antonym", entry=None)
    assert foil != text
    before, after = text[: toks[i].start], text[toks[i].end :]
    assert foil.startswith(before) and foil.endswith(after)
    assert apply_changes(text, edit["changes"]) == foil
    assert [t.text for j, t in enumerate(tokenize(text)) if j != i] == [
        t.text for j, t in enumerate(tokenize(foil)) if j != i
    ]
