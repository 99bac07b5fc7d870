"""Downstream metrics: recall at K with several correct videos per text (hand-computed), the original's
scoring options, NExT-QA accuracy per type on a hand-made file and on the genuine validation file."""

from __future__ import annotations

import csv
import json
from collections import defaultdict

import numpy as np
import pytest

from actionbench.datasets.nextqa import read_nextqa
from actionbench.downstream_metrics import (
    DOWNSTREAM_DATASETS,
    DOWNSTREAM_TASKS,
    choose_answer,
    hit_credit,
    nextqa_accuracy,
    qa_cell,
    rank_counts,
    recall_from_rows,
    retrieval_cell,
    retrieval_recall,
    retrieval_rows,
    retrieval_scores,
    score_nextqa_file,
)
from actionbench.metrics import MetricsError

# ------------------------------------------------------------------------------------------ retrieval


def test_recall_by_hand_with_several_correct_videos_per_text():
    # Texts t0, t1; videos v0, v1 show t0 (two correct videos for t0), v2 shows t1.
    scores = np.array([[0.9, 0.1],   # v0: its text first -> hit at 1
                       [0.2, 0.8],   # v1: its text second -> miss at 1, hit at 5
                       [0.5, 0.5]])  # v2: tied with the wrong text -> expected hit at 1 is 1/2
    r = retrieval_recall(scores, [0, 0, 1], bootstrap_size=200)
    assert r["r1_v2t"] == pytest.approx(100 * 1.5 / 3) and r["r5_v2t"] == 100.0 and r["r10_v2t"] == 100.0
    # t2v: t0's column [0.9, 0.2, 0.5]: its best correct video (v0) is first -> hit.
    #      t1's column [0.1, 0.8, 0.5]: v1 (wrong) is above v2 -> miss at 1.
    assert r["r1_t2v"] == 50.0 and r["r5_t2v"] == 100.0
    assert r["n_videos"] == 3 and r["n_texts"] == 2 and r["texts_without_videos"] == 0
    assert r["mean_recall"] == pytest.approx((50 + 100 + 100 + 50 + 100 + 100) / 6)
    lo, hi = r["ci95"]["r1_v2t"]
    assert 0.0 <= lo <= r["r1_v2t"] <= hi <= 100.0


def test_recall_at_5_and_10_and_exact_tie_credit():
    # One video, 12 texts; its correct text (index 0) scores 0.5.
    row = np.array([0.5] + [0.9] * 4 + [0.5] * 2 + [0.1] * 5)
    r = retrieval_recall(row[None, :], [0], bootstrap_size=100)
    # 4 wrong texts above, 2 wrong tied: at K=5 one place is left for 3 tied texts -> 1/3.
    assert r["r1_v2t"] == 0.0 and r["r5_v2t"] == pytest.approx(100 / 3) and r["r10_v2t"] == 100.0
    # Text t0's correct videos are v1 and v2 (0.3); v0 (wrong) is above at 0.7 and v3, v4 (wrong) tie at 0.3:
    # at K=2 one tied place is left for four tied videos, two of them correct -> 1 - C(2,1)/C(4,1) = 1/2.
    # Text t1 (videos v0, v3, v4) scores 0 everywhere: five tied, three correct -> at K=1, 1 - 2/5 = 3/5;
    # at K=2, 1 - C(2,2)/C(5,2) = 9/10.
    scores = np.array([[0.7, 0.0], [0.3, 0.0], [0.3, 0.0], [0.3, 0.0], [0.3, 0.0]])
    r = retrieval_recall(scores, [1, 0, 0, 1, 1], ks=(1, 2), bootstrap_size=100)
    assert r["r1_t2v"] == pytest.approx(100 * (0.0 + 0.6) / 2)
    assert r["r2_t2v"] == pytest.approx(100 * (0.5 + 0.9) / 2)
    # Not every text needs a video: a category nobody shows is not a text-to-video query.
    r = retrieval_recall(np.eye(3)[:2], [0, 1], bootstrap_size=100)
    assert r["texts_without_videos"] == 1 and r["r1_t2v"] == 100.0 and r["r1_v2t"] == 100.0


