"""Sharded evaluation with torch.distributed: 2 CPU processes on gloo give exactly the 1-process result, encode
every view exactly once between them, and leave a cache any world size can resume from."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _evalkit import HERE, make_suite, write_tiny_config

from actionbench.bundle import read_bundle
from actionbench.probes.schema import ProbeSet

pytestmark = pytest.mark.slow


def calls(log: Path) -> list[tuple[str, int]]:
    if not log.is_file():
        return []
    return [(k, int(n)) for k, n in (line.split() for line in log.read_text().splitlines())]


def eval_args(probes: Path, videos: Path, config: Path, out: Path, *extra: str) -> list[str]:
    return ["eval", "--model", f"{HERE.parent / '_evalkit.py'}:counting_clip", "--model-arg", f"config={config}",
            "--probes", str(probes), "--videos", str(videos), "--out", str(out), "--workers", "1",
            "--batch-size", "3", *extra]


def test_two_gloo_processes_match_one_process_exactly(tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    probes, videos = make_suite(tmp_path, n_clips=10)
    config = write_tiny_config(tmp_path)
    log = tmp_path / "calls.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "AB_CALL_LOG": str(log)}

    one = subprocess.run([sys.executable, "-m", "actionbench",
                          *eval_args(probes, videos, config, tmp_path / "one", "--no-cache")],
                         env=env, capture_output=True, text=True)
    assert one.returncode == 0, one.stderr[-3000:]
    log.unlink()

    cache = tmp_path / "cache"
    two = subprocess.run([torchrun, "--standalone", "--nproc-per-node", "2", "-m", "actionbench",
                          *eval_args(probes, videos, config, tmp_path / "two", "--cache", str(cache))],
                         env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    made = calls(log)
    # Complete and without duplicates: the two shards together encode each view and text exactly once.
    assert sum(n for k, n in made if k == "video") == 20
    texts = {t for p in ProbeSet.load(probes).probes for t in (p.text, p.foil_text) if t}
    assert sum(n for k, n in made if k == "text") == len(texts)
    ranks = {p.name.split("-")[1] for p in cache.glob("*/batches/video-*.safetensors")}
    assert ranks == {"r000", "r001"}

    r1, p1 = read_bundle(tmp_path / "one")
    r2, p2 = read_bundle(tmp_path / "two")
    assert p1 == p2  # same probes, same decisions, same float32 scores
    for key in ("results", "consistent", "breakdowns", "temporally_blind", "partial"):
        assert r1[key] == r2[key]
    assert r2["run"]["world_size"] == 2
    assert json.loads((tmp_path / "two" / "results.json").read_text())["missing"] == []

    # The 2-process cache serves a 1-process rerun completely.
    log.unlink()
    again = subprocess.run([sys.executable, "-m", "actionbench",
                            *eval_args(probes, videos, config, tmp_path / "again", "--cache", str(cache))],
                           env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert calls(log) == []
    assert read_bundle(tmp_path / "again")[1] == p1
