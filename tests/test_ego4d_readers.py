"""Ego4D narrations: cleaning, finding the main verb and object, and the EgoClip / narration.json readers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from actionbench.datasets.ego4d import clean_text, parse_narration, read_egoclip, read_narrations
from actionbench.datasets.records import AnnotationError, ego4d_split


def uid_in(split: str, start: int = 0) -> str:
    """A video uid that the hash assigns to `split` (the split formula is the lead's; we only search it)."""
    i = start
    while ego4d_split(f"video-{i}") != split:
        i += 1
    return f"video-{i}"


# --------------------------------------------------------------------------------------------------------
# clean_text
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("#C C picks up the knife.", "c picks up the knife"),
        ("#C  C picks the seed.", "c picks the seed"),
        ("#c c opens the fridge", "c opens the fridge"),
        ("# c c walks around", "c walks around"),
        ("#CC washes a frying spoon", "c washes a frying spoon"),
        ("#O The woman X walks away.", "the woman x walks away"),
        ("#O A man Y  arranges jenga blocks   ", "a man y arranges jenga blocks"),
        ("#C C holds the #unsure", "c holds something"),
        ("#C C picks a bottle of #unsure", "c picks a bottle of something"),
        ("#C C cuts #Unsure.", "c cuts something"),
        ("#C C pours water into the pot of soup. #unsure", "c pours water into the pot of soup"),
        ("#C C inserts the Royco into the shelf..", "c inserts the royco into the shelf"),
        ('#C C reads "menu" (page 2): done; ~ok!', "c reads menu page 2 done ok"),
        ("#C C closes the fridge,", "c closes the fridge,"),  # the comma is not in ActionBench's list
    ],
)
def test_clean_text_follows_actionbench_rules(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_clean_text_truncates_to_fifty_words() -> None:
    raw = "#C C " + " ".join(f"w{i}" for i in range(80))
    assert len(clean_text(raw).split()) == 50
    assert clean_text(raw).startswith("c w0 w1")


def test_clean_text_keeps_words_that_merely_end_like_a_tag_word() -> None:
    assert clean_text("#C C eats the pizza #unsure") == "c eats the pizza something"


# --------------------------------------------------------------------------------------------------------
# parse_narration
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "actor", "verb", "action"),
    [
        ("c picks up the knife", "c", "picks", "pick up"),
        ("c c mixes the flour", "c c", "mixes", "mix"),
        ("the man x puts a card on the table", "the man x", "puts", "put"),
        ("a man y arranges jenga blocks", "a man y", "arranges", "arrange"),
        ("person a holds the vegetable", "person a", "holds", "hold"),
        ("lady e picks card from table", "lady e", "picks", "pick"),
        ("woman x laughs", "woman x", "laughs", "laugh"),
        ("man x puts card on the table", "man x", "puts", "put"),
        ("o spins the coffee tin", "o", "spins", "spin"),
        ("c walking towards kitchen", "c", "walking", "walk"),
        ("moves the brick mold on the ground", "", "moves", "move"),
        ("c turns on the mixer", "c", "turns", "turn on"),
        ("c walks on the floor", "c", "walks", "walk"),
        ("c puts in the tray", "c", "puts", "put in"),
        ("c turns the tap off", "c", "turns", "turn off"),
        ("c puts something down", "c", "puts", "put down"),
        ("c puts the knife on the table", "c", "puts", "put"),
        ("c takes a steel bowl out of the paper bag", "c", "takes", "take"),
        ("c smoothens the frame", "c", "smoothens", "smoothen"),
    ],
)
def test_parse_finds_actor_verb_and_particle(text: str, actor: str, verb: str, action: str) -> None:
    n = parse_narration(text)
    assert n is not None
    assert (n.actor, n.verb, n.action) == (actor, verb, action)
    assert text[n.verb_start : n.verb_end] == verb


def test_parse_object_keeps_determiner_outside_the_span() -> None:
    text = "c picks up the kitchen knife from the chopping board"
    n = parse_narration(text)
    assert n is not None and n.object is not None
    o = n.object
    assert (o.slot, o.text, o.determiner, o.ref) == ("noun", "kitchen knife", "the", 0)
    assert text[o.start : o.end] == "kitchen knife"


