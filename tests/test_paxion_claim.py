"""The paper's claim, end to end on the mini benchmark (one generator seed; benchmarks/mini_claim.py runs three):
the frozen frame-mean backbone knows objects and not actions, its controls and the patcher's are at chance, and
KP-Perceiver [VTC+DVDM] learns the actions (AA and VR lower bounds >= 80, VR above KP-Perceiver [VTC]).
"""

from __future__ import annotations

import pytest
import torch

FROZEN = ("mini backbone:", "blind:mini", "first-frame:mini", "last-frame:mini")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
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
def test_the_knowledge_patcher_learns_actions(report):
    failed = _failed(report, lambda what: not what.startswith(FROZEN))
    assert not failed, "\n".join(failed)


def test_family_accuracy_puts_both_directions_of_a_family_together(tmp_path):
    from actionbench.datasets.mini import EGO4D_PAIRS, SSV2_PAIRS, generate_mini
    from actionbench.demo import mini_probe_sets
    from actionbench.runner import evaluate
    from paxion_models.recipes import family_accuracy

    generate_mini(tmp_path / "mini", seed=0, size="tiny")
    sets = mini_probe_sets(tmp_path / "mini", tmp_path / "probes")
    for name, families in (("ssv2-val", SSV2_PAIRS), ("ego4d-val", EGO4D_PAIRS)):
        results, predictions = evaluate("chance", probes=[sets[name][0]], videos=[sets[name][1]], cache=False)
        by_family = family_accuracy(results)
        assert set(by_family) <= {f for f, _, _ in families}
        for task in ("action_antonym", "video_reversal"):
            rows = predictions[predictions.task == task]
            assert sum(by_family[f][task] * len(rows[rows.group.isin(set(names))]) / 100
                       for f, *names in families if f in by_family) == pytest.approx(rows.decision.sum())  # fmt: skip
