"""Validation of leaderboard entries: everything a measured row claims is recomputed from its predictions.

For a measured entry: the run is complete (not partial, not a `--limit` subset, nothing missing); the
predicted probe ids are exactly the probe sets' (none missing, duplicated or extra) and each row names its
probe's task, dataset, clip and source video; every decision follows from its two scores under the recorded
tie policy; n matches the manifests; and `results`, `consistent` and `breakdowns` equal what
`metrics.summarize` gives from the predictions. Downstream cells likewise: the rows are exactly the downstream
set's queries (every video, every text with a correct video) or questions (with their type and answer), each
row's rank counts or choice follow from what it records, and every metric and interval equals what
`downstream_metrics` recomputes from the rows. A table refuses to mix sampling specs, tie policies or probe sets
unless asked. Every failure is a one-line `ValidationError`.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actionbench.bundle import PREDICTIONS_FILE, RESULTS_FILE, downstream_cell, downstream_rows, probe_rows
from actionbench.datasets.downstream_set import DownstreamSet, is_downstream_folder
from actionbench.downstream_metrics import choose_answer, qa_cell_from_rows, retrieval_cell_from_rows
from actionbench.errors import InputError, one_line
from actionbench.ids import canonical_json
from actionbench.jsonspec import to_json
from actionbench.leaderboard.submission import Entry, SubmissionError
from actionbench.metrics import MetricsError, decide, summarize
from actionbench.probes.schema import Manifest, ProbeSet, ProbeSetError, read_manifest
from actionbench.tasks import PROBE_TASKS
from actionbench.tasks import get as get_task

FLOAT_TOLERANCE = 1e-6  # recomputed floats may differ only by rounding


class ValidationError(SubmissionError):
    """A leaderboard entry whose claims do not hold."""


@dataclass
class ProbeSetIndex:
    """Probe-set folders by the `probeset_id` their manifests claim, from explicit folders and/or a root searched
    recursively. A claim is only a pointer: `load` recomputes the id from the files and refuses a mismatch, so a
    forged folder that carries a real id cannot stand in for the real probe set."""

    folders: dict[str, list[Path]]
    unreadable: list[str] = field(default_factory=list)  # manifests under --probes-root that could not be read
    downstream: dict[str, list[Path]] = field(default_factory=dict)  # downstream-set folders by claimed set_id

    @classmethod
    def from_paths(cls, probes: Iterable[str | Path] = (), probes_root: str | Path | None = None) -> ProbeSetIndex:
        folders: dict[str, list[Path]] = {}
        downstream: dict[str, list[Path]] = {}
        unreadable: list[str] = []
        explicit = [Path(p) for p in probes]
        for p in explicit:
            if not (p / "manifest.json").is_file():
                raise ValidationError(f"{one_line(p)}: not a probe-set folder (no manifest.json)")
            if is_downstream_folder(p):
                downstream.setdefault(_set_id(p), []).append(p)
                continue
            manifest = _read_manifest(p)
            folders.setdefault(manifest.probeset_id, []).append(p)
        if probes_root is not None:
            root = Path(probes_root)
            if not root.is_dir():
                raise ValidationError(f"{one_line(root)}: --probes-root is not a folder")
            for folder in sorted(m.parent for m in root.rglob("manifest.json")):
                if is_downstream_folder(folder):
                    downstream.setdefault(_set_id(folder), []).append(folder)
                    continue
                try:
                    manifest = _read_manifest(folder)
                except ValidationError as e:
                    unreadable.append(str(e))
                    continue
                folders.setdefault(manifest.probeset_id, []).append(folder)
        return cls(folders, unreadable, downstream)

    def load_downstream(self, set_id: str) -> DownstreamSet | None:
        """The downstream set whose files hash to `set_id`; None when no folder claims it; the first folder's
        error when every folder that claims it fails to load."""
        return _load_first(self.downstream.get(set_id, []), DownstreamSet.load, InputError)

    def load(self, probeset_id: str) -> ProbeSet | None:
        """The probe set whose files hash to `probeset_id`; None when no folder claims it; ProbeSetError when
        every folder that claims it fails to load (naming the first)."""
        return _load_first(self.folders.get(probeset_id, []), ProbeSet.load, ProbeSetError)


def _load_first(folders: list[Path], load: Any, errors: type[Exception]) -> Any:
    """The first of `folders` that `load` accepts; None when there is none; the first folder's error when every
    one fails (a forged folder that claims an id does not hide the real one, nor its error)."""
    first_error: Exception | None = None
    for folder in folders:
        try:
            return load(folder)
        except errors as e:
            first_error = first_error or e
    if first_error is not None:
        raise first_error
    return None


def _set_id(folder: Path) -> str:
    return str(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["set_id"])


def _read_manifest(folder: Path) -> Manifest:
    try:
        return read_manifest(folder / "manifest.json")
    except ProbeSetError as e:
        raise ValidationError(str(e)) from None


# ----------------------------------------------------------------------------------------------- checks


def _first_difference(claimed: Any, recomputed: Any, path: str) -> str | None:
    """The first place two JSON values differ (floats within tolerance), as 'path: claimed X, recomputed Y'."""
    if isinstance(claimed, dict) and isinstance(recomputed, dict):
        for key in sorted(set(claimed) | set(recomputed)):
            if key not in recomputed:
                return f"{path}.{key}: present in {RESULTS_FILE} but not in the predictions"
            if key not in claimed:
                return f"{path}.{key}: missing from {RESULTS_FILE} (the predictions have it)"
            diff = _first_difference(claimed[key], recomputed[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(claimed, list) and isinstance(recomputed, list) and len(claimed) == len(recomputed):
        for i, (a, b) in enumerate(zip(claimed, recomputed, strict=True)):
            diff = _first_difference(a, b, f"{path}[{i}]")
            if diff:
                return diff
        return None
    numeric = (int, float)
    if (isinstance(claimed, numeric) and isinstance(recomputed, numeric)
            and not isinstance(claimed, bool) and not isinstance(recomputed, bool)):
        if math.isclose(claimed, recomputed, rel_tol=FLOAT_TOLERANCE, abs_tol=FLOAT_TOLERANCE):
            return None
    elif claimed == recomputed:
        return None
    return f"{path}: {RESULTS_FILE} says {canonical_json(claimed)}, the predictions give {canonical_json(recomputed)}"


def check_complete(entry: Entry) -> None:
    """A leaderboard row covers the whole probe sets: partial runs and subsets are refused."""
    r = entry.results
    if r["subset"] is not None:
        raise ValidationError(
            f"{entry.folder}: a subset run ({r['subset'].get('limit')} probes chosen by probe-id hash, `eval --limit`) "
            "is not accepted on the leaderboard; evaluate the whole probe sets, or leave this folder out"
        )
    if r["partial"] or r["missing"]:
        raise ValidationError(
            f"{entry.folder}: partial run ({len(r['missing'])} probes missing); fix the videos and re-run"
        )
    for section in ("results", "downstream"):
        for dataset, tasks in (r.get(section) or {}).items():
            for task, cell in tasks.items():
                if cell["missing"]:
                    raise ValidationError(f"{entry.folder}: partial run ({dataset} {task}: {cell['missing']} missing)")


def check_probe_ids(entry: Entry, index: ProbeSetIndex) -> None:
    """Predicted ids are exactly the probe sets' ids, with their task, dataset, clip, cluster and group."""
    expected: dict[str, dict[str, Any]] = {}
    counts: dict[tuple[str, str], int] = Counter()
    for ps_ref in entry.results["probesets"]:
        pid = ps_ref["probeset_id"]
        ps = index.load(pid)
        if ps is None:
            unreadable = f" ({len(index.unreadable)} manifests could not be read, first: {index.unreadable[0]})" \
                if index.unreadable else ""
            raise ValidationError(
                f"{entry.folder}: probe set {one_line(pid)} ({one_line(ps_ref['dataset'])} {one_line(ps_ref['split'])}) "
                f"not found; pass --probes DIR or --probes-root DIR{unreadable}"
            )
        if ps.manifest.dataset != ps_ref["dataset"] or ps.manifest.split != ps_ref["split"]:
            raise ValidationError(f"{entry.folder}: probe set {pid} is {ps.manifest.dataset} {ps.manifest.split}, "
                                  f"{RESULTS_FILE} says {ps_ref['dataset']} {ps_ref['split']}")
        n_manifest = sum(ps.manifest.counts.get(t, 0) for t in PROBE_TASKS)
        if ps_ref["n_probes"] != n_manifest:
            raise ValidationError(f"{entry.folder}: probe set {pid}: n_probes is {ps_ref['n_probes']}, "
                                  f"its manifest counts {n_manifest}")
        clips = ps.clip_index()
        for p in ps.probes:
            clip = clips[p.clip_id]
            expected[p.probe_id] = {"task": p.task, "dataset": clip.dataset, "clip_id": p.clip_id,
                                    "source_video": clip.source_video, "group": clip.action}
            if p.task == "action_antonym" and (p.edit or {}).get("relation"):
                expected[p.probe_id]["relation"] = p.edit["relation"]
        for task in PROBE_TASKS:
            counts[(ps.manifest.dataset, task)] += ps.manifest.counts.get(task, 0)

    path = entry.folder / PREDICTIONS_FILE
    seen: set[str] = set()
    for row in probe_rows(entry.predictions):
        pid = row["probe_id"]
        if pid in seen:
            raise ValidationError(f"{path}: duplicate probe_id {pid}")
        seen.add(pid)
        want = expected.get(pid)
        if want is None:
            raise ValidationError(f"{path}: probe {pid} is not in the probe sets of this run")
        for key, value in want.items():
            if row.get(key) != value:
                raise ValidationError(f"{path}: probe {pid}: {key} is {row.get(key)!r}, the probe set says {value!r}")
    absent = sorted(set(expected) - seen)
    if absent:
        raise ValidationError(f"{path}: {len(absent)} probes of the probe sets have no prediction (first: {absent[0]})")

    for dataset, tasks in entry.results["results"].items():
        for task, cell in tasks.items():
            if cell["n"] != counts.get((dataset, task), 0):
                raise ValidationError(f"{entry.folder / RESULTS_FILE}: results.{dataset}.{task}.n is {cell['n']}, "
                                      f"the manifests count {counts.get((dataset, task), 0)}")
    for (dataset, task), n in sorted(counts.items()):
        if n and task not in entry.results["results"].get(dataset, {}):
            raise ValidationError(f"{entry.folder / RESULTS_FILE}: results.{dataset}.{task} missing "
                                  f"({n} probes in the manifests)")