@pytest.mark.parametrize(
    ("text", "determiner", "noun"),
    [
        ("c opens drawer", "", "drawer"),
        ("c raises his hand", "his", "hand"),
        ("c takes out two wipes from a pack", "two", "wipes"),
        ("c put the the fur on the floor", "the the", "fur"),
        ("c ties the packet of powder with the rubber", "the", "packet"),
        ("c tears the baking and greaseproof paper", "the", "baking"),
        ("c turns the tap off", "the", "tap"),
        ("c pushes the container forward", "the", "container"),
    ],
)
def test_parse_object_stops_at_prepositions_conjunctions_and_particles(
    text: str, determiner: str, noun: str
) -> None:
    n = parse_narration(text)
    assert n is not None and n.object is not None
    assert (n.object.determiner, n.object.text) == (determiner, noun)


@pytest.mark.parametrize(
    "text", ["c looks at the clothes", "c puts it in the rack", "c holds something", "c picks"]
)
def test_parse_gives_no_object_for_prepositions_pronouns_and_unsure(text: str) -> None:
    n = parse_narration(text)
    assert n is not None and n.object is None


@pytest.mark.parametrize("text", ["", "c", "c c", "c something", "c the knife"])
def test_parse_returns_none_without_a_verb(text: str) -> None:
    assert parse_narration(text) is None


_C_TAG = re.compile(r"^\s*#\s*c\s*c\b", re.IGNORECASE)


def test_main_verb_found_in_at_least_95_percent_of_genuine_c_narrations(real_ego4d: Path) -> None:
    lines = (real_ego4d / "narrations.txt").read_text(encoding="utf-8").split("\n")
    lines += [
        json.loads(x)["clip_text"] for x in (real_ego4d / "egoclip_subset.jsonl").read_text().splitlines()
    ]
    c_lines = [raw for raw in lines if _C_TAG.match(raw)]
    assert len(c_lines) > 1000
    failures = [raw for raw in c_lines if parse_narration(clean_text(raw)) is None]
    assert len(failures) / len(c_lines) <= 0.05, failures


# --------------------------------------------------------------------------------------------------------
# read_egoclip
# --------------------------------------------------------------------------------------------------------


def egoclip_record(
    video_uid: str = "video-0", ind: int = 7, text: str = "#C C picks up the knife.", **kw
) -> dict:
    rec = {
        "video_uid": video_uid,
        "video_dur": 100.0,
        "narration_source": "narration_pass_1",
        "narration_ind": ind,
        "narration_time": 20.0,
        "clip_start": 19.5,
        "clip_end": 21.0,
        "clip_text": text,
        "tag_verb": "[17]",
        "tag_noun": "[3, 93]",
        "clip_uid": "clip-a",
        "narration_relative_time": 5.0,
        "clip_relative_start": 4.5,
        "clip_relative_end": 6.0,
        "clip_fps": 30.0,
    }
    rec.update(kw)
    return rec


