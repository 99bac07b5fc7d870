"""The Ego4D verb-antonym lexicon and the Action Antonym edit on narrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lemminflect import getInflection

from actionbench.datasets.ego4d import parse_narration, read_egoclip
from actionbench.lexicon import Lexicon
from actionbench.lexicon.ego4d import (
    DEFAULT_PATH,
    LexiconError,
    VerbLexicon,
    inflect_like,
    load_verb_lexicon,
    verb_lemma,
)
from actionbench.probes.ego4d import OBJECT_PRONOUNS, antonym_edit
from actionbench.probes.schema import Clip
from actionbench.probes.text import apply_changes, tokenize


@pytest.fixture(scope="module")
def verbs() -> VerbLexicon:
    return load_verb_lexicon()


@pytest.fixture(scope="module")
def lexicon(verbs: VerbLexicon) -> Lexicon:
    return Lexicon(ssv2=None, ego4d=verbs, objects=None, version="test")


def clip_of(text: str) -> Clip:
    n = parse_narration(text)
    return Clip(
        clip_id="v:narration_pass_1:0",
        dataset="ego4d",
        split="test",
        video="c.mp4",
        start=0.0,
        end=1.0,
        source_video="v",
        text=text,
        raw_text=text,
        objects=(n.object,) if n and n.object else (),
        action=n.action if n else None,
    )


# --------------------------------------------------------------------------------------------------------
# The lexicon
# --------------------------------------------------------------------------------------------------------

REQUIRED_PAIRS = [
    ("pick up", "put down"),
    ("open", "close"),
    ("cover", "uncover"),
    ("push", "pull"),
    ("lift", "lower"),
    ("fill", "empty"),
    ("turn on", "turn off"),
    ("inflate", "deflate"),
]


@pytest.mark.parametrize(("a", "b"), REQUIRED_PAIRS)
def test_mini_benchmark_pairs_are_antonyms_both_ways(verbs: VerbLexicon, a: str, b: str) -> None:
    assert verbs.entries[a].antonym == b and verbs.entries[a].has_antonym
    assert verbs.entries[b].antonym == a and verbs.entries[b].has_antonym


def test_lexicon_covers_common_narration_verbs_and_explains_every_none(verbs: VerbLexicon) -> None:
    assert len(verbs) >= 118
    for verb in (
        "take out",
        "put in",
        "tighten",
        "plug in",
        "insert",
        "wrap",
        "tie",
        "lock",
        "enter",
        "attach",
    ):
        assert verbs.entries[verb].has_antonym, verb
    for verb in ("look", "walk", "hold", "stir", "cut", "wash"):
        assert verbs.entries[verb].kind == "none" and verbs.entries[verb].reason, verb
    assert all(e.reason for e in verbs.entries.values() if e.kind == "none")


def test_lookup_prefers_the_phrasal_verb_then_the_bare_verb(verbs: VerbLexicon) -> None:
    assert verbs.lookup("turn", "on").antonym == "turn off"
    assert verbs.lookup("turn").kind == "none"
    assert verbs.lookup("open", "up").verb == "open up"
    assert verbs.lookup("push", "away").verb == "push"  # no "push away" row: the bare verb
    assert verbs.lookup("frobnicate") is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["verb\tantonym\tkind"], r"ego4d_verbs\.tsv:1: header"),
        (["verb\tantonym\tkind\treason", "open\tclose\tantonym"], r":2: expected 4 tab-separated columns"),
        (["verb\tantonym\tkind\treason", "open\tclose\topposite\t"], r":2: kind 'opposite'"),
        (["verb\tantonym\tkind\treason", "hold\t\tnone\t"], r":2: verb 'hold' has kind none but no reason"),
        (
            ["verb\tantonym\tkind\treason", "open\t\tantonym\t"],
            r":2: verb 'open' has kind antonym but no antonym",
        ),
        (["verb\tantonym\tkind\treason", "Open\tclose\tantonym\t"], r":2: verb 'Open' must be lower-case"),
        (
            ["verb\tantonym\tkind\treason", "hold\tdrop\tnone\tstatic"],
            r":2: verb 'hold' has kind none but an antonym",
        ),
        (["verb\tantonym\tkind\treason", "open\topen\tantonym\t"], r":2: verb 'open' is its own antonym"),
        (
            ["verb\tantonym\tkind\treason", "vacuum\tdirteis\tantonym\t"],
            r":2: antonym 'dirteis' does not start",
        ),
        (
            ["verb\tantonym\tkind\treason", "open\tclose\tantonym\t", "", "open\tshut\tantonym\t"],
            r":4: duplicate verb 'open' \(first on line 2\)",
        ),
    ],
)
def test_malformed_lexicon_rows_name_file_and_line(tmp_path: Path, rows: list[str], message: str) -> None:
    path = tmp_path / "ego4d_verbs.tsv"
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(LexiconError, match=message):
        load_verb_lexicon(path)


def test_shipped_lexicon_is_the_default(verbs: VerbLexicon) -> None:
    assert Path(verbs.path) == DEFAULT_PATH


@pytest.mark.parametrize(
    ("antonym", "verb", "expected"),
    [
        ("put down", "picks up", "puts down"),
        ("put down", "picking", "putting down"),
        ("put down", "picks", "puts down"),
        ("close", "opened", "closed"),
        ("pick up", "put", "pick up"),
        ("empty", "fills", "empties"),
        ("untie", "tying", "untying"),
        ("move away from", "approaches", "moves away from"),
        ("lower", "lifts", "lowers"),
    ],
)
def test_inflect_like_inflects_the_first_word_like_the_verb(antonym: str, verb: str, expected: str) -> None:
    assert inflect_like(antonym, verb) == expected


# --------------------------------------------------------------------------------------------------------
# The Action Antonym edit
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "foil"),
    [
        ("c picks up the knife from the table", "c puts down the knife on the table"),
        ("c picks the plate", "c puts down the plate"),
        ("c opens the fridge with her right hand", "c closes the fridge with her right hand"),
        ("c turns on the onion slicer", "c turns off the onion slicer"),
        ("c opens the opener", "c closes the opener"),
        ("c turns the tap off", "c turns the tap on"),
        ("c lifts up the wood", "c lowers the wood"),
        ("c lifts the box up", "c lowers the box"),
        ("c puts it in the rack", "c picks it up from the rack"),
        ("c puts something down", "c picks something up"),
        ("c opens up a paper", "c closes a paper"),
        ("c pushes the sand away from the bowl", "c pulls the sand towards the bowl"),
        ("the man x covers the pot", "the man x uncovers the pot"),
        ("c walking into the kitchen", None),
        ("c inflates the balloon", "c deflates the balloon"),
        ("c put the scissors on the table", "c pick up the scissors from the table"),
        ("c unplugs the fuse from the socket", "c plugs in the fuse into the socket"),
        ("c adds salt to the meat", "c removes salt from the meat"),
        ("c removes grass from the plant", "c inserts grass into the plant"),
        ("c drops a bag of clothes on the floor", "c picks up a bag of clothes from the floor"),
        ("c takes a bowl out of the bag", "c puts down a bowl in the bag"),
        ("c puts the cup with brush in it on the shelf", "c picks up the cup with brush in it on the shelf"),
        ("c picks up the cup to wash it", "c puts down the cup to wash it"),
        ("c drops the cup to the floor", "c picks up the cup from the floor"),
        ("the man g places the card in his right hand on the table",
         "the man g picks up the card in his right hand from the table"),
        ("c picks up the cup from the table and puts it in the sink",
         "c puts down the cup on the table and puts it in the sink"),
    ],
)
def test_antonym_edit_replaces_only_the_verb_and_particle(
    lexicon: Lexicon, text: str, foil: str | None
) -> None:
    result = antonym_edit(clip_of(text), lexicon)
    if foil is None:
        assert isinstance(result, str)
        return
    assert not isinstance(result, str), result
    got, edit = result
    assert got == foil
    assert edit["kind"] == "antonym"
    assert apply_changes(text, edit["changes"]) == foil
    assert edit["entry"]["table"] == "ego4d_verbs" and edit["entry"]["antonym"]


def test_edit_record_names_the_lexicon_entry(lexicon: Lexicon) -> None:
    _, edit = antonym_edit(clip_of("c turns on the tap"), lexicon)
    assert edit["entry"] == {"table": "ego4d_verbs", "verb": "turn on", "antonym": "turn off"}
    assert edit["changes"] == [{"start": 2, "end": 10, "old": "turns on", "new": "turns off"}]
    assert edit["relation"] == "inverse" and "frame" not in edit


def test_a_rewritten_preposition_is_a_recorded_token_exact_change(lexicon: Lexicon) -> None:
    text = "c picks up the onion from the table"
    foil, edit = antonym_edit(clip_of(text), lexicon)
    assert foil == "c puts down the onion on the table"
    assert edit["frame"] == {"old": "from", "new": "on"}
    assert {"start": 21, "end": 25, "old": "from", "new": "on"} in edit["changes"]
    assert apply_changes(text, edit["changes"]) == foil


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("c holds the cup", "verb without antonym: hold"),
        ("c walks around the house", "verb without antonym: walk"),
        ("c frobnicates the cup", "verb not in lexicon: frobnicate"),
        ("c something", "no main verb"),
        ("c zorbs out a card", "verb not in lexicon: zorb out"),
        ("c opens the lid from the jar", "preposition does not fit the antonym: open ... from"),
    ],
)
def test_antonym_edit_names_why_a_clip_is_dropped(lexicon: Lexicon, text: str, reason: str) -> None:
    assert antonym_edit(clip_of(text), lexicon) == reason


def test_bare_verb_with_phrasal_antonym_is_not_glued_to_an_unknown_particle(lexicon: Lexicon) -> None:
    # "pick -> put down" must not make "puts down away"; "pick away" is not in the lexicon.
    assert antonym_edit(clip_of("c picks away the dirt"), lexicon) == "verb not in lexicon: pick away"


ACTORS = ["c", "c c", "the man x", "woman y", "person a"]
DETERMINERS = ["", "the ", "a ", "his ", "some "]
NOUNS = [
    "onion",
    "opener",
    "cupboard",
    "button",
    "upholstery",
    "turnip",
    "outlet",
    "tap",
    "kitchen knife",
    "offcut",
]
TAILS = [
    "",
    " on the table",
    " with his right hand",
    " from the onion basket",
    " in the upstairs cupboard",
    ",",
]


@st.composite
def narrations(draw: st.DrawFn) -> str:
    verbs = load_verb_lexicon()
    entry = draw(st.sampled_from(sorted(e.verb for e in verbs.entries.values())))
    head, _, particle = entry.partition(" ")
    tag = draw(st.sampled_from(["VBZ", "VBZ", "VBG", "VB", "VBD"]))
    form = head if tag == "VB" else getInflection(head, tag)[0]
    obj = draw(st.sampled_from(DETERMINERS)) + draw(st.sampled_from(NOUNS))
    if particle and draw(st.booleans()):
        middle = f"{form} {obj} {particle}"
    else:
        middle = " ".join(x for x in (form, particle, obj) if x)
    return f"{draw(st.sampled_from(ACTORS))} {middle}{draw(st.sampled_from(TAILS))}"


@settings(max_examples=300, deadline=None)
@given(narrations())
def test_a_foil_differs_from_its_text_and_changes_nothing_outside_the_verb(text: str) -> None:
    lexicon = Lexicon(ssv2=None, ego4d=load_verb_lexicon(), objects=None, version="test")
    result = antonym_edit(clip_of(text), lexicon)
    if isinstance(result, str):
        assert result.startswith(
            ("verb without antonym: ", "verb not in lexicon: ", "no main verb", "preposition does not fit")
        )
        return
    foil, edit = result
    assert foil != text
    assert apply_changes(text, edit["changes"]) == foil
    n = parse_narration(text)
    assert n is not None
    # The edit may touch the verb, its particle, a pronoun that must move before the particle, and (recorded
    # in edit["frame"]) the one source/goal preposition of the verb's phrase.
    edit_end = max(n.verb_end, n.particle_end or 0)
    after_verb = tokenize(text[n.verb_end :])
    if after_verb and after_verb[0].lower in OBJECT_PRONOUNS:
        edit_end = max(edit_end, n.verb_end + after_verb[0].end)
    verb_changes = [c for c in edit["changes"] if c["start"] < edit_end]
    prep_changes = [c for c in edit["changes"] if c["start"] >= edit_end]
    assert all(n.verb_start <= c["start"] and c["end"] <= edit_end for c in verb_changes)
    assert len(prep_changes) == (1 if "frame" in edit else 0)
    for c in prep_changes:
        assert (c["old"], c["new"]) == (edit["frame"]["old"], edit["frame"]["new"])
    assert foil.startswith(text[: n.verb_start])
    assert apply_changes(text, verb_changes).endswith(text[edit_end:])
    if n.particle_separated:  # "turns the tap on": the words between verb and particle survive
        assert text[n.verb_end : n.particle_start].strip() in foil


def _frames() -> list[tuple[str, str, str]]:
    verbs = load_verb_lexicon()
    return [(e.verb, mine, theirs) for e in verbs.entries.values() if e.has_antonym for mine, theirs in e.frames]


FRAME_NOUNS = ["cup", "kitchen knife", "onion", "box of tools", "bag"]
PLACES = ["table", "onion basket", "upstairs cupboard", "floor"]


@settings(max_examples=250, deadline=None)
@given(
    frame=st.sampled_from(_frames()),
    tag=st.sampled_from(["VBZ", "VBG", "VBD", "VB"]),
    actor=st.sampled_from(ACTORS),
    det=st.sampled_from(["the ", "a ", "his "]),
    noun=st.sampled_from(FRAME_NOUNS),
    place=st.sampled_from(PLACES),
    tail=st.sampled_from(["", " with his right hand", " and looks at it"]),
)
def test_every_listed_frame_gives_a_preposition_the_antonym_takes(
    frame: tuple[str, str, str], tag: str, actor: str, det: str, noun: str, place: str, tail: str
) -> None:
    """Every verb with an antonym, in every preposition frame it lists, yields a foil whose preposition is
    one its antonym accepts (the frame's own right-hand side, listed by the antonym's row)."""
    verbs = load_verb_lexicon()
    lexicon = Lexicon(ssv2=None, ego4d=verbs, objects=None, version="test")
    verb, mine, theirs = frame
    head, _, particle = verb.partition(" ")
    form = head if tag == "VB" else getInflection(head, tag)[0]
    assume(verb_lemma(form) == head)  # "lay" is read as the past of "lie": a form of another verb
    text = " ".join(x for x in (actor, form, particle, det + noun, mine, "the", place) if x) + tail
    result = antonym_edit(clip_of(text), lexicon)
    assert not isinstance(result, str), (text, result)
    foil, edit = result
    entry = verbs.entries[verb]
    antonym = verbs.entries[entry.antonym]
    assert theirs in antonym.prepositions
    assert f" {theirs} the {place}{tail}" in foil, (text, foil)
    assert (edit.get("frame") or {"new": mine})["new"] == theirs
    assert apply_changes(text, edit["changes"]) == foil


def test_a_frame_must_give_a_preposition_the_antonym_takes(tmp_path: Path) -> None:
    path = tmp_path / "ego4d_verbs.tsv"
    path.write_text(
        "verb\tantonym\tkind\trelation\tframes\treason\n"
        "put down\tpick up\tantonym\tinverse\ton>from\t\n"
        "pick up\tput down\tantonym\tinverse\tfrom>onto\t\n"
    )
    with pytest.raises(LexiconError, match=r":3: frame from>onto of 'pick up': its antonym 'put down' does not take"):
        load_verb_lexicon(path)


def test_aa_yield_on_the_genuine_sample(real_ego4d: Path, lexicon: Lexicon) -> None:
    clips = read_egoclip(real_ego4d / "egoclip_subset.jsonl").clips
    results = [antonym_edit(c, lexicon) for c in clips]
    made = [r for r in results if not isinstance(r, str)]
    assert len(made) / len(clips) >= 0.5
    for clip, r in zip(clips, results, strict=True):
        if isinstance(r, str):
            continue
        foil, edit = r
        assert foil != clip.text and apply_changes(clip.text, edit["changes"]) == foil
        # the object survives the action edit
        for o in clip.objects:
            assert o.text in foil