def test_ties_need_scores_equal_within_float32_tolerance():
    near = np.array([[1.0, 1.0 + 1e-9]])  # equal in float32 -> a tie, half credit
    assert retrieval_recall(near, [0], bootstrap_size=100)["r1_v2t"] == 50.0
    apart = np.array([[1.0, 1.001]])
    assert retrieval_recall(apart, [0], bootstrap_size=100)["r1_v2t"] == 0.0


def test_the_originals_scoring_options_change_results_as_specified():
    model = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0]])  # the model puts each video's text first
    backbone = np.array([[0.0, 8.0, 0.0], [0.0, 4.0, 0.0]])
    gt = [0, 1]
    default = retrieval_recall(*retrieval_scores(model)[:1], gt, bootstrap_size=100)
    assert default["r1_v2t"] == 100.0
    # Ensemble: softmax(model) + softmax(backbone) over texts: video 0's backbone mass on t1 outweighs.
    v2t, t2v = retrieval_scores(model, backbone, "ensemble_with_backbone")
    assert np.allclose(v2t.sum(1), 2.0) and np.allclose(t2v.sum(1), 2.0)
    ens = retrieval_recall(v2t, gt, t2v, bootstrap_size=100)
    assert ens["r1_v2t"] == 50.0
    # Two-step with the backbone's top 1: video 0 keeps only t1 (the backbone's pick), so t0 falls behind it.
    v2t, t2v = retrieval_scores(model, backbone, "two_step_independent", top_k=1)
    two = retrieval_recall(v2t, gt, t2v, bootstrap_size=100)
    assert two["r1_v2t"] == 50.0
    assert two["r5_v2t"] == 100.0  # t0 is tied with t2 below the kept candidate: both within the top 5
    # With a first stage as deep as the candidate list, two-step ranks exactly as the model does.
    v2t, t2v = retrieval_scores(model, backbone, "two_step_independent", top_k=50)
    assert retrieval_recall(v2t, gt, t2v, bootstrap_size=100)["r1_v2t"] == 100.0
    with pytest.raises(MetricsError, match="needs the backbone's scores"):
        retrieval_scores(model, None, "ensemble_with_backbone")
    with pytest.raises(MetricsError, match="unknown retrieval method 'best'"):
        retrieval_scores(model, backbone, "best")
    with pytest.raises(MetricsError, match=r"backbone scores: shape \(1, 3\) differs"):
        retrieval_scores(model, backbone[:1], "ensemble_with_backbone")


def test_downstream_task_table_names_every_dataset_with_a_task():
    from actionbench import tasks

    assert tasks.PROBE_TASKS == ("action_antonym", "video_reversal", "object_replacement")  # unchanged
    assert tasks.DOWNSTREAM_TASKS == ("video_text_retrieval", "video_action_retrieval", "multiple_choice_qa")
    assert [tasks.get(t).kind for t in tasks.DOWNSTREAM_TASKS] == ["retrieval", "retrieval", "multiple_choice"]
    assert tasks.get("multiple_choice_qa").chance == 20.0
    assert set(DOWNSTREAM_TASKS) == set(tasks.DOWNSTREAM_TASKS)
    assert set(DOWNSTREAM_DATASETS.values()) <= set(DOWNSTREAM_TASKS)
    assert "r1_v2t" in DOWNSTREAM_TASKS["video_action_retrieval"]
    assert DOWNSTREAM_TASKS["multiple_choice_qa"] == ("accuracy", "accuracy_causal", "accuracy_temporal",
                                                      "accuracy_descriptive")


# -------------------------------------------------------------------------------------------- NExT-QA

HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"
# video, qid, type, answer; predictions below: right (R) or wrong (W)
HAND = [("10", 0, "CW", 1, "R"), ("10", 1, "CH", 2, "W"), ("10", 2, "TN", 0, "R"), ("11", 0, "TC", 3, "W"),
        ("11", 1, "TP", 4, "R"), ("11", 2, "DC", 0, "R"), ("12", 0, "DL", 1, "W"), ("12", 1, "DO", 2, "R"),
        ("12", 2, "CW", 3, "R"), ("12", 3, "TN", 4, "W")]