def write_jsonl(path: Path, records: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_read_egoclip_jsonl_makes_one_clip_per_narration(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "egoclip.jsonl", [egoclip_record(), egoclip_record(ind=8, text="#C C opens the tap")]
    )
    result = read_egoclip(path)
    assert result.total_records == 2 and not result.skipped
    clip = result.clips[0]
    assert clip.clip_id == "video-0:narration_pass_1:7"
    assert clip.dataset == "ego4d" and clip.split == ego4d_split("video-0")
    assert (clip.video, clip.start, clip.end, clip.source_video) == ("clip-a.mp4", 4.5, 6.0, "video-0")
    assert (clip.text, clip.raw_text, clip.action) == (
        "c picks up the knife",
        "#C C picks up the knife.",
        "pick up",
    )
    assert [o.text for o in clip.objects] == ["knife"]
    assert clip.source["clip_uid"] == "clip-a" and clip.source["narration_time"] == 20.0
    assert clip.source["tag_noun"] == [3, 93]


def test_read_egoclip_csv_with_pandas_index_column(tmp_path: Path) -> None:
    recs = [egoclip_record(), egoclip_record(ind=8, text="#C C opens the tap, slowly")]
    fields = list(recs[0])
    lines = ["," + ",".join(fields)]
    for i, r in enumerate(recs):
        lines.append(f"{i}," + ",".join(json.dumps(str(r[f])) for f in fields))
    path = tmp_path / "egoclip.csv"
    path.write_text("\n".join(lines) + "\n")
    result = read_egoclip(path)
    assert [c.text for c in result.clips] == ["c picks up the knife", "c opens the tap, slowly"]
    assert result.clips[1].clip_id == "video-0:narration_pass_1:8"
    assert result.clips[0].start == 4.5


def test_read_egoclip_tab_separated_csv(tmp_path: Path) -> None:
    rec = egoclip_record()
    path = tmp_path / "egoclip.csv"
    path.write_text("\t".join(rec) + "\n" + "\t".join(str(v) for v in rec.values()) + "\n")
    assert read_egoclip(path).clips[0].action == "pick up"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"video_uid": "v", "clip_text": ', r"egoclip\.jsonl:2:\d+: malformed JSON"),
        (
            json.dumps({k: v for k, v in egoclip_record().items() if k != "clip_uid"}),
            r":2: missing field 'clip_uid'",
        ),
        (json.dumps(egoclip_record(clip_relative_start="soon")), r":2: clip_relative_start is not a number"),
        (json.dumps(egoclip_record(narration_time="noon")), r":2: narration_time is not a number"),
        (json.dumps(egoclip_record(clip_relative_end=1.0)), r":2: clip_relative_end 1\.0 is before"),
        (json.dumps(egoclip_record(tag_verb="[17,")), r":2: tag_verb is not a list"),
        ("[1, 2]", r":2: expected a JSON object"),
    ],
)
def test_read_egoclip_names_file_line_and_field_of_bad_input(tmp_path: Path, line: str, message: str) -> None:
    path = write_jsonl(tmp_path / "egoclip.jsonl", [egoclip_record(), line])
    with pytest.raises(AnnotationError, match=message):
        read_egoclip(path)


@pytest.mark.parametrize(
    "value",
    ["[17]", "[17, 93]", "[]", " [ 0 , 5 ] ", "[-1]", "[17,", "[01]", "[1.0]", "[+1]", "[true]", "[1,]", "17", "",
     "[[1]]", '["1"]'],
)  # fmt: skip
def test_taxonomy_tags_read_as_a_json_list_of_integers_would(value: str) -> None:
    """The reader's fast path for "[17, 93]" accepts exactly what a JSON parse into a list of ints accepts."""
    from actionbench.datasets.ego4d import _index_list

    try:
        parsed = json.loads(value) if value.strip() else []
        expected = parsed if isinstance(parsed, list) and all(type(v) is int for v in parsed) else None
    except json.JSONDecodeError:
        expected = None
    if expected is None:
        with pytest.raises(AnnotationError, match="tag_verb is not a list of indices"):
            _index_list(value, "f:2", "tag_verb")
    else:
        assert _index_list(value, "f:2", "tag_verb") == expected


def test_read_egoclip_csv_missing_column_names_field(tmp_path: Path) -> None:
    rec = {k: v for k, v in egoclip_record().items() if k != "clip_relative_end"}
    path = tmp_path / "egoclip.csv"
    path.write_text(",".join(rec) + "\n" + ",".join(json.dumps(str(v)) for v in rec.values()) + "\n")
    with pytest.raises(AnnotationError, match=r"egoclip\.csv:2: missing field 'clip_relative_end'"):
        read_egoclip(path)


def test_readers_name_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match=r"nope\.jsonl: no such annotation file"):
        read_egoclip(tmp_path / "nope.jsonl")
    with pytest.raises(AnnotationError, match=r"narration\.json: no such annotation file"):
        read_narrations(tmp_path / "narration.json")


def test_read_egoclip_counts_other_splits_instead_of_failing(tmp_path: Path) -> None:
    train, test = uid_in("train"), uid_in("test")
    path = write_jsonl(
        tmp_path / "e.jsonl", [egoclip_record(train), egoclip_record(test), egoclip_record(test, 9)]
    )
    result = read_egoclip(path, split="test")
    assert {c.source_video for c in result.clips} == {test}
    assert all(c.split == "test" for c in result.clips)
    assert result.skipped == {"other split": 1}
    assert result.total_records == 3
    assert len(read_egoclip(path, split="all").clips) == 3
    with pytest.raises(ValueError, match="unknown split"):
        read_egoclip(path, split="validation")


