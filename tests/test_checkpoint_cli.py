"""`actionbench convert-checkpoint`: pickles are opened only with an explicit opt-in."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "actionbench", *args], capture_output=True, text=True)


def test_a_pickle_is_refused_without_opt_in_and_converted_with_it(tmp_path: Path) -> None:
    src = tmp_path / "official.ckpt"
    weights = {"clip.visual.proj": torch.randn(4, 3), "clip.logit_scale": torch.tensor(4.6)}
    torch.save({"state_dict": weights, "epoch": 3, "hyper": {"lr": 1e-5}}, src)  # non-tensor entries: a pickle

    refused = run("convert-checkpoint", str(src), str(tmp_path / "out.safetensors"))
    assert refused.returncode != 0
    assert "--allow-pickle" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "out.safetensors").exists()

    done = run("convert-checkpoint", str(src), str(tmp_path / "out.safetensors"), "--allow-pickle")
    assert done.returncode == 0, done.stderr
    loaded = load_file(tmp_path / "out.safetensors")
    assert set(loaded) == set(weights)
    assert torch.equal(loaded["clip.visual.proj"], weights["clip.visual.proj"])
