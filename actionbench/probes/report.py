"""The audit of a probe set: what was built, what was dropped and why, and surface differences text vs foil.

A text-only model can exploit any systematic surface difference between true texts and foils (length, case,
token count): the report shows them so a reviewer can see there are none (or how large they are).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from actionbench.probes.schema import ProbeSet
from actionbench.probes.text import tokenize
from actionbench.tasks import AA
from actionbench.tasks import PROBE_TASKS as TASKS


@dataclass
class Audit:
    counts: dict[str, int]
    dropped: dict[str, dict[str, int]]
    per_group: dict[str, Counter[str]]  # task -> template / verb -> probes
    antonym_kinds: Counter[str]  # closed / open (AA)
    surface: dict[str, dict[str, float]] = field(default_factory=dict)  # task -> statistic -> value


def audit(ps: ProbeSet) -> Audit:
    clips = ps.clip_index()
    per_group: dict[str, Counter[str]] = defaultdict(Counter)
    kinds: Counter[str] = Counter()
    surface: dict[str, dict[str, float]] = {}
    stats: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    for p in ps.probes:
        per_group[p.task][clips[p.clip_id].action or "(none)"] += 1
        if p.task == AA and p.edit and isinstance(p.edit.get("entry"), dict):
            closed = p.edit["entry"].get("closed")
            if closed is not None:
                kinds["closed" if closed else "open"] += 1
        if p.foil_text is not None:
            t, f = p.text, p.foil_text
            changes = (p.edit or {}).get("changes")
            if changes:  # only the changed words can differ: count their tokens, not the whole texts'
                d_tokens = sum(len(tokenize(c["new"])) - len(tokenize(c["old"])) for c in changes)
                d_case = any((c["old"].lower() == c["old"]) != (c["new"].lower() == c["new"]) for c in changes)
            else:
                d_tokens = len(tokenize(f)) - len(tokenize(t))
                d_case = (t.lower() == t) != (f.lower() == f)
            stats[p.task].append((len(f) - len(t), d_tokens, d_case))
    for task, rows in stats.items():
        n = len(rows)
        surface[task] = {
            "n": n,
            "mean char length (foil - text)": sum(r[0] for r in rows) / n,
            "mean tokens (foil - text)": sum(r[1] for r in rows) / n,
            "same token count (%)": 100.0 * sum(r[1] == 0 for r in rows) / n,
            "case differs (%)": 100.0 * sum(r[2] for r in rows) / n,
        }
    return Audit(dict(ps.manifest.counts), ps.manifest.dropped, dict(per_group), kinds, surface)


def render(a: Audit, max_groups: int = 200):
    """Rich renderables for the audit."""
    from rich.table import Table

    out = []
    t = Table(title="Dropped clips per task and reason")
    t.add_column("task")
    t.add_column("reason")
    t.add_column("clips", justify="right")
    for task in TASKS:
        for reason, n in sorted(a.dropped.get(task, {}).items(), key=lambda kv: -kv[1]):
            t.add_row(task, reason, str(n))
    if not any(a.dropped.values()):
        t.add_row("-", "none dropped", "0")
    out.append(t)
    if a.antonym_kinds:
        k = Table(title="Action Antonym foils: closed (a real caption elsewhere) vs open")
        k.add_column("kind")
        k.add_column("probes", justify="right")
        for kind, n in sorted(a.antonym_kinds.items()):
            k.add_row(kind, str(n))
        out.append(k)
    s = Table(title="Surface differences, foil vs text")
    s.add_column("task")
    for col in ("n", "mean char length (foil - text)", "mean tokens (foil - text)", "same token count (%)", "case differs (%)"):
        s.add_column(col, justify="right")
    for task, row in a.surface.items():
        s.add_row(task, *[f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c]) for c in list(row)])
    out.append(s)
    g = Table(title="Probes per template / verb")
    g.add_column("template / verb")
    for task in TASKS:
        g.add_column(task, justify="right")
    groups = Counter()
    for task in TASKS:
        groups.update(a.per_group.get(task, Counter()))
    for name, _ in groups.most_common(max_groups):
        g.add_row(name, *[str(a.per_group.get(task, Counter()).get(name, 0)) for task in TASKS])
    if len(groups) > max_groups:
        g.caption = f"{len(groups) - max_groups} more groups not shown"
    out.append(g)
    return out
