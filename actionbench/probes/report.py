"""The audit of a probe set: what was built, what was dropped and why, and surface differences text vs foil.

A text-only model can exploit any systematic surface difference between true texts and foils (length, case,
token count): the report shows them so a reviewer can see there are none (or how large they are).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from actionbench.probes.ego4d import PREPOSITION_UNFIT
from actionbench.probes.schema import ProbeSet, aa_relation
from actionbench.probes.text import tokenize
from actionbench.tasks import AA, OR
from actionbench.tasks import PROBE_TASKS as TASKS

READER = "reader: "  # the manifest lists records a reader could not turn into clips under every task, so prefixed
SURFACE = ("n", "mean char length (foil - text)", "mean tokens (foil - text)", "same token count (%)",
           "case differs (%)")
REPORT_FORMATS = (".md", ".json")


@dataclass
class Reading:
    """What the annotation reader saw (build-probes knows it; an imported probe set does not)."""

    records: int  # records read from the annotation file
    clips: int  # clips the reader made of them


@dataclass
class Audit:
    counts: dict[str, int]
    dropped: dict[str, dict[str, int]]
    per_group: dict[str, Counter[str]]  # task -> template / verb -> probes
    antonym_kinds: Counter[str]  # closed / open (AA)
    surface: dict[str, dict[str, float]] = field(default_factory=dict)  # task -> statistic -> value
    relations: Counter[str] = field(default_factory=Counter)  # AA probes per relation
    prepositions: Counter[str] = field(default_factory=Counter)  # AA foils per rewritten "old>new" preposition
    preposition_drops: int = 0  # clips dropped because the antonym takes no preposition for theirs
    object_groups: Counter[str] = field(default_factory=Counter)  # OR probes per synonym / is-a group applied
    prior: dict[str, dict[str, float]] | None = None  # the text-prior control's accuracy per task
    reading: Reading | None = None

    @property
    def not_clips(self) -> dict[str, int]:
        """Records the reader did not turn into clips, by reason (listed once, not once per task)."""
        first = next((self.dropped[t] for t in TASKS if t in self.dropped), {})
        return {r[len(READER):]: n for r, n in first.items() if r.startswith(READER)}

    def task_drops(self, task: str) -> dict[str, int]:
        """Clips a task made no probe of, by reason (reader reasons left out: see `not_clips`)."""
        rows = self.dropped.get(task, {})
        return dict(sorted(((r, n) for r, n in rows.items() if not r.startswith(READER)), key=lambda kv: (-kv[1], kv[0])))

    @property
    def clips_without_probes(self) -> int | None:
        return None if self.reading is None else self.reading.clips - self.counts.get("clips", 0)


def audit(ps: ProbeSet, reading: Reading | None = None,
          prior: dict[str, dict[str, float]] | None = None) -> Audit:
    """The audit of `ps`; `prior` is the text-prior control's accuracy per task (n, accuracy), when known."""
    clips = ps.clip_index()
    per_group: dict[str, Counter[str]] = defaultdict(Counter)
    kinds: Counter[str] = Counter()
    surface: dict[str, dict[str, float]] = {}
    stats: dict[str, list[tuple[int, int, bool]]] = defaultdict(list)
    relations: Counter[str] = Counter()
    prepositions: Counter[str] = Counter()
    object_groups: Counter[str] = Counter()
    for p in ps.probes:
        per_group[p.task][clips[p.clip_id].action or "(none)"] += 1
        if p.task == AA:
            relations[aa_relation(p)] += 1
            frame = (p.edit or {}).get("frame")
            if frame:
                prepositions[f"{frame['old']} > {frame['new']}"] += 1
        if p.task == OR:
            object_groups.update(((p.edit or {}).get("entry") or {}).get("groups") or ())
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
    drops = sum(n for reason, n in ps.manifest.dropped.get("action_antonym", {}).items()
                if reason.startswith(PREPOSITION_UNFIT))
    return Audit(dict(ps.manifest.counts), ps.manifest.dropped, dict(per_group), kinds, surface, relations,
                 prepositions, drops, object_groups, prior, reading)