def test_read_egoclip_ids_are_unique_and_independent_of_order(tmp_path: Path) -> None:
    recs = [
        egoclip_record(ind=0, text="#C C opens a shelf", clip_relative_start=1.0, clip_relative_end=2.0),
        egoclip_record(ind=0, text="#C C closes the shelf", clip_relative_start=3.0, clip_relative_end=4.0),
        egoclip_record(ind=5),
        egoclip_record(ind=5),  # an exact repeat
    ]
    forward = read_egoclip(write_jsonl(tmp_path / "a.jsonl", recs))
    backward = read_egoclip(write_jsonl(tmp_path / "b.jsonl", recs[::-1]))
    ids = sorted(c.clip_id for c in forward.clips)
    assert ids == sorted(c.clip_id for c in backward.clips)
    assert ids == ["clip-a:1.000:2.000", "clip-a:3.000:4.000", "video-0:narration_pass_1:5"]
    assert forward.skipped == {"duplicate record": 1}


def test_read_egoclip_without_narration_ids_falls_back_to_clip_and_times(tmp_path: Path) -> None:
    rec = {k: v for k, v in egoclip_record().items() if k not in ("narration_source", "narration_ind")}
    assert read_egoclip(write_jsonl(tmp_path / "e.jsonl", [rec])).clips[0].clip_id == "clip-a:4.500:6.000"


def test_read_egoclip_skips_empty_narrations_and_windows_with_reasons(tmp_path: Path) -> None:
    recs = [
        egoclip_record(ind=1, text=" . . "),
        egoclip_record(ind=2, clip_relative_end=4.5),
        egoclip_record(ind=3),
    ]
    result = read_egoclip(write_jsonl(tmp_path / "e.jsonl", recs))
    assert len(result.clips) == 1
    assert result.skipped == {"empty narration": 1, "empty time window": 1}


def test_read_egoclip_on_the_genuine_subset(real_ego4d: Path) -> None:
    result = read_egoclip(real_ego4d / "egoclip_subset.jsonl")
    assert result.total_records == 689
    assert len(result.clips) == 689 and not result.skipped
    assert len({c.clip_id for c in result.clips}) == 689
    assert {c.split for c in result.clips} <= {"train", "val", "test"}
    for clip in result.clips:
        assert clip.video == f"{clip.source['clip_uid']}.mp4"
        assert clip.start is not None and clip.end is not None and clip.start <= clip.end
        assert clip.text == clean_text(clip.raw_text)
        for o in clip.objects:
            assert clip.text[o.start : o.end] == o.text
    # windows of one video never straddle splits
    by_video: dict[str, set[str]] = {}
    for clip in result.clips:
        by_video.setdefault(clip.source_video, set()).add(clip.split)
    assert all(len(s) == 1 for s in by_video.values())


# --------------------------------------------------------------------------------------------------------
# read_narrations (Ego4D narration.json)
# --------------------------------------------------------------------------------------------------------


def narration(t: float | str, text: str) -> dict:
    return {"timestamp_sec": t, "narration_text": text, "annotation_uid": "ann"}


