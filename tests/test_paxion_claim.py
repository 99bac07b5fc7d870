"""The paper's claim, end to end on the mini benchmark (one generator seed; benchmarks/mini_claim.py runs three)."""

from __future__ import annotations

import pytest
import torch


@pytest.mark.slow
def test_the_paxion_story_holds_on_the_mini_benchmark(tmp_path):
    pytest.importorskip("actionbench.datasets.mini")
    from paxion_models.recipes import run_mini_claim

    torch.set_num_threads(2)
    report = run_mini_claim(0, tmp_path, progress=False)
    failed = [f"{c['what']}: {c['detail']}" for c in report["claims"] if not c["ok"]]
    assert not failed, "\n".join(failed)