def check_decisions(entry: Entry) -> None:
    """Each decision and tie flag follows from the two scores under the bundle's tie policy."""
    policy = entry.results["ties"]
    scale = entry.results["model"].get("logit_scale")
    path = entry.folder / PREDICTIONS_FILE
    for row in probe_rows(entry.predictions):
        try:
            credit, tie = decide(row["s_true"], row["s_foil"], row["task"], policy, row["probe_id"], scale)
        except MetricsError as e:
            raise ValidationError(f"{path}: probe {row['probe_id']}: {e}") from None
        if float(row["decision"]) != credit or bool(row["tie"]) != tie:
            raise ValidationError(
                f"{path}: probe {row['probe_id']}: decision {row['decision']} (tie {str(row['tie']).lower()}) does "
                f"not follow from s_true={row['s_true']}, s_foil={row['s_foil']} under tie policy {policy!r} "
                f"(expected {credit}, tie {str(tie).lower()})"
            )


def check_blind(entry: Entry) -> None:
    """A "temporally blind" claim (VR reported as 50% by construction) holds only for a declared order-invariant
    model whose every Video Reversal prediction is a tie: the flag cannot turn low VR scores into "blind"."""
    r = entry.results
    claimed = r["temporally_blind"] or any(cell.get("temporally_blind") for tasks in r["results"].values()
                                           for cell in tasks.values())
    if not claimed:
        return
    if not r["model"]["order_invariant"]:
        raise ValidationError(f"{one_line(entry.folder / RESULTS_FILE)}: claims temporally_blind but the model is "
                              "not declared order_invariant")
    path = one_line(entry.folder / PREDICTIONS_FILE)
    for row in entry.predictions:
        if row["task"] == "video_reversal" and not row["tie"]:
            raise ValidationError(
                f"{path}: probe {one_line(row['probe_id'])}: the bundle claims temporally_blind but this Video "
                f"Reversal prediction is not a tie (s_true={row['s_true']}, s_foil={row['s_foil']})"
            )


