"""Paired comparison of two measured entries on the probes both scored, per dataset and task; and on the
downstream queries and questions both scored, per downstream dataset and metric (R@1 / R@5 both ways, accuracy)."""

from __future__ import annotations

from dataclasses import dataclass

from actionbench.bundle import downstream_rows, probe_rows
from actionbench.downstream_metrics import COMPARED_METRICS, paired_rows
from actionbench.ids import stable_hash
from actionbench.leaderboard.submission import Entry
from actionbench.leaderboard.validate import ValidationError, protocol_signature
from actionbench.metrics import holm, paired_bootstrap
from actionbench.tasks import PROBE_TASKS
from actionbench.tasks import get as get_task

TASK_ORDER = PROBE_TASKS  # from the task table
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Comparison:
    """A - B on one dataset x task: accuracy difference (percentage points), interval, p and Holm p."""

    a: str
    b: str
    dataset: str
    task: str
    n: int
    n_clusters: int
    accuracy_a: float
    accuracy_b: float
    diff: float
    ci95: tuple[float, float]
    p: float
    p_holm: float
    metric: str = "accuracy"  # a downstream cell's metric (r1_v2t, ...); accuracy for probe tasks

    @property
    def significant(self) -> bool:
        return self.p_holm < SIGNIFICANCE


def comparison_seed(seed: int, *names: str) -> int:
    """A bootstrap seed per comparison, derived from the names so it does not depend on table order."""
    return int(stable_hash("compare", seed, *names, length=8), 16)


def _rows(entry: Entry, dataset: str, task: str, metric: str) -> list[dict]:
    if task in PROBE_TASKS:
        return entry.predictions_for(dataset, task)
    rows = [r for r in downstream_rows(entry.predictions) if r["dataset"] == dataset and r["task"] == task]
    return paired_rows(rows, metric)


def compare_cells(
    pairs: list[tuple[Entry, Entry, str, str]] | list[tuple[Entry, Entry, str, str, str]], *, seed: int = 0,
    size: int = 2000
) -> list[Comparison]:
    """Paired bootstraps for (A, B, dataset, task[, metric]) cells over shared clusters, Holm-corrected together."""
    raw = []
    for a, b, dataset, task, *rest in pairs:
        metric = rest[0] if rest else "accuracy"
        pa, pb = _rows(a, dataset, task, metric), _rows(b, dataset, task, metric)
        if not pa or not pb:
            continue
        shared = {r["probe_id"] for r in pa} & {r["probe_id"] for r in pb}
        if not shared:
            continue
        pa = [r for r in pa if r["probe_id"] in shared]
        pb = [r for r in pb if r["probe_id"] in shared]
        names = (a.name, b.name, dataset, task) + ((metric,) if rest else ())
        stats = paired_bootstrap(pa, pb, seed=comparison_seed(seed, *names), size=size)
        acc_a = 100.0 * sum(float(r["decision"]) for r in pa) / len(pa)
        acc_b = 100.0 * sum(float(r["decision"]) for r in pb) / len(pb)
        raw.append((a.name, b.name, dataset, task, metric, stats, acc_a, acc_b))
    adjusted = holm([s["p"] for *_, s, _, _ in raw])
    return [
        Comparison(a=an, b=bn, dataset=ds, task=t, n=s["n"], n_clusters=s["n_clusters"], accuracy_a=acc_a,
                   accuracy_b=acc_b, diff=s["diff"], ci95=(s["ci95"][0], s["ci95"][1]), p=s["p"], p_holm=ph,
                   metric=m)
        for (an, bn, ds, t, m, s, acc_a, acc_b), ph in zip(raw, adjusted, strict=True)
    ]


def compare_entries(
    a: Entry, b: Entry, *, seed: int = 0, size: int = 2000, allow_mixed: bool = False
) -> list[Comparison]:
    """A vs B on every dataset x task both measured (a downstream cell: R@1 and R@5 both ways, or accuracy),
    Holm-corrected across them all."""
    for entry in (a, b):
        if not entry.measured or not entry.predictions:
            raise ValidationError(f"{entry.folder}: a paired comparison needs a measured entry with predictions")
    sa, sb = protocol_signature(a), protocol_signature(b)
    for key in ("sampling spec", "tie policy"):
        if sa[key] != sb[key] and not allow_mixed:
            raise ValidationError(f"{a.name} and {b.name} differ in {key}; use --allow-mixed to compare anyway")
    # Probe cells (downstream rows are per query or question, compared by downstream_metrics, not here)
    cells = sorted({(r["dataset"], r["task"]) for r in probe_rows(a.predictions)}
                   & {(r["dataset"], r["task"]) for r in probe_rows(b.predictions)},
                   key=lambda c: (c[0], TASK_ORDER.index(c[1])))
    shared_downstream = sorted({(d, t) for d, tasks in (a.results.get("downstream") or {}).items() for t in tasks}
                               & {(d, t) for d, tasks in (b.results.get("downstream") or {}).items() for t in tasks})
    pairs: list = [(a, b, ds, t) for ds, t in cells]
    pairs += [(a, b, ds, t, m) for ds, t in shared_downstream for m in COMPARED_METRICS[get_task(t).kind]]
    comparisons = compare_cells(pairs, seed=seed, size=size)
    if not comparisons:
        raise ValidationError(f"{a.name} and {b.name} share no probe, query or question")
    return comparisons