def write_narrations(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_read_narrations_windows_follow_egovlp_rule(tmp_path: Path) -> None:
    # pass 1: gaps 2, 4, 6 s -> beta = 4; pass 2: one gap of 10 s -> beta = 10
    data = {
        "video-0": {
            "narration_pass_1": {
                "narrations": [
                    narration(10.0, "#C C opens the tap"),
                    narration(12.0, "#C C picks the cup"),
                    narration(16.0, "#C C fills the cup"),
                    narration(22.0, "#C C closes the tap"),
                ],
                "summaries": [],
            },
            "narration_pass_2": {
                "narrations": [narration(0.1, "#C C walks"), narration(10.1, "#C C looks around")],
                "summaries": [],
            },
            "status": "complete",
        }
    }
    result = read_narrations(write_narrations(tmp_path / "narration.json", data), alpha=2.0)
    assert result.total_records == 6 and not result.skipped
    clips = {c.raw_text: c for c in result.clips}
    tap = clips["#C C opens the tap"]
    assert tap.clip_id == "video-0:narration_pass_1:0" and tap.video == "video-0.mp4"
    assert (tap.start, tap.end) == pytest.approx((10.0 - 1.0, 10.0 + 1.0))  # 4 / (2 * 2)
    walks = clips["#C C walks"]
    assert (walks.start, walks.end) == pytest.approx((0.0, 0.1 + 2.5))  # clipped at 0; 10 / (2 * 2)
    assert tap.source["narration_source"] == "narration_pass_1" and tap.source["narration_time"] == 10.0
    default = {c.raw_text: c for c in read_narrations(tmp_path / "narration.json").clips}
    tap = default["#C C opens the tap"]
    assert tap.end - tap.start == pytest.approx(4.0 / 4.9)  # EgoVLP's alpha


def test_read_narrations_single_narration_uses_alpha_as_beta(tmp_path: Path) -> None:
    data = {"v": {"narration_pass_1": {"narrations": [narration(30.0, "#C C opens the door")]}}}
    clip = read_narrations(write_narrations(tmp_path / "n.json", data), alpha=4.0).clips[0]
    assert (clip.start, clip.end) == pytest.approx((29.5, 30.5))


def test_read_narrations_keeps_identical_narrations_within_one_second_once(tmp_path: Path) -> None:
    data = {
        "video-0": {
            "narration_pass_1": {
                "narrations": [narration(5.0, "#C C closes the fridge."), narration(9.0, "#C C walks")]
            },
            "narration_pass_2": {
                "narrations": [
                    narration(5.6, "#c c closes the fridge"),  # same cleaned text, 0.6 s later: a duplicate
                    narration(7.0, "#C C closes the fridge"),  # 2 s later: a second closing
                    narration(9.5, "#C C opens the fridge"),
                ]
            },
        }
    }
    result = read_narrations(write_narrations(tmp_path / "n.json", data))
    assert sorted((c.source["narration_time"], c.text) for c in result.clips) == [
        (5.0, "c closes the fridge"),
        (7.0, "c closes the fridge"),
        (9.0, "c walks"),
        (9.5, "c opens the fridge"),
    ]
    assert result.skipped == {"duplicate narration within 1 s": 1}
    assert result.total_records == 5


def test_read_narrations_counts_other_splits(tmp_path: Path) -> None:
    train, val = uid_in("train"), uid_in("val")
    data = {
        train: {"narration_pass_1": {"narrations": [narration(1.0, "#C C opens the tap")]}},
        val: {
            "narration_pass_1": {
                "narrations": [narration(1.0, "#C C opens the tap"), narration(3, "#C C walks")]
            }
        },
    }
    result = read_narrations(write_narrations(tmp_path / "n.json", data), split="val")
    assert [c.source_video for c in result.clips] == [val, val]
    assert result.skipped == {"other split": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"v": {"narration_pass_1": ', r"n\.json:1:\d+: malformed JSON"),
        (
            json.dumps({"v": {"narration_pass_1": {"narrations": [{"narration_text": "#C C walks"}]}}}),
            r"missing field 'timestamp_sec'",
        ),
        (
            json.dumps({"v": {"narration_pass_1": {"narrations": [{"timestamp_sec": 1.0}]}}}),
            r"missing field 'narration_text'",
        ),
        (
            json.dumps({"v": {"narration_pass_1": {"narrations": [narration("late", "#C C walks")]}}}),
            r"narration_pass_1\[0\]: timestamp_sec is not a number",
        ),
        (
            json.dumps({"v": {"narration_pass_1": {"summaries": []}}}),
            r"video v narration_pass_1: missing field 'narrations'",
        ),
        (json.dumps([1, 2]), r"expected an object keyed by video_uid"),
    ],
)
def test_read_narrations_names_file_and_record_of_bad_input(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "n.json"
    path.write_text(content)
    with pytest.raises(AnnotationError, match=message):
        read_narrations(path)


def test_read_narrations_on_the_genuine_sample(real_ego4d: Path) -> None:
    result = read_narrations(real_ego4d / "narration.json")
    data = json.loads((real_ego4d / "narration.json").read_text())
    n = sum(
        len(p["narrations"]) for v in data.values() for k, p in v.items() if k.startswith("narration_pass")
    )
    assert result.total_records == n
    assert len(result.clips) + sum(result.skipped.values()) == n
    assert len({c.clip_id for c in result.clips}) == len(result.clips)
    for clip in result.clips:
        t = clip.source["narration_time"]
        assert clip.start <= t <= clip.end
        assert clip.video == f"{clip.source_video}.mp4"
