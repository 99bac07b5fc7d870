"""Decisions under the tie policies, intervals, the consistent score and paired comparisons."""

from __future__ import annotations

import json

import pytest

from actionbench.bundle import BundleError, read_bundle, write_bundle
from actionbench.metrics import (
    MetricsError,
    cluster_bootstrap_interval,
    decide,
    holm,
    paired_bootstrap,
    summarize,
    wilson_interval,
)

# ------------------------------------------------------------------------------------------------ ties


def test_half_policy_gives_half_credit_to_a_tie_and_full_credit_to_a_win():
    assert decide(0.31, 0.30, "action_antonym", "half", "p", None) == (1.0, False)
    assert decide(0.30, 0.31, "action_antonym", "half", "p", None) == (0.0, False)
    assert decide(0.30, 0.30, "video_reversal", "half", "p", None) == (0.5, True)


def test_a_tie_is_relative_to_the_larger_score_and_compared_in_float32():
    # 1e-6 * max(1, |s|): near 1000 a difference of 5e-4 is a tie ...
    assert decide(1000.0, 1000.0005, "action_antonym", "half", "p", None)[1] is True
    # ... while near 0.3 a difference of 1e-5 is not.
    assert decide(0.30001, 0.3, "action_antonym", "half", "p", None) == (1.0, False)
    # Differences below float32 resolution vanish: the same model in fp16/fp32 cannot flip a decision.
    assert decide(0.1, 0.1 + 1e-10, "object_replacement", "half", "p", None) == (0.5, True)


def test_strict_policy_gives_no_credit_to_a_tie():
    assert decide(0.5, 0.5, "action_antonym", "strict", "p", None) == (0.0, True)
    assert decide(0.6, 0.5, "object_replacement", "strict", "p", None) == (1.0, False)


def test_strict_policy_keeps_half_credit_for_video_reversal_ties():
    # under strict, an order-invariant model would score 0% on VR; strict covers AA and OR only
    assert decide(0.5, 0.5, "video_reversal", "strict", "p", None) == (0.5, True)
    assert decide(0.5, 0.4, "video_reversal", "strict", "p", None) == (1.0, False)
    assert decide(0.5, 0.5, "action_antonym", "strict", "p", None) == (0.0, True)


def test_paper_policy_counts_text_ties_as_correct_like_the_original_argmax():
    assert decide(0.5, 0.5, "action_antonym", "paper", "p", 100.0) == (1.0, True)
    assert decide(0.4, 0.5, "object_replacement", "paper", "p", 100.0) == (0.0, False)


def test_paper_policy_flips_a_coin_seeded_by_the_probe_id_on_reversal_ties():
    flips = [decide(0.3, 0.3, "video_reversal", "paper", f"probe-{i}", 100.0) for i in range(400)]
    assert all(tie for _, tie in flips)
    assert {c for c, _ in flips} == {0.0, 1.0}
    assert 0.4 < sum(c for c, _ in flips) / len(flips) < 0.6
    # Same probe id, same flip: no dependence on order or process.
    again = [decide(0.3, 0.3, "video_reversal", "paper", f"probe-{i}", 100.0) for i in range(400)]
    assert again == flips


def test_paper_policy_compares_softmax_probabilities_scaled_by_logit_scale():
    # Scale 100: a gap of 1e-8 leaves |p0 - p1| < 1e-5 (coin flip); a gap of 0.01 decides.
    assert decide(0.3 + 1e-8, 0.3, "video_reversal", "paper", "x", 100.0)[1] is True
    assert decide(0.31, 0.30, "video_reversal", "paper", "x", 100.0) == (1.0, False)
    # Without a logit scale the similarity itself is the logit: a gap of 1e-5 is still a coin flip.
    assert decide(0.30001, 0.3, "video_reversal", "paper", "x", None)[1] is True


def test_unknown_policy_and_non_finite_scores_are_refused():
    with pytest.raises(MetricsError, match="unknown tie policy"):
        decide(0.3, 0.2, "action_antonym", "coin", "p", None)
    with pytest.raises(MetricsError, match="non-finite"):
        decide(float("nan"), 0.2, "action_antonym", "half", "p", None)


