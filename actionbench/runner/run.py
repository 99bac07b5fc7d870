"""The runner: plan the suite, decode and encode each view once, cache, shard, score, decide.

1. Plan (`plan`): unique decode units and texts across every probe set and downstream set.
2. Encode (`decode`, `encode`, `shard`): units decoded in a worker pool in a fixed order, frames batched to
   the model (AMP on CUDA only), outputs checked (shape, NaN) and committed to the embedding cache batch by
   batch; a rerun after a crash encodes only what is not committed.
3. Shard (`runtime`, `shard`): under torch.distributed each process takes its share, then all gather.
4. Score (`score`): similarities in float32 per probe, decided under the tie policy by `metrics.decide`,
   summarised by `metrics.summarize`; downstream sets (`downstream`) from their logits by
   `downstream_metrics`; (rank 0) written as a result bundle.
"""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actionbench import bundle, metrics
from actionbench.cache import EmbeddingCache, default_cache_dir
from actionbench.datasets.downstream_set import DownstreamSet
from actionbench.errors import InputError, one_line
from actionbench.jsonspec import to_json
from actionbench.models.protocol import ModelProfile, check_model
from actionbench.models.registry import create_model
from actionbench.probes.schema import ProbeSet
from actionbench.runner.downstream import Scorer, check_cross_retrieval, check_method, score_set, set_ref
from actionbench.runner.fingerprint import cache_namespace, fingerprint, git_hash, set_eval
from actionbench.runner.order import check_order_invariance
from actionbench.runner.plan import Plan, Scoring, load_set, pair_roots, plan_suite
from actionbench.runner.runtime import start_runtime
from actionbench.runner.score import predictions_for, scores_by_probe, scores_cross, scores_dual
from actionbench.runner.shard import encode_shard, gather_shards
from actionbench.tables import missing_count
from actionbench.version import PROTOCOL_VERSION, __version__
from actionbench.video import FrameSpec, decoder_name


class MissingVideosError(ValueError):
    """Some probes could not be scored because their video is missing or unreadable (the run is partial)."""


