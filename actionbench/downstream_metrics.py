"""Metrics of the paper's downstream tasks (Table 2): retrieval recall at K and NExT-QA accuracy.

Retrieval (REFERENCE.md §5.1, `DownstreamTaskRetrieval.evaluation`): every video ranks every candidate text
(video-to-text) and every text with at least one correct video ranks every video (text-to-video); a query
is a hit at K when its best-ranked correct item is among the first K. Several correct videos per text are
the rule for SSv2-template, Temporal-* and Moments-in-Time. Ties follow the pinned protocol's `half` idea:
tied candidates are taken in random order and a query earns its expected hit, computed exactly (no draw).
The original's scoring options are explicit (`RETRIEVAL_METHODS`):
- `default`: the model's scores;
- `ensemble_with_backbone`: softmax of the model's logits plus softmax of the backbone's (each on its own
  scale), over texts for video-to-text and over videos for text-to-video;
- `two_step_independent`: the backbone's top `top_k` (50) candidates per query, re-ranked by the model; the
  rest score 0 (below every kept candidate, tied among themselves).

NExT-QA: accuracy over five-way predictions, overall, per type and per group as the official evaluation
groups them (C = CW+CH, T = TN+TC+TP, D = DC+DL+DO), optionally on a subset given by `<video>_<qid>` keys
(ATP-hard). Intervals are percentile bootstraps (`metrics.cluster_bootstrap_interval`): over questions
clustered by video for NExT-QA (a video has several questions), over queries for retrieval.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from actionbench import tasks
from actionbench.datasets.downstream_set import DATASETS, DownstreamSet
from actionbench.datasets.nextqa import GROUP_NAMES, TYPE_GROUPS, Question
from actionbench.metrics import TIE_RTOL, MetricsError, cluster_bootstrap_interval

RETRIEVAL_METHODS = tasks.RETRIEVAL_METHODS
RECALL_AT = (1, 5, 10)
TWO_STEP_TOP_K = 50  # the original's first-stage depth
RETRIEVAL_METRICS = tuple(f"r{k}_{d}" for d in ("v2t", "t2v") for k in RECALL_AT) + ("mean_recall",)
QA_METRICS = ("accuracy", *(f"accuracy_{name}" for name in GROUP_NAMES.values()))
# Downstream task id -> the metrics a result cell of it holds.
DOWNSTREAM_TASKS: dict[str, tuple[str, ...]] = {
    t: RETRIEVAL_METRICS if tasks.get(t).kind == "retrieval" else QA_METRICS for t in tasks.DOWNSTREAM_TASKS
}
# Downstream dataset id -> its task (the table lives with the downstream sets).
DOWNSTREAM_DATASETS: dict[str, str] = {dataset: task for dataset, (task, _) in DATASETS.items()}


# ------------------------------------------------------------------------------------------ retrieval


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _as_matrix(name: str, value: Any, shape: tuple[int, int] | None = None) -> np.ndarray:
    m = np.asarray(value, dtype=np.float64)
    if m.ndim != 2:
        raise MetricsError(f"{name}: expected a videos x texts matrix, got shape {m.shape}")
    if shape is not None and m.shape != shape:
        raise MetricsError(f"{name}: shape {m.shape} differs from the model's {shape}")
    if not np.all(np.isfinite(m)):
        raise MetricsError(f"{name}: non-finite score")
    return m


def _two_step(model: np.ndarray, backbone: np.ndarray, top_k: int) -> np.ndarray:
    """Per row: the model's score on the backbone's top_k candidates (ties by index), a common floor elsewhere."""
    k = min(top_k, backbone.shape[1])
    cols = np.arange(backbone.shape[1])
    out = np.empty_like(model)
    floor = float(model.min()) - 1.0 - abs(float(model.min()))
    for i in range(model.shape[0]):
        order = np.lexsort((cols, -backbone[i]))[:k]
        out[i] = floor
        out[i, order] = model[i, order]
    return out


def retrieval_scores(
    model_logits: Any, backbone_logits: Any = None, method: str = "default", top_k: int = TWO_STEP_TOP_K
) -> tuple[np.ndarray, np.ndarray]:
    """The scores each direction ranks by: (video-to-text [videos, texts], text-to-video [texts, videos]).

    `model_logits` and `backbone_logits` are videos x texts similarity / temperature, each on its own scale.
    """
    if method not in RETRIEVAL_METHODS:
        raise MetricsError(f"unknown retrieval method {method!r} (choose from {', '.join(RETRIEVAL_METHODS)})")
    model = _as_matrix("model scores", model_logits)
    if method == "default":
        return model, model.T
    if backbone_logits is None:
        raise MetricsError(f"retrieval method {method!r} needs the backbone's scores")
    backbone = _as_matrix("backbone scores", backbone_logits, model.shape)
    if method == "ensemble_with_backbone":
        return _softmax(model, 1) + _softmax(backbone, 1), (_softmax(model, 0) + _softmax(backbone, 0)).T
    if top_k < 1:
        raise MetricsError(f"top_k must be at least 1, got {top_k}")
    v2t = _two_step(_softmax(model, 1), backbone, top_k)
    t2v = _two_step(_softmax(model, 0).T, backbone.T, top_k)
    return v2t, t2v


def rank_counts(scores: np.ndarray, correct: Sequence[int]) -> tuple[int, int, int]:
    """Where a query's best correct candidate ranks: (wrong candidates clearly above it, wrong candidates tied
    with it, correct candidates tied with it, itself included). Scores are compared in float32."""
    s = np.asarray(scores, dtype=np.float32).astype(np.float64)
    is_correct = np.zeros(len(s), dtype=bool)
    is_correct[list(correct)] = True
    best = float(s[is_correct].max())
    tol = TIE_RTOL * max(1.0, abs(best))
    tied = np.abs(s - best) <= tol
    above = int(np.count_nonzero((s > best + tol) & ~is_correct))
    return above, int(np.count_nonzero(tied & ~is_correct)), int(np.count_nonzero(tied & is_correct))


def hit_credit(above: int, tied_wrong: int, tied_right: int, k: int) -> float:
    """P(some correct candidate is in the top k) when tied candidates come in random order (exact, no draw)."""
    slots = k - above  # places left in the top k once the clearly better wrong candidates are counted
    if slots <= 0:
        return 0.0
    if slots > tied_wrong:
        return 1.0
    # All of the first `slots` tied places go to wrong candidates: C(w, slots) / C(w + r, slots).
    return 1.0 - math.comb(tied_wrong, slots) / math.comb(tied_wrong + tied_right, slots)


def retrieval_rows(v2t: Any, video_text: Sequence[int], t2v: Any = None,
                   video_ids: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """One prediction row per query (every video; every text with a correct video): its direction, its id
    (`video_ids[i]`, or `t<j>` for text j) and its rank counts. Recall at any K recomputes from these rows."""
    v2t = np.asarray(v2t, dtype=np.float64)
    t2v = v2t.T if t2v is None else np.asarray(t2v, dtype=np.float64)
    n_videos, n_texts = v2t.shape if v2t.ndim == 2 else (0, 0)
    if v2t.ndim != 2 or t2v.shape != (n_texts, n_videos):
        raise MetricsError(f"score shapes {v2t.shape} and {t2v.shape} do not match {len(video_text)} videos")
    if len(video_text) != n_videos:
        raise MetricsError(f"{len(video_text)} correct texts for {n_videos} videos")
    if any(not 0 <= t < n_texts for t in video_text):
        raise MetricsError(f"a correct-text index is outside 0..{n_texts - 1}")
    ids = [f"v{i}" for i in range(n_videos)] if video_ids is None else [str(v) for v in video_ids]
    text_videos: list[list[int]] = [[] for _ in range(n_texts)]
    for v, t in enumerate(video_text):
        text_videos[t].append(v)
    rows = []
    for i, t in enumerate(video_text):
        above, wrong, right = rank_counts(v2t[i], [t])
        rows.append({"direction": "v2t", "query": ids[i], "above": above, "tied_wrong": wrong, "tied_right": right})
    for j, videos in enumerate(text_videos):
        if videos:
            above, wrong, right = rank_counts(t2v[j], videos)
            rows.append({"direction": "t2v", "query": f"t{j}", "above": above, "tied_wrong": wrong,
                         "tied_right": right})
    return rows


def recall_from_rows(rows: Sequence[dict[str, Any]], *, ks: Sequence[int] = RECALL_AT, bootstrap_seed: int = 0,
                     bootstrap_size: int = 1000, key: Any = "") -> dict[str, Any]:
    """R@K (%) per direction with 95% bootstrap intervals over queries, and their mean, from prediction rows."""
    out: dict[str, Any] = {"ci95": {}}
    recalls = []
    for direction in ("v2t", "t2v"):
        qs = [r for r in rows if r["direction"] == direction]
        for r in qs:
            if min(r["above"], r["tied_wrong"]) < 0 or r["tied_right"] < 1:
                raise MetricsError(f"{direction} query {r['query']}: impossible rank counts")
        for k in ks:
            name = f"r{k}_{direction}"
            credits = [hit_credit(r["above"], r["tied_wrong"], r["tied_right"], k) for r in qs]
            value = 100.0 * math.fsum(credits) / len(credits) if credits else 0.0
            lo, hi = cluster_bootstrap_interval(credits, [str(r["query"]) for r in qs], seed=bootstrap_seed,
                                                size=bootstrap_size, key=(key, name))
            out[name] = value
            out["ci95"][name] = [100.0 * lo, 100.0 * hi]
            recalls.append(value)
    out["mean_recall"] = math.fsum(recalls) / len(recalls) if recalls else 0.0
    return out


def retrieval_recall(
    v2t: Any,
    video_text: Sequence[int],
    t2v: Any = None,
    *,
    ks: Sequence[int] = RECALL_AT,
    bootstrap_seed: int = 0,
    bootstrap_size: int = 1000,
    key: Any = "",
) -> dict[str, Any]:
    """R@K (%) both ways with 95% intervals, from the scores each direction ranks by.

    `v2t[i, j]` scores text j for video i; `t2v[j, i]` scores video i for text j (default: `v2t.T`).
    `video_text[i]` is video i's correct text; a text's correct videos are all videos naming it. Texts with
    no correct video (a category no video shows) are not text-to-video queries; they are counted.
    """
    rows = retrieval_rows(v2t, video_text, t2v)
    n_videos, n_texts = np.shape(v2t)
    n_t2v = sum(r["direction"] == "t2v" for r in rows)
    out: dict[str, Any] = {"n_videos": n_videos, "n_texts": n_texts, "texts_without_videos": n_texts - n_t2v}
    out.update(recall_from_rows(rows, ks=ks, bootstrap_seed=bootstrap_seed, bootstrap_size=bootstrap_size, key=key))
    return out


def retrieval_cell(
    model_logits: Any,
    video_text: Sequence[int],
    *,
    backbone_logits: Any = None,
    method: str = "default",
    top_k: int = TWO_STEP_TOP_K,
    bootstrap_seed: int = 0,
    bootstrap_size: int = 1000,
    key: Any = "",
) -> dict[str, Any]:
    """A retrieval result cell (the metric names of DOWNSTREAM_TASKS, intervals under `ci95`, the counts and
    the scoring option) from a videos x texts logit matrix, as the runner will record it."""
    v2t, t2v = retrieval_scores(model_logits, backbone_logits, method, top_k)
    cell = retrieval_recall(v2t, video_text, t2v, bootstrap_seed=bootstrap_seed, bootstrap_size=bootstrap_size,
                            key=key)
    cell["method"] = method
    if method == "two_step_independent":
        cell["top_k"] = top_k
    return cell


# -------------------------------------------------------------------------------------------- NExT-QA


def choose_answer(scores: Sequence[float]) -> tuple[int, list[int]]:
    """The chosen index (the first of the best) and every index tied with the best (float32, the probes' rule)."""
    s = np.asarray(scores, dtype=np.float32).astype(np.float64)
    if s.ndim != 1 or len(s) == 0 or not np.all(np.isfinite(s)):
        raise MetricsError(f"choice scores must be a finite, non-empty list, got {list(scores)!r}")
    best = float(s.max())
    tied = [i for i, v in enumerate(s) if abs(v - best) <= TIE_RTOL * max(1.0, abs(best))]
    return tied[0], tied


def nextqa_accuracy(
    questions: Sequence[Question],
    predictions: Mapping[str, int | Sequence[float]],
    *,
    subset: Sequence[str] | None = None,
    bootstrap_seed: int = 0,
    bootstrap_size: int = 1000,
    key: Any = "nextqa",
) -> dict[str, Any]:
    """Accuracy (%) overall, per group (causal / temporal / descriptive) and per type, with 95% intervals.

    `predictions` maps `<video>_<qid>` to the chosen index (0-4), or to the model's five choice scores: then
    a tie between the best choices earns the expected credit of a random pick among them (the `half` idea).
    Every question scored needs one. `subset` (e.g. the ATP-hard ids) restricts the questions; an id that is
    not a question is an error.
    """
    by_key = {q.key: q for q in questions}
    if subset is not None:
        unknown = [k for k in subset if k not in by_key]
        if unknown:
            raise MetricsError(f"subset id {unknown[0]} is not a question of the annotations"
                               + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""))
        chosen = [by_key[k] for k in dict.fromkeys(subset)]
    else:
        chosen = list(questions)
    if not chosen:
        raise MetricsError("no questions to score")
    missing = [q.key for q in chosen if q.key not in predictions]
    if missing:
        raise MetricsError(f"no prediction for question {missing[0]}"
                           + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    rows = []
    for q in chosen:
        p = predictions[q.key]
        if isinstance(p, (list, tuple, np.ndarray)):
            if len(p) != len(q.choices):
                raise MetricsError(f"question {q.key}: {len(p)} choice scores for {len(q.choices)} choices")
            _, tied = choose_answer(p)
            rows.append((q, (q.answer in tied) / len(tied)))
            continue
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or not 0 <= int(p) < len(q.choices):
            raise MetricsError(f"question {q.key}: prediction {p!r} is not a choice index 0-{len(q.choices) - 1}")
        rows.append((q, float(int(p) == q.answer)))

    def block(selected: list[tuple[Question, float]], name: str) -> dict[str, Any]:
        credits = [c for _, c in selected]
        lo, hi = cluster_bootstrap_interval(credits, [q.video for q, _ in selected], seed=bootstrap_seed,
                                            size=bootstrap_size, key=(key, name))
        return {"n": len(selected), "accuracy": 100.0 * math.fsum(credits) / len(selected),
                "ci95": [100.0 * lo, 100.0 * hi]}

    out: dict[str, Any] = {"overall": block(rows, "all"), "groups": {}, "types": {}}
    for group, name in GROUP_NAMES.items():
        selected = [r for r in rows if r[0].group == group]
        if selected:
            out["groups"][name] = block(selected, group)
    for qtype in TYPE_GROUPS:
        selected = [r for r in rows if r[0].type == qtype]
        if selected:
            out["types"][qtype] = block(selected, qtype)
    return out


def qa_cell(scored: dict[str, Any]) -> dict[str, Any]:
    """A `multiple_choice_qa` result cell (the metric names of DOWNSTREAM_TASKS, and `types`: n, accuracy and
    interval per question type) from nextqa_accuracy."""
    cell: dict[str, Any] = {"accuracy": scored["overall"]["accuracy"], "n": scored["overall"]["n"],
                            "ci95": {"accuracy": scored["overall"]["ci95"]}}
    for name, g in scored["groups"].items():
        cell[f"accuracy_{name}"] = g["accuracy"]
        cell["ci95"][f"accuracy_{name}"] = g["ci95"]
    cell["types"] = {t: dict(block) for t, block in scored["types"].items()}
    return cell


def score_nextqa_file(
    predictions_path: str,
    annotations_path: str,
    *,
    subset_path: str | None = None,
    bootstrap_seed: int = 0,
    bootstrap_size: int = 1000,
) -> dict[str, Any]:
    """Score an official NExT-QA prediction file against the annotations (and an ATP-hard id list).

    A prediction file's own `answer` must agree with the annotations (a file for another split or version
    is refused, naming the first question that disagrees). Returns `{"all": ..., "atp_hard": ... | None}`,
    each as nextqa_accuracy returns it, plus the counts the file held.
    """
    from actionbench.datasets.nextqa import read_id_list, read_nextqa, read_predictions

    questions = read_nextqa(annotations_path)
    preds = read_predictions(predictions_path)
    by_key = {q.key: q for q in questions}
    extra = [k for k in preds if k not in by_key]
    if extra:
        raise MetricsError(f"{predictions_path}: question {extra[0]} is not in {annotations_path}"
                           + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    for k, (_, answer) in preds.items():
        if answer is not None and answer != by_key[k].answer:
            raise MetricsError(f"{predictions_path}: {k}: answer {answer} but {annotations_path} says "
                               f"{by_key[k].answer}")
    chosen = {k: p for k, (p, _) in preds.items()}
    opts = {"bootstrap_seed": bootstrap_seed, "bootstrap_size": bootstrap_size}
    out: dict[str, Any] = {"annotations": str(annotations_path), "predictions": str(predictions_path),
                           "all": nextqa_accuracy(questions, chosen, key="nextqa", **opts), "atp_hard": None}
    if subset_path is not None:
        ids = read_id_list(subset_path)
        out["atp_hard"] = nextqa_accuracy(questions, chosen, subset=ids, key="nextqa_atp_hard", **opts)
        out["subset"] = str(subset_path)
    return out


# ------------------------------------------------------------------------------------- whole downstream sets


def score_retrieval_set(
    ds: DownstreamSet,
    logits: Any,
    *,
    backbone_logits: Any = None,
    method: str = "default",
    top_k: int = TWO_STEP_TOP_K,
    bootstrap_seed: int = 0,
    bootstrap_size: int = 1000,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The result cell and the prediction rows of a retrieval set, from its clips x texts logits (rows in the
    set's clip order, columns in its text order): what the runner records for a retrieval task."""
    if ds.manifest.kind != "retrieval":
        raise MetricsError(f"downstream set {ds.set_id} ({ds.manifest.dataset}) is not a retrieval set")
    index = {c.clip_id: i for i, c in enumerate(ds.clips)}
    order = [index[item["clip_id"]] for item in ds.items]
    model = _as_matrix("model scores", logits, (len(ds.clips), len(ds.texts)))[order]
    backbone = None if backbone_logits is None else _as_matrix("backbone scores", backbone_logits, (
        len(ds.clips), len(ds.texts)))[order]
    video_text = [int(item["text_index"]) for item in ds.items]
    v2t, t2v = retrieval_scores(model, backbone, method, top_k)
    rows = retrieval_rows(v2t, video_text, t2v, video_ids=[item["item_id"] for item in ds.items])
    for r in rows:
        if r["direction"] == "t2v":
            r["query"] = ds.texts[int(r["query"][1:])]
    cell = recall_from_rows(rows, bootstrap_seed=bootstrap_seed, bootstrap_size=bootstrap_size,
                            key=(ds.manifest.dataset, method))
    n_t2v = sum(r["direction"] == "t2v" for r in rows)
    cell.update({"n_videos": len(ds.items), "n_texts": len(ds.texts), "texts_without_videos": len(ds.texts) - n_t2v,
                 "method": method})
    if method == "two_step_independent":
        cell["top_k"] = top_k
    return cell, rows


def score_qa_set(
    ds: DownstreamSet, choice_scores: Mapping[str, Sequence[float]], *, bootstrap_seed: int = 0,
    bootstrap_size: int = 1000,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The result cell (overall and per group, with intervals) and the prediction rows of a question set, from
    each question's five choice scores (keyed by item id)."""
    if ds.manifest.kind != "multiple_choice":
        raise MetricsError(f"downstream set {ds.set_id} ({ds.manifest.dataset}) is not a question set")
    questions = [Question(video=item["clip_id"], qid=item["item_id"].rpartition("_")[2], question=item["question"],
                          choices=tuple(item["choices"]),
                          answer=int(item["answer"]), type=item["type"]) for item in ds.items]
    scored = nextqa_accuracy(questions, choice_scores, bootstrap_seed=bootstrap_seed, bootstrap_size=bootstrap_size,
                             key=ds.manifest.dataset)
    rows = []
    for q in questions:
        chosen, tied = choose_answer(choice_scores[q.key])
        rows.append({"item_id": q.key, "type": q.type, "answer": q.answer,
                     "scores": [float(np.float32(s)) for s in choice_scores[q.key]], "prediction": chosen,
                     "credit": (q.answer in tied) / len(tied)})
    return {**qa_cell(scored), "method": "default"}, rows


# ------------------------------------------------------------------------------------- from a bundle's rows


def qa_cell_from_rows(rows: Sequence[dict[str, Any]], *, key: Any, bootstrap_seed: int = 0,
                      bootstrap_size: int = 1000) -> dict[str, Any]:
    """A multiple-choice cell recomputed from its prediction rows (item id `<video>_<qid>`, type, answer and the
    recorded choice scores), as `score_qa_set` computed it."""
    questions, scores = [], {}
    for r in rows:
        video, _, qid = str(r["item_id"]).rpartition("_")
        q = Question(video=video, qid=qid, question="", choices=tuple(str(i) for i in range(len(r["scores"]))),
                     answer=int(r["answer"]), type=r["type"])
        if q.type not in TYPE_GROUPS:
            raise MetricsError(f"question {r['item_id']}: unknown type {r['type']!r}")
        questions.append(q)
        scores[q.key] = r["scores"]
    scored = nextqa_accuracy(questions, scores, bootstrap_seed=bootstrap_seed, bootstrap_size=bootstrap_size, key=key)
    return {**qa_cell(scored), "method": "default"}


def retrieval_cell_from_rows(rows: Sequence[dict[str, Any]], *, n_texts: int, method: str, key: Any,
                             top_k: int | None = None, bootstrap_seed: int = 0,
                             bootstrap_size: int = 1000) -> dict[str, Any]:
    """A retrieval cell recomputed from its prediction rows, as `score_retrieval_set` computed it (`n_texts`,
    `method` and `top_k` are what the rows cannot tell)."""
    cell = recall_from_rows(rows, bootstrap_seed=bootstrap_seed, bootstrap_size=bootstrap_size, key=key)
    n_t2v = sum(r["direction"] == "t2v" for r in rows)
    cell.update({"n_videos": sum(r["direction"] == "v2t" for r in rows), "n_texts": n_texts,
                 "texts_without_videos": n_texts - n_t2v, "method": method})
    if top_k is not None:
        cell["top_k"] = top_k
    return cell


COMPARED_METRICS = {"retrieval": ("r1_v2t", "r5_v2t", "r1_t2v", "r5_t2v"), "multiple_choice": ("accuracy",)}


def paired_rows(rows: Sequence[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """One downstream cell's per-query credits for `metric` in the shape `metrics.paired_bootstrap` compares:
    `probe_id` = the query (retrieval: direction and query; questions: `<video>_<qid>`), `decision` = its credit
    (a retrieval query's expected hit at K, ties included; a question's credit), `source_video` = its cluster (the
    query itself; a question's video), as the cell's intervals cluster them."""
    if metric == "accuracy" or metric.startswith("accuracy_"):
        group = None if metric == "accuracy" else metric.removeprefix("accuracy_")
        return [{"probe_id": r["item_id"], "decision": float(r["credit"]),
                 "source_video": str(r["item_id"]).rpartition("_")[0]}
                for r in rows if group is None or GROUP_NAMES.get(TYPE_GROUPS.get(r["type"], "")) == group]
    head, _, direction = metric.partition("_")
    if not (head.startswith("r") and head[1:].isdigit() and direction in ("v2t", "t2v")):
        raise MetricsError(f"unknown downstream metric {metric!r}")
    k = int(head[1:])
    return [{"probe_id": f"{direction}:{r['query']}", "decision": hit_credit(r["above"], r["tied_wrong"],
                                                                             r["tied_right"], k),
             "source_video": f"{direction}:{r['query']}"} for r in rows if r["direction"] == direction]
