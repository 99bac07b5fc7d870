"""Fuzz every reader (issue 13): arbitrary bytes, arbitrary JSON values in every field, truncation at every line.

The only exception a reader may raise is the project's one error type, `InputError` (a one-line message naming
the file); anything else (a TypeError, a KeyError, an OverflowError, a UnicodeDecodeError) is a crash a user would
see as a traceback. The examples are bounded and derandomised, so the module runs in seconds and the same way in
CI every time.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_leaderboard import make_entry, make_probeset

from actionbench.cache import EmbeddingCache
from actionbench.datasets.ego4d import read_egoclip, read_narrations
from actionbench.datasets.released import import_released
from actionbench.datasets.ssv2 import read_ssv2
from actionbench.errors import InputError
from actionbench.leaderboard import ProbeSetIndex, load_entry, validate_entry
from actionbench.probes.schema import ProbeSet

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------------------------------ valid inputs

SSV2_LABELS = {"Holding something": "0", "Pushing something from left to right": "1"}
SSV2 = [
    {"id": "11", "label": "holding a pen", "template": "Holding [something]", "placeholders": ["a pen"],
     "label_action_antonym_clip_text": "dropping a pen", "label_object_shuffled_clip_text": "holding a cup"},
    {"id": "12", "label": "pushing a cup from left to right", "template": "Pushing [something] from left to right",
     "placeholders": ["a cup"], "label_object_shuffled_clip_text": "pushing a box from left to right"},
]
EGOCLIP = [
    {"video_uid": "v1", "video_dur": 100.0, "narration_source": "narration_pass_1", "narration_ind": 3,
     "narration_time": 10.0, "clip_start": 9.5, "clip_end": 10.5, "clip_text": "#C C picks up the knife.",
     "tag_verb": "[1]", "tag_noun": "[2]", "clip_uid": "c1", "clip_relative_start": 0.35,
     "clip_relative_end": 1.03, "clip_fps": 30.0, "action_antonym_clip_text": "#C C puts down the knife.",
     "object_shuffled_clip_text": "#C C picks up the cup."},
    {"video_uid": "v2", "narration_source": "narration_pass_2", "narration_ind": 0, "clip_uid": "c2",
     "clip_text": "#C C opens the door", "clip_relative_start": 2.0, "clip_relative_end": 3.0},
]
NARRATIONS = {
    "v1": {"narration_pass_1": {"narrations": [
        {"timestamp_sec": 1.0, "narration_text": "#C C picks a cup", "annotation_uid": "a1"},
        {"timestamp_sec": 4.5, "narration_text": "#C C opens the door", "annotation_uid": "a2"}]},
        "narration_pass_2": {"narrations": [{"timestamp_sec": 2.0, "narration_text": "#C C drops a cup"}]}},
}


def _jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _csv(rows: list[dict[str, Any]]) -> bytes:
    keys = list(rows[0])
    lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in rows]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """A valid probe set, and a valid measured entry scored on it (files read by the fuzzed readers)."""
    root = tmp_path_factory.mktemp("fuzz")
    ps = make_probeset(root / "ps", "ssv2", n_videos=3, clips_per_video=1)
    entry = make_entry(root / "board", "e", [ps], 0.6)
    return {"ps": root / "ps", "entry": entry}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _readers(built: dict[str, Path]) -> dict[str, tuple[dict[str, bytes], Callable[[Path], Any]]]:
    """reader name -> (the valid files of its folder, the call that reads the folder)."""
    index = ProbeSetIndex({ProbeSet.load(built["ps"]).probeset_id: [built["ps"]]})
    return {
        "ssv2": ({"validation.json": json.dumps(SSV2).encode(), "labels.json": json.dumps(SSV2_LABELS).encode()},
                 lambda d: read_ssv2(d / "validation.json", labels=d / "labels.json")),
        "egoclip-jsonl": ({"egoclip.jsonl": _jsonl(EGOCLIP)}, lambda d: read_egoclip(d / "egoclip.jsonl")),
        "egoclip-csv": ({"egoclip.csv": _csv(EGOCLIP)}, lambda d: read_egoclip(d / "egoclip.csv")),
        "narration.json": ({"narration.json": json.dumps(NARRATIONS).encode()},
                           lambda d: read_narrations(d / "narration.json")),
        "released-ssv2": ({"validation.json": json.dumps(SSV2).encode(),
                           "labels.json": json.dumps(SSV2_LABELS).encode()},
                          lambda d: import_released(d / "validation.json", "ssv2", "val")),
        "released-ego4d": ({"test.jsonl": _jsonl(EGOCLIP)}, lambda d: import_released(d / "test.jsonl", "ego4d", "test")),
        "probe set": (_files(built["ps"]), ProbeSet.load),
        "bundle + submission": (_files(built["entry"]), lambda d: validate_entry(load_entry(d), index)),
    }


def _read(reader: Callable[[Path], Any], files: dict[str, bytes]) -> None:
    """Write `files` into a fresh folder and read it: success or InputError, nothing else."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        try:
            reader(folder)
        except InputError as e:
            message = str(e)
            assert message and "\n" not in message, f"not one line: {message!r}"