@pytest.fixture()
def hand_made(tmp_path):
    lines = [HEADER] + [f"{v},100,640,480,what happens,{a},{q},{t},a,b,c,d,e" for v, q, t, a, _ in HAND]
    path = tmp_path / "val.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    preds = {f"{v}_{q}": (a if ok == "R" else (a + 1) % 5) for v, q, t, a, ok in HAND}
    return path, preds


def test_nextqa_accuracy_per_type_on_a_hand_made_file(hand_made):
    path, preds = hand_made
    scored = nextqa_accuracy(read_nextqa(path), preds, bootstrap_size=200)
    # C = CW+CH: CW right, CH wrong, CW right -> 2/3; T = TN+TC+TP: R, W, R, W -> 2/4; D = DC+DL+DO: R, W, R -> 2/3
    assert scored["overall"]["n"] == 10 and scored["overall"]["accuracy"] == 60.0
    assert scored["groups"]["causal"]["accuracy"] == pytest.approx(200 / 3)
    assert scored["groups"]["temporal"]["accuracy"] == 50.0
    assert scored["groups"]["descriptive"]["accuracy"] == pytest.approx(200 / 3)
    assert scored["types"]["TN"] == {"n": 2, "accuracy": 50.0, "ci95": scored["types"]["TN"]["ci95"]}
    cell = qa_cell(scored)
    assert cell["accuracy"] == 60.0 and cell["accuracy_temporal"] == 50.0 and "accuracy" in cell["ci95"]
    # The ATP-hard subset is applied by id.
    hard = nextqa_accuracy(read_nextqa(path), preds, subset=["10_1", "11_0", "11_1"], bootstrap_size=100)
    assert hard["overall"]["accuracy"] == pytest.approx(100 / 3)
    assert hard["groups"]["causal"]["accuracy"] == 0.0 and hard["groups"]["temporal"]["accuracy"] == 50.0
    assert "descriptive" not in hard["groups"]
    with pytest.raises(MetricsError, match="subset id 99_0 is not a question"):
        nextqa_accuracy(read_nextqa(path), preds, subset=["99_0"])
    with pytest.raises(MetricsError, match=r"no prediction for question 10_0 \(and 9 more\)"):
        nextqa_accuracy(read_nextqa(path), {})


def test_official_prediction_file_scoring_checks_answers(hand_made, tmp_path):
    path, preds = hand_made
    answers = {f"{v}_{q}": a for v, q, _, a, _ in HAND}
    pred_file = tmp_path / "pred.json"
    pred_file.write_text(json.dumps({k: {"prediction": p, "answer": answers[k]} for k, p in preds.items()}))
    ids = tmp_path / "atp-hard.txt"
    ids.write_text("10_1\n11_0\n11_1\n")
    out = score_nextqa_file(str(pred_file), str(path), subset_path=str(ids), bootstrap_size=100)
    assert out["all"]["overall"]["accuracy"] == 60.0 and out["atp_hard"]["overall"]["n"] == 3
    wrong = dict(json.loads(pred_file.read_text()))
    wrong["12_3"]["answer"] = 0
    pred_file.write_text(json.dumps(wrong))
    with pytest.raises(MetricsError, match=r"pred\.json: 12_3: answer 0 but .*val\.csv says 4"):
        score_nextqa_file(str(pred_file), str(path))