def check_metrics(entry: Entry) -> None:
    """`results`, `consistent`, `breakdowns` and `relations` (AA per relation) are exactly what the predictions
    give."""
    r = entry.results
    try:
        recomputed = summarize(
            probe_rows(entry.predictions), policy=r["ties"], bootstrap_seed=r["bootstrap"]["seed"],
            bootstrap_size=r["bootstrap"]["size"], temporally_blind=r["temporally_blind"],
        )
    except MetricsError as e:
        raise ValidationError(f"{entry.folder / PREDICTIONS_FILE}: {e}") from None
    for section in ("results", "consistent", "breakdowns", "relations"):
        diff = _first_difference(r.get(section, {}), recomputed[section], section)
        if diff:
            raise ValidationError(f"{entry.folder / RESULTS_FILE}: {diff}")
    if r.get("downstream") is not None or downstream_rows(entry.predictions):
        diff = _first_difference(r.get("downstream") or {}, recompute_downstream(entry), "downstream")
        if diff:
            raise ValidationError(f"{entry.folder / RESULTS_FILE}: {diff}")


# ------------------------------------------------------------------------------------------- downstream


def _rows_by_cell(entry: Entry) -> dict[tuple[str, str], list[dict[str, Any]]]:
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in downstream_rows(entry.predictions):
        cells[(row["dataset"], row["task"])].append(row)
    return cells


