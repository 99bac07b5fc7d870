"""The paper's claim, end to end on the mini benchmark (one generator seed; benchmarks/mini_claim.py runs three).

What holds is asserted; what does not yet hold (KP-Perceiver [VTC+DVDM] learning frame order well enough on the
mini backbone's tokens) is a strict xfail: it reports the gap every CI run and fails loudly once fixed, so the
marker must then go.
"""

from __future__ import annotations

import pytest
import torch

FROZEN = ("mini backbone:", "blind:mini", "first-frame:mini", "last-frame:mini")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    pytest.importorskip("actionbench.datasets.mini")
    from paxion_models.recipes import run_mini_claim

    torch.set_num_threads(2)
    return run_mini_claim(0, tmp_path_factory.mktemp("claim"), progress=False)


def _failed(report, keep) -> list[str]:
    return [f"{c['what']}: {c['detail']}" for c in report["claims"] if keep(c["what"]) and not c["ok"]]


@pytest.mark.slow
def test_the_frozen_frame_mean_backbone_knows_objects_not_actions(report):
    failed = _failed(report, lambda what: what.startswith(FROZEN))
    assert not failed, "\n".join(failed)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known gap (issue 5): KP-Perceiver [VTC+DVDM] reaches about 55-65% AA/VR on "
                   "the mini benchmark, not the >= 80 lower bound")
def test_the_knowledge_patcher_learns_actions(report):
    failed = _failed(report, lambda what: not what.startswith(FROZEN))
    assert not failed, "\n".join(failed)