READERS = ["ssv2", "egoclip-jsonl", "egoclip-csv", "narration.json", "released-ssv2", "released-ego4d", "probe set",
           "bundle + submission"]


def test_every_valid_input_reads(built):
    for name, (files, reader) in _readers(built).items():
        with tempfile.TemporaryDirectory() as tmp:
            for fname, data in files.items():
                (Path(tmp) / fname).write_bytes(data)
            reader(Path(tmp)), name  # noqa: B018  (no error at all on the valid files)


# ----------------------------------------------------------------------------------------- strategies

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document (dict keys and list indices)."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _replaced(doc: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: _replaced(doc[head], rest, new)}
    return [_replaced(v, rest, new) if i == head else v for i, v in enumerate(doc)]


def _json_docs(data: bytes) -> tuple[str, list[Any]] | None:
    """('json', [doc]) or ('jsonl', [doc per line]) when the file is JSON; None otherwise."""
    text = data.decode()
    try:
        return "json", [json.loads(text)]
    except json.JSONDecodeError:
        pass
    try:
        return "jsonl", [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError:
        return None


# ------------------------------------------------------------------------------------------- the fuzz


@pytest.mark.parametrize("reader_name", READERS)
@FUZZ
@given(data=st.data())
def test_readers_raise_only_input_error_on_arbitrary_bytes(built, reader_name, data):
    files, reader = _readers(built)[reader_name]
    target = data.draw(st.sampled_from(sorted(files)))
    original = files[target]
    mutated = data.draw(st.one_of(
        st.binary(max_size=200),
        st.builds(lambda i, b: original[:i] + b + original[i + len(b):],
                  st.integers(0, max(0, len(original) - 1)), st.binary(min_size=1, max_size=8)),
    ))
    _read(reader, {**files, target: mutated})


@pytest.mark.parametrize("reader_name", READERS)
@FUZZ
@given(data=st.data())
def test_readers_raise_only_input_error_on_any_json_value_in_any_field(built, reader_name, data):
    files, reader = _readers(built)[reader_name]
    candidates = sorted(name for name, b in files.items() if _json_docs(b))
    if not candidates:  # a CSV: any text in any cell
        row, key = data.draw(st.integers(0, len(EGOCLIP) - 1)), data.draw(st.sampled_from(sorted(EGOCLIP[0])))
        rows = [dict(r) for r in EGOCLIP]
        rows[row][key] = data.draw(st.text(max_size=20).filter(lambda t: "," not in t and "\n" not in t))
        _read(reader, {name: _csv(rows) for name in files})
        return
    target = data.draw(st.sampled_from(candidates))
    kind, docs = _json_docs(files[target])
    line = data.draw(st.integers(0, len(docs) - 1))
    paths = _paths(docs[line])
    path = data.draw(st.sampled_from(paths)) if paths else ()
    docs = list(docs)
    docs[line] = _replaced(docs[line], path, data.draw(json_values))
    text = json.dumps(docs[0]) if kind == "json" else "".join(json.dumps(d) + "\n" for d in docs)
    _read(reader, {**files, target: text.encode()})


@pytest.mark.parametrize("reader_name", READERS)
def test_readers_raise_only_input_error_on_truncation_at_every_line(built, reader_name):
    files, reader = _readers(built)[reader_name]
    for target, data in files.items():
        lines = data.splitlines(keepends=True)
        for k in range(len(lines) + 1):
            head = b"".join(lines[:k])
            _read(reader, {**files, target: head})
            if k < len(lines) and len(lines[k]) > 2:
                _read(reader, {**files, target: head + lines[k][: len(lines[k]) // 2]})  # cut mid-line


@FUZZ
@given(damage=st.binary(max_size=300), note=st.binary(max_size=60))
def test_a_damaged_cache_is_ignored_never_raised(damage, note):
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(tmp, {"model": "m"})
        cache.commit("text", ["a", "b"], torch.ones(2, 3))
        batch = cache.batch_files()[0]
        batch.write_bytes(damage if damage else batch.read_bytes()[: len(batch.read_bytes()) // 2])
        (cache.dir / "order.json").write_bytes(note)
        again = EmbeddingCache(tmp, {"model": "m"})
        assert len(again) in (0, 2)
        again.read_note("order")