def evaluate(
    model: Any,
    probes: Sequence[str | Path | ProbeSet | DownstreamSet],
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
    method: str = "default",
    backbone: Any = None,
    backbone_args: dict[str, Any] | None = None,
    allow_cross_retrieval: bool = False,
) -> tuple[dict[str, Any], Any]:
    """Score a model on probe sets and/or downstream sets; returns (results dict, pandas DataFrame of the probe
    predictions; downstream rows are in the bundle's predictions.jsonl).

    `model` is a registry name (created with `model_args`) or a model object. `probes` holds probe-set folders
    and downstream-set folders (`build-downstream`), or the loaded objects, in any mix. `videos` holds one root
    for every set, or one per set. `out` (optional) receives the result bundle (rank 0 writes it).
    `cache`: a folder, None for the default (`$ACTIONBENCH_CACHE` or `~/.cache/actionbench/embeddings`), or
    False for none. Missing or unreadable videos make the run partial; with `allow_missing=False` that raises
    MissingVideosError after the bundle is written. An `out` that holds a bundle of another model (or of other
    sets, sampling, tie policy or method) is refused unless `overwrite`; the same run again writes over it (a
    resume). Retrieval sets take the original's scoring options: `method` `ensemble_with_backbone` or
    `two_step_independent` with `backbone` (a name, created with `backbone_args`, or a model object), encoded
    and cached like the model. A cross-encoder scores retrieval sets only with `allow_cross_retrieval` (every
    clip x every text).
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
    sets = [load_set(p) for p in probes]
    roots = pair_roots(sets, videos)
    plan = plan_suite(sets, roots, limit)
    check_method(plan, method, backbone)
    if backbone_args and not isinstance(backbone, str):
        raise ValueError("backbone_args apply to a backbone given by name, not to a model object")

    rt = start_runtime(device, amp)
    try:
        model, profile = _load_model(model, model_args, "model_args")
        name = getattr(model, "name", type(model).__name__)
        if profile.by_probe and plan.downstream:
            raise InputError(f"model {name} scores probes by id (score_probes); it cannot score downstream set "
                             f"{plan.downstream[0].ds.set_id} ({plan.downstream[0].dataset})")
        if profile.kind == "cross":
            check_cross_retrieval(plan, name, allow_cross_retrieval)
        second = None
        if backbone is not None:
            backbone, second = _load_model(backbone, backbone_args, "backbone_args")
            if second.by_probe:
                raise InputError(f"backbone {second.name} scores probes by id; it cannot score retrieval")
            if second.kind == "cross":
                check_cross_retrieval(plan, second.name, allow_cross_retrieval)
        if out is not None and not overwrite:
            check_out(out, name, dict(getattr(model, "args", {}) or {}),
                      [ps.probeset_id for ps in plan.probesets] + [sp.ds.set_id for sp in plan.downstream], spec,
                      ties, method, None if backbone is None else second.name)
        main = _encode(model, profile, plan, rt, spec, cache, batch_size=batch_size, workers=workers,
                       progress=progress)
        side = None if backbone is None else _encode(backbone, second, plan, rt, spec, cache, batch_size=batch_size,
                                                     workers=workers, progress=progress)
        scoring, entries, decoded = main.scoring, main.entries, main.decoded
        model = scoring.model  # on its device
        backbone = None if side is None else side.scoring.model
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
        ds_cells: dict[str, dict[str, bundle.DownstreamResult]] = {}
        rows: list[dict[str, Any]] = []
        scorer = Scorer(model, scoring.kind, logit_scale, entries, rt)
        side_scorer = None if side is None else Scorer(backbone, side.scoring.kind, second.logit_scale, side.entries,
                                                       rt)
        for sp in plan.downstream:
            cell, set_rows, set_missing = score_set(sp, scorer, side_scorer, method=method,
                                                    bootstrap_seed=bootstrap_seed, bootstrap_size=bootstrap_size)
            if cell is not None:
                ds_cells.setdefault(sp.dataset, {})[sp.ds.manifest.task] = cell
            rows += set_rows
            missing += set_missing
        record = bundle.Results(
            schema_version=bundle.SCHEMA_VERSION,
            protocol_version=PROTOCOL_VERSION,
            model=bundle.ModelInfo(
                name=name,
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
            dtype=main.namespace["amp"] or main.namespace["dtype"],  # the compute dtype
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
                "order_check": main.order_check,
                "cache": None if main.store.dir is None else str(main.store.dir),
                "cache_ignored": [*main.ignored, *([] if side is None else side.ignored)],
                "embeddings": main.needed,  # embeddings (or pair scores) the run needed ...
                "cache_hits": main.from_cache,  # ... and how many of them came from the cache
                **({} if side is None else {"backbone_embeddings": side.needed, "backbone_cache_hits": side.from_cache}),
            },
            downstream_sets=[set_ref(sp) for sp in plan.downstream] or None,
            downstream=ds_cells if plan.downstream else None,
            backbone=None if backbone is None else bundle.BackboneInfo(
                name=second.name, args=dict(getattr(backbone, "args", {}) or {}),
                weights_hash=getattr(backbone, "weights_hash", None), kind=second.kind,
                logit_scale=second.logit_scale),
        )
        results = to_json(record)
        if out is not None and rt.is_main:
            bundle.write_bundle(out, results, predictions + rows)
        frame = pd.DataFrame(predictions, columns=["probe_id", "task", "dataset", "clip_id", "source_video",
                                                   "group", "relation", "s_true", "s_foil", "decision", "tie"])
        if missing and not allow_missing:
            first = missing[0]
            raise MissingVideosError(
                f"{missing_count(missing)} could not be scored (first: clip {first['clip_id']}: {first['error']}); "
                "the run is partial" + (f", bundle written to {out}" if out is not None else "")
                + " (allow with --allow-missing)"
            )
        return results, frame
    finally:
        rt.close()


def _load_model(model: Any, args: dict[str, Any] | None, what: str) -> tuple[Any, ModelProfile]:
    if isinstance(model, str):
        model = create_model(model, args)
    elif args:
        raise ValueError(f"{what} apply to a model given by name, not to a model object")
    return model, check_model(model)  # a model object given directly is checked here, one line if incomplete


@dataclass
class Encoded:
    """One model's outputs for the whole plan, gathered from every process."""

    scoring: Scoring
    store: EmbeddingCache
    namespace: dict[str, Any]
    entries: dict[str, Any]
    decoded: dict[str, str]
    needed: int
    from_cache: int
    order_check: str

    @property
    def ignored(self) -> list[str]:
        """Cache files that could not be read (the text namespace's too)."""
        return self.store.ignored + ([] if self.store.texts is None else self.store.texts.ignored)


