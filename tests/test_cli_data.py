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
    assert "Surface differences" in ssv2.stdout and "Pushing [something] from left to right" in ssv2.stdout
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
    [("{not json", "egoclip.jsonl:2: "), ('{"video_uid": "x"}', "egoclip.jsonl:2: ")],
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
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_mini_data_is_deterministic(mini: Path, tmp_path: Path) -> None:
    run("mini-data", "--out", str(tmp_path / "again"), "--size", "tiny", "--seed", "3")
    for name in ("ssv2/validation.json", "ssv2/train.json", "ego4d/egoclip.jsonl"):
        assert (tmp_path / "again" / name).read_bytes() == (mini / name).read_bytes()
    assert json.loads((mini / "ssv2" / "labels.json").read_text())
