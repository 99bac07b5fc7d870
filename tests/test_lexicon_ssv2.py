"""The SSv2 antonym table: one validated row per official template, antonyms that refill with the same slots."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from actionbench.lexicon.ssv2 import (
    TABLE_PATH,
    LexiconError,
    TemplateAntonym,
    load_ssv2_table,
    slots,
    unbracket,
)

HEADER = "template\tantonym\tkind\treason\n"

# The pairs the embedded mini benchmark relies on: each must be closed in both directions.
MINI_PAIRS = [
    ("Pushing [something] from left to right", "Pushing [something] from right to left"),
    ("Pulling [something] from left to right", "Pulling [something] from right to left"),
    ("Moving [something] up", "Moving [something] down"),
    ("Moving [something] towards the camera", "Moving [something] away from the camera"),
    (
        "Moving [something] and [something] closer to each other",
        "Moving [something] and [something] away from each other",
    ),
    ("Putting [something] into [something]", "Taking [something] out of [something]"),
    (
        "Turning the camera left while filming [something]",
        "Turning the camera right while filming [something]",
    ),
    (
        "Turning the camera upwards while filming [something]",
        "Turning the camera downwards while filming [something]",
    ),
    ("Approaching [something] with your camera", "Moving away from [something] with your camera"),
    ("Opening [something]", "Closing [something]"),
    ("Folding [something]", "Unfolding [something]"),
    ("Tipping [something] over", "Putting [something] upright on the table"),
]


@pytest.fixture(scope="module")
def table():
    return load_ssv2_table()


def write_table(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "bad.tsv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


# --- helpers -------------------------------------------------------------------------------------------


def test_slots_are_the_bracket_names_in_order_lower_cased():
    assert slots("Tipping [something] with [something in it] over, so [something in it] falls out") == [
        "something",
        "something in it",
        "something in it",
    ]
    assert slots("[Something] falling like a rock") == ["something"]
    assert slots("Putting [number of] [something] onto [something]") == [
        "number of",
        "something",
        "something",
    ]
    assert slots("Turning the camera left") == []


def test_unbracket_removes_only_the_brackets():
    assert unbracket("[Something] falling like a rock") == "Something falling like a rock"
    assert unbracket("Moving [part] of [something]") == "Moving part of something"


# --- the shipped table ---------------------------------------------------------------------------------


def test_table_has_one_row_per_official_template(table, shared_data):
    official = set(json.loads((shared_data / "ssv2-labels.json").read_text(encoding="utf-8")))
    assert len(official) == 174
    assert len(table) == 174
    assert {unbracket(row.template) for row in table} == official
    for key in official:
        row = table.get(key)
        assert isinstance(row, TemplateAntonym)
        assert unbracket(row.template) == key


def test_every_real_bracketed_template_is_in_the_table_as_written(table, real_ssv2):
    records = json.loads((real_ssv2 / "validation.json").read_text(encoding="utf-8"))
    written = {r["template"] for r in records}
    assert len(written) == 174
    assert written == {row.template for row in table}
    for record in records:
        row = table.get(record["template"])
        assert row is not None and row.template == record["template"]
        # the clip's own placeholders refill both the template and its antonym
        assert len(record["placeholders"]) == len(slots(row.template))


def test_antonyms_have_exactly_the_slot_sequence_of_their_template(table):
    for row in table:
        if row.antonym is not None:
            assert slots(row.antonym) == slots(row.template), row.template
            assert unbracket(row.antonym) != unbracket(row.template)


def test_closed_means_the_antonym_is_itself_a_template(table):
    keys = {unbracket(row.template) for row in table}
    for row in table:
        if row.kind == "none":
            assert row.antonym is None and row.reason, row.template
        else:
            assert row.closed == (unbracket(row.antonym) in keys), row.template
            if row.closed:
                assert table.get(row.antonym) is not None


def test_mini_benchmark_pairs_are_closed_both_ways(table):
    for a, b in MINI_PAIRS:
        for x, y in ((a, b), (b, a)):
            row = table.get(x)
            assert row is not None, x
            assert row.template == x
            assert row.antonym == y, x
            assert row.closed, x


def test_counts_add_up_and_most_templates_have_an_antonym(table):
    counts = table.antonym_counts()
    assert set(counts) == {"closed", "open", "none"}
    assert sum(counts.values()) == len(table) == 174
    assert counts["closed"] + counts["open"] > counts["none"]


def test_lookup_by_bracketed_or_labels_key_gives_the_same_row(table):
    row = table.get("Tipping [something] with [something in it] over, so [something in it] falls out")
    assert row is table.get("Tipping something with something in it over, so something in it falls out")
    assert table.get("[Something] falling like a rock").antonym == "[Something] rising like a rock"
    assert table.get("Something falling like a rock").kind == "open"
    assert table.get("Holding [something]").antonym is None
    assert table.get("Juggling [something]") is None


def test_loading_the_shipped_table_twice_gives_the_same_table():
    # How fast it loads is measured in benchmarks/probe_throughput.py (no wall-clock asserts in tests).
    first, second = load_ssv2_table(), load_ssv2_table()
    assert repr(first) == repr(second)


def test_module_prints_the_table_as_markdown_with_counts():
    out = subprocess.run(
        [sys.executable, "-m", "actionbench.lexicon.ssv2"], capture_output=True, text=True, check=True
    ).stdout
    lines = out.splitlines()
    assert lines[0] == "| template | antonym | kind | reason |"
    assert sum(line.startswith("| ") for line in lines) == 1 + 174
    assert "| Opening [something] | Closing [something] | closed |" in out
    assert "| Holding [something] | none | none | static: no action |" in out
    counts = load_ssv2_table().antonym_counts()
    assert lines[-1] == (
        f"174 templates: {counts['closed']} closed, {counts['open']} open, {counts['none']} none"
    )


# --- the validator -------------------------------------------------------------------------------------

GOOD = [
    "Opening [something]\tClosing [something]\tclosed\t",
    "Closing [something]\tOpening [something]\tclosed\t",
]


def test_a_small_valid_file_loads(tmp_path):
    table = load_ssv2_table(write_table(tmp_path, *GOOD, "Holding [something]\t\tnone\tstatic: no action"))
    assert len(table) == 3
    assert table.antonym_counts() == {"closed": 2, "open": 0, "none": 1}
    assert [row.template for row in table] == [
        "Opening [something]",
        "Closing [something]",
        "Holding [something]",
    ]


@pytest.mark.parametrize(
    ("bad_row", "line", "message"),
    [
        ("Folding [something]\tUnfolding [something]\topen", 4, "4 tab-separated columns, found 3"),
        ("Folding [something]\tUnfolding [something]\topen\t\textra", 4, "found 5"),
        ("Folding [something]\tUnfolding [something]\tmaybe\t", 4, "unknown kind 'maybe'"),
        ("Folding [something]\tUnfolding [something] with [something]\topen\t", 4, "slots"),
        ("[Something] falling like a rock\t[something in it] rising like a rock\topen\t", 4, "slots"),
        ("Holding [something]\t\tnone\t", 4, "none needs a reason"),
        ("Holding [something]\tLetting go of [something]\tnone\tstatic", 4, "kind none but an antonym"),
        ("Folding [something]\t\topen\t", 4, "needs an antonym"),
        ("Folding [something]\tUnfolding [something]\tclosed\t", 4, "marked closed but"),
        ("Folding [something]\tClosing [something]\topen\t", 4, "marked open but"),
        ("Opening [something]\tClosing [something]\tclosed\t", 4, "duplicate template"),
        ("Opening something\tClosing something\tclosed\t", 4, "duplicate template"),
        ("Folding [something\tUnfolding [something]\topen\t", 4, "unbalanced brackets"),
        ("Folding [something]\tFolding [something]\topen\t", 4, "antonym is the template itself"),
    ],
)
def test_validator_rejects_a_bad_row_naming_file_and_line(tmp_path, bad_row, line, message):
    path = write_table(tmp_path, *GOOD, bad_row)
    with pytest.raises(LexiconError) as err:
        load_ssv2_table(path)
    assert f"{path}:{line}:" in str(err.value)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_validator_rejects_a_wrong_header(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("template\tantonym\tclosed\n" + GOOD[0] + "\n", encoding="utf-8")
    with pytest.raises(LexiconError, match=re.escape(f"{path}:1: header")):
        load_ssv2_table(path)


def test_the_shipped_table_is_the_default_path(table):
    assert TABLE_PATH.name == "ssv2_antonyms.tsv"
    assert load_ssv2_table(TABLE_PATH).rows == table.rows