def summary_lines(a: Audit, name: str) -> list[str]:
    """The audit in a few plain lines (the screen); every count of clips follows from the one before."""
    clips = a.counts.get("clips", 0)
    lines = []
    if a.reading is not None:
        lines.append(f"{name}: {a.reading.records:,} records read -> {a.reading.clips:,} clips -> {clips:,} clips "
                     "with at least one probe")
        if a.not_clips:
            lines.append(f"  records not made clips: {_reasons(a.not_clips)}")
        if a.clips_without_probes:
            lines.append(f"  clips without any probe: {a.clips_without_probes:,}")
    else:
        lines.append(f"{name}: {clips:,} clips")
    lines.append("  probes: " + ", ".join(f"{t} {a.counts.get(t, 0):,}" for t in TASKS))
    if a.relations:
        lines.append("  action_antonym relations: " + ", ".join(f"{k} {n:,}" for k, n in sorted(a.relations.items())))
    if a.prepositions or a.preposition_drops:
        lines.append(f"  action_antonym prepositions: {sum(a.prepositions.values()):,} foils rewritten to the "
                     f"antonym's frame, {a.preposition_drops:,} clips dropped (no frame fits)")
    if a.object_groups:
        lines.append(f"  object_replacement: synonym / is-a groups kept replacements out of "
                     f"{sum(a.object_groups.values()):,} probes ({_reasons(dict(a.object_groups), 3)})")
    if a.prior is not None:
        lines.append("  text-prior control (no video, trained on the given train split): " + ", ".join(
            f"{t} {row['accuracy']:.1f}% of {row['n']:,}" for t, row in a.prior.items()))
    shown: dict[tuple, list[str]] = {}  # tasks that dropped the same clips for the same reasons share a line
    for task in TASKS:
        drops = _by_kind(a.task_drops(task))
        if drops:
            shown.setdefault(tuple(sorted(drops.items())), []).append(task)
    for key, tasks in shown.items():
        drops = dict(key)
        lines.append(f"  {' and '.join(tasks)}: {sum(drops.values()):,} clips without a probe ({_reasons(drops, 3)})")
    if a.antonym_kinds:
        lines.append("  action_antonym foils: " + ", ".join(f"{k} {n:,}" for k, n in sorted(a.antonym_kinds.items())))
    for task, row in a.surface.items():
        lines.append(f"  {task} foil vs text: {row['mean char length (foil - text)']:+.2f} chars, "
                     f"{row['mean tokens (foil - text)']:+.2f} tokens, same token count {row['same token count (%)']:.1f}%, "
                     f"case differs {row['case differs (%)']:.1f}%")
    return lines


def _by_kind(counts: dict[str, int]) -> dict[str, int]:
    """Reasons summed by their kind: "verb without antonym: move" and "...: drag" -> "verb without antonym"."""
    out: Counter[str] = Counter()
    for reason, n in counts.items():
        out[reason.split(": ", 1)[0]] += n
    return dict(out)


def _reasons(counts: dict[str, int], top: int | None = None) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{reason} {n:,}" for reason, n in items[:top])
    return shown + (f", {len(items) - top} more reasons" if top is not None and len(items) > top else "")


def to_dict(a: Audit) -> dict:
    """The full audit as plain data (the JSON report)."""
    return {
        "reading": None if a.reading is None else {"records": a.reading.records, "clips": a.reading.clips},
        "counts": dict(a.counts),
        "clips_without_probes": a.clips_without_probes,
        "records_not_made_clips": a.not_clips,
        "dropped_per_task": {t: a.task_drops(t) for t in TASKS},
        "antonym_foils": dict(sorted(a.antonym_kinds.items())),
        "aa_relations": dict(sorted(a.relations.items())),
        "prepositions_rewritten": dict(sorted(a.prepositions.items(), key=lambda kv: (-kv[1], kv[0]))),
        "preposition_drops": a.preposition_drops,
        "object_groups": dict(sorted(a.object_groups.items(), key=lambda kv: (-kv[1], kv[0]))),
        "text_prior": a.prior,
        "surface": a.surface,
        "probes_per_group": {t: dict(sorted(a.per_group.get(t, Counter()).items(), key=lambda kv: (-kv[1], kv[0])))
                             for t in TASKS},
    }


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    cells = [[c.replace("|", "\\|") for c in row] for row in rows]
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *["| " + " | ".join(row) + " |" for row in cells], ""]