def recompute_downstream(entry: Entry) -> dict[str, Any]:
    """The `downstream` section as the prediction rows give it (the cells' method, top_k, text count and missing
    count are taken as claimed: the rows cannot tell them; the set check does the text count)."""
    r = entry.results
    opts = {"bootstrap_seed": r["bootstrap"]["seed"], "bootstrap_size": r["bootstrap"]["size"]}
    claimed = r.get("downstream") or {}
    out: dict[str, Any] = {}
    path = entry.folder / PREDICTIONS_FILE
    for (dataset, task), rows in sorted(_rows_by_cell(entry).items()):
        cell = claimed.get(dataset, {}).get(task)
        if cell is None:
            raise ValidationError(f"{path}: rows of {dataset} {task} but {RESULTS_FILE} has no downstream.{dataset}."
                                  f"{task} cell")
        try:
            if get_task(task).kind == "retrieval":
                got = retrieval_cell_from_rows(rows, n_texts=cell["n_texts"], method=cell["method"],
                                               top_k=cell.get("top_k"), key=(dataset, cell["method"]), **opts)
            else:
                got = qa_cell_from_rows(rows, key=dataset, **opts)
        except MetricsError as e:
            raise ValidationError(f"{path}: {dataset} {task}: {e}") from None
        out.setdefault(dataset, {})[task] = to_json(downstream_cell({**got, "missing": cell["missing"]}, task))
    return out


def check_downstream_rows(entry: Entry) -> None:
    """Each row's rank counts are possible, and each question's choice and credit follow from its scores."""
    path = entry.folder / PREDICTIONS_FILE
    for row in downstream_rows(entry.predictions):
        if row.get("direction") is not None:
            what = f"{row['dataset']} {row['direction']} query {one_line(row['query'])}"
            if min(row["above"], row["tied_wrong"]) < 0 or row["tied_right"] < 1 or (
                    row["direction"] == "v2t" and row["tied_right"] != 1):
                raise ValidationError(f"{path}: {what}: impossible rank counts (above {row['above']}, tied wrong "
                                      f"{row['tied_wrong']}, tied right {row['tied_right']})")
            continue
        what = f"{row['dataset']} question {one_line(row['item_id'])}"
        try:
            chosen, tied = choose_answer(row["scores"])
        except MetricsError as e:
            raise ValidationError(f"{path}: {what}: {e}") from None
        if not 0 <= row["answer"] < len(row["scores"]):
            raise ValidationError(f"{path}: {what}: answer {row['answer']} is not one of its "
                                  f"{len(row['scores'])} choices")
        credit = (row["answer"] in tied) / len(tied)
        if row["prediction"] != chosen or float(row["credit"]) != credit:
            raise ValidationError(f"{path}: {what}: prediction {row['prediction']} (credit {row['credit']}) does not "
                                  f"follow from its scores (expected {chosen}, credit {credit})")


