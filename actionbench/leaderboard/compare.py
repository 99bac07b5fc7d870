"""Paired comparison of two measured entries on the probes both scored, per dataset and task."""

from __future__ import annotations

from dataclasses import dataclass

from actionbench.ids import stable_hash
from actionbench.leaderboard.submission import Entry
from actionbench.leaderboard.validate import ValidationError, protocol_signature
from actionbench.metrics import holm, paired_bootstrap
from actionbench.tasks import PROBE_TASKS

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

    @property
    def significant(self) -> bool:
        return self.p_holm < SIGNIFICANCE


def comparison_seed(seed: int, *names: str) -> int:
    """A bootstrap seed per comparison, derived from the names so it does not depend on table order."""
    return int(stable_hash("compare", seed, *names, length=8), 16)


def compare_cells(
    pairs: list[tuple[Entry, Entry, str, str]], *, seed: int = 0, size: int = 2000
) -> list[Comparison]:
    """Paired bootstraps for (A, B, dataset, task) cells over shared clusters, Holm-corrected together."""
    raw = []
    for a, b, dataset, task in pairs:
        pa, pb = a.predictions_for(dataset, task), b.predictions_for(dataset, task)
        if not pa or not pb:
            continue
        shared = {r["probe_id"] for r in pa} & {r["probe_id"] for r in pb}
        if not shared:
            continue
        pa = [r for r in pa if r["probe_id"] in shared]
        pb = [r for r in pb if r["probe_id"] in shared]
        stats = paired_bootstrap(pa, pb, seed=comparison_seed(seed, a.name, b.name, dataset, task), size=size)
        acc_a = 100.0 * sum(float(r["decision"]) for r in pa) / len(pa)
        acc_b = 100.0 * sum(float(r["decision"]) for r in pb) / len(pb)
        raw.append((a.name, b.name, dataset, task, stats, acc_a, acc_b))
    adjusted = holm([s["p"] for *_, s, _, _ in raw])
    return [
        Comparison(a=an, b=bn, dataset=ds, task=t, n=s["n"], n_clusters=s["n_clusters"], accuracy_a=acc_a,
                   accuracy_b=acc_b, diff=s["diff"], ci95=(s["ci95"][0], s["ci95"][1]), p=s["p"], p_holm=ph)
        for (an, bn, ds, t, s, acc_a, acc_b), ph in zip(raw, adjusted, strict=True)
    ]


def compare_entries(
    a: Entry, b: Entry, *, seed: int = 0, size: int = 2000, allow_mixed: bool = False
) -> list[Comparison]:
    """A vs B on every dataset x task both measured, Holm-corrected across those tasks."""
    for entry in (a, b):
        if not entry.measured or not entry.predictions:
            raise ValidationError(f"{entry.folder}: a paired comparison needs a measured entry with predictions")
    sa, sb = protocol_signature(a), protocol_signature(b)
    for key in ("sampling spec", "tie policy"):
        if sa[key] != sb[key] and not allow_mixed:
            raise ValidationError(f"{a.name} and {b.name} differ in {key}; use --allow-mixed to compare anyway")
    cells = sorted({(r["dataset"], r["task"]) for r in a.predictions} & {(r["dataset"], r["task"]) for r in b.predictions},
                   key=lambda c: (c[0], TASK_ORDER.index(c[1])))
    comparisons = compare_cells([(a, b, ds, t) for ds, t in cells], seed=seed, size=size)
    if not comparisons:
        raise ValidationError(f"{a.name} and {b.name} share no probe")
    return comparisons