def to_markdown(a: Audit, name: str) -> str:
    """The full audit as Markdown: the summary, then every table in full."""
    out = [f"# Probe-set audit: {name}", "", *[f"    {line}" for line in summary_lines(a, name)], ""]
    if a.not_clips:
        out += ["## Records not made clips", ""]
        out += _md_table(["reason", "records"], [[r, f"{n}"] for r, n in sorted(a.not_clips.items(), key=lambda kv: -kv[1])])
    out += ["## Clips without a probe, per task and reason", ""]
    rows = [[t, r, f"{n}"] for t in TASKS for r, n in a.task_drops(t).items()]
    out += _md_table(["task", "reason", "clips"], rows or [["-", "none dropped", "0"]])
    if a.antonym_kinds:
        out += ["## Action Antonym foils: closed (a real caption elsewhere) vs open", ""]
        out += _md_table(["kind", "probes"], [[k, f"{n}"] for k, n in sorted(a.antonym_kinds.items())])
    if a.relations:
        out += ["## Action Antonym probes per relation", "",
                "inverse: the reversed video shows the foil; outcome: same action, contrary outcome; "
                "undo: another action undoes the result.", ""]
        out += _md_table(["relation", "probes"], [[k, f"{n}"] for k, n in sorted(a.relations.items())])
    if a.prepositions or a.preposition_drops:
        out += [f"## Action Antonym prepositions: {sum(a.prepositions.values())} foils rewritten, "
                f"{a.preposition_drops} clips dropped (no frame fits)", ""]
        out += _md_table(["preposition", "foils"], [[k, f"{n}"] for k, n in
                                                    sorted(a.prepositions.items(), key=lambda kv: (-kv[1], kv[0]))])
    if a.object_groups:
        out += ["## Object Replacement: synonym / is-a groups that kept replacements out", ""]
        out += _md_table(["group", "probes"], [[k, f"{n}"] for k, n in
                                               sorted(a.object_groups.items(), key=lambda kv: (-kv[1], kv[0]))])
    if a.prior is not None:
        out += ["## Text-prior control (no video; a word n-gram model trained on the given train split)", ""]
        out += _md_table(["task", "n", "accuracy %"], [[t, f"{row['n']}", f"{row['accuracy']:.1f}"]
                                                       for t, row in a.prior.items()])
    out += ["## Surface differences, foil vs text", ""]
    out += _md_table(["task", *SURFACE], [[t, *[f"{row[c]:.2f}" if isinstance(row[c], float) else str(row[c])
                                               for c in SURFACE]] for t, row in a.surface.items()])
    out += ["## Probes per template / verb", ""]
    groups: Counter[str] = Counter()
    for task in TASKS:
        groups.update(a.per_group.get(task, Counter()))
    out += _md_table(["template / verb", *TASKS], [[g, *[str(a.per_group.get(t, Counter()).get(g, 0)) for t in TASKS]]
                                                   for g, _ in sorted(groups.items(), key=lambda kv: (-kv[1], kv[0]))])
    return "\n".join(out)


def write_report(a: Audit, name: str, path: str | Path) -> Path:
    """The full audit into `path`: Markdown (.md) or JSON (.json), by its extension."""
    path = Path(path)
    if path.suffix.lower() not in REPORT_FORMATS:
        raise ValueError(f"{path}: a report is .md (Markdown) or .json, not {path.suffix or 'no extension'!r}")
    text = to_markdown(a, name) if path.suffix.lower() == ".md" else json.dumps(to_dict(a), indent=2) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
