"""The data commands end to end on the embedded mini benchmark, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from actionbench.probes.schema import ProbeSet


def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "actionbench", *args], capture_output=True, text=True, env=env)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mini") / "data"
    run("mini-data", "--out", str(out), "--size", "tiny", "--seed", "3")
    return out


def test_build_probes_for_both_datasets_with_the_audit(mini: Path, tmp_path: Path) -> None:
    ssv2 = run("build-probes", "--dataset", "ssv2", "--annotations", str(mini / "ssv2"), "--split", "val",
               "--out", str(tmp_path / "ssv2"), "--report")
    assert "foil vs text" in ssv2.stdout and "probes: action_antonym" in ssv2.stdout
    ego = run("build-probes", "--dataset", "ego4d", "--annotations", str(mini / "ego4d" / "egoclip.jsonl"),
              "--split", "all", "--out", str(tmp_path / "ego4d"))
    for folder in (tmp_path / "ssv2", tmp_path / "ego4d"):
        ps = ProbeSet.load(folder)
        assert ps.manifest.counts["action_antonym"] == ps.manifest.counts["video_reversal"] > 0
        assert ps.manifest.counts["object_replacement"] > 0
    assert "probe set written" in ego.stdout


def test_doctor_lists_a_corrupt_and_a_missing_video_and_fails(mini: Path, tmp_path: Path) -> None:
    run("build-probes", "--dataset", "ssv2", "--annotations", str(mini / "ssv2"), "--split", "val", "--out", str(tmp_path / "ps"))
    videos = tmp_path / "videos"
    videos.mkdir()
    clips = ProbeSet.load(tmp_path / "ps").clips
    for c in clips[2:]:
        (videos / c.video).write_bytes((mini / "ssv2" / "videos" / c.video).read_bytes())
    (videos / clips[0].video).write_bytes(b"not a video at all")
    proc = run("doctor", "--probes", str(tmp_path / "ps"), "--videos", str(videos), ok=False)
    assert proc.returncode == 1
    assert clips[0].clip_id in proc.stdout and clips[1].clip_id in proc.stdout
    assert "2 of" in proc.stdout


def test_doctor_passes_on_complete_videos(mini: Path, tmp_path: Path) -> None:
    run("build-probes", "--dataset", "ssv2", "--annotations", str(mini / "ssv2"), "--split", "val", "--out", str(tmp_path / "ps"))
    assert "all 22 videos decode" in run("doctor", "--probes", str(tmp_path / "ps"), "--videos", str(mini / "ssv2" / "videos")).stdout


@pytest.mark.parametrize(
    ("line", "message"),
    [("{not json", "egoclip.jsonl:2:2: malformed JSON"), ('{"video_uid": "x"}', "egoclip.jsonl:2: ")],
)
def test_a_malformed_annotation_line_is_one_line_naming_file_and_line(mini: Path, tmp_path: Path, line: str, message: str) -> None:
    bad = tmp_path / "egoclip.jsonl"
    first = (mini / "ego4d" / "egoclip.jsonl").read_text().splitlines()[0]
    bad.write_text(first + "\n" + line + "\n")
    proc = run("build-probes", "--dataset", "ego4d", "--annotations", str(bad), "--out", str(tmp_path / "ps"), ok=False)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_missing_annotation_folder_is_a_clear_error(tmp_path: Path) -> None:
    proc = run("build-probes", "--dataset", "ssv2", "--annotations", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), ok=False)
    assert proc.returncode == 2 and "nope: no such file or folder" in proc.stderr


def test_mini_data_is_deterministic(mini: Path, tmp_path: Path) -> None:
    run("mini-data", "--out", str(tmp_path / "again"), "--size", "tiny", "--seed", "3")
    for name in ("ssv2/validation.json", "ssv2/train.json", "ego4d/egoclip.jsonl"):
        assert (tmp_path / "again" / name).read_bytes() == (mini / name).read_bytes()
    assert json.loads((mini / "ssv2" / "labels.json").read_text())


# ---- the audit: a summary on screen, the full audit in a file ------------------------------------------------


def test_report_is_a_short_summary_with_one_count_of_clips_and_the_full_audit_goes_to_a_file(
    mini: Path, tmp_path: Path
) -> None:
    egoclip = str(mini / "ego4d" / "egoclip.jsonl")
    proc = run("build-probes", "--dataset", "ego4d", "--annotations", egoclip, "--split", "val",
               "--out", str(tmp_path / "ps"), "--report", str(tmp_path / "audit.json"))
    summary = proc.stdout[proc.stdout.index("records read ->"):].splitlines()
    assert len(summary) <= 12
    audit = json.loads((tmp_path / "audit.json").read_text())
    ps = ProbeSet.load(tmp_path / "ps")
    records, read = audit["reading"]["records"], audit["reading"]["clips"]
    assert audit["counts"]["clips"] == ps.manifest.counts["clips"] == len(ps.clips)
    assert records - read == sum(audit["records_not_made_clips"].values()) > 0  # the other splits, said once
    assert audit["clips_without_probes"] == read - len(ps.clips)
    assert f"{records:,} records read -> {read:,} clips -> {len(ps.clips):,} clips with at least one probe" in proc.stdout
    assert proc.stdout.count("other split") == 1
    assert not any(reason.startswith("reader") for task in audit["dropped_per_task"].values() for reason in task)
    assert sum(audit["probes_per_group"]["action_antonym"].values()) == ps.manifest.counts["action_antonym"]

    md = run("build-probes", "--dataset", "ssv2", "--annotations", str(mini / "ssv2"), "--split", "val",
             "--out", str(tmp_path / "ssv2"), "--report", str(tmp_path / "audit.md"))
    text = (tmp_path / "audit.md").read_text()
    assert "## Probes per template / verb" in text and "| Pushing [something] from left to right |" in text
    assert f"full audit written to {tmp_path / 'audit.md'}" in md.stdout
    bad = run("build-probes", "--dataset", "ssv2", "--annotations", str(mini / "ssv2"), "--out", str(tmp_path / "x"),
              "--report", str(tmp_path / "audit.txt"), ok=False)
    assert bad.returncode == 2 and "name a .md (Markdown) or .json file" in bad.stderr


# ---- empty inputs and outputs ------------------------------------------------------------------------------


def _one_line_error(proc: subprocess.CompletedProcess, *phrases: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for phrase in phrases:
        assert phrase in proc.stderr, proc.stderr


def _narrations_of_train_videos(path: Path) -> Path:
    from actionbench.datasets.records import ego4d_split

    uids = [f"video-{i}" for i in range(50) if ego4d_split(f"video-{i}") == "train"][:2]
    data = {uid: {"narration_pass_1": {"narrations": [
        {"timestamp_sec": 1.0 + k, "narration_text": "#C C picks up a cup", "annotation_uid": f"{uid}-{k}"}
        for k in range(3)]}} for uid in uids}
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("kind", ["empty jsonl", "ssv2 []", "narration.json, no clip in the split"])
def test_empty_annotations_are_a_one_line_error_unless_allowed(tmp_path: Path, kind: str) -> None:
    if kind == "empty jsonl":
        (tmp_path / "egoclip.jsonl").write_text("")
        args, phrases = ["--dataset", "ego4d", "--annotations", str(tmp_path / "egoclip.jsonl")], ["no annotation records"]
    elif kind == "ssv2 []":
        (tmp_path / "ssv2").mkdir()
        (tmp_path / "ssv2" / "validation.json").write_text("[]")
        (tmp_path / "ssv2" / "labels.json").write_text("{}")
        args, phrases = ["--dataset", "ssv2", "--annotations", str(tmp_path / "ssv2")], ["no annotation records"]
    else:
        path = _narrations_of_train_videos(tmp_path / "narration.json")
        args, phrases = ["--dataset", "ego4d", "--annotations", str(path)], ["6 records read, 0 clips in split 'test'",
                                                                           "other split 6"]
    proc = run("build-probes", *args, "--out", str(tmp_path / "ps"), ok=False)
    _one_line_error(proc, *phrases, "--allow-empty")
    assert not (tmp_path / "ps").exists()
    run("build-probes", *args, "--out", str(tmp_path / "ps"), "--allow-empty")
    assert ProbeSet.load(tmp_path / "ps").probes == []


def test_eval_on_an_empty_probe_set_is_a_one_line_error_unless_allowed(tmp_path: Path) -> None:
    (tmp_path / "egoclip.jsonl").write_text("\n")
    run("build-probes", "--dataset", "ego4d", "--annotations", str(tmp_path / "egoclip.jsonl"), "--split", "all",
        "--out", str(tmp_path / "ps"), "--allow-empty")
    args = ["eval", "--model", "chance", "--probes", str(tmp_path / "ps"), "--videos", str(tmp_path),
            "--out", str(tmp_path / "run"), "--no-cache"]
    _one_line_error(run(*args, ok=False), "ps: an empty probe set (0 probes)", "--allow-empty")
    assert not (tmp_path / "run").exists()


# ---- rough edges -------------------------------------------------------------------------------------------


def test_version_and_a_missing_probe_folder_said_as_such(tmp_path: Path) -> None:
    from actionbench import PROTOCOL_VERSION

    assert run("--version").stdout.startswith("actionbench ") and f"protocol {PROTOCOL_VERSION}" in run("--version").stdout
    proc = run("eval", "--model", "chance", "--probes", str(tmp_path / "nope" / "probes"), "--videos", str(tmp_path),
               "--out", str(tmp_path / "run"), ok=False)
    _one_line_error(proc, f"{tmp_path / 'nope' / 'probes'}: no such folder")
    assert "clips.jsonl" not in proc.stderr
