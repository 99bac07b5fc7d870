"""Decisions and metrics: tie policies, accuracy with intervals, the consistent score, paired comparisons.

Everything here is a pure function of prediction rows, so a validator can recompute every number of a
result bundle from its `predictions.jsonl`. Random draws (bootstrap, the `paper` policy's coin flip) are
seeded from ids and seeds, never from the order of the rows.

A prediction row is `{"probe_id", "task", "dataset", "clip_id", "source_video", "group", "s_true",
"s_foil", "decision", "tie"}`; `decision` is the credit the probe earned (0, 0.5 or 1).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from actionbench import tasks
from actionbench.errors import InputError
from actionbench.ids import seeded_rng, unit_interval

POLICIES = ("half", "strict", "paper")
DEFAULT_POLICY = "half"
TIE_RTOL = 1e-6  # |s_true - s_foil| <= TIE_RTOL * max(1, |s|) is a tie
PAPER_VR_EPS = 1e-5  # the original code flips a coin when |p0 - p1| < 1e-5
Z95 = 1.959963984540054  # the two-sided 95% normal quantile
ACTION_TASKS = tasks.action_ids()  # the "consistent" score needs every one
BOOTSTRAP_SIZES = (100, 1_000_000)  # fewer replicates collapse a 95% interval; more is a typo, not rigour
UNGROUPED = "(none)"  # breakdown key for probes whose clip has no template / verb


class MetricsError(InputError):
    """Predictions or options that cannot be scored."""


# --------------------------------------------------------------------------------------------- decisions


def decide(
    s_true: float,
    s_foil: float,
    task: str,
    policy: str,
    probe_id: str,
    logit_scale: float | None,
) -> tuple[float, bool]:
    """The credit a probe earns (0, 0.5 or 1) and whether its two scores tie, under a tie policy.

    `s_true` scores the true pairing, `s_foil` the foil (antonym text, reversed video, swapped objects).
    """
    if policy not in POLICIES:
        raise MetricsError(f"unknown tie policy {policy!r} (choose from {', '.join(POLICIES)})")
    # Compare in float32 so a model's dtype (fp16/bf16/fp32 upcast) cannot make ties appear or vanish.
    a = float(np.float32(s_true))
    b = float(np.float32(s_foil))
    if not (math.isfinite(a) and math.isfinite(b)):
        raise MetricsError(f"probe {probe_id}: non-finite score (s_true={s_true}, s_foil={s_foil})")
    tie = abs(a - b) <= TIE_RTOL * max(1.0, abs(a), abs(b))
    # 'strict' covers AA and OR only: on VR every order-invariant model ties, and would score 0%, so VR
    # ties keep their half credit under it.
    if policy == "half" or (policy == "strict" and task == tasks.VR):
        return (0.5 if tie else float(a > b)), tie
    if policy == "strict":
        return (0.0 if tie else float(a > b)), tie
    # policy == "paper": the original code's behaviour, kept for reproducing its numbers.
    if task != tasks.VR:
        return (1.0 if tie else float(a > b)), tie  # np.argmax picks index 0 (the true text) on a tie
    scale = 1.0 if logit_scale is None else float(logit_scale)
    # |p0 - p1| of a two-way softmax is |tanh(scale * (a - b) / 2)|.
    gap = abs(math.tanh(scale * (a - b) / 2.0))
    if gap < PAPER_VR_EPS:
        return (1.0 if unit_interval("paper-tie", probe_id) < 0.5 else 0.0), True
    return float(a > b), False


# ------------------------------------------------------------------------------------------- intervals


def check_bootstrap_size(size: object) -> int:
    """A bootstrap needs enough replicates to give a 95% interval (and not so many that it is a typo)."""
    lo, hi = BOOTSTRAP_SIZES
    if isinstance(size, bool) or not isinstance(size, int) or not lo <= size <= hi:
        raise MetricsError(f"bootstrap size must be an integer from {lo} to {hi}, got {size!r}")
    return size


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion, as fractions in [0, 1]; `successes` may hold half credits."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _cluster_sums(credits: Sequence[float], clusters: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster credit sums and probe counts, clusters in sorted order (independent of row order)."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for c, key in zip(credits, clusters, strict=True):
        sums[key] += c
        counts[key] += 1
    keys = sorted(sums)
    return np.array([sums[k] for k in keys]), np.array([counts[k] for k in keys], dtype=float)


def _resampled_indices(rng: np.random.Generator, n_clusters: int, size: int, chunk_cells: int = 4_000_000):
    """Yield blocks of bootstrap draws (rows = replicates, columns = drawn cluster indices)."""
    rows = max(1, chunk_cells // max(1, n_clusters))
    done = 0
    while done < size:
        k = min(rows, size - done)
        yield rng.integers(0, n_clusters, size=(k, n_clusters))
        done += k


def cluster_bootstrap_interval(
    credits: Sequence[float], clusters: Sequence[str], *, seed: int, size: int, key: Any = ""
) -> tuple[float, float]:
    """Percentile 95% interval (fractions) of the mean credit, resampling whole clusters with replacement.

    The statistic is the ratio estimator sum(credits) / sum(probes) over the drawn clusters. `key` names
    the sample (e.g. dataset and task) so different samples under one seed draw independently.
    """
    sums, counts = _cluster_sums(credits, clusters)
    if len(sums) == 0:
        return (0.0, 1.0)
    check_bootstrap_size(size)
    rng = seeded_rng("cluster-bootstrap", seed, key)
    stats = np.concatenate(
        [sums[idx].sum(1) / counts[idx].sum(1) for idx in _resampled_indices(rng, len(sums), size)]
    )
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return (float(lo), float(hi))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: (pvalues[i], i))
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


# --------------------------------------------------------------------------------------------- summary


def _accuracy_block(
    rows: list[dict[str, Any]], *, seed: int, size: int, key: Any, credit_key: str = "decision"
) -> dict[str, Any]:
    """n, accuracy (%) and a 95% interval: Wilson when every probe has its own source video, else a
    bootstrap over source-video clusters."""
    credits = [float(r[credit_key]) for r in rows]
    clusters = [str(r["source_video"]) for r in rows]
    n = len(rows)
    total = math.fsum(credits)
    if len(set(clusters)) == n:
        lo, hi = wilson_interval(total, n)
        method = "wilson"
    else:
        lo, hi = cluster_bootstrap_interval(credits, clusters, seed=seed, size=size, key=key)
        method = "cluster-bootstrap"
    return {
        "n": n,
        "accuracy": 100.0 * total / n if n else 0.0,
        "ci95": [100.0 * lo, 100.0 * hi],
        "ci_method": method,
    }


def _check_rows(predictions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = list(predictions)
    seen: set[str] = set()
    for i, r in enumerate(rows):
        for k in ("probe_id", "task", "dataset", "clip_id", "source_video", "decision", "tie"):
            if k not in r:
                raise MetricsError(f"prediction {i} ({r.get('probe_id', '?')}): missing field {k!r}")
        if r["probe_id"] in seen:
            raise MetricsError(f"prediction {r['probe_id']}: duplicate probe_id")
        seen.add(r["probe_id"])
    return rows


def _consistent(rows: list[dict[str, Any]], *, seed: int, size: int, dataset: str) -> dict[str, Any] | None:
    """A clip counts when both its AA and its VR probe are right; credit = product of the two credits."""
    per_clip: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    source: dict[str, str] = {}
    for r in rows:
        if r["task"] in ACTION_TASKS:
            per_clip[r["clip_id"]][r["task"]].append(float(r["decision"]))
            source[r["clip_id"]] = str(r["source_video"])
    clip_rows = []
    for clip_id in sorted(per_clip):
        tasks = per_clip[clip_id]
        if all(t in tasks for t in ACTION_TASKS):
            # A clip normally has one probe per task; with several, each task's mean credit is used.
            credit = math.prod(math.fsum(tasks[t]) / len(tasks[t]) for t in ACTION_TASKS)
            clip_rows.append({"credit": credit, "source_video": source[clip_id]})
    if not clip_rows:
        return None
    block = _accuracy_block(clip_rows, seed=seed, size=size, key=(dataset, "consistent"), credit_key="credit")
    block["chance"] = 25.0
    return block


def summarize(
    predictions: list[dict[str, Any]],
    *,
    policy: str = DEFAULT_POLICY,
    bootstrap_seed: int = 0,
    bootstrap_size: int = 1000,
    temporally_blind: bool = False,
) -> dict[str, Any]:
    """`results`, `consistent`, `breakdowns` and `relations` of a result bundle, recomputed from prediction rows.

    `relations` breaks Action Antonym down by what its foils contrast (`relation` of each row: inverse,
    outcome, undo), with intervals like `results`; rows without a relation (older probe sets) are left out.

    Accuracies and intervals are percentages; `tie_rate` is a fraction of probes. `missing` is 0 here (the
    runner fills in the probes it could not score). `policy` is checked, not applied: decisions are taken
    as recorded (the validator checks them against the scores separately).
    """
    if policy not in POLICIES:
        raise MetricsError(f"unknown tie policy {policy!r} (choose from {', '.join(POLICIES)})")
    check_bootstrap_size(bootstrap_size)
    rows = _check_rows(predictions)
    by_cell: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_cell[r["dataset"]][r["task"]].append(r)

    results: dict[str, dict[str, Any]] = {}
    consistent: dict[str, Any] = {}
    breakdowns: dict[str, Any] = {}
    relations: dict[str, Any] = {}
    for dataset in sorted(by_cell):
        results[dataset] = {}
        for task in sorted(by_cell[dataset]):
            cell = by_cell[dataset][task]
            block = _accuracy_block(cell, seed=bootstrap_seed, size=bootstrap_size, key=(dataset, task))
            block["tie_rate"] = sum(bool(r["tie"]) for r in cell) / len(cell)
            block["missing"] = 0
            if task == tasks.VR:
                block["temporally_blind"] = bool(temporally_blind)
            results[dataset][task] = block
        all_rows = [r for task_rows in by_cell[dataset].values() for r in task_rows]
        cons = _consistent(all_rows, seed=bootstrap_seed, size=bootstrap_size, dataset=dataset)
        if cons is not None:
            consistent[dataset] = cons
        groups: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in all_rows:
            group = r.get("group") or UNGROUPED
            groups[str(group)][r["task"]].append(float(r["decision"]))
        breakdowns[dataset] = {
            g: {
                t: {"n": len(c), "accuracy": 100.0 * math.fsum(c) / len(c)}
                for t, c in sorted(groups[g].items())
            }
            for g in sorted(groups)
        }
        by_relation: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in by_cell[dataset].get("action_antonym", []):
            if r.get("relation"):
                by_relation[str(r["relation"])].append(r)
        if by_relation:
            relations[dataset] = {
                rel: _accuracy_block(rows_, seed=bootstrap_seed, size=bootstrap_size,
                                     key=(dataset, "action_antonym", rel))
                for rel, rows_ in sorted(by_relation.items())
            }
    return {"results": results, "consistent": consistent, "breakdowns": breakdowns, "relations": relations}


# ---------------------------------------------------------------------------------- paired comparison


def paired_bootstrap(
    pred_a: list[dict[str, Any]], pred_b: list[dict[str, Any]], *, seed: int = 0, size: int = 2000
) -> dict[str, Any]:
    """Accuracy difference A - B (percentage points) on the probes both scored, with a 95% interval and a
    two-sided p-value from a bootstrap over shared source-video clusters.

    Pass rows of one dataset and task. The p-value is 2 x the smaller share of replicates on either side
    of zero, with the +1 correction so it is never exactly 0; replicates at exactly zero count on both
    sides (conservative for the small, discrete samples a probe set gives).
    """
    check_bootstrap_size(size)
    b_by_id = {r["probe_id"]: r for r in pred_b}
    shared = sorted(pid for pid in {r["probe_id"] for r in pred_a} if pid in b_by_id)
    if not shared:
        raise MetricsError("the two prediction sets share no probe")
    a_by_id = {r["probe_id"]: r for r in pred_a}
    diffs = [float(a_by_id[p]["decision"]) - float(b_by_id[p]["decision"]) for p in shared]
    clusters = [str(a_by_id[p]["source_video"]) for p in shared]
    sums, counts = _cluster_sums(diffs, clusters)
    diff = 100.0 * float(sums.sum() / counts.sum())
    rng = seeded_rng("paired-bootstrap", seed)
    stats = 100.0 * np.concatenate(
        [sums[idx].sum(1) / counts[idx].sum(1) for idx in _resampled_indices(rng, len(sums), size)]
    )
    lo, hi = np.quantile(stats, [0.025, 0.975])
    if np.all(stats == 0.0):
        p = 1.0  # identical decisions: no evidence of a difference
    else:
        below = (np.count_nonzero(stats <= 0.0) + 1) / (size + 1)
        above = (np.count_nonzero(stats >= 0.0) + 1) / (size + 1)
        p = min(1.0, 2.0 * min(below, above))
    return {
        "diff": diff,
        "ci95": [float(lo), float(hi)],
        "p": float(p),
        "n": len(shared),
        "n_clusters": int(len(sums)),
    }
