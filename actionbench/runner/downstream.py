"""Score the downstream sets of a run (the paper's Table 2) from the gathered outputs.

A retrieval set's logits are the full clips x texts matrix (a dual encoder's `similarity` x `logit_scale`,
computed SIMILARITY_CHUNK clips at a time; a cross-encoder's pair scores); a question set's are each question's
five "question? answer" scores. `downstream_metrics.score_retrieval_set` / `score_qa_set` turn them into the
set's result cell and its prediction rows. With `ensemble_with_backbone` or `two_step_independent` a backbone's
logits, from its own encoders and cache, go in beside the model's. Clips whose video is missing are left out
(their items counted as missing; the run is partial).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from actionbench import bundle
from actionbench.datasets.downstream_set import DownstreamSet
from actionbench.downstream_metrics import score_qa_set, score_retrieval_set
from actionbench.errors import InputError
from actionbench.runner.plan import Plan, SetPlan, pair_key, text_key
from actionbench.runner.runtime import Runtime
from actionbench.runner.score import SIMILARITY_CHUNK, similarity_block
from actionbench.tasks import RETRIEVAL_METHODS


@dataclass
class Scorer:
    """A model whose outputs for a run are gathered: how to turn them into logits."""

    model: Any
    kind: str  # dual | cross
    logit_scale: float | None
    entries: dict[str, torch.Tensor]
    rt: Runtime

    @property
    def scale(self) -> float:
        """A dual encoder's logits are similarity x logit_scale (1 when it has none); a cross-encoder's scores are
        its logits."""
        return 1.0 if self.kind == "cross" or self.logit_scale is None else float(self.logit_scale)

    def matrix(self, views: list[str], texts: list[str]) -> np.ndarray:
        """Logits of every view x every text, as float64 (from float32 scores)."""
        if self.kind == "cross":
            return np.array([[float(self.entries[pair_key(v, t)]) for t in texts] for v in views],
                            dtype=np.float64).reshape(len(views), len(texts))
        tkeys = [text_key(t) for t in texts]
        blocks = [similarity_block(self.model, views[i : i + SIMILARITY_CHUNK], tkeys, self.entries, self.rt, i)
                  for i in range(0, len(views), SIMILARITY_CHUNK)]
        out = np.concatenate(blocks) if blocks else np.zeros((0, len(texts)), dtype=np.float32)
        return out.astype(np.float64) * self.scale

    def retrieval_logits(self, sp: SetPlan, ds: DownstreamSet) -> np.ndarray:
        return self.matrix([sp.units[c.clip_id].forward_key for c in ds.clips], list(ds.texts))

    def choice_scores(self, sp: SetPlan, ds: DownstreamSet) -> dict[str, list[float]]:
        """Each question's choice logits, keyed by item id; a dual encoder's similarity is called for
        SIMILARITY_CHUNK clips at once, a cross-encoder's pair scores (each clip with its own texts) are looked up."""
        if self.kind == "cross":
            return {item["item_id"]: [float(self.entries[pair_key(sp.units[item["clip_id"]].forward_key, t)])
                                      for t in item["texts"]] for item in ds.items}
        by_clip: dict[str, list[dict[str, Any]]] = {}
        for item in ds.items:
            by_clip.setdefault(item["clip_id"], []).append(item)
        clips = list(by_clip)
        out: dict[str, list[float]] = {}
        for start in range(0, len(clips), SIMILARITY_CHUNK):
            chunk = clips[start : start + SIMILARITY_CHUNK]
            texts = sorted({t for c in chunk for item in by_clip[c] for t in item["texts"]})
            m = self.matrix([sp.units[c].forward_key for c in chunk], texts)
            col = {t: j for j, t in enumerate(texts)}
            for i, c in enumerate(chunk):
                for item in by_clip[c]:
                    out[item["item_id"]] = [float(m[i, col[t]]) for t in item["texts"]]
        return out


