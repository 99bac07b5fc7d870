"""SSv2 annotations: the official layout, every slot kind, malformed input, and the Action Antonym rule."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from actionbench.datasets.records import AnnotationError
from actionbench.datasets.ssv2 import fill, read_ssv2, unbracket
from actionbench.lexicon import Lexicon
from actionbench.probes.ssv2 import antonym_edit
from actionbench.probes.text import apply_changes, tokenize

LABELS = {
    "Pushing something from left to right": "93",
    "Pushing something from right to left": "94",
    "Stacking number of something": "151",
    "Tipping something with something in it over, so something in it falls out": "160",
    "Something falling like a rock": "136",
    "Holding something": "16",
}


def write_ssv2(folder: Path, records: list, labels: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.json").write_text(json.dumps(labels or LABELS))
    (folder / "validation.json").write_text(json.dumps(records))
    return folder


def rec(i, template, placeholders, label=None):
    return {"id": str(i), "label": label or unbracket(template).lower(), "template": template, "placeholders": placeholders}


def test_every_slot_kind_is_refilled_with_spans_and_determiners(tmp_path: Path) -> None:
    folder = write_ssv2(tmp_path, [
        rec(1, "Stacking [number of] [something]", ["3", "coins"]),
        rec(2, "Tipping [something] with [something in it] over, so [something in it] falls out",
            ["a cup", "water", "water"]),
        rec(3, "[Something] falling like a rock", ["book"]),
    ])
    clips = {c.clip_id: c for c in read_ssv2(folder, "val").clips}
    assert clips["1"].text == "Stacking 3 coins"
    assert [(o.slot, o.text) for o in clips["1"].objects] == [("number of", "3"), ("something", "coins")]
    tip = clips["2"]
    assert tip.text == "Tipping a cup with water over, so water falls out"
    assert [(o.slot, o.text, o.determiner, o.ref) for o in tip.objects] == [
        ("something", "cup", "a", 0), ("something in it", "water", "", 1), ("something in it", "water", "", 1),
    ]
    assert all(tip.text[o.start : o.end] == o.text for o in tip.objects)
    assert clips["3"].text == "Book falling like a rock"
    assert clips["3"].video == "3.webm" and clips["3"].source_video == "3" and clips["3"].start is None


def test_unknown_templates_and_slot_mismatches_are_counted_not_fatal(tmp_path: Path) -> None:
    folder = write_ssv2(tmp_path, [
        rec(1, "Juggling [something]", ["balls"]),
        rec(2, "Pushing [something] from left to right", ["a pen", "extra"]),
        rec(3, "Pushing [something] from left to right", ["a pen"]),
    ])
    result = read_ssv2(folder, "val")
    assert [c.clip_id for c in result.clips] == ["3"]
    assert result.skipped == Counter({"unknown template": 1, "placeholder count differs from template slots": 1})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"id": "1", "label": "x"', r"validation.json:1:\d+: malformed JSON"),
        ('[{"id": "7", "label": "x", "template": "Holding [something]"}]', "record 0 (id 7): missing field 'placeholders'"),
        ('{"id": 1}', "expected a list"),
    ],
)
def test_malformed_files_name_the_file_and_record(tmp_path: Path, content: str, message: str) -> None:
    folder = write_ssv2(tmp_path, [])
    (folder / "validation.json").write_text(content)
    with pytest.raises(AnnotationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_ssv2(folder, "val")


def test_test_split_reads_templates_from_test_answers(tmp_path: Path) -> None:
    folder = write_ssv2(tmp_path, [])
    (folder / "test.json").write_text(json.dumps([{"id": "5"}, {"id": "6"}]))
    (folder / "test-answers.csv").write_text("5;Pushing something from left to right\n")
    result = read_ssv2(folder, "test")
    assert [c.text for c in result.clips] == ["Pushing something from left to right"]
    assert result.skipped == Counter({"no template in test-answers.csv": 1})


def test_antonym_refills_the_same_placeholders_and_touches_only_action_words(tmp_path: Path) -> None:
    folder = write_ssv2(tmp_path, [rec(1, "Pushing [something] from left to right", ["a red onion"])])
    clip = read_ssv2(folder, "val").clips[0]
    foil, edit = antonym_edit(clip, Lexicon.load())
    assert foil == "Pushing a red onion from right to left"
    assert apply_changes(clip.text, edit["changes"]) == foil
    assert edit["entry"]["closed"] is True
    for c in edit["changes"]:
        assert all(clip.text[o.start : o.end] not in c["old"] for o in clip.objects)


def test_genuine_sample_one_aa_probe_per_record_with_an_antonym(real_ssv2: Path) -> None:
    lex = Lexicon.load()
    result = read_ssv2(real_ssv2, "val")
    assert len(result.clips) == 522 and not result.skipped
    made = 0
    for clip in result.clips:
        entry = lex.ssv2.get(clip.action)
        out = antonym_edit(clip, lex)
        if entry.kind == "none":
            assert out == "template without antonym"
            continue
        made += 1
        foil, edit = out
        assert foil != clip.text
        # words outside the changes are untouched, the placeholders in particular
        assert apply_changes(clip.text, edit["changes"]) == foil
        for o in clip.objects:
            assert o.text in foil
        assert foil[:1].isupper() and clip.text[:1].isupper()
    assert made == sum(1 for c in result.clips if lex.ssv2.get(c.action).kind != "none")


def test_fill_keeps_offsets_on_token_boundaries() -> None:
    text, pieces = fill("Moving [part] of [something]", ["the lid", "a box"])
    assert text == "Moving the lid of a box"
    bounds = {t.start for t in tokenize(text)}
    assert all(p.start in bounds for p in pieces)