def _encode(model: Any, profile: ModelProfile, plan: Plan, rt: Any, spec: FrameSpec, cache: Any, *,
            batch_size: int, workers: int, progress: bool) -> Encoded:
    """Decode and encode what the plan needs of `model` (what its cache does not hold), then gather."""
    model_fingerprint = fingerprint(model)  # before moving: the same on every device and process
    text_model = getattr(model, "text_model", None) if profile.kind == "dual" and not profile.by_probe else None
    text_fingerprint = None if text_model is None else fingerprint(text_model)
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
    text_store = None
    if text_model is not None and cache_root is not None:  # a control: texts in its wrapped model's namespace
        text_scoring = Scoring(text_model, "dual", False, False)
        text_store = EmbeddingCache(cache_root, cache_namespace(text_scoring, text_fingerprint, spec, rt), rank=rt.rank)
    store = EmbeddingCache(cache_root, namespace, rank=rt.rank, texts=text_store)
    order_check = "not declared"
    if scoring.declared and not scoring.by_probe and not plan.items:
        order_check = "not needed (no probes)"  # only Video Reversal asks whether frame order matters
    elif scoring.declared and not scoring.by_probe and getattr(model, "order_invariant_by_construction", False):
        scoring.blind = True  # blind: shows one grey video whatever the clip: the check on clips could only pass
        order_check = "by construction"
    elif scoring.declared and not scoring.by_probe:
        note = check_order_invariance(model, scoring.kind, plan, spec, rt, store)
        scoring.blind = bool(note["passed"]) or not any(u.error is None for u in plan.units.values())
        order_check = "passed" if scoring.blind else "no clip to check"
    elif scoring.declared:  # a probe-level scorer (text-prior) is handed no frame: VR is a tie by construction
        scoring.blind = True
        order_check = "passed"
    scoring.plan_texts(plan)
    scoring_keys = scoring.needed(plan)
    from_cache = sum(k in store for k in scoring_keys)
    shard = encode_shard(scoring, plan, store, rt, spec, batch_size=batch_size, workers=workers, progress=progress)
    entries, decoded = gather_shards(scoring, plan, store, rt, shard)
    return Encoded(scoring, store, namespace, entries, decoded, len(scoring_keys), from_cache, order_check)


def check_out(out: str | Path, model: str, args: dict[str, Any], probeset_ids: list[str], spec: FrameSpec,
              ties: str, method: str = "default", backbone: str | None = None) -> None:
    """Refuse to write over a bundle of another run: another model, arguments, probe or downstream sets, sampling,
    tie policy or scoring method (with its backbone). The same run again (a resume after a crash, or a rerun) goes
    on without asking."""
    path = Path(out) / bundle.RESULTS_FILE
    if not path.is_file():
        return
    try:
        old = bundle.read_json(path)
        old_model = old["model"]["name"]
        methods = {c["method"] for tasks in (old.get("downstream") or {}).values() for c in tasks.values()}
        theirs = (old_model, {k: str(v) for k, v in old["model"]["args"].items()},
                  sorted([p["probeset_id"] for p in old["probesets"]]
                         + [d["set_id"] for d in old.get("downstream_sets") or []]), old["frame_spec"], old["ties"],
                  (methods.pop() if len(methods) == 1 else "default", (old.get("backbone") or {}).get("name")))
    except (InputError, KeyError, TypeError, AttributeError):
        raise InputError(f"{one_line(out)}: holds a results.json this run cannot read; choose another --out or pass "
                         "--overwrite") from None
    ours = (model, {k: str(v) for k, v in args.items()}, sorted(probeset_ids), spec.to_dict(), ties,
            (method, backbone))
    if theirs != ours:
        what = next(w for w, a, b in zip(("model", "model arguments", "probe sets", "frame sampling", "tie policy",
                                          "scoring method"), theirs, ours, strict=True) if a != b)
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