def check_method(plan: Plan, method: str, backbone: Any) -> None:
    """A non-default method needs a backbone and applies to retrieval sets only (as in the original, whose
    question answering has no such option); a backbone without such a method would be ignored: both refused."""
    if method not in RETRIEVAL_METHODS:
        raise InputError(f"--method {method!r}: choose from {', '.join(RETRIEVAL_METHODS)}")
    if method == "default":
        if backbone is not None:
            raise InputError("--backbone is used only by --method ensemble_with_backbone or two_step_independent")
        return
    if backbone is None:
        raise InputError(f"--method {method} needs a second model: --backbone MODEL")
    others = [f"probe set {ps.probeset_id} ({ps.manifest.dataset})" for ps in plan.probesets]
    others += [f"downstream set {sp.ds.set_id} ({sp.dataset})" for sp in plan.downstream if sp.kind != "retrieval"]
    if others:
        raise InputError(f"--method {method} applies to retrieval sets only; score {others[0]} in a run with "
                         "--method default")
    if not plan.downstream:
        raise InputError(f"--method {method} applies to retrieval sets; give one (--probes DOWNSTREAM_SET_DIR)")


def check_cross_retrieval(plan: Plan, name: str, allowed: bool) -> None:
    """A cross-encoder scores retrieval pair by pair (every clip x every text): refused unless allowed."""
    if allowed:
        return
    for sp in plan.downstream:
        if sp.kind == "retrieval":
            n_clips, n_texts = len(sp.ds.clips), len(sp.ds.texts)
            raise InputError(f"model {name} is a cross-encoder: retrieval on {sp.dataset} means scoring "
                             f"{n_clips * n_texts:,} (video, text) pairs ({n_clips:,} videos x {n_texts:,} texts); "
                             "pass --allow-cross-retrieval to score them all")


def live_part(sp: SetPlan) -> tuple[DownstreamSet, list[dict[str, Any]]]:
    """The set without the clips whose video is missing (the same object when none is), and those clips as
    `missing` entries of the bundle (with the items they hold)."""
    dead = [c for c in sp.ds.clips if sp.units[c.clip_id].error is not None]
    if not dead:
        return sp.ds, []
    dead_ids = {c.clip_id for c in dead}
    items: dict[str, list[str]] = {}
    for item in sp.ds.items:
        if item["clip_id"] in dead_ids:
            items.setdefault(item["clip_id"], []).append(item["item_id"])
    missing = [{"dataset": sp.dataset, "clip_id": c.clip_id, "video": c.video, "error": sp.units[c.clip_id].error,
                "item_ids": items.get(c.clip_id, []), "probe_ids": []} for c in dead]
    live = DownstreamSet([c for c in sp.ds.clips if c.clip_id not in dead_ids], list(sp.ds.texts),
                         [it for it in sp.ds.items if it["clip_id"] not in dead_ids], sp.ds.manifest)
    return live, missing


def score_set(sp: SetPlan, model: Scorer, backbone: Scorer | None, *, method: str, bootstrap_seed: int,
              bootstrap_size: int) -> tuple[bundle.DownstreamResult | None, list[dict[str, Any]], list[dict[str, Any]]]:
    """(the set's result cell, or None when no clip could be scored; its prediction rows; its missing clips)."""
    ds, missing = live_part(sp)
    n_missing = sum(len(m["item_ids"]) for m in missing)
    if not ds.items:
        return None, [], missing
    opts = {"bootstrap_seed": bootstrap_seed, "bootstrap_size": bootstrap_size}
    if sp.kind == "retrieval":
        cell, rows = score_retrieval_set(
            ds, model.retrieval_logits(sp, ds), method=method,
            backbone_logits=None if backbone is None else backbone.retrieval_logits(sp, ds), **opts)
    else:
        cell, rows = score_qa_set(ds, model.choice_scores(sp, ds), **opts)
    task = sp.ds.manifest.task
    rows = [{"dataset": sp.dataset, "task": task, **r} for r in rows]
    return bundle.downstream_cell({**cell, "missing": n_missing}, task), rows, missing


def set_ref(sp: SetPlan) -> bundle.DownstreamSetRef:
    m = sp.ds.manifest
    return bundle.DownstreamSetRef(set_id=m.set_id, dataset=m.dataset, task=m.task, kind=m.kind, split=m.split,
                                   videos_root=str(sp.root), n_items=len(sp.ds.items))