# ------------------------------------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    "successes, n, lo, hi",
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0),
    ],
)
def test_wilson_interval_matches_published_values(successes, n, lo, hi):
    got = wilson_interval(successes, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_cluster_bootstrap_of_two_all_or_nothing_clusters_spans_everything():
    # Two videos, one all right and one all wrong: resamples give 0, 0.5 or 1.
    lo, hi = cluster_bootstrap_interval([1, 1, 1, 0, 0, 0], ["a", "a", "a", "b", "b", "b"], seed=0, size=4000)
    assert (lo, hi) == (0.0, 1.0)


def test_cluster_bootstrap_of_independent_probes_approaches_the_normal_interval():
    credits = [1.0] * 240 + [0.0] * 160
    lo, hi = cluster_bootstrap_interval(credits, [str(i) for i in range(400)], seed=1, size=4000)
    se = (0.6 * 0.4 / 400) ** 0.5
    assert lo == pytest.approx(0.6 - 1.96 * se, abs=0.01)
    assert hi == pytest.approx(0.6 + 1.96 * se, abs=0.01)


def test_clustering_widens_the_interval_when_probes_of_a_video_agree():
    # 20 videos x 5 probes, each video all right or all wrong: effectively 20 observations, not 100.
    credits = [float(v % 2) for v in range(20) for _ in range(5)]
    clusters = [f"v{v}" for v in range(20) for _ in range(5)]
    lo, hi = cluster_bootstrap_interval(credits, clusters, seed=0, size=2000)
    w_lo, w_hi = wilson_interval(50, 100)
    assert hi - lo > 1.6 * (w_hi - w_lo)


def test_cluster_bootstrap_does_not_depend_on_row_order():
    credits = [1, 0, 1, 1, 0, 0.5, 1, 0]
    clusters = ["a", "b", "a", "c", "d", "b", "c", "d"]
    one = cluster_bootstrap_interval(credits, clusters, seed=3, size=500)
    two = cluster_bootstrap_interval(credits[::-1], clusters[::-1], seed=3, size=500)
    assert one == two


def test_holm_adjusts_sorted_p_values_and_keeps_them_monotone():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


# ------------------------------------------------------------------------------------------ summarize


def _row(pid, task, dataset, clip, video, decision, tie=False, group="g"):
    return {"probe_id": pid, "task": task, "dataset": dataset, "clip_id": clip, "source_video": video,
            "group": group, "s_true": 0.0, "s_foil": 0.0, "decision": decision, "tie": tie}


def test_summary_uses_wilson_for_independent_probes_and_a_cluster_bootstrap_for_shared_videos():
    rows = [_row(f"s{i}", "action_antonym", "ssv2", f"c{i}", f"v{i}", float(i % 4 != 0)) for i in range(8)]
    rows += [_row(f"e{i}", "action_antonym", "ego4d", f"k{i}", f"u{i // 3}", float(i % 2)) for i in range(9)]
    out = summarize(rows, policy="half", bootstrap_seed=0, bootstrap_size=200, temporally_blind=False)
    ssv2 = out["results"]["ssv2"]["action_antonym"]
    assert ssv2["n"] == 8 and ssv2["accuracy"] == pytest.approx(75.0)
    assert ssv2["ci_method"] == "wilson"
    assert ssv2["ci95"] == pytest.approx([100 * x for x in wilson_interval(6, 8)])
    assert out["results"]["ego4d"]["action_antonym"]["ci_method"] == "cluster-bootstrap"


def test_summary_reports_tie_rate_missing_and_temporal_blindness():
    rows = [_row(f"p{i}", "video_reversal", "ssv2", f"c{i}", f"v{i}", 0.5, tie=True) for i in range(4)]
    out = summarize(rows, policy="half", bootstrap_seed=0, bootstrap_size=100, temporally_blind=True)
    vr = out["results"]["ssv2"]["video_reversal"]
    assert vr["accuracy"] == 50.0 and vr["tie_rate"] == 1.0 and vr["missing"] == 0
    assert vr["temporally_blind"] is True


def test_consistent_score_needs_both_action_probes_of_a_clip_right():
    rows = [
        _row("a1", "action_antonym", "ssv2", "c1", "v1", 1.0), _row("r1", "video_reversal", "ssv2", "c1", "v1", 1.0),
        _row("a2", "action_antonym", "ssv2", "c2", "v2", 1.0), _row("r2", "video_reversal", "ssv2", "c2", "v2", 0.0),
        _row("a3", "action_antonym", "ssv2", "c3", "v3", 1.0), _row("r3", "video_reversal", "ssv2", "c3", "v3", 0.5),
        _row("o4", "object_replacement", "ssv2", "c4", "v4", 1.0),  # no action probes: not counted
    ]
    cons = summarize(rows, bootstrap_size=100)["consistent"]["ssv2"]
    assert cons["n"] == 3
    assert cons["accuracy"] == pytest.approx(100 * (1 + 0 + 0.5) / 3)
    assert cons["chance"] == 25.0


def test_breakdowns_group_by_template_or_verb():
    rows = [_row("a", "action_antonym", "ssv2", "c1", "v1", 1.0, group="Pushing [something] left"),
            _row("b", "action_antonym", "ssv2", "c2", "v2", 0.0, group="Pushing [something] left"),
            _row("c", "action_antonym", "ssv2", "c3", "v3", 1.0, group=None)]
    br = summarize(rows, bootstrap_size=100)["breakdowns"]["ssv2"]
    assert br["Pushing [something] left"]["action_antonym"] == {"n": 2, "accuracy": 50.0}
    assert br["(none)"]["action_antonym"] == {"n": 1, "accuracy": 100.0}


def test_summary_does_not_depend_on_row_order():
    rows = [_row(f"e{i}", "action_antonym", "ego4d", f"k{i}", f"u{i // 3}", float(i % 3 == 0)) for i in range(30)]
    a = summarize(rows, bootstrap_seed=5, bootstrap_size=300)
    b = summarize(rows[::-1], bootstrap_seed=5, bootstrap_size=300)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_duplicate_probe_ids_are_refused():
    rows = [_row("a", "action_antonym", "ssv2", "c1", "v1", 1.0)] * 2
    with pytest.raises(MetricsError, match="duplicate"):
        summarize(rows)


# ----------------------------------------------------------------------------------- paired comparison


def test_paired_bootstrap_of_identical_predictions_finds_no_difference():
    rows = [_row(f"p{i}", "action_antonym", "ssv2", f"c{i}", f"v{i}", float(i % 2)) for i in range(40)]
    out = paired_bootstrap(rows, rows, seed=0, size=500)
    assert out["diff"] == 0.0 and out["ci95"] == [0.0, 0.0] and out["p"] == 1.0


def test_paired_bootstrap_of_a_clear_win_is_significant_and_uses_only_shared_probes():
    a = [_row(f"p{i}", "action_antonym", "ssv2", f"c{i}", f"v{i // 2}", 1.0) for i in range(60)]
    b = [_row(f"p{i}", "action_antonym", "ssv2", f"c{i}", f"v{i // 2}", float(i % 5 == 0)) for i in range(50)]
    out = paired_bootstrap(a, b, seed=0, size=1000)
    assert out["n"] == 50 and out["n_clusters"] == 25
    assert out["diff"] == pytest.approx(80.0)
    assert out["ci95"][0] > 50.0
    assert out["p"] == pytest.approx(2 / 1001)


def test_paired_bootstrap_without_shared_probes_is_an_error():
    a = [_row("x", "action_antonym", "ssv2", "c", "v", 1.0)]
    b = [_row("y", "action_antonym", "ssv2", "c", "v", 1.0)]
    with pytest.raises(MetricsError, match="share no probe"):
        paired_bootstrap(a, b, seed=0, size=100)


# ----------------------------------------------------------------------------------------------- bundle


def _results_stub() -> dict:
    return {"schema_version": "1.0", "protocol_version": "1.0",
            "model": {"name": "chance", "args": {}, "weights_hash": None, "preprocess": {}, "order_invariant": False,
                      "kind": "dual-encoder", "logit_scale": None},
            "frame_spec": {"num_frames": 8}, "decoder": "decord 0.6.0", "ties": "half", "device": "cpu",
            "dtype": "float32", "amp": False, "probesets": [], "results": {}, "consistent": {}, "breakdowns": {},
            "bootstrap": {"seed": 0, "size": 100}, "subset": None, "partial": False, "missing": [],
            "command": "actionbench eval", "harness_version": "0.1.0", "git_hash": None, "temporally_blind": False}


def test_bundle_round_trips_with_sorted_predictions(tmp_path):
    rows = [_row(p, "action_antonym", "ssv2", "c", p, 1.0) for p in ("b", "c", "a")]
    write_bundle(tmp_path, _results_stub(), rows)
    results, preds = read_bundle(tmp_path)
    assert results == _results_stub()
    assert [r["probe_id"] for r in preds] == ["a", "b", "c"]
    assert (tmp_path / "results.json").read_text().startswith('{\n  "amp": false')
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_bundle_errors_name_the_file_and_line(tmp_path):
    write_bundle(tmp_path, _results_stub(), [_row("a", "action_antonym", "ssv2", "c", "v", 1.0)])
    with (tmp_path / "predictions.jsonl").open("a") as f:
        f.write('{"probe_id": "b", "task": "action_antonym"}\n')
    with pytest.raises(BundleError, match=r"predictions\.jsonl:2: dataset: missing"):
        read_bundle(tmp_path)


def test_bundle_schema_errors_name_the_field(tmp_path):
    bad = _results_stub()
    bad["ties"] = "coin"
    bad["model"]["order_invariant"] = "no"
    write_bundle(tmp_path, bad, [])
    with pytest.raises(BundleError) as err:
        read_bundle(tmp_path)
    message = str(err.value)
    assert "results.json: model.order_invariant: expected true/false" in message
    assert "(and 1 more)" in message and "\n" not in message