def test_nextqa_accuracy_on_the_genuine_validation_file(shared_data):
    path = shared_data / "real" / "nextqa" / "val.csv"
    if not path.is_file():
        pytest.skip("genuine NExT-QA validation file absent")
    questions = read_nextqa(path)
    # Always answering 0: the accuracy per group is the share of questions whose answer is 0, counted here
    # straight from the CSV with the official grouping.
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    groups = {"CW": "causal", "CH": "causal", "TN": "temporal", "TC": "temporal", "TP": "temporal",
              "DC": "descriptive", "DL": "descriptive", "DO": "descriptive"}
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            for key in (groups[row["type"]], "all"):
                counts[key][0] += row["answer"] == "0"
                counts[key][1] += 1
    scored = nextqa_accuracy(questions, {q.key: 0 for q in questions}, bootstrap_size=200)
    assert scored["overall"]["n"] == counts["all"][1] == 4996
    assert scored["overall"]["accuracy"] == pytest.approx(100 * counts["all"][0] / 4996)
    for name in ("causal", "temporal", "descriptive"):
        assert scored["groups"][name]["n"] == counts[name][1]
        assert scored["groups"][name]["accuracy"] == pytest.approx(100 * counts[name][0] / counts[name][1])
    assert [scored["groups"][g]["n"] for g in ("causal", "temporal", "descriptive")] == [2607, 1612, 777]
    perfect = nextqa_accuracy(questions, {q.key: q.answer for q in questions}, bootstrap_size=100)
    assert perfect["overall"]["accuracy"] == 100.0 and perfect["overall"]["ci95"] == [100.0, 100.0]


def test_retrieval_cell_records_the_scoring_option_and_choice_scores_split_ties(hand_made):
    model = np.array([[2.0, 0.0], [0.0, 3.0]])
    cell = retrieval_cell(model, [0, 1], bootstrap_size=100)
    assert cell["method"] == "default" and cell["r1_v2t"] == 100.0 and "top_k" not in cell
    cell = retrieval_cell(model, [0, 1], backbone_logits=-model, method="two_step_independent", top_k=1,
                          bootstrap_size=100)
    assert cell["method"] == "two_step_independent" and cell["top_k"] == 1 and cell["r1_v2t"] == 0.0
    assert choose_answer([0.1, 0.7, 0.7, 0.2, 0.0]) == (1, [1, 2])
    path, _ = hand_made
    questions = read_nextqa(path)
    scores = {q.key: [0.0] * 5 for q in questions}  # every choice tied: expected credit 1/5 each
    assert nextqa_accuracy(questions, scores, bootstrap_size=100)["overall"]["accuracy"] == pytest.approx(20.0)
    with pytest.raises(MetricsError, match=r"question 10_0: 4 choice scores for 5 choices"):
        nextqa_accuracy(questions, {q.key: [0.0] * 4 for q in questions})


def test_tie_credit_equals_the_average_over_every_tie_breaking_order():
    import itertools

    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(2, 7))
        scores = rng.integers(0, 3, size=n).astype(float)  # few distinct values: many ties
        correct = sorted(rng.choice(n, size=int(rng.integers(1, n)), replace=False).tolist())
        counts = rank_counts(scores, correct)
        for k in (1, 2, 3, 5):
            hits = []
            for perm in itertools.permutations(range(n)):  # every order that respects the scores
                order = sorted(range(n), key=lambda i: (-scores[i], perm.index(i)))
                hits.append(any(i in correct for i in order[:k]))
            assert hit_credit(*counts, k) == pytest.approx(sum(hits) / len(hits))


def test_recall_recomputes_from_prediction_rows_and_refuses_impossible_rows():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(30, 7)).round(1)  # rounding makes ties
    gt = [int(i) for i in rng.integers(0, 7, size=30)]
    direct = retrieval_recall(scores, gt, bootstrap_size=100)
    rows = retrieval_rows(scores, gt, video_ids=[f"vid{i}" for i in range(30)])
    assert {r["direction"] for r in rows} == {"v2t", "t2v"} and rows[0]["query"] == "vid0"
    again = recall_from_rows(json.loads(json.dumps(rows)), bootstrap_size=100)
    for name in ("r1_v2t", "r5_v2t", "r10_t2v", "mean_recall"):
        assert again[name] == pytest.approx(direct[name])
    rows[3]["tied_right"] = 0
    with pytest.raises(MetricsError, match="v2t query vid3: impossible rank counts"):
        recall_from_rows(rows)
