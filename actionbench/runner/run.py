"""The runner: plan the suite, decode and encode each view once, cache, shard, score, decide.

1. Plan (`plan`): unique decode units and texts across every probe set.
2. Encode (`decode`, `encode`, `shard`): units decoded in a worker pool in a fixed order, frames batched to
   the model (AMP on CUDA only), outputs checked (shape, NaN) and committed to the embedding cache batch by
   batch; a rerun after a crash encodes only what is not committed.
3. Shard (`runtime`, `shard`): under torch.distributed each process takes its share, then all gather.
4. Score (`score`): similarities in float32 per probe, decided under the tie policy by `metrics.decide`,
   summarised by `metrics.summarize`, and (rank 0) written as a result bundle.
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from actionbench import bundle, metrics
from actionbench.cache import EmbeddingCache, default_cache_dir
from actionbench.errors import InputError, one_line
from actionbench.jsonspec import to_json
from actionbench.models.protocol import check_model
from actionbench.models.registry import create_model
from actionbench.probes.schema import ProbeSet
from actionbench.runner.fingerprint import cache_namespace, fingerprint, git_hash, set_eval
from actionbench.runner.order import check_order_invariance
from actionbench.runner.plan import Plan, Scoring, pair_roots, plan_suite
from actionbench.runner.runtime import start_runtime
from actionbench.runner.score import predictions_for, scores_by_probe, scores_cross, scores_dual
from actionbench.runner.shard import encode_shard, gather_shards
from actionbench.version import PROTOCOL_VERSION, __version__
from actionbench.video import FrameSpec, decoder_name


class MissingVideosError(ValueError):
    """Some probes could not be scored because their video is missing or unreadable (the run is partial)."""


def evaluate(
    model: Any,
    probes: Sequence[str | Path | ProbeSet],
    videos: Sequence[str | Path],
    *,
    model_args: dict[str, Any] | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    batch_size: int = 16,
    workers: int = 0,
    ties: str = "half",
    limit: int | None = None,
    allow_missing: bool = False,
    cache: str | Path | bool | None = None,
    amp: str = "auto",
    frame_spec: FrameSpec | None = None,
    bootstrap_seed: int = 0,
    bootstrap_size: int = 1000,
    progress: bool = False,
    command: str | list[str] | None = None,
    overwrite: bool = False,
) -> tuple[dict[str, Any], Any]:
    """Score a model on probe sets; returns (results dict, pandas DataFrame of predictions).

    `model` is a registry name (created with `model_args`) or a model object. `videos` holds one root for
    every probe set, or one per probe set. `out` (optional) receives the result bundle (rank 0 writes it).
    `cache`: a folder, None for the default (`$ACTIONBENCH_CACHE` or `~/.cache/actionbench/embeddings`), or
    False for none. Missing or unreadable videos make the run partial; with `allow_missing=False` that raises
    MissingVideosError after the bundle is written. An `out` that holds a bundle of another model (or of other
    probe sets, sampling or tie policy) is refused unless `overwrite`; the same run again writes over it (a resume).
    """
    import pandas as pd

    spec = frame_spec or FrameSpec()
    if ties not in metrics.POLICIES:
        raise ValueError(f"--ties {ties!r}: choose from {', '.join(metrics.POLICIES)}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    if workers < 0:
        raise ValueError(f"--workers must be 0 or more, got {workers}")
    if not probes:
        raise ValueError("give at least one probe set (--probes DIR)")
    probesets = [p if isinstance(p, ProbeSet) else ProbeSet.load(p) for p in probes]
    roots = pair_roots(probesets, videos)
    plan = plan_suite(probesets, roots, limit)

    rt = start_runtime(device, amp)
    try:
        if isinstance(model, str):
            model = create_model(model, model_args)
        elif model_args:
            raise ValueError("model_args apply to a model given by name, not to a model object")
        profile = check_model(model)  # a model object given directly is checked here, one line if incomplete
        if out is not None and not overwrite:
            check_out(out, getattr(model, "name", type(model).__name__), dict(getattr(model, "args", {}) or {}),
                      [ps.probeset_id for ps in plan.probesets], spec, ties)
        model_fingerprint = fingerprint(model)  # before moving: the same on every device and process
        if callable(getattr(model, "to", None)):
            model = model.to(rt.device) or model
        set_eval(model)
        scoring = Scoring(model, profile.kind, profile.by_probe, profile.order_invariant, profile.paired_reversal,
                          options=profile.options)
        namespace = cache_namespace(scoring, model_fingerprint, spec, rt)
        if cache is False or scoring.by_probe:
            cache_root = None  # the chance line has nothing worth keeping
        else:
            cache_root = default_cache_dir() if cache is None or cache is True else Path(cache)
        store = EmbeddingCache(cache_root, namespace, rank=rt.rank)
        if scoring.declared and not scoring.by_probe:
            note = check_order_invariance(model, scoring.kind, plan, spec, rt, store)
            scoring.blind = bool(note["passed"]) or not any(u.error is None for u in plan.units.values())
        elif scoring.declared:  # a probe-level scorer (text-prior) is handed no frame: VR is a tie by construction
            scoring.blind = True
        scoring.plan_texts(plan)
        scoring_keys = scoring.needed(plan)
        needed = len(scoring_keys)
        from_cache = sum(k in store for k in scoring_keys)

        shard = encode_shard(scoring, plan, store, rt, spec, batch_size=batch_size, workers=workers,
                             progress=progress)
        entries, decoded = gather_shards(scoring, plan, store, rt, shard)
        if scoring.by_probe:
            scores = scores_by_probe(model, plan)
        elif scoring.kind == "dual":
            scores = scores_dual(model, plan, entries, scoring.blind, rt)
        else:
            scores = scores_cross(plan, entries, scoring.blind, scoring.options)
        logit_scale = profile.logit_scale
        predictions = predictions_for(plan, scores, ties, logit_scale)
        summary = metrics.summarize(predictions, policy=ties, bootstrap_seed=bootstrap_seed,
                                    bootstrap_size=bootstrap_size, temporally_blind=scoring.blind)
        missing = _missing(plan)
        _count_missing(summary["results"], plan)
        record = bundle.Results(
            schema_version=bundle.SCHEMA_VERSION,
            protocol_version=PROTOCOL_VERSION,
            model=bundle.ModelInfo(
                name=getattr(model, "name", type(model).__name__),
                args=dict(getattr(model, "args", {}) or {}),
                weights_hash=getattr(model, "weights_hash", None),
                preprocess=model.preprocess.to_dict(),
                order_invariant=scoring.declared,
                kind=scoring.kind,
                logit_scale=logit_scale,
                details=getattr(model, "details", None) or None,
            ),
            frame_spec=spec.to_dict(),
            decoder=decoder_name(),
            ties=ties,
            device=rt.device.type,
            dtype=namespace["amp"] or namespace["dtype"],  # the compute dtype
            amp=rt.amp_dtype is not None,
            probesets=[
                bundle.ProbeSetRef(
                    probeset_id=ps.probeset_id,
                    dataset=ps.manifest.dataset,
                    split=ps.manifest.split,
                    videos_root=str(root),
                    n_probes=sum(v for k, v in ps.manifest.counts.items() if k != "clips"),
                )
                for ps, root in zip(plan.probesets, plan.roots, strict=True)
            ],
            results=bundle.task_cells(summary["results"]),
            consistent={d: bundle.ConsistentResult(**c) for d, c in summary["consistent"].items()},
            breakdowns={d: {g: {t: bundle.BreakdownCell(**c) for t, c in cells.items()} for g, cells in groups.items()}
                        for d, groups in summary["breakdowns"].items()},
            bootstrap=bundle.Bootstrap(seed=int(bootstrap_seed), size=int(bootstrap_size)),
            subset=None if plan.subset is None else bundle.Subset(**plan.subset),
            partial=bool(missing),
            missing=missing,
            command=command if command is not None else "actionbench.evaluate (Python API)",
            harness_version=__version__,
            git_hash=git_hash(),
            temporally_blind=scoring.blind,
            relations={d: {r: bundle.RelationResult(**c) for r, c in rels.items()}
                       for d, rels in summary["relations"].items()},
            run={  # how this run went; not part of the scores
                "world_size": rt.world,
                "decoders_used": dict(sorted(Counter(decoded.values()).items())),
                "order_check": "passed" if scoring.blind else ("not declared" if not scoring.declared
                                                               else "no clip to check"),
                "cache": None if store.dir is None else str(store.dir),
                "cache_ignored": store.ignored,
                "embeddings": needed,  # embeddings (or pair scores) the run needed ...
                "cache_hits": from_cache,  # ... and how many of them came from the cache
            },
        )
        results = to_json(record)
        if out is not None and rt.is_main:
            bundle.write_bundle(out, results, predictions)
        frame = pd.DataFrame(predictions, columns=["probe_id", "task", "dataset", "clip_id", "source_video",
                                                   "group", "relation", "s_true", "s_foil", "decision", "tie"])
        if missing and not allow_missing:
            first = missing[0]
            raise MissingVideosError(
                f"{sum(len(m['probe_ids']) for m in missing)} probes of {len(missing)} clips could not be scored "
                f"(first: clip {first['clip_id']}: {first['error']}); the run is partial"
                + (f", bundle written to {out}" if out is not None else "")
                + " (allow with --allow-missing)"
            )
        return results, frame
    finally:
        rt.close()


def check_out(out: str | Path, model: str, args: dict[str, Any], probeset_ids: list[str], spec: FrameSpec,
              ties: str) -> None:
    """Refuse to write over a bundle of another run: another model, arguments, probe sets, sampling or tie policy.
    The same run again (a resume after a crash, or a rerun) goes on without asking."""
    path = Path(out) / bundle.RESULTS_FILE
    if not path.is_file():
        return
    try:
        old = bundle.read_json(path)
        old_model = old["model"]["name"]
        theirs = (old_model, {k: str(v) for k, v in old["model"]["args"].items()},
                  sorted(p["probeset_id"] for p in old["probesets"]), old["frame_spec"], old["ties"])
    except (InputError, KeyError, TypeError, AttributeError):
        raise InputError(f"{one_line(out)}: holds a results.json this run cannot read; choose another --out or pass "
                         "--overwrite") from None
    ours = (model, {k: str(v) for k, v in args.items()}, sorted(probeset_ids), spec.to_dict(), ties)
    if theirs != ours:
        what = next(w for w, a, b in zip(("model", "model arguments", "probe sets", "frame sampling", "tie policy"),
                                          theirs, ours, strict=True) if a != b)
        raise InputError(f"{one_line(out)}: holds a bundle of model {one_line(old_model)!r} with other {what}; "
                         "choose another --out or pass --overwrite to replace it")


def _missing(plan: Plan) -> list[dict[str, Any]]:
    """Every clip whose probes could not be scored, with the error and its probe ids."""
    by_clip: dict[tuple[str, str], dict[str, Any]] = {}
    for it in plan.items:
        if it.unit.error is None:
            continue
        entry = by_clip.setdefault((it.clip.dataset, it.clip.clip_id), {
            "clip_id": it.clip.clip_id, "video": it.clip.video, "error": it.unit.error, "probe_ids": []})
        entry["probe_ids"].append(it.probe.probe_id)
    return [by_clip[k] for k in sorted(by_clip)]


def _count_missing(results: dict[str, Any], plan: Plan) -> None:
    """Fill each dataset x task cell's `missing`; a cell with every probe missing is still reported."""
    counts: Counter[tuple[str, str]] = Counter(
        (it.clip.dataset, it.probe.task) for it in plan.items if it.unit.error is not None)
    for (dataset, task), n in sorted(counts.items()):
        cell = results.setdefault(dataset, {}).get(task)
        if cell is None:
            cell = results[dataset][task] = {"n": 0, "accuracy": 0.0, "ci95": [0.0, 100.0],
                                            "ci_method": "wilson", "tie_rate": 0.0, "missing": 0}
        cell["missing"] = n


def command_line() -> str:
    """The command that is running, as a user would type it."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("__main__.py", "actionbench")):
        argv[0] = "actionbench"
    return shlex.join(argv)