def check_downstream_sets(entry: Entry, index: ProbeSetIndex) -> None:
    """The rows are exactly each downstream set's queries or questions (none missing, extra or altered), and the
    cells' counts are the sets'."""
    path = entry.folder / PREDICTIONS_FILE
    rows = _rows_by_cell(entry)
    named: set[tuple[str, str]] = set()
    for ref in entry.results.get("downstream_sets") or []:
        ds = index.load_downstream(ref["set_id"])
        if ds is None:
            raise ValidationError(f"{entry.folder}: downstream set {one_line(ref['set_id'])} ({one_line(ref['dataset'])}) "
                                  "not found; pass --probes DIR or --probes-root DIR")
        m = ds.manifest
        if (m.dataset, m.task, m.split) != (ref["dataset"], ref["task"], ref["split"]) or ref["n_items"] != len(ds.items):
            raise ValidationError(f"{entry.folder / RESULTS_FILE}: downstream set {ref['set_id']} is {m.dataset} "
                                  f"{m.task} {m.split} with {len(ds.items)} items; the bundle says otherwise")
        named.add((m.dataset, m.task))
        got = rows.get((m.dataset, m.task), [])
        cell = (entry.results.get("downstream") or {}).get(m.dataset, {}).get(m.task)
        if m.kind == "retrieval":
            correct: dict[int, int] = Counter(int(item["text_index"]) for item in ds.items)
            expected = {("v2t", item["item_id"]): 1 for item in ds.items}
            expected.update({("t2v", ds.texts[t]): n for t, n in correct.items()})
            for row in got:
                key = (row["direction"], row["query"])
                if key not in expected:
                    raise ValidationError(f"{path}: {m.dataset} {key[0]} query {one_line(key[1])} is not a query of "
                                          f"downstream set {m.set_id}")
                n_right = expected[key]
                n_wrong = (len(ds.texts) if key[0] == "v2t" else len(ds.items)) - n_right
                if row["tied_right"] > n_right or row["above"] + row["tied_wrong"] > n_wrong:
                    raise ValidationError(f"{path}: {m.dataset} {key[0]} query {one_line(key[1])}: rank counts beyond "
                                          f"its {n_right} correct and {n_wrong} wrong candidates")
            if cell is not None and cell.get("n_texts") != len(ds.texts):
                raise ValidationError(f"{entry.folder / RESULTS_FILE}: downstream.{m.dataset}.{m.task}.n_texts is "
                                      f"{cell.get('n_texts')}, the set has {len(ds.texts)}")
            have = {(row["direction"], row["query"]) for row in got}
        else:
            expected = {item["item_id"]: item for item in ds.items}
            for row in got:
                item = expected.get(row["item_id"])
                if item is None:
                    raise ValidationError(f"{path}: {m.dataset} question {one_line(row['item_id'])} is not in "
                                          f"downstream set {m.set_id}")
                for field_, value in (("type", item["type"]), ("answer", item["answer"])):
                    if row[field_] != value:
                        raise ValidationError(f"{path}: {m.dataset} question {row['item_id']}: {field_} is "
                                              f"{row[field_]!r}, the set says {value!r}")
                if len(row["scores"]) != len(item["texts"]):
                    raise ValidationError(f"{path}: {m.dataset} question {row['item_id']}: {len(row['scores'])} "
                                          f"scores for {len(item['texts'])} choices")
            have = {row["item_id"] for row in got}
        absent = sorted(str(k) for k in set(expected) - have)
        if absent:
            raise ValidationError(f"{path}: {len(absent)} queries or questions of downstream set {m.set_id} "
                                  f"({m.dataset}) have no prediction (first: {one_line(absent[0])})")
    extra = sorted(set(rows) - named)
    if extra:
        raise ValidationError(f"{path}: rows of {extra[0][0]} {extra[0][1]}, which no downstream set of this run holds")


def validate_entry(entry: Entry, index: ProbeSetIndex | None = None) -> None:
    """Raise ValidationError with a one-line reason unless the entry can go on the leaderboard.

    Reported entries are checked by their schema when loaded. Measured entries need `index` to check
    their probe ids against the probe sets; without it that check is skipped (only `render --unverified` does
    that, and marks the row).
    """
    if not entry.measured:
        return
    check_complete(entry)
    if index is not None:
        check_probe_ids(entry, index)
        check_downstream_sets(entry, index)
    check_decisions(entry)  # tie flags follow from the scores ...
    check_downstream_rows(entry)
    check_blind(entry)  # ... so a blind claim is checked against ties that are real
    check_metrics(entry)


def protocol_signature(entry: Entry) -> dict[str, str]:
    """What must agree between measured rows of one table: sampling spec, tie policy, probe sets."""
    r = entry.results
    return {
        "sampling spec": canonical_json(r["frame_spec"]),
        "tie policy": r["ties"],
        "probe sets": canonical_json(sorted(p["probeset_id"] for p in r["probesets"])),
    }


def check_mixing(entries: list[Entry], allow_mixed: bool = False) -> list[str]:
    """Refuse measured rows that differ in sampling spec, tie policy or probe sets (unless allowed).

    Returns the differences as notes (empty when none) so a table can state them when mixing is allowed.
    """
    values: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for e in entries:
        if e.measured:
            for key, value in protocol_signature(e).items():
                values[key][value].append(e.name)
    notes = []
    for key, by_value in values.items():
        if len(by_value) > 1:
            groups = sorted(by_value.values())
            notes.append(f"mixed {key}: {groups[0][0]} and {groups[1][0]} differ")
    if notes and not allow_mixed:
        raise ValidationError(f"{notes[0]}; one table needs one protocol (use --allow-mixed to override)")
    return notes


def validate_entries(entries: list[Entry], index: ProbeSetIndex | None) -> dict[str, str | None]:
    """Validate each entry; returns {name: None if valid else the one-line reason}."""
    outcome: dict[str, str | None] = {}
    for e in entries:
        try:
            validate_entry(e, index)
            outcome[e.name] = None
        except InputError as err:  # every reader and check raises it: one bad entry never stops the others
            outcome[e.name] = one_line(err)
    return outcome
