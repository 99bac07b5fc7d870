"""The object vocabulary and the Object Replacement (OR) edit."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actionbench.datasets.vocabulary import build_vocabulary
from actionbench.lexicon import Lexicon
from actionbench.lexicon.objects import (
    NEVER_REPLACEABLE,
    SLOT_TYPES,
    TYPES,
    ObjectEntry,
    ObjectVocabulary,
    VocabularyError,
    head_noun,
    load_object_vocabulary,
    write_vocabulary,
)
from actionbench.probes.objects import (
    NO_CANDIDATE,
    NO_REPLACEABLE_OBJECT,
    ObjectSlotError,
    indefinite_article,
    object_edit,
)
from actionbench.probes.schema import Clip, ObjectSlot
from actionbench.probes.text import apply_changes, tokenize

SHIPPED = load_object_vocabulary()
LEXICON = Lexicon(ssv2=None, ego4d=None, objects=SHIPPED, version="test")


def lexicon_of(*rows: tuple[str, str]) -> Lexicon:
    """A lexicon whose vocabulary holds only these (noun, type) rows, for both datasets."""
    vocab = ObjectVocabulary(ObjectEntry(n, t, ("ego4d", "ssv2")) for n, t in rows)
    return Lexicon(ssv2=None, ego4d=None, objects=vocab, version="test")


def make_clip(
    text: str, *slots: tuple[str, str], dataset: str = "ssv2", refs: list[int] | None = None
) -> Clip:
    """A clip whose slots are (slot type, words) found left to right in `text`; a/an/the before is the determiner."""
    objects = []
    pos = 0
    for i, (slot, words) in enumerate(slots):
        start = text.index(words, pos)
        before = text[:start].split()
        det = before[-1] if before and before[-1].lower() in ("a", "an", "the", "another") else ""
        ref = refs[i] if refs else i
        objects.append(ObjectSlot(slot, words, start, start + len(words), det, ref))
        pos = start + len(words)
    return Clip("clip-1", dataset, "val", "1.webm", None, None, "1", text, text, tuple(objects))


def edit(clip: Clip, lexicon: Lexicon = LEXICON, seed: int = 0):
    return object_edit(clip, lexicon, np.random.default_rng(seed))


# --- the shipped vocabulary --------------------------------------------------------------------------------


def test_shipped_vocabulary_has_every_type_and_a_few_hundred_nouns():
    counts = SHIPPED.counts_by_type()
    assert set(counts) == set(TYPES)
    assert all(n >= 50 for n in counts.values()), counts
    assert 300 <= len(SHIPPED) <= 2000


def test_shipped_vocabulary_holds_exactly_the_mini_benchmark_objects():
    from actionbench.datasets.mini import OBJECT_NAMES

    assert set(SHIPPED.candidates("something", "mini")) == set(OBJECT_NAMES)


def test_shipped_file_says_how_it_was_made():
    from actionbench.lexicon.objects import VOCABULARY_FILE

    header = [line for line in VOCABULARY_FILE.read_text().splitlines() if line.startswith("#")]
    assert any("How this file was made" in line for line in header)


def test_candidates_are_sorted_and_fit_the_slot_and_dataset():
    soft = SHIPPED.candidates("something soft", "ssv2")
    assert soft == sorted(soft) and soft
    assert {SHIPPED.type_of(n) for n in soft} <= {"soft", "food"}
    assert {SHIPPED.type_of(n) for n in SHIPPED.candidates("some substance", "ssv2")} == {"substance", "food"}
    # Furniture is no SSv2 [something]; Ego4D objects may be anything.
    assert "fixture" not in {SHIPPED.type_of(n) for n in SHIPPED.candidates("something", "ssv2")}
    assert "sink" in SHIPPED.candidates("noun", "ego4d")


def test_candidates_keep_the_original_type_when_known():
    assert {SHIPPED.type_of(n) for n in SHIPPED.candidates("something", "ssv2", like="water")} == {
        "substance"
    }
    # "agarbathi stand" is unknown: every type the slot takes.
    assert len(SHIPPED.candidates("something", "ssv2", like="agarbathi stand")) > 300


def test_candidates_for_an_unknown_dataset_is_an_error():
    with pytest.raises(VocabularyError, match="no object vocabulary for dataset 'kinetics'"):
        SHIPPED.candidates("something", "kinetics")


@pytest.mark.parametrize(
    "slot",
    [
        "something",
        "Something",
        "[something]",
        "something in it",
        "something soft",
        "some substance",
        "something unbendable",
        "something that is not tearable",
        "something else that cannot support it",
        "one of many similar things on the table",
        "something similar to other things that are already on the table",
        "something that cannot actually stand upright",
        "noun",
    ],
)
def test_object_slots_are_replaceable(slot):
    assert SHIPPED.is_replaceable(slot)
    assert SHIPPED.candidates(slot, "ego4d" if slot == "noun" else "ssv2")


@pytest.mark.parametrize("slot", ["number of", "part", "somewhere", "Part", "[somewhere]", "verb"])
def test_number_part_and_somewhere_are_never_replaceable(slot):
    assert not SHIPPED.is_replaceable(slot)
    with pytest.raises(VocabularyError, match="not replaceable"):
        SHIPPED.candidates(slot, "ssv2")


def test_every_bracket_of_the_genuine_ssv2_sample_is_classified(real_ssv2):
    records = json.loads((real_ssv2 / "validation.json").read_text())
    names = {m.lower() for r in records for m in re.findall(r"\[([^\]]+)\]", r["template"])}
    assert names - set(SLOT_TYPES) == set(NEVER_REPLACEABLE)


# --- reading and validating a vocabulary file -----------------------------------------------------------


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "objects.tsv"
    path.write_text(body, encoding="utf-8")
    return path


GOOD = "# a comment\nnoun\ttype\tdatasets\ncup\tcontainer\tboth\nflour\tsubstance\tssv2\ncube\tobject\tboth,mini\n"


def test_a_good_file_loads_with_its_datasets(tmp_path):
    vocab = load_object_vocabulary(write(tmp_path, GOOD))
    assert [e.noun for e in vocab.entries] == ["cube", "cup", "flour"]
    assert vocab.entries[0].datasets == ("ego4d", "mini", "ssv2")
    assert vocab.candidates("something", "ego4d") == ["cube", "cup"]


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("noun\ttype\ncup\tcontainer\n", 1, "expected the header"),
        ("noun\ttype\tdatasets\ncup\tcontainer\n", 2, "expected 3 tab-separated columns"),
        ("noun\ttype\tdatasets\ncup container both\n", 2, "expected 3 tab-separated columns"),
        (
            "noun\ttype\tdatasets\ncup\tcontainer\tboth\n\n# x\ncup\tobject\tssv2\n",
            5,
            "duplicate noun 'cup' (first on line 2)",
        ),
        ("noun\ttype\tdatasets\ncup\tvessel\tboth\n", 2, "unknown type 'vessel'"),
        ("noun\ttype\tdatasets\nCup\tcontainer\tboth\n", 2, "must be lower case"),
        ("noun\ttype\tdatasets\ncup\tcontainer\tkinetics\n", 2, "unknown dataset 'kinetics'"),
    ],
)
def test_bad_files_are_refused_naming_file_and_line(tmp_path, body, line, message):
    path = write(tmp_path, body)
    with pytest.raises(VocabularyError) as err:
        load_object_vocabulary(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert message in str(err.value)


def test_an_empty_or_missing_file_is_refused(tmp_path):
    with pytest.raises(VocabularyError, match="no header"):
        load_object_vocabulary(write(tmp_path, "# only comments\n"))
    with pytest.raises(VocabularyError, match="cannot read"):
        load_object_vocabulary(tmp_path / "absent.tsv")


def test_write_then_load_round_trips(tmp_path):
    entries = [
        ObjectEntry("cup", "container", ("ego4d", "ssv2")),
        ObjectEntry("cube", "object", ("mini", "ssv2")),
    ]
    path = write_vocabulary(entries, tmp_path / "out" / "objects.tsv", comment="built for a test")
    assert "# built for a test" in path.read_text()
    assert list(load_object_vocabulary(path).entries) == sorted(entries, key=lambda e: e.noun)


# --- the OR edit -------------------------------------------------------------------------------------------


def test_determiners_are_kept():
    foil, record = edit(make_clip("Poking a pen so that it spins around", ("something", "pen")))
    assert foil.startswith("Poking a") and foil.endswith(" so that it spins around")
    [obj] = record["entry"]["objects"]
    assert obj["old"] == "pen" and obj["new"] != "pen" and obj["type"] in TYPES
    assert record["kind"] == "object"


def test_slots_that_name_one_object_get_one_replacement():
    clip = make_clip(
        "Tipping cup with water in it over, so water falls out",
        ("something", "cup"),
        ("something in it", "water"),
        ("something in it", "water"),
        refs=[0, 1, 1],
    )
    for seed in range(20):
        foil, record = edit(clip, seed=seed)
        m = re.fullmatch(r"Tipping (.+) with (.+) in it over, so (.+) falls out", foil)
        assert m, foil
        assert m.group(2) == m.group(3) != m.group(1)
        assert head_noun(m.group(1)) != head_noun(m.group(2))


def test_replacements_never_name_an_object_already_in_the_clip():
    lexicon = lexicon_of(("cup", "container"), ("bowl", "container"), ("plate", "container"))
    clip = make_clip("Putting cup next to the plate", ("something", "cup"))
    assert {edit(clip, lexicon, seed)[0] for seed in range(10)} == {"Putting bowl next to the plate"}


def test_two_objects_never_get_the_same_noun():
    lexicon = lexicon_of(("cup", "container"), ("bowl", "container"))
    clip = make_clip("Putting pen next to stapler", ("something", "pen"), ("something", "stapler"))
    for seed in range(10):
        foil, _ = edit(clip, lexicon, seed)
        assert foil in ("Putting cup next to bowl", "Putting bowl next to cup")


@pytest.mark.parametrize(
    ("text", "words", "noun", "foil", "article"),
    [
        (
            "Poking a pen so that it spins around",
            "pen",
            "apple",
            "Poking an apple so that it spins around",
            ("a", "an"),
        ),
        ("A pen falling like a rock", "pen", "egg", "An egg falling like a rock", ("A", "An")),
        ("c takes an egg", "egg", "cup", "c takes a cup", ("an", "a")),
        ("c takes an egg", "egg", "usb stick", "c takes a usb stick", ("an", "a")),
        ("c takes the egg", "egg", "apple", "c takes the apple", None),
    ],
)
def test_a_and_an_agree_with_the_new_noun_as_a_recorded_change(text, words, noun, foil, article):
    clip = make_clip(text, ("something", words))
    got, record = edit(clip, lexicon_of((noun, "object")))
    assert got == foil
    assert apply_changes(text, record["changes"]) == foil
    if article is None:
        assert record["entry"]["articles"] == [] and len(record["changes"]) == 1
    else:
        [fix] = record["entry"]["articles"]
        assert (fix["old"], fix["new"]) == article
        assert {
            "start": fix["start"],
            "end": fix["start"] + len(article[0]),
            "old": article[0],
            "new": article[1],
        } in (record["changes"])


@pytest.mark.parametrize(
    ("word", "article"),
    [
        ("apple", "an"),
        ("cup", "a"),
        ("usb stick", "a"),
        ("umbrella", "an"),
        ("hour glass", "an"),
        ("ukulele", "a"),
    ],
)
def test_indefinite_article_follows_the_sound(word, article):
    assert indefinite_article(word) == article


def test_case_is_kept():
    foil, _ = edit(make_clip("Pen falling like a rock", ("Something", "Pen")))
    assert foil[0].isupper() and foil.endswith(" falling like a rock")
    foil, _ = edit(make_clip("putting pen next to mug", ("something", "pen"), ("something", "mug")))
    assert foil == foil.lower()


def test_number_part_and_somewhere_stay_as_they_are():
    clip = make_clip(
        "Putting 2 of coins onto pan",
        ("number of", "2 of"),
        ("something", "coins"),
        ("something", "pan"),
    )
    foil, record = edit(clip)
    assert foil.startswith("Putting 2 of ")
    assert [o["slot"] for o in record["entry"]["objects"]] == ["something", "something"]
    assert edit(make_clip("Moving part of pen", ("part", "part"))) == NO_REPLACEABLE_OBJECT
    assert edit(make_clip("Taking pen from drawer", ("somewhere", "drawer"))) == NO_REPLACEABLE_OBJECT
    assert edit(make_clip("c walks", dataset="ego4d")) == NO_REPLACEABLE_OBJECT


def test_plural_objects_get_plural_replacements_and_no_mass_nouns():
    lexicon = lexicon_of(("knife", "tool"), ("flour", "substance"))
    foil, record = edit(make_clip("c rinses the plates", ("noun", "plates"), dataset="ego4d"), lexicon)
    assert foil == "c rinses the knives"
    assert record["entry"]["objects"][0]["noun"] == "knife"


def test_mass_nouns_never_follow_a():
    lexicon = lexicon_of(("flour", "substance"), ("sand", "substance"), ("box", "container"))
    for seed in range(10):
        assert edit(make_clip("c takes a dough", ("noun", "dough"), dataset="ego4d"), lexicon, seed)[0] == (
            "c takes a box"
        )


def test_no_candidate_is_a_drop_reason():
    lexicon = lexicon_of(("pen", "object"))
    assert edit(make_clip("Poking a pen", ("something", "pen")), lexicon) == NO_CANDIDATE


def test_a_slot_that_does_not_match_the_text_is_an_error_naming_the_clip():
    clip = Clip(
        "clip-7",
        "ssv2",
        "val",
        "7.webm",
        None,
        None,
        "7",
        "Poking a pen",
        "Poking a pen",
        (ObjectSlot("something", "cup", 9, 12),),
    )
    with pytest.raises(ObjectSlotError, match="clip clip-7: object slot \\[something\\] 'cup'"):
        edit(clip)


def test_a_fixed_seed_gives_a_fixed_foil():
    clip = make_clip("Putting pen next to mug", ("something", "pen"), ("something", "mug"))
    assert edit(clip, seed=7) == edit(clip, seed=7)
    assert len({edit(clip, seed=s)[0] for s in range(30)}) > 10


def test_every_genuine_ssv2_clip_gets_an_edit_or_a_reason(real_ssv2):
    from actionbench.datasets.ssv2 import read_ssv2

    reasons = Counter()
    for clip in read_ssv2(real_ssv2 / "validation.json", split="all").clips:
        out = edit(clip)
        reasons[out if isinstance(out, str) else "edited"] += 1
        if not isinstance(out, str):
            assert out[0] != clip.text
    assert reasons["edited"] >= 0.95 * sum(reasons.values())


# --- property: the foil differs from the text only inside object spans and a/an before them ---------------

FILLER = [
    "putting",
    "next",
    "to",
    "the",
    "on",
    "table",
    "so",
    "it",
    "falls",
    "over",
    "with",
    "hand",
    "quickly",
]
OBJECTS = ["pen", "cup", "apple", "water", "towel", "egg", "chopping board", "Remote", "keys", "flour"]
SLOTS = ["something", "Something", "something soft", "some substance", "something in it", "part", "somewhere"]


@st.composite
def clips(draw):
    words: list[str] = []
    slots: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 4))):
        words += draw(st.lists(st.sampled_from(FILLER), max_size=3))
        if draw(st.booleans()):
            words.append(draw(st.sampled_from(["a", "an", "the", "A"])))
        obj = draw(st.sampled_from(OBJECTS))
        words.append(obj)
        slots.append((draw(st.sampled_from(SLOTS)), obj))
    words += draw(st.lists(st.sampled_from(FILLER), max_size=3))
    text = " ".join(words)
    names = [w for _, w in slots]
    refs = [names.index(w) for w in names]  # repeated words name one object
    dataset = draw(st.sampled_from(["ssv2", "ego4d"]))
    return make_clip(text, *slots, dataset=dataset, refs=refs)


@settings(max_examples=150, deadline=None)
@given(clip=clips(), seed=st.integers(0, 2**32 - 1))
def test_foils_change_only_object_words_and_their_articles(clip, seed):
    out = edit(clip, seed=seed)
    replaceable = [s for s in clip.objects if LEXICON.objects.is_replaceable(s.slot)]
    if not replaceable:
        assert out == NO_REPLACEABLE_OBJECT
        return
    if isinstance(out, str):
        assert out == NO_CANDIDATE
        return
    foil, record = out
    assert foil != clip.text
    spans = {(s.start, s.end) for s in replaceable}
    word_before = {
        s.start: next((t for t in reversed(tokenize(clip.text[: s.start]))), None) for s in replaceable
    }
    for c in record["changes"]:
        if (c["start"], c["end"]) in spans:
            continue
        # Otherwise it must be an a/an right before a replaced object.
        assert c["old"].lower() in ("a", "an") and c["new"].lower() in ("a", "an")
        assert any(t is not None and t.start == c["start"] for t in word_before.values())
    # Untouched spans are byte-identical: rebuild the foil from the text outside the changes.
    pieces, pos = [], 0
    for c in sorted(record["changes"], key=lambda c: c["start"]):
        pieces += [clip.text[pos : c["start"]], c["new"]]
        pos = c["end"]
    assert "".join(pieces) + clip.text[pos:] == foil


# --- building a vocabulary from annotations ---------------------------------------------------------------


def test_build_vocabulary_from_ssv2_and_egoclip_files(tmp_path):
    ssv2 = tmp_path / "train.json"
    ssv2.write_text(
        json.dumps(
            [
                {
                    "id": "1",
                    "label": "poking a hole into flour",
                    "template": "Poking a hole into [some substance]",
                    "placeholders": ["flour"],
                },
                {
                    "id": "2",
                    "label": "poking a hole into the flour",
                    "template": "Poking a hole into [some substance]",
                    "placeholders": ["the flour"],
                },
                {
                    "id": "3",
                    "label": "putting pen into cup",
                    "template": "Putting [something] into [something]",
                    "placeholders": ["a pen", "cup"],
                },
                {
                    "id": "4",
                    "label": "putting pens into a cup",
                    "template": "Putting [something] into [something]",
                    "placeholders": ["pens", "a cup"],
                },
                {
                    "id": "5",
                    "label": "stacking 4 slices of bread",
                    "template": "Stacking [number of] [something]",
                    "placeholders": ["4 slices", "of bread"],
                },
                {
                    "id": "6",
                    "label": "moving the lid of jar",
                    "template": "Moving [part] of [something]",
                    "placeholders": ["the lid", "jar"],
                },
                {
                    "id": "7",
                    "label": "broken",
                    "template": "Putting [something] into [something]",
                    "placeholders": ["pen"],
                },
            ]
        )
    )
    ego = tmp_path / "egoclip.jsonl"
    ego.write_text(
        "\n".join(
            json.dumps({"clip_text": t})
            for t in [
                "#C C picks up the knife",
                "#C C picks the knife from the table",
                "#C C walks",
                "#C C opens the cup",
            ]
        )
        + "\n"
    )
    skipped: Counter[str] = Counter()
    entries = build_vocabulary([ssv2], [ego], min_count=2, skipped=skipped)
    by_noun = {e.noun: e for e in entries}
    assert set(by_noun) == {"flour", "pen", "cup", "knife"}  # bread, jar: once; lid: a [part]
    assert by_noun["flour"] == ObjectEntry("flour", "substance", ("ssv2",))
    assert by_noun["cup"] == ObjectEntry("cup", "container", ("ssv2",))  # twice in SSv2, once in Ego4D
    assert by_noun["pen"].type == "object"
    assert by_noun["knife"] == ObjectEntry("knife", "object", ("ego4d",))
    assert skipped["placeholders do not match the template's slots"] == 1
    assert skipped["narration names no object"] == 1
    assert {e.noun for e in build_vocabulary([ssv2], [ego], min_count=1)} >= {"bread", "jar", "cup"}
    path = write_vocabulary(entries, tmp_path / "objects.tsv")
    assert len(load_object_vocabulary(path)) == 4


def test_build_vocabulary_refuses_malformed_annotations(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"clip_text": "#C C opens the cup"}\n{not json\n')
    with pytest.raises(VocabularyError, match=f"{re.escape(str(bad))}:2:\\d+: malformed JSON"):
        build_vocabulary([], [bad], min_count=1)
    with pytest.raises(VocabularyError, match="min_count"):
        build_vocabulary([], [], min_count=0)
