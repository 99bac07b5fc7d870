"""The GPU check script runs end to end on a CPU with tiny models (`--smoke`): generated clips, pure decoding, the
runner on two models, KP-Perceiver [VTC+DVDM] training with ATM both ways, and a 2-rank gloo `torchrun` evaluation
that must give the single-process bundle."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_check_smoke_run_passes_and_prints_one_table(tmp_path):
    pytest.importorskip("open_clip")
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--smoke", "--work", str(tmp_path / "work"),
                           "--out", str(out)], capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["torchrun"]["ok"] and report["torchrun"]["backend"] == "gloo"
    assert report["torchrun"]["max_score_diff"] == 0.0
    assert report["pure_decode_clips_per_s"] > 0
    assert all(row["videos_per_s"] > 0 for row in report["eval"].values()) and len(report["eval"]) == 2
    assert set(report["train"]) == {"flip", "pass"} and all(r["steps_per_s"] > 0 for r in report["train"].values())
    assert "flipping / second pass" in done.stdout and "= single-process" in done.stdout


def test_the_gpu_check_refuses_to_run_without_a_gpu_unless_smoke():
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [
        "gpu_check: no GPU here; run with --smoke for the CPU check of the script"]
